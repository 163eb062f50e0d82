#!/usr/bin/env bash
# `promptctl eval` of a suite whose cases live in a JSON Lines file, against the mock
# OpenAI-compatible server (examples/mock_llm.rs, no added latency), on two versions: the
# wall time, CPU time and peak memory of a cold run (`--no-cache`) at 10,000 cases, beside
# the same run at 1,000 cases measured in the same session as the baseline.
#
# Usage: benches/eval-10k.sh [CASES] [BASELINE_CASES] [CONCURRENCY]   (defaults: 10000 1000 64)
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-10000}
baseline=${2:-1000}
concurrency=${3:-64}
cargo build --release --quiet --bin promptctl --example mock_llm
bin="$PWD/target/release/promptctl"
work=$(mktemp -d)
mock_pid=""
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$PWD/target/release/examples/mock_llm" 0 > "$work/mock.url" &
mock_pid=$!
for _ in $(seq 50); do [ -s "$work/mock.url" ] && break; sleep 0.1; done
url=$(head -1 "$work/mock.url")

make_repo() { # DIR CASES
  python3 - "$1" "$url" "$2" <<'PY'
import json, os, sys
root, url, cases = sys.argv[1], sys.argv[2], int(sys.argv[3])
def write(path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    open(full, "w").write(text)
write("promptctl.toml", f'[defaults]\nmodel = "bench-model"\n\n[providers.mock]\nkind = "openai"\nbase_url = "{url}"\n')
write("prompts/support/route.toml", 'provider = "mock"\n\n[variables.ticket]\ntype = "string"\nrequired = true\n\n[[messages]]\nrole = "system"\ncontent = """\nRoute the ticket.\nAnswer: billing\n"""\n\n[[messages]]\nrole = "user"\ncontent = "{{ ticket }}"\n')
write("evals/route.toml", 'prompt = "support/route"\ncases = "cases/route.jsonl"\nassert = [{ type = "max_chars", value = 200 }]\n\n[gate]\nmin_pass_rate = 0\n')
rows = (json.dumps({"name": f"case-{i}", "vars": {"ticket": f"ticket number {i}"},
                    "assert": [{"type": "contains", "value": f"number {i}"}]}) for i in range(cases))
write("evals/cases/route.jsonl", "\n".join(rows) + "\n")
PY
  git -C "$1" init -q
  git -C "$1" add -A
  git -C "$1" -c user.name=bench -c user.email=bench@example.com commit -qm base
  sed -i 's/Answer: billing/Answer: bug/' "$1/prompts/support/route.toml"
}

measure() { # DIR CASES
  local out
  out=$( { /usr/bin/time -f "%e %U %S %M" "$bin" eval --no-cache --concurrency "$concurrency" \
      --format json --output "$1/report.json" >/dev/null 2>"$1/stderr"; } 2>&1 ) || true
  read -r wall user sys rss <<<"$(tail -1 <<<"$out")"
  printf '  %6d cases (%6d requests): wall %6.2f s, cpu %6.2f s (user %.2f, sys %.2f), peak RSS %6.1f MB\n' \
    "$2" "$((2 * $2))" "$wall" "$(awk "BEGIN{print $user + $sys}")" "$user" "$sys" "$(awk "BEGIN{print $rss / 1024}")"
  echo "$rss"
}

make_repo "$work/small" "$baseline"
make_repo "$work/large" "$cases"
echo "promptctl eval --no-cache --concurrency $concurrency, cases in a JSON Lines file, two versions"
small_rss=$(cd "$work/small" && measure "$work/small" "$baseline" | tee /dev/stderr | tail -1)
large_rss=$(cd "$work/large" && measure "$work/large" "$cases" | tee /dev/stderr | tail -1)
python3 -c "import sys; s,l=int(sys.argv[1]),int(sys.argv[2]); print(f'  peak RSS ratio {l/s:.2f}x for {int(sys.argv[4])//int(sys.argv[3])}x the cases')" \
  "$small_rss" "$large_rss" "$baseline" "$cases"

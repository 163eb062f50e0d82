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

make_repo "$work/small" "$baseline"
make_repo "$work/large" "$cases"
echo "promptctl eval --no-cache --concurrency $concurrency, cases in a JSON Lines file, two versions"
python3 - "$bin" "$concurrency" "$work/small" "$baseline" "$work/large" "$cases" <<'PY'
import os, subprocess, sys, time
binary, concurrency = sys.argv[1], sys.argv[2]
runs = [(sys.argv[3], int(sys.argv[4])), (sys.argv[5], int(sys.argv[6]))]
def measure(repo):
    # wait4 gives this child's own rusage: its CPU time and its peak resident set.
    start = time.perf_counter()
    child = subprocess.Popen([binary, "eval", "--no-cache", "--concurrency", concurrency,
                              "--format", "json", "--output", "report.json"],
                             cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        sys.exit(child.stderr.read().decode())
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
figures = []
for repo, cases in runs:
    wall, cpu, rss = measure(repo)
    figures.append((cases, wall, cpu, rss))
    print(f"  {cases:6d} cases ({2 * cases:6d} requests): wall {wall:6.2f} s, cpu {cpu:6.2f} s, peak RSS {rss:6.1f} MB")
(c0, w0, u0, r0), (c1, w1, u1, r1) = figures
print(f"  {c1 // c0}x the cases: {w1 / w0:.2f}x the wall time, {u1 / u0:.2f}x the CPU, {r1 / r0:.2f}x the peak RSS")
PY

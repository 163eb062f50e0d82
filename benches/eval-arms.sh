#!/usr/bin/env bash
# `promptctl eval --arm` against a mock OpenAI-compatible server (50 ms per answer): the
# 200-case workload of benches/eval-mock.sh on 4 arms (two revisions, a model arm and a
# temperature arm: 800 distinct requests) at concurrency 64, beside today's two-arm run
# (base against head: 400 requests) in the same session. Reports each run's wall time
# against the ideal (distinct requests × latency ÷ concurrency), and the CPU per request.
#
# Usage: benches/eval-arms.sh [CASES] [LATENCY_MS] [CONCURRENCY] [RUNS]  (defaults: 200 50 64 5)
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-200}
latency=${2:-50}
concurrency=${3:-64}
runs=${4:-5}
cargo build --release --quiet --bin promptctl --example mock_llm
bin="$PWD/target/release/promptctl"
work=$(mktemp -d)
mock_pid=""
cleanup() { [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$PWD/target/release/examples/mock_llm" "$latency" > "$work/mock.url" &
mock_pid=$!
for _ in $(seq 50); do [ -s "$work/mock.url" ] && break; sleep 0.1; done
url=$(head -1 "$work/mock.url")

python3 - "$work/repo" "$url" "$cases" <<'PY'
import os, sys
root, url, cases = sys.argv[1], sys.argv[2], int(sys.argv[3])
def write(path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    open(full, "w").write(text)
write("promptctl.toml", f'[defaults]\nmodel = "bench-model"\n\n[providers.mock]\nkind = "openai"\nbase_url = "{url}"\n')
write("prompts/support/route.toml", 'provider = "mock"\n\n[variables.ticket]\ntype = "string"\nrequired = true\n\n[[messages]]\nrole = "system"\ncontent = """\nRoute the ticket.\nAnswer: billing\n"""\n\n[[messages]]\nrole = "user"\ncontent = "{{ ticket }}"\n')
body = 'prompt = "support/route"\n\n'
for i in range(cases):
    body += f'[[cases]]\nname = "case-{i}"\nvars = {{ ticket = "ticket number {i}" }}\nassert = [{{ type = "contains", value = "number {i}" }}, {{ type = "max_chars", value = 200 }}]\n\n'
write("evals/route.toml", body)
PY
git -C "$work/repo" init -q
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=bench -c user.email=bench@example.com commit -qm base
sed -i 's/Answer: billing/Answer: bug/' "$work/repo/prompts/support/route.toml"

python3 - "$work/repo" "$bin" "$cases" "$latency" "$concurrency" "$runs" <<'PY'
import os, statistics, subprocess, sys, time
repo, binary = sys.argv[1], sys.argv[2]
cases, latency, concurrency, runs = (int(a) for a in sys.argv[3:7])
# --no-cache: every run sends every request, and writes no cache file (creating thousands
# of files right after deleting them is the kernel's work, not promptctl's).
common = [binary, "eval", "--no-cache", "--concurrency", str(concurrency), "--format", "json"]
two = common + ["--base", "HEAD", "--head", "worktree"]
four = common + ["--arm", "base=HEAD", "--arm", "head=worktree",
                 "--arm", "other=HEAD:model=bench-model-2", "--arm", "warm=worktree:temperature=0.3"]
def timed(cmd):
    """Wall and CPU seconds of a run that sends every request."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        sys.exit(child.stderr.read().decode())
    return wall, usage.ru_utime + usage.ru_stime
samples = {"two": [], "four": []}
for _ in range(runs):  # in turn, so that noise hits both alike
    samples["two"].append(timed(two))
    samples["four"].append(timed(four))
print(f"{cases} cases, {latency} ms per answer, concurrency {concurrency}, median of {runs} runs without the cache")
for label, key, requests in [("2 arms (base, head)", "two", 2 * cases), ("4 arms", "four", 4 * cases)]:
    wall = statistics.median(w for w, _ in samples[key])
    cpu = statistics.median(c for _, c in samples[key])
    ideal = requests * latency / 1000 / concurrency
    print(f"  {label:22} {requests:5} requests  wall {wall * 1000:7.1f} ms  ideal {ideal * 1000:6.1f} ms  "
          f"ratio {wall / ideal:4.2f}x  CPU {cpu * 1e6 / requests:6.1f} µs per request")
PY

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
# shellcheck source=benches/mock-workload.sh
source benches/mock-workload.sh

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

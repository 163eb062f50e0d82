#!/usr/bin/env bash
# `promptctl eval` finding its concurrency: the 200-case workload of benches/eval-mock.sh (two
# versions, 400 requests, 50 ms per answer) with no --concurrency flag (adaptive, from 16 up
# to 64), with `--concurrency 64`, and with `--concurrency 8` (the old fixed default), each
# against the ideal at 64 (requests × latency ÷ 64), all in this run; then the same workload against a mock that answers every 10th request with a 429
# and no Retry-After, with no flag, beside the no-429 run: its wall, and that no request is
# lost (the report's failed count).
#
# Usage: benches/eval-adaptive.sh [CASES] [LATENCY_MS] [RUNS]   (defaults: 200 50 5)
# With BEFORE=/path/to/an/older/promptctl, that binary runs the no-429 workload too (no flag
# and `--concurrency 64`), round by round with this build, with its CPU time beside.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-200}
latency=${2:-50}
runs=${3:-5}
results=$(mktemp)
measure() {
    python3 - "$work/repo" "$bin" "$cases" "$latency" "$runs" "$1" "$results" "${BEFORE:-}" <<'PY'
import json, math, os, statistics, subprocess, sys, time
repo, binary, cases, latency, runs, label, results, before = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7], sys.argv[8]
def timed(program, extra):
    """One run: its wall time, its CPU time (user and system) and its report's requests."""
    start = time.perf_counter()
    child = subprocess.Popen([program, "eval", "--no-cache", "--format", "json"] + extra, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = child.communicate()
    wall = time.perf_counter() - start
    usage = resource_of(child)
    if child.returncode not in (0, 1):
        sys.exit(err.decode())
    return wall, usage, json.loads(out)["requests"]
def resource_of(child):
    # communicate() reaped the child: its CPU is what this process's children gained.
    import resource
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = now.ru_utime + now.ru_stime - resource_of.total
    resource_of.total = now.ru_utime + now.ru_stime
    return spent
resource_of.total = 0.0
ideal = 2 * cases * latency / 1000 / 64
# 64 slots each take whole answers: the last of ceil(requests / 64) waves ends the run.
waves = math.ceil(2 * cases / 64) * latency / 1000
print(f"{label}: {2 * cases} requests, {latency} ms each; ideal at 64 in flight {ideal * 1000:.0f} ms (requests x latency / 64), {waves * 1000:.0f} ms in whole waves of 64")
cases_run = [("no flag (adaptive, 16 up to 64)", binary, []), ("--concurrency 64", binary, ["--concurrency", "64"]), ("--concurrency 8 (the old default)", binary, ["--concurrency", "8"])]
if label != "no 429":
    cases_run = cases_run[:1]
elif before:
    cases_run += [("BEFORE, no flag", before, []), ("BEFORE, --concurrency 64", before, ["--concurrency", "64"])]
walls = [[] for _ in cases_run]
cpus = [[] for _ in cases_run]
seen = [None for _ in cases_run]
# Round by round, every configuration in turn, so a noisy neighbour slows each alike.
for _ in range(runs):
    for i, (_, program, extra) in enumerate(cases_run):
        wall, cpu, requests = timed(program, extra)
        walls[i].append(wall)
        cpus[i].append(cpu)
        seen[i] = requests
medians = [statistics.median(w) for w in walls]
for (name, _, _), median, cpu, requests in zip(cases_run, medians, cpus, seen):
    print(f"  {name:<36} median {median * 1000:7.1f} ms  {median / ideal:5.2f}x ideal, {median / waves:5.2f}x waves  CPU {statistics.median(cpu) * 1000:5.1f} ms   in flight up to {requests['in_flight']}, sent {requests['sent']}, retried {requests['retries']}, failed {requests['failed']}")
if len(medians) > 1:
    print(f"  no flag against --concurrency 64: {medians[0] / medians[1]:.2f}x;  --concurrency 8 against 64: {medians[2] / medians[1]:.2f}x")
    if before:
        print(f"  this build against BEFORE: no flag {medians[0] / medians[3]:.3f}x, --concurrency 64 {medians[1] / medians[4]:.3f}x")
    open(results, "w").write(str(medians[0]))
else:
    before_wall = float(open(results).read())
    print(f"  against the no-429 run with no flag: {medians[0] / before_wall:.2f}x")
PY
}
# shellcheck source=benches/mock-workload.sh
source benches/mock-workload.sh
measure "no 429"
kill "$mock_pid" 2>/dev/null || true
rm -rf "$work"
mock_args="10 none"
# shellcheck source=benches/mock-workload.sh
source benches/mock-workload.sh
measure "every 10th answer a 429 without Retry-After"
rm -f "$results"

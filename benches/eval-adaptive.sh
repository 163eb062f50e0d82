#!/usr/bin/env bash
# `promptctl eval` finding its concurrency: the 200-case workload of benches/eval-mock.sh (two
# versions, 400 requests, 50 ms per answer) with no --concurrency flag (adaptive, from 16 up
# to 64), with `--concurrency 64`, and with `--concurrency 8` (the old fixed default), each
# against the ideal at 64 (requests × latency ÷ 64), all in this run; then the same workload against a mock that answers every 10th request with a 429
# and no Retry-After, with no flag, beside the no-429 run: its wall, and that no request is
# lost (the report's failed count).
#
# Usage: benches/eval-adaptive.sh [CASES] [LATENCY_MS] [RUNS]   (defaults: 200 50 5)
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-200}
latency=${2:-50}
runs=${3:-5}
results=$(mktemp)
measure() {
    python3 - "$work/repo" "$bin" "$cases" "$latency" "$runs" "$1" "$results" <<'PY'
import json, math, statistics, subprocess, sys, time
repo, binary, cases, latency, runs, label, results = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]
base = [binary, "eval", "--no-cache", "--format", "json"]
def timed(extra):
    start = time.perf_counter()
    done = subprocess.run(base + extra, cwd=repo, capture_output=True)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(done.stderr.decode())
    requests = json.loads(done.stdout)["requests"]
    return wall, requests
ideal = 2 * cases * latency / 1000 / 64
# 64 slots each take whole answers: the last of ceil(requests / 64) waves ends the run.
waves = math.ceil(2 * cases / 64) * latency / 1000
print(f"{label}: {2 * cases} requests, {latency} ms each; ideal at 64 in flight {ideal * 1000:.0f} ms (requests x latency / 64), {waves * 1000:.0f} ms in whole waves of 64")
cases_run = [("no flag (adaptive, 16 up to 64)", []), ("--concurrency 64", ["--concurrency", "64"]), ("--concurrency 8 (the old default)", ["--concurrency", "8"])]
if label != "no 429":
    cases_run = cases_run[:1]
medians = []
for name, extra in cases_run:
    walls, seen = [], None
    for _ in range(runs):
        wall, requests = timed(extra)
        walls.append(wall)
        seen = requests
    median = statistics.median(walls)
    medians.append(median)
    print(f"  {name:<36} median {median * 1000:7.1f} ms  {median / ideal:5.2f}x ideal, {median / waves:5.2f}x waves   in flight up to {seen['in_flight']}, sent {seen['sent']}, retried {seen['retries']}, failed {seen['failed']}")
if len(medians) > 1:
    print(f"  no flag against --concurrency 64: {medians[0] / medians[1]:.2f}x;  --concurrency 8 against 64: {medians[2] / medians[1]:.2f}x")
    open(results, "w").write(str(medians[0]))
else:
    before = float(open(results).read())
    print(f"  against the no-429 run with no flag: {medians[0] / before:.2f}x")
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

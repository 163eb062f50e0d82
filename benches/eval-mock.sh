#!/usr/bin/env bash
# `promptctl eval` against a mock OpenAI-compatible server (50 ms per answer): 200 cases on
# two versions (400 requests) at concurrency 64. Reports the wall time against the ideal
# (requests × latency ÷ concurrency, plus start-up measured as a fully cached run in the same
# session), the warm rerun, and the peak memory of the cold run.
#
# Usage: benches/eval-mock.sh [CASES] [LATENCY_MS] [CONCURRENCY]   (defaults: 200 50 64)
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-200}
latency=${2:-50}
concurrency=${3:-64}
# shellcheck source=benches/mock-workload.sh
source benches/mock-workload.sh

python3 - "$work/repo" "$bin" "$cases" "$latency" "$concurrency" ${EXTRA:-} <<'PY'
import resource, subprocess, sys, time
repo, binary, cases, latency, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cmd = [binary, "eval", "--concurrency", str(concurrency), "--format", "json"] + sys.argv[6:]
def timed():
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode not in (0, 1):
        sys.exit(done.stderr.decode())
    return time.perf_counter() - start
cold = timed()
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"  cpu of the cold run: user {usage.ru_utime:.2f} s, sys {usage.ru_stime:.2f} s")
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
warm = min(timed() for _ in range(5))
requests = 2 * cases
ideal = requests * latency / 1000 / concurrency
print(f"{requests} requests, {latency} ms each, concurrency {concurrency}")
print(f"  ideal (requests x latency / concurrency)   {ideal * 1000:8.1f} ms")
print(f"  start-up (a fully cached run)               {warm * 1000:8.1f} ms")
print(f"  cold run                                    {cold * 1000:8.1f} ms   ratio to ideal + start-up {cold / (ideal + warm):4.2f}x")
print(f"  warm rerun                                  {warm * 1000:8.1f} ms")
print(f"  peak memory of the cold run                 {peak_mb:8.1f} MB")
PY

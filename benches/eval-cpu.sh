#!/usr/bin/env bash
# CPU time of `promptctl eval --no-cache` on this repository's own suites (offline provider):
# the median of RUNS runs, each measured from the child's own rusage. With
# BEFORE=/path/to/an/older/promptctl, that binary is measured too, in the same run.
#
# Usage: benches/eval-cpu.sh [RUNS]    (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-15}
cargo build --release --quiet --bin promptctl
python3 - "$runs" "$PWD/target/release/promptctl" ${BEFORE:-} <<'PY'
import os, statistics, subprocess, sys
runs = int(sys.argv[1])
def cpu_ms(binary):
    samples = []
    for _ in range(runs):
        child = subprocess.Popen([binary, "eval", "--no-cache"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(child.pid, 0)
        samples.append((usage.ru_utime + usage.ru_stime) * 1000)
    return statistics.median(samples)
now = cpu_ms(sys.argv[2])
print(f"promptctl eval (4 suites, offline)   CPU {now:6.1f} ms")
for before in sys.argv[3:]:
    old = cpu_ms(before)
    print(f"BEFORE                               CPU {old:6.1f} ms   now {now / old:4.2f}x of it")
PY

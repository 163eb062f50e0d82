#!/usr/bin/env bash
# This build against an older one (BEFORE=/path/to/promptctl) on the everyday commands of a
# generated repository of 2,000 prompts: list, list --at HEAD, status, status NAME, diff and
# check, interleaved over RUNS rounds. Each binary works in its own copy of the repository,
# whose index git has refreshed (a copy has new inode numbers: an index that does not vouch
# for a file makes promptctl read it), so that neither reads the other's caches.
#
# Usage: BEFORE=/path/to/promptctl benches/before-after.sh [PROMPTS] [RUNS]  (2000, 41)
set -euo pipefail
cd "$(dirname "$0")/.."
prompts=${1:-2000}
runs=${2:-41}
: "${BEFORE:?set BEFORE to the older promptctl binary}"
cargo build --release --quiet --bin promptctl
now="$PWD/target/release/promptctl"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 benches/generate.py "$work/a" "$prompts" > /dev/null
git -C "$work/a" init -q -b main
git -C "$work/a" add -A
git -C "$work/a" -c user.name=bench -c user.email=bench@example.com commit -qm generated
(cd "$work/a" && "$now" publish --reason bench > /dev/null)
# Ten prompts changed in the working tree, for diff and status to find.
sed -i 's/^You are assistant number/You are the helpful assistant number/' "$work"/a/prompts/team00/prompt000*.toml
cp -a "$work/a" "$work/b"
sleep 1.1
git -C "$work/a" status --short > /dev/null
git -C "$work/b" status --short > /dev/null
python3 - "$work" "$now" "$BEFORE" "$runs" <<'PY'
import statistics, subprocess, sys, time
work, now, before, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tasks = [["list"], ["list", "--at", "HEAD"], ["status"], ["status", "team00/prompt0040"],
         ["diff"], ["check"]]
cmds = [c for t in tasks for c in ((now, f"{work}/a", t), (before, f"{work}/b", t))]
for binary, cwd, task in cmds:
    subprocess.run([binary, *task], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
samples = [[] for _ in cmds]
for _ in range(runs):
    for (binary, cwd, task), taken in zip(cmds, samples):
        start = time.perf_counter()
        subprocess.run([binary, *task], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        taken.append(time.perf_counter() - start)
medians = [statistics.median(s) for s in samples]
for i, task in enumerate(tasks):
    n, b = medians[2 * i], medians[2 * i + 1]
    print(f"{' '.join(task):28} now {n * 1000:8.2f} ms   before {b * 1000:8.2f} ms   ratio {n / b:5.2f}")
PY

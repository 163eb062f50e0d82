#!/usr/bin/env bash
# `promptctl list` on a generated repository of 2,000 prompts with includes, as a ratio to
# `git ls-files` on the same repository, and `promptctl status` after a publish of all of
# them: of one named prompt as a ratio to `git rev-parse HEAD`, and of every prompt (which
# compares every file of the working tree with the index, as `git status` does) as a ratio
# to both; every command timed in the same run.
#
# Usage: benches/list-2000.sh [PROMPTS] [RUNS]     (defaults: 2000 prompts, 15 runs)
# With BEFORE=/path/to/an/older/promptctl, that binary is timed too, in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
prompts=${1:-2000}
runs=${2:-15}
cargo build --release --quiet
bin="$PWD/target/release/promptctl"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 benches/generate.py "$work" "$prompts"
git -C "$work" init -q
git -C "$work" add -A
git -C "$work" -c user.name=bench -c user.email=bench@example.com commit -qm "generated"
# A repository in use is not "racy": its files are older than its index. Here every file
# was written in the second the index was, so git and promptctl alike would read them all.
# Wait a second and let `git status` refresh the index, as it does in any repository.
sleep 1.1
git -C "$work" status --short > /dev/null
# `status` compares the release with HEAD and the working tree: publish every prompt.
(cd "$work" && "$bin" publish --reason bench > /dev/null)

python3 - "$work" "$bin" "$runs" "${BEFORE:-}" <<'PY'
import subprocess, sys
work, binary, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
before = sys.argv[4] if len(sys.argv) > 4 else ""
sys.path.insert(0, "benches")
from timing import medians
one = "team00/prompt0040"
ours = [["list"], ["list", "--at", "HEAD"], ["status"], ["status", one]]
labels = ["list", "list --at HEAD", "status", f"status {one}"]
baselines = [0, 0, 1, 1]
cmds = [["git", "ls-files"], ["git", "rev-parse", "HEAD"], ["git", "status"]]
cmds += [[binary, *a] for a in ours]
if before:
    cmds += [[before, *a] for a in ours]
times = medians(cmds, work, runs)
print(f"{'git ls-files':34} {times[0] * 1000:8.2f} ms")
print(f"{'git rev-parse HEAD':34} {times[1] * 1000:8.2f} ms")
print(f"{'git status':34} {times[2] * 1000:8.2f} ms")
rows = [("promptctl " + l, b) for l, b in zip(labels, baselines)]
if before:
    rows += [("BEFORE " + l, b) for l, b in zip(labels, baselines)]
for (label, base), taken in zip(rows, times[3:]):
    line = f"{label:34} {taken * 1000:8.2f} ms   ratio {taken / times[base]:5.1f}x"
    if label.endswith(" status"):
        line += f", {taken / times[2]:4.1f}x git status"
    print(line)
PY

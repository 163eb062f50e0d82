#!/usr/bin/env bash
# `promptctl list` on a generated repository of 2,000 prompts with includes, as a ratio to
# `git ls-files` on the same repository, both timed in the same run.
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

python3 - "$work" "$bin" "$runs" "${BEFORE:-}" <<'PY'
import subprocess, sys
work, binary, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
before = sys.argv[4] if len(sys.argv) > 4 else ""
sys.path.insert(0, "benches")
from timing import median as timed
def median(cmd):
    return timed(cmd, work, runs)
git = median(["git", "ls-files"])
listing = median([binary, "list"])
at_head = median([binary, "list", "--at", "HEAD"])
print(f"git ls-files               {git * 1000:8.2f} ms")
print(f"promptctl list             {listing * 1000:8.2f} ms   ratio {listing / git:5.1f}x")
print(f"promptctl list --at HEAD   {at_head * 1000:8.2f} ms   ratio {at_head / git:5.1f}x")
if before:
    old = median([before, "list"])
    old_head = median([before, "list", "--at", "HEAD"])
    print(f"BEFORE list                {old * 1000:8.2f} ms   ratio {old / git:5.1f}x")
    print(f"BEFORE list --at HEAD      {old_head * 1000:8.2f} ms   ratio {old_head / git:5.1f}x")
PY

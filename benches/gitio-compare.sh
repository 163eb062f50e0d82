#!/usr/bin/env bash
# promptctl's hand-written git readers (src/gitio/) against gitoxide and libgit2, in one run,
# on a generated repository of 2,000 prompts committed with git (so every object is loose,
# as in a fresh repository): the index, every prompt's blob, the walk of the prompts
# folder, and index-against-worktree status. The figures are in docs/design.md.
#
# Usage: benches/gitio-compare.sh [PROMPTS] [RUNS]     (defaults: 2000 prompts, 31 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
prompts=${1:-2000}
runs=${2:-31}
(cd benches/gitio-compare && cargo build --release --quiet)
bin="$PWD/benches/gitio-compare/target/release/gitio-compare"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 benches/generate.py "$work" "$prompts"
git -C "$work" init -q -b main
git -C "$work" add -A
git -C "$work" -c user.name=bench -c user.email=bench@example.com commit -qm "generated"
"$bin" "$work" "$runs"

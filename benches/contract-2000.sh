#!/usr/bin/env bash
# `check` and `diff` of 2,000 prompts with an output schema and two tools each, as a ratio
# to the same 2,000 prompts without them, all timed in the same run, interleaved. Two
# shapes: every schema written inline in every prompt file (the files grow 3x: the worst
# case), and schemas kept in files shared by each team's prompts. The diff is of a commit
# that changes 20 prompts; inline, it also widens one enum of their schema (a breaking
# change, judged).
#
# Usage: benches/contract-2000.sh [PROMPTS] [RUNS]     (defaults: 2000 prompts, 15 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
prompts=${1:-2000}
runs=${2:-15}
cargo build --release --quiet
bin="$PWD/target/release/promptctl"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

make_repo() {
    local dir=$1 flag=$2
    python3 benches/generate.py "$dir" "$prompts" $flag
    git -C "$dir" init -q
    commit() {
        git -C "$dir" add -A
        git -C "$dir" -c user.name=bench -c user.email=bench@example.com commit -qm "$1"
    }
    commit "generated"
    for i in $(seq 0 $((prompts / 20)) $((prompts - 1)) | head -20); do
        file=$(printf "%s/prompts/team%02d/prompt%04d.toml" "$dir" $((i % 40)) "$i")
        sed -i 's/^You are assistant number/You are the helpful assistant number/; s/"shipping"\] }/"shipping", "sales"] }/' "$file"
    done
    commit "change 20 prompts"
    sleep 1.1
    git -C "$dir" status --short > /dev/null
}
make_repo "$work/plain" ""
make_repo "$work/contract" "--contract"
make_repo "$work/files" "--contract-files"

python3 - "$work" "$bin" "$runs" <<'PY'
import subprocess, sys
work, binary, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, "benches")
from timing import medians
breaking = subprocess.run([binary, "diff", "HEAD~1", "HEAD", "--json"], cwd=f"{work}/contract",
                          capture_output=True, text=True, check=True).stdout
assert '"breaking": true' in breaking, "the contract diff found no breaking change"
for label, args in [("check", ["check"]), ("diff HEAD~1 HEAD (20 prompts changed)", ["diff", "HEAD~1", "HEAD"])]:
    # Both in turn, each round, so that noise hits them alike.
    plain, contract, files = medians([[binary, "--repo", f"{work}/{repo}", *args]
                                      for repo in ("plain", "contract", "files")], work, runs)
    print(f"{label}:")
    print(f"  without contracts               {plain * 1000:8.2f} ms")
    print(f"  with contracts, inline          {contract * 1000:8.2f} ms   ratio {contract / plain:5.2f}x")
    print(f"  with contracts, shared files    {files * 1000:8.2f} ms   ratio {files / plain:5.2f}x")
PY

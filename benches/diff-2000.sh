#!/usr/bin/env bash
# `promptctl diff HEAD~1 HEAD` on a generated repository of 2,000 prompts where the last
# commit changes 20 of them, as a ratio to `git diff HEAD~1 HEAD` on the same repository,
# both timed in the same run. Also reported: a commit that edits one partial (reaching 500
# prompts), and the working tree against HEAD.
#
# Usage: benches/diff-2000.sh [PROMPTS] [RUNS]     (defaults: 2000 prompts, 15 runs)
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
commit() {
    git -C "$work" add -A
    git -C "$work" -c user.name=bench -c user.email=bench@example.com commit -qm "$1"
}
git -C "$work" init -q
commit "generated"
# Twenty prompts spread over the teams get another system line and temperature.
for i in $(seq 0 $((prompts / 20)) $((prompts - 1)) | head -20); do
    file=$(printf "%s/prompts/team%02d/prompt%04d.toml" "$work" $((i % 40)) "$i")
    sed -i 's/^You are assistant number/You are the helpful assistant number/; s/^temperature = .*/temperature = 0.95/' "$file"
done
commit "change 20 prompts"
# One partial at the end of a chain: every prompt including that chain changes.
sed -i 's/rules\./rules, kindly./' "$work/prompts/partials/p04.j2"
commit "change a partial"
# The working tree differs from HEAD in the same 20 prompts' user message.
for i in $(seq 0 $((prompts / 20)) $((prompts - 1)) | head -20); do
    file=$(printf "%s/prompts/team%02d/prompt%04d.toml" "$work" $((i % 40)) "$i")
    sed -i 's/content = "{{ ticket }}"/content = "Ticket: {{ ticket }}"/' "$file"
done

python3 - "$work" "$bin" "$runs" "$prompts" "${BEFORE:-}" <<'PY'
import subprocess, sys
work, binary, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
before = sys.argv[5] if len(sys.argv) > 5 else ""
sys.path.insert(0, "benches")
from timing import median as timed
def median(cmd):
    return timed(cmd, work, runs)
changed = subprocess.run([binary, "diff", "HEAD~2", "HEAD~1", "--name-only"], cwd=work,
                         check=True, capture_output=True, text=True).stdout.split()
partial = subprocess.run([binary, "diff", "HEAD~1", "HEAD", "--name-only"], cwd=work,
                         check=True, capture_output=True, text=True).stdout.split()
assert len(changed) == 20, changed
git = median(["git", "diff", "HEAD~2", "HEAD~1"])
ours = median([binary, "diff", "HEAD~2", "HEAD~1"])
git_partial = median(["git", "diff", "HEAD~1", "HEAD"])
ours_partial = median([binary, "diff", "HEAD~1", "HEAD"])
git_work = median(["git", "diff", "HEAD"])
ours_work = median([binary, "diff", "HEAD"])
print(f"20 of {sys.argv[4]} prompts changed in one commit:")
print(f"  git diff HEAD~1 HEAD          {git * 1000:8.2f} ms")
print(f"  promptctl diff HEAD~1 HEAD    {ours * 1000:8.2f} ms   ratio {ours / git:5.2f}x")
print(f"one partial changed ({len(partial)} prompts reach it):")
print(f"  git diff HEAD~1 HEAD          {git_partial * 1000:8.2f} ms")
print(f"  promptctl diff HEAD~1 HEAD    {ours_partial * 1000:8.2f} ms   ratio {ours_partial / git_partial:5.2f}x")
print(f"working tree against HEAD, 20 prompts edited:")
print(f"  git diff HEAD                 {git_work * 1000:8.2f} ms")
print(f"  promptctl diff HEAD           {ours_work * 1000:8.2f} ms   ratio {ours_work / git_work:5.2f}x")
if before:
    for label, args, base in [("HEAD~1 HEAD (20 changed)", ["HEAD~2", "HEAD~1"], git),
                              ("HEAD~1 HEAD (partial)", ["HEAD~1", "HEAD"], git_partial),
                              ("HEAD (working tree)", ["HEAD"], git_work)]:
        old = median([before, "diff", *args])
        print(f"  BEFORE diff {label:26} {old * 1000:8.2f} ms   ratio {old / base:5.2f}x")
PY

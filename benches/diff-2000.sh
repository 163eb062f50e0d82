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
# A repository in use is not "racy": its files are older than its index. Here every file
# was written in the second the index was, so git and promptctl alike would read them all.
# Wait a second and let `git status` refresh the index, as it does in any repository.
sleep 1.1
git -C "$work" status --short > /dev/null

python3 - "$work" "$bin" "$runs" "$prompts" "${BEFORE:-}" <<'PY'
import subprocess, sys
work, binary, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
before = sys.argv[5] if len(sys.argv) > 5 else ""
sys.path.insert(0, "benches")
from timing import medians
changed = subprocess.run([binary, "diff", "HEAD~2", "HEAD~1", "--name-only"], cwd=work,
                         check=True, capture_output=True, text=True).stdout.split()
partial = subprocess.run([binary, "diff", "HEAD~1", "HEAD", "--name-only"], cwd=work,
                         check=True, capture_output=True, text=True).stdout.split()
assert len(changed) == 20, changed
cases = [("HEAD~1 HEAD, 20 of %s prompts changed" % sys.argv[4], ["HEAD~2", "HEAD~1"]),
         ("HEAD~1 HEAD, one partial (%d prompts reach it)" % len(partial), ["HEAD~1", "HEAD"]),
         ("HEAD, working tree with 20 prompts edited", ["HEAD"])]
import os
mentions = os.path.join(work, ".git", "promptctl-mentions")
def forget_mentions():
    if os.path.exists(mentions):
        os.remove(mentions)
# The partial case again with no mentions cache, as in a fresh clone: every prompt is read.
cases.append(("HEAD~1 HEAD, one partial, no mentions cache", ["HEAD~1", "HEAD"], forget_mentions))
# Every command of a case runs in turn with the others, so noise hits them alike.
for label, args, *setup in cases:
    cmds = [["git", "diff", *args], [binary, "diff", *args]]
    if before:
        cmds.append([before, "diff", *args])
    times = medians(cmds, work, runs, *setup)
    print(f"diff {label}:")
    print(f"  git diff               {times[0] * 1000:8.2f} ms")
    print(f"  promptctl diff         {times[1] * 1000:8.2f} ms   ratio {times[1] / times[0]:5.2f}x")
    if before:
        print(f"  BEFORE promptctl diff  {times[2] * 1000:8.2f} ms   ratio {times[2] / times[0]:5.2f}x")
PY

#!/usr/bin/env bash
# `promptctl check` of one prompt and one suite file of CASES cases (a variable and two
# assertions each, the workload of benches/mock-workload.sh), beside `check` of the same
# prompt with a one-case suite, so the ratio is what the cases cost; medians, in one run.
# A check that placed every case by parsing the file again grew with the square of the
# cases (a 200-case file took 137 ms); it should grow with the cases.
#
# Usage: benches/check-cases.sh [CASES] [RUNS]     (defaults: 2000 cases, 11 runs)
# With BEFORE=/path/to/an/older/promptctl, that binary is timed too, in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-2000}
runs=${2:-11}
cargo build --release --quiet --bin promptctl
bin="$PWD/target/release/promptctl"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" "$cases" <<'PY'
import os, sys
root, cases = sys.argv[1], int(sys.argv[2])
def write(repo, path, text):
    full = os.path.join(root, repo, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    open(full, "w").write(text)
for repo, count in (("many", cases), ("one", 1)):
    write(repo, "promptctl.toml", '[defaults]\nprovider = "offline"\nmodel = "bench-model"\n')
    write(repo, "prompts/support/route.toml", '[variables.ticket]\ntype = "string"\nrequired = true\n\n[[messages]]\nrole = "user"\ncontent = "Route: {{ ticket }}"\n')
    body = 'prompt = "support/route"\n\n'
    for i in range(count):
        body += f'[[cases]]\nname = "case-{i}"\nvars = {{ ticket = "ticket number {i}" }}\nassert = [{{ type = "contains", value = "number {i}" }}, {{ type = "max_chars", value = 200 }}]\n\n'
    write(repo, "evals/route.toml", body)
PY
for repo in many one; do
    git -C "$work/$repo" init -q
    git -C "$work/$repo" add -A
    git -C "$work/$repo" -c user.name=bench -c user.email=bench@example.com commit -qm generated
done

python3 - "$bin" "${BEFORE:-}" "$work" "$cases" "$runs" <<'PY'
import os, sys
sys.path.insert(0, "benches")
from timing import medians
binary, before, work, cases, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
builds = [("this build", binary)] + ([("BEFORE", before)] if before else [])
# Every command in turn, round after round, so a noisy neighbour slows each alike.
cmds = [[path, "--repo", os.path.join(work, repo), "check"] for _, path in builds for repo in ("many", "one")]
taken = medians(cmds, work, runs)
for (name, _), many, one in zip(builds, taken[0::2], taken[1::2]):
    print(f"{name:<11} check, {cases} cases: {many * 1000:8.1f} ms   1 case: {one * 1000:6.1f} ms   ({many / one:.1f}x)")
PY

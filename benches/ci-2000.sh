#!/usr/bin/env bash
# `promptctl ci` on a generated repository of 2,000 prompts with 200 eval suites, on a branch
# that changes 20 covered prompts, against the same work done by hand in the same run:
# `promptctl check`, `promptctl diff BASE`, and `promptctl eval` of the 20 suites. Both on
# the offline provider with --no-cache, so every run renders and answers every case.
#
# Usage: benches/ci-2000.sh [PROMPTS] [RUNS]     (defaults: 2000 prompts, 15 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
prompts=${1:-2000}
runs=${2:-15}
cargo build --release --quiet
bin="$PWD/target/release/promptctl"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 benches/generate.py "$work" "$prompts"
path_of() { printf "prompts/team%02d/prompt%04d" $(($1 % 40)) "$1"; }
# A suite for every tenth prompt, two cases each.
for i in $(seq 0 10 $((prompts - 1))); do
    name=$(path_of "$i"); name=${name#prompts/}
    mkdir -p "$work/evals/$(dirname "$name")"
    cat >"$work/evals/$name.toml" <<TOML
prompt = "$name"

[vars]
product = "Acme"

[[cases]]
name = "refund"
vars = { ticket = "I want a refund" }
assert = [{ type = "contains", value = "refund" }]

[[cases]]
name = "assistant"
vars = { ticket = "hello" }
assert = [{ type = "icontains", value = "assistant" }]
TOML
done
git -C "$work" init -q -b main
git -C "$work" add -A
git -C "$work" -c user.name=bench -c user.email=bench@example.com commit -qm "generated"
git -C "$work" switch -q -c change
# Twenty covered prompts get another system line.
changed=()
for i in $(seq 0 $((prompts / 20)) $((prompts - 1)) | head -20); do
    i=$((i - i % 10))
    sed -i 's/^You are assistant number/You are the helpful assistant number/' "$work/$(path_of "$i").toml"
    name=$(path_of "$i"); changed+=("${name#prompts/}")
done
git -C "$work" -c user.name=bench -c user.email=bench@example.com commit -qam "change 20 prompts"

python3 - "$work" "$bin" "$runs" "$prompts" "${changed[@]}" <<'PY'
import json, subprocess, sys, time, statistics
work, binary, runs, count, suites = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:]
report = json.loads(subprocess.run([binary, "ci", "--base", "main", "--json", "--no-cache"], cwd=work,
                                   capture_output=True, text=True).stdout)
assert len(report["diff"]["prompts"]) == 20, report["diff"]["prompts"]
assert len(report["eval"]["suites"]) == 20
assert report["check"]["suites"] == int(count) // 10
def once(cmds):
    start = time.perf_counter()
    for cmd in cmds:
        # eval exits 0 and ci exits 0: every gate holds on this change.
        subprocess.run(cmd, cwd=work, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start
by_hand = [[binary, "check"], [binary, "diff", "main"],
           [binary, "eval", "--base", "main", "--no-cache", *suites]]
ci = [[binary, "ci", "--base", "main", "--no-cache"]]
once(by_hand); once(ci)
hand_times, ci_times = [], []
for _ in range(runs):  # interleaved, so that both see the same machine
    hand_times.append(once(by_hand))
    ci_times.append(once(ci))
hand, ours = statistics.median(hand_times), statistics.median(ci_times)
print(f"{count} prompts, {int(count) // 10} suites, 20 covered prompts changed (80 offline requests):")
print(f"  check + diff + eval, by hand  {hand * 1000:8.1f} ms")
print(f"  promptctl ci                  {ours * 1000:8.1f} ms   ratio {ours / hand:5.2f}x")
PY

#!/usr/bin/env bash
# `promptctl list` on a generated repository of 2,000 prompts with includes, as a ratio to
# `git ls-files` on the same repository, both timed in the same run.
#
# Usage: benches/list-2000.sh [PROMPTS] [RUNS]     (defaults: 2000 prompts, 15 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
prompts=${1:-2000}
runs=${2:-15}
cargo build --release --quiet
bin="$PWD/target/release/promptctl"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" "$prompts" <<'PY'
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
def write(path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    open(full, "w").write(text)
write("promptctl.toml", '[defaults]\nmodel = "gpt-4o-mini"\n')
for p in range(20):
    write(f"prompts/partials/p{p:02}.j2", f"Policy {p}: {{{{ product }}}} rules.\n" * 5 + (f'{{% include "partials/p{p+1:02}.j2" %}}\n' if p % 5 != 4 else ""))
for i in range(count):
    team = f"team{i % 40:02}"
    write(f"prompts/{team}/prompt{i:04}.toml", f'''description = "Generated prompt {i}"

[params]
temperature = 0.{i % 10}
max_tokens = {100 + i}

[variables.product]
type = "string"
required = true

[variables.ticket]
type = "string"
required = true

[[messages]]
role = "system"
content = """
You are assistant number {i} for {{{{ product }}}}.
{{% include "partials/p{(i % 4) * 5:02}.j2" %}}
"""

[[messages]]
role = "user"
content = "{{{{ ticket }}}}"
''')
PY
git -C "$work" init -q
git -C "$work" add -A
git -C "$work" -c user.name=bench -c user.email=bench@example.com commit -qm "generated"

python3 - "$work" "$bin" "$runs" <<'PY'
import statistics, subprocess, sys, time
work, binary, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
def median(cmd):
    subprocess.run(cmd, cwd=work, check=True, stdout=subprocess.DEVNULL)  # warm the caches
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=work, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
git = median(["git", "ls-files"])
listing = median([binary, "list"])
at_head = median([binary, "list", "--at", "HEAD"])
print(f"git ls-files               {git * 1000:8.2f} ms")
print(f"promptctl list             {listing * 1000:8.2f} ms   ratio {listing / git:5.1f}x")
print(f"promptctl list --at HEAD   {at_head * 1000:8.2f} ms   ratio {at_head / git:5.1f}x")
PY

#!/usr/bin/env bash
# `promptctl serve` of a generated repository of PROMPTS published prompts, started from git
# (no kept copy): the time until it answers `/healthz`, median of RUNS starts. With
# BEFORE=/path/to/an/older/promptctl, that binary is started in turn with this build, round
# by round, so that a noisy neighbour slows both alike.
#
# Usage: [BEFORE=old-binary] benches/serve-start.sh [PROMPTS] [RUNS]   (defaults: 10000 7)
set -euo pipefail
cd "$(dirname "$0")/.."
prompts=${1:-10000}
runs=${2:-7}
cargo build --release --quiet --bin promptctl
bin="$PWD/target/release/promptctl"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 benches/generate.py "$work/repo" "$prompts" > /dev/null
git -C "$work/repo" init -q
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=bench -c user.email=bench@example.com commit -qm generated
(cd "$work/repo" && PROMPTCTL_ACTOR="bench <bench@example.com>" "$bin" publish > /dev/null)

python3 - "$work/repo" "$runs" "$bin" ${BEFORE:+"$BEFORE"} <<'PY'
import socket, statistics, subprocess, sys, time, urllib.request
repo, runs, builds = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def start(exe):
    port = free_port()
    began = time.perf_counter()
    server = subprocess.Popen([exe, "serve", "--addr", f"127.0.0.1:{port}", "--poll", "5s"],
                              cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                return time.perf_counter() - began
            except OSError:
                if server.poll() is not None:
                    sys.exit(f"{exe} serve exited with {server.returncode}")
                time.sleep(0.005)
    finally:
        server.kill()
        server.wait()

taken = {exe: [] for exe in builds}
for _ in range(runs):
    for exe in builds:
        taken[exe].append(start(exe))
this = statistics.median(taken[builds[0]])
print(f"serve of the published prompts, answering after (median of {runs}): {this * 1000:.1f} ms   target <= 500 ms (from git)")
if len(builds) > 1:
    before = statistics.median(taken[builds[1]])
    print(f"BEFORE: {before * 1000:.1f} ms;  this build {this / before:.2f}x of it")
PY

#!/usr/bin/env bash
# `promptctl serve` memory when many clients long-poll `/v1/state` and a release wakes them
# all: the server's peak resident memory (VmHWM) against its resident memory when idle with
# the same state loaded, both read in this run. Every waiter reads its whole answer.
#
# Usage: benches/longpoll-rss.sh [PROMPTS] [WAITERS]     (defaults: 10000 1000)
# With BEFORE=/path/to/an/older/promptctl, that binary is measured too, in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
prompts=${1:-10000}
waiters=${2:-1000}
cargo build --release --quiet --bin promptctl
bin="$PWD/target/release/promptctl"
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
python3 benches/generate.py "$work/repo" "$prompts"
git -C "$work/repo" init -q
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=bench -c user.email=bench@example.com commit -qm generated
python3 - "$work" "$bin" "$prompts" "$waiters" "${BEFORE:-}" <<'PY'
import asyncio, json, os, socket, subprocess, sys, time, urllib.request
work, binary, prompts, waiters = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
before = sys.argv[5]
repo = os.path.join(work, "repo")
env = dict(os.environ, PROMPTCTL_ACTOR="bench <bench@example.com>", GIT_CONFIG_GLOBAL="/dev/null")
subprocess.run([binary, "publish"], cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
path = os.path.join(repo, "prompts/team00/prompt0000.toml")
text = open(path).read().replace("You are assistant", "You are the assistant")
open(path, "w").write(text)
subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-qm",
                "one"], cwd=repo, check=True)

def act(exe, action):
    done = subprocess.run([exe] + action, cwd=repo, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(done.stderr)

def measure(exe, action):
    """Starts a server, wakes WAITERS long polls with one action; returns (idle, peak, size)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([exe, "serve", "--addr", f"127.0.0.1:{port}", "--poll", "100ms"],
                              cwd=repo, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    open(os.path.join(work, "server.pid"), "w").write(str(server.pid))
    base = f"http://127.0.0.1:{port}"
    for _ in range(6000):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1).read()
            break
        except OSError:
            time.sleep(0.05)
    def status(field):
        for line in open(f"/proc/{server.pid}/status"):
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    first = urllib.request.urlopen(base + "/v1/state").read()
    commit = json.loads(first)["commit"]
    time.sleep(0.5)
    idle = status("VmRSS:")

    async def wait_for_change():
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        writer.write((f"GET /v1/state?wait=60 HTTP/1.1\r\nHost: x\r\n"
                      f"If-None-Match: \"{commit}\"\r\nConnection: close\r\n\r\n").encode())
        await writer.drain()
        total = 0
        while chunk := await reader.read(1 << 20):
            total += len(chunk)
        writer.close()
        return total

    async def main():
        tasks = [asyncio.create_task(wait_for_change()) for _ in range(waiters)]
        await asyncio.sleep(2)
        act(exe, action)
        return await asyncio.gather(*tasks)

    sizes = asyncio.run(main())
    peak = status("VmHWM:")
    server.kill()
    server.wait()
    answered = sum(1 for s in sizes if s > len(first) // 2)
    return idle, peak, len(first), answered

print(f"{prompts} prompts, {waiters} long polls of /v1/state woken by one release:")
runs = [("before", before, ["canary", "team00/prompt0000", "10%"])] if before else []
runs.append(("promptctl", binary, ["revert"] if before else ["canary", "team00/prompt0000", "10%"]))
for label, exe, action in runs:
    idle, peak, size, answered = measure(exe, action)
    print(f"  {label:<10} idle RSS {idle:7.1f} MB (baseline), peak {peak:7.1f} MB "
          f"({peak / idle:.2f}x; {answered} of {waiters} answered, {size / 1e6:.1f} MB each)"
          + ("   target <= 2x" if label == "promptctl" else ""))
PY

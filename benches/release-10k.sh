#!/usr/bin/env bash
# The release store at scale, on a generated repository of 10,000 prompts:
#   - `promptctl publish` of all of them (the first release), and of an edit to one partial
#     that reaches 2,500 prompts;
#   - `promptctl serve` starting on that environment (until it answers), whatever the last
#     action was;
#   - the server's swap after a one-prompt action and after the 2,500-prompt publish (from
#     its `snapshot swapped` log event: reading the new state and building the snapshot).
# Baselines in the same run: `git archive` of the release commit (reading every object once)
# and `git commit` of the same edit in the prompt repository.
#
# Usage: benches/release-10k.sh [PROMPTS]     (default: 10000)
# With BEFORE=/path/to/an/older/promptctl, that binary's publish and start are timed too.
set -euo pipefail
cd "$(dirname "$0")/.."
prompts=${1:-10000}
cargo build --release --quiet --bin promptctl
bin="$PWD/target/release/promptctl"
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
python3 benches/generate.py "$work/repo" "$prompts"
git -C "$work/repo" init -q
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=bench -c user.email=bench@example.com commit -qm generated
python3 - "$work" "$bin" "$prompts" "${BEFORE:-}" <<'PY'
import json, os, socket, subprocess, sys, time, urllib.request
work, binary, prompts, before = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
repo = os.path.join(work, "repo")
env = dict(os.environ, PROMPTCTL_ACTOR="bench <bench@example.com>", GIT_CONFIG_GLOBAL="/dev/null")

def timed(cmd, cwd=repo):
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def start_server(exe, name, *extra):
    """Starts a server and returns (process, seconds until it answered, log path)."""
    port, log = free_port(), os.path.join(work, f"{name}.log")
    start = time.perf_counter()
    proc = subprocess.Popen([exe, "serve", "--addr", f"127.0.0.1:{port}", "--poll", "100ms",
                             "--log-format", "json", *extra], cwd=repo, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    open(os.path.join(work, f"{name}.pid"), "w").write(str(proc.pid))
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return proc, time.perf_counter() - start, log
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"{name} exited: {open(log).read()}")
            time.sleep(0.005)

def swaps(log):
    events = []
    for line in open(log):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("message", "").startswith("snapshot swapped"):
            events.append(event)
    return events

def wait_swap(log, count):
    deadline = time.time() + 600
    while time.time() < deadline:
        found = swaps(log)
        if len(found) >= count:
            return found[count - 1]
        time.sleep(0.02)
    sys.exit(f"no swap in {log}")

def commit(message):
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    return timed(["git", "-c", "user.name=bench", "-c", "user.email=b@example.com",
                  "commit", "-qm", message])

publish_all = timed([binary, "publish"])
archive = timed(["sh", "-c", "git archive promptctl/production > /dev/null"])
print(f"{prompts} prompts, first release:")
print(f"  git archive of the release commit   {archive * 1000:9.1f} ms  (baseline)")
print(f"  promptctl publish (all)             {publish_all * 1000:9.1f} ms  ({publish_all / archive:.1f}x)")

state_dir = os.path.join(work, "state")
server, started, log = start_server(binary, "ours", "--state-dir", state_dir)
print(f"  promptctl serve: answering after    {started * 1000:9.1f} ms  ({started / archive:.1f}x)   target <= 500 ms")
if before:
    old, old_started, _ = start_server(before, "before")
    old.kill()
    print(f"  before: serve answering after       {old_started * 1000:9.1f} ms")

# One prompt changes and is put on a canary.
path = os.path.join(repo, "prompts/team00/prompt0000.toml")
text = open(path).read().replace("You are assistant", "You are the assistant")
open(path, "w").write(text)
git_commit = commit("one prompt")
canary = timed([binary, "canary", "team00/prompt0000", "10%"])
one = wait_swap(log, 2)
print("one-prompt canary:")
print(f"  git commit of the edit              {git_commit * 1000:9.1f} ms  (baseline)")
print(f"  promptctl canary                    {canary * 1000:9.1f} ms  ({canary / git_commit:.1f}x)")
print(f"  server swap                         {one['elapsed_ms']:9.1f} ms  (reused {one['reused']} of {one['prompts']} prompts)   target <= 50 ms")
time.sleep(0.5)
pack = os.path.join(state_dir, "objects-production.pack")
print(f"  kept copy: pack {os.path.getsize(pack) / 1e6:.1f} MB, manifest {os.path.getsize(os.path.join(state_dir, 'kept-production.json')) / 1e6:.1f} MB")

# One partial at the end of a chain reaches a quarter of the prompts.
partial = os.path.join(repo, "prompts/partials/p04.j2")
text = open(partial).read().replace("rules.", "rules, kindly.")
open(partial, "w").write(text)
git_commit = commit("a partial")
reached = len(subprocess.run([binary, "diff", "HEAD~1", "HEAD", "--name-only"], cwd=repo,
                             env=env, check=True, capture_output=True, text=True).stdout.split())
publish_edit = timed([binary, "publish"])
edit = wait_swap(log, 3)
print(f"an edit reaching {reached} prompts:")
print(f"  git commit of the edit              {git_commit * 1000:9.1f} ms  (baseline)")
print(f"  promptctl publish                   {publish_edit * 1000:9.1f} ms  ({publish_edit / git_commit:.1f}x)   target <= 3000 ms")
print(f"  server swap                         {edit['elapsed_ms']:9.1f} ms  (reused {edit['reused']} of {edit['prompts']} prompts)")
server.kill()
server, restarted, _ = start_server(binary, "again")
print(f"serve start after the last action     {restarted * 1000:9.1f} ms   target <= 500 ms (from git)")
server.kill()
time.sleep(0.5)
server, kept, _ = start_server(binary, "kept", "--state-dir", state_dir)
print(f"serve start from the kept copy        {kept * 1000:9.1f} ms   target <= 300 ms")
server.kill()
PY

#!/usr/bin/env bash
# Feedback ingestion under wrk: POST /v1/feedback for a prompt with a canary on a rollout
# plan (each report also goes into the step's window the controller judges) against the
# same for a prompt without a canary (metrics only), both in this run, on one server with
# the controller on.
#
# Needs wrk (Debian: apt-get install wrk).
# Usage: benches/feedback-wrk.sh [SECONDS] [CONNECTIONS]   (defaults: 10 64)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-64}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 2; }
cargo build --release --quiet --bin promptctl
bin="$PWD/target/release/promptctl"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
export PROMPTCTL_ACTOR="bench <bench@example.com>"

python3 benches/generate.py "$work/repo" 100
git -C "$work/repo" init -q
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=bench -c user.email=bench@example.com commit -qm generated
(cd "$work/repo" && "$bin" publish >/dev/null)
file=$(cd "$work/repo" && ls prompts/team01/prompt0001.toml)
sed -i 's/^max_tokens = /max_tokens = 1/' "$work/repo/$file"
git -C "$work/repo" -c user.name=bench -c user.email=bench@example.com commit -qam v2
(cd "$work/repo" && "$bin" canary team01/prompt0001 5% --ramp 25,100 --every 1h >/dev/null)

port=$((20000 + RANDOM % 20000))
(cd "$work/repo" && exec "$bin" serve --addr 127.0.0.1:$port --poll 5s --controller --controller-interval 1s) 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
version_of() { curl -sf "http://127.0.0.1:$port/v1/prompts" | python3 -c "import json,sys; print([p for p in json.load(sys.stdin)['prompts'] if p['name']=='$1'][0]['$2'])"; }
canary=$(version_of team01/prompt0001 canary)
plain=$(version_of team02/prompt0002 active)

script() {
  cat > "$work/$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name":"$2","version":"$3","outcome":"success","latency_ms":120.5,"cost_usd":0.001,"score":0.9}'
LUA
}
script windowed team01/prompt0001 "$canary"
script plain team02/prompt0002 "$plain"
run_wrk() { wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$work/$1.lua" "http://127.0.0.1:$port/v1/feedback"; }
plain_out=$(run_wrk plain)
windowed_out=$(run_wrk windowed)
reports=$(curl -sf "http://127.0.0.1:$port/v1/rollouts" | python3 -c "import json,sys; print(json.load(sys.stdin)['rollouts'][0]['window']['canary']['reports'])")

python3 - "$plain_out" "$windowed_out" "$reports" <<'PY'
import re, sys
def parse(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    total = int(re.search(r"(\d+) requests in", text).group(1))
    return rps, p99, int(errors.group(1)) if errors else 0, total
plain, windowed = parse(sys.argv[1]), parse(sys.argv[2])
print(f"feedback, no canary (metrics only)   {plain[0]:10.0f} req/s   p99 {plain[1]:6.2f} ms   errors {plain[2]}")
print(f"feedback, canary on a plan (window)  {windowed[0]:10.0f} req/s   p99 {windowed[1]:6.2f} ms   errors {windowed[2]}")
print(f"throughput ratio windowed/plain      {windowed[0] / plain[0]:10.2f}x")
print(f"reports in the canary's window       {sys.argv[3]} (wrk read {windowed[3]} answers; the server also counts those still in flight when wrk stops)")
PY

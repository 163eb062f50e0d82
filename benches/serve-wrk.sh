#!/usr/bin/env bash
# `promptctl serve` resolve throughput and latency under wrk, against nginx (one worker)
# serving the same JSON bytes from a file, both measured in this run on this machine; the
# same resolve through OpenFeature's OFREP route (`POST /ofrep/v1/evaluate/flags/{key}`)
# beside `GET /v1/prompts/{name}`; and the server's resident memory with 1,000 prompts.
#
# Needs wrk and nginx (Debian: apt-get install wrk nginx-light).
# Usage: benches/serve-wrk.sh [PROMPTS] [SECONDS] [CONNECTIONS]   (defaults: 1000 10 64)
# With BEFORE=/path/to/an/older/promptctl, that binary's server is measured too, in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
prompts=${1:-1000}
seconds=${2:-10}
connections=${3:-64}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 2; }
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || { echo "nginx is not installed (apt-get install nginx-light)"; exit 2; }
cargo build --release --quiet --bin promptctl
bin="$PWD/target/release/promptctl"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

python3 benches/generate.py "$work/repo" "$prompts"
git -C "$work/repo" init -q
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=bench -c user.email=bench@example.com commit -qm generated
(cd "$work/repo" && PROMPTCTL_ACTOR="bench <bench@example.com>" "$bin" publish >/dev/null)

port=$((20000 + RANDOM % 20000))
(cd "$work/repo" && exec "$bin" serve --addr 127.0.0.1:$port --poll 5s) 2>/dev/null &
pids+=($!)
server_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
path="/v1/prompts/team07/prompt0007?key=user-42"
curl -sf "http://127.0.0.1:$port$path" > "$work/answer.json"

mkdir -p "$work/nginx/logs" "$work/www"
cp "$work/answer.json" "$work/www/answer.json"
nport=$((port + 1))
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$nport;
    location / { root $work/www; default_type application/json; try_files /answer.json =404; }
  }
}
CONF
"$nginx_bin" -c "$work/nginx/nginx.conf" -p "$work/nginx" -g "daemon off;" &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nport$path" >/dev/null && break; sleep 0.1; done

run_wrk() { wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@"; }
cat > "$work/ofrep.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"context":{"targetingKey":"user-42"}}'
wrk.headers["Content-Type"] = "application/json"
LUA
nginx_out=$(run_wrk "http://127.0.0.1:$nport$path")
serve_out=$(run_wrk "http://127.0.0.1:$port$path")
ofrep_out=$(run_wrk -s "$work/ofrep.lua" "http://127.0.0.1:$port/ofrep/v1/evaluate/flags/team07/prompt0007")
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
before_out=""
if [ -n "${BEFORE:-}" ]; then
    kill "$server_pid"
    (cd "$work/repo" && exec "$BEFORE" serve --addr 127.0.0.1:$port --poll 5s) 2>/dev/null &
    pids+=($!)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    before_out=$(run_wrk "http://127.0.0.1:$port$path")
fi

python3 - "$nginx_out" "$serve_out" "$rss_kb" "$prompts" "$before_out" "$ofrep_out" <<'PY'
import re, sys
def parse(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return rps, p99, int(errors.group(1)) if errors else 0
nginx, serve = parse(sys.argv[1]), parse(sys.argv[2])
print(f"nginx (1 worker, same bytes)   {nginx[0]:10.0f} req/s   p99 {nginx[1]:6.2f} ms")
print(f"promptctl serve resolve        {serve[0]:10.0f} req/s   p99 {serve[1]:6.2f} ms   errors {serve[2]}")
print(f"throughput ratio serve/nginx   {serve[0] / nginx[0]:10.2f}x")
ofrep = parse(sys.argv[6])
print(f"OFREP evaluate (same resolve)  {ofrep[0]:10.0f} req/s   p99 {ofrep[1]:6.2f} ms   errors {ofrep[2]}   ({ofrep[0] / serve[0]:.2f}x /v1/prompts)")
if sys.argv[5]:
    before = parse(sys.argv[5])
    print(f"before: serve resolve          {before[0]:10.0f} req/s   p99 {before[1]:6.2f} ms   ({before[0] / nginx[0]:.2f}x nginx)")
print(f"resident memory with {sys.argv[4]} prompts   {int(sys.argv[3]) / 1024:6.1f} MB")
PY

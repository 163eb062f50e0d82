#!/usr/bin/env bash
# `promptctl serve` resolve throughput and latency under wrk, against nginx (one worker)
# serving the same JSON bytes from a file, both measured in this run on this machine. Both
# servers get one worker (`serve --workers 1`) pinned to CPU 1, and wrk one thread pinned to
# CPU 0: the load generator never takes the server's core, as a client on another machine
# would not (`PIN=0` lets them share the cores, with wrk on two threads). Sharing measured the
# scheduler rather than the server: at 16 connections the p99 of both servers was 2.7-3.3 ms
# with the cores shared and 0.2-0.5 ms pinned, while the pinned server still spends its whole
# core (it is the bottleneck, not wrk). promptctl with its default, a worker per core, is
# measured too, unpinned, beside wrk on two threads. The
# same resolve through OpenFeature's OFREP route (`POST /ofrep/v1/evaluate/flags/{key}`)
# beside `GET /v1/prompts/{name}`; a resolve of a canary limited to a segment of five
# comparisons (the caller's five attributes in the query) beside a resolve of a canary
# without one; a resolve of an experiment of three arms limited to the same segment; and the
# server's resident memory with 1,000 prompts. Besides the best round of each, the ratios
# within each round (nginx, serve and OFREP run one after the other) and their median.
#
# Needs wrk and nginx (Debian: apt-get install wrk nginx-light).
# Usage: [ROUNDS=3] benches/serve-wrk.sh [PROMPTS] [SECONDS] [CONNECTIONS]   (defaults: 1000 10 64)
# With BEFORE=/path/to/an/older/promptctl, that binary's server (one worker, pinned as the
# others) is measured too, in every round of the same run.
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
# Two canaries at 50%: one for everyone, one limited to a segment of five comparisons.
sed -i 's/^You are assistant number/You are the assistant number/' "$work/repo/prompts/team05/prompt0005.toml" "$work/repo/prompts/team06/prompt0006.toml" "$work/repo/prompts/team08/prompt0008.toml"
git -C "$work/repo" -c user.name=bench -c user.email=bench@example.com commit -qam "two canaries"
(cd "$work/repo" && export PROMPTCTL_ACTOR="bench <bench@example.com>" &&
    "$bin" canary team05/prompt0005 50% >/dev/null &&
    "$bin" canary team06/prompt0006 50% --where 'plan in ["enterprise", "pro"] and country = "DE" and seats >= 50 and app_version >= semver "2.4.0" and email matches "@example\\.com$"' >/dev/null &&
    "$bin" experiment start tone --prompt team08/prompt0008 --arm a=active --arm b=HEAD --arm c=HEAD --where 'plan in ["enterprise", "pro"] and country = "DE" and seats >= 50 and app_version >= semver "2.4.0" and email matches "@example\\.com$"' >/dev/null)

# The servers on CPU 1 and wrk on CPU 0, when there are two CPUs and taskset to pin them.
server_cpu=() client=(wrk -t2)
if [ "${PIN:-1}" != 0 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    server_cpu=(taskset -c 1) client=(taskset -c 0 wrk -t1)
fi
port=$((20000 + RANDOM % 20000))
(cd "$work/repo" && exec "${server_cpu[@]}" "$bin" serve --addr 127.0.0.1:$port --poll 5s --workers 1) 2>/dev/null &
pids+=($!)
server_pid=$!
dport=$((port + 2))
(cd "$work/repo" && exec "$bin" serve --addr 127.0.0.1:$dport --poll 5s) 2>/dev/null &
pids+=($!)
bport=$((port + 3))
if [ -n "${BEFORE:-}" ]; then
    (cd "$work/repo" && exec "${server_cpu[@]}" "$BEFORE" serve --addr 127.0.0.1:$bport --poll 5s --workers 1) 2>/dev/null &
    pids+=($!)
fi
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && curl -sf "http://127.0.0.1:$dport/healthz" >/dev/null && { [ -z "${BEFORE:-}" ] || curl -sf "http://127.0.0.1:$bport/healthz" >/dev/null; } && break; sleep 0.1; done
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
"${server_cpu[@]}" "$nginx_bin" -c "$work/nginx/nginx.conf" -p "$work/nginx" -g "daemon off;" &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nport$path" >/dev/null && break; sleep 0.1; done

run_wrk() { "${client[@]}" -c"$connections" -d"${seconds}s" --latency "$@"; }
# The server with a worker per core shares them with the load generator whatever PIN says.
run_wrk_shared() { wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@"; }
cat > "$work/ofrep.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"context":{"targetingKey":"user-42"}}'
wrk.headers["Content-Type"] = "application/json"
LUA
# Rounds in turn, so that a noisy neighbour hits every server alike; each figure is the
# round with the most requests (the least disturbed), its p99 that round's.
nginx_runs=() serve_runs=() default_runs=() ofrep_runs=() before_runs=() before_ofrep_runs=()
for _ in $(seq "${ROUNDS:-3}"); do
    nginx_runs+=("$(run_wrk "http://127.0.0.1:$nport$path")")
    serve_runs+=("$(run_wrk "http://127.0.0.1:$port$path")")
    default_runs+=("$(run_wrk_shared "http://127.0.0.1:$dport$path")")
    ofrep_runs+=("$(run_wrk -s "$work/ofrep.lua" "http://127.0.0.1:$port/ofrep/v1/evaluate/flags/team07/prompt0007")")
    if [ -n "${BEFORE:-}" ]; then
        before_runs+=("$(run_wrk "http://127.0.0.1:$bport$path")")
        before_ofrep_runs+=("$(run_wrk -s "$work/ofrep.lua" "http://127.0.0.1:$bport/ofrep/v1/evaluate/flags/team07/prompt0007")")
    fi
done
best_of() { for run in "$@"; do printf '%s\t%s\n' "$(echo "$run" | awk '/Requests\/sec/ {print $2}')" "$(echo "$run" | tr '\n' '\v')"; done | sort -gr | head -1 | cut -f2- | tr '\v' '\n'; }
nginx_out=$(best_of "${nginx_runs[@]}")
serve_out=$(best_of "${serve_runs[@]}")
default_out=$(best_of "${default_runs[@]}")
ofrep_out=$(best_of "${ofrep_runs[@]}")
# Each round's three figures, measured one after the other: their ratios within a round
# move less with the machine's noise than the best rounds taken apart.
# Each round's p99 too: one disturbed round can hold a p99 of milliseconds.
rps_of() { echo "$1" | awk '/Requests\/sec/ {print $2}'; }
p99_of() { echo "$1" | awk '$1 == "99%" {print $2}'; }
rounds="" p99s=""
for i in "${!nginx_runs[@]}"; do
    rounds+="$(rps_of "${nginx_runs[$i]}"),$(rps_of "${serve_runs[$i]}"),$(rps_of "${ofrep_runs[$i]}");"
    p99s+="$(p99_of "${nginx_runs[$i]}"),$(p99_of "${serve_runs[$i]}"),$(p99_of "${ofrep_runs[$i]}");"
done
export ROUNDS_RPS="$rounds" ROUNDS_P99="$p99s"
attrs="attr.plan=enterprise&attr.country=DE&attr.seats=120&attr.app_version=2.5.0&attr.email=ana%40example.com"
curl -sf "http://127.0.0.1:$port/v1/prompts/team06/prompt0006?key=user-1&$attrs" | grep -q '"track"' || { echo "the segment route does not answer"; exit 1; }
curl -sf "http://127.0.0.1:$port/v1/prompts/team08/prompt0008?key=user-1&$attrs" | grep -q '"arm"' || { echo "the experiment route does not answer an arm"; exit 1; }
plain_runs=() sent_runs=() segment_runs=() experiment_runs=()
for _ in 1 2; do  # in turn, so that noise hits them alike
    plain_runs+=("$(run_wrk "http://127.0.0.1:$port/v1/prompts/team05/prompt0005?key=user-42")")
    sent_runs+=("$(run_wrk "http://127.0.0.1:$port/v1/prompts/team05/prompt0005?key=user-42&$attrs")")
    segment_runs+=("$(run_wrk "http://127.0.0.1:$port/v1/prompts/team06/prompt0006?key=user-42&$attrs")")
    experiment_runs+=("$(run_wrk "http://127.0.0.1:$port/v1/prompts/team08/prompt0008?key=user-42&$attrs")")
done
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
before_out=""
if [ -n "${BEFORE:-}" ]; then
    before_out=$(best_of "${before_runs[@]}")
    before_ratios=""
    for i in "${!nginx_runs[@]}"; do
        before_ratios+="$(rps_of "${before_runs[$i]}"),$(rps_of "${nginx_runs[$i]}"),$(rps_of "${before_ofrep_runs[$i]}");"
    done
    export BEFORE_ROUNDS="$before_ratios"
fi

CLIENT="${client[*]}" SERVER_CPU="${server_cpu[*]}" python3 - "$nginx_out" "$serve_out" "$rss_kb" "$prompts" "$before_out" "$ofrep_out" "${plain_runs[@]}" "${sent_runs[@]}" "${segment_runs[@]}" "${experiment_runs[@]}" "$default_out" <<'PY'
import os, re, sys
def parse(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return rps, p99, int(errors.group(1)) if errors else 0
nginx, serve = parse(sys.argv[1]), parse(sys.argv[2])
print(f"load generator: {os.environ['CLIENT']}; servers: {os.environ['SERVER_CPU'] or 'on any CPU'}")
print(f"nginx (1 worker, same bytes)   {nginx[0]:10.0f} req/s   p99 {nginx[1]:6.2f} ms")
print(f"promptctl serve resolve        {serve[0]:10.0f} req/s   p99 {serve[1]:6.2f} ms   errors {serve[2]}   (--workers 1)")
print(f"throughput ratio serve/nginx   {serve[0] / nginx[0]:10.2f}x")
default = parse(sys.argv[15])
print(f"  a worker per core (default)  {default[0]:10.0f} req/s   p99 {default[1]:6.2f} ms   errors {default[2]}   ({default[0] / nginx[0]:.2f}x nginx; unpinned, beside wrk -t2)")
ofrep = parse(sys.argv[6])
print(f"OFREP evaluate (same resolve)  {ofrep[0]:10.0f} req/s   p99 {ofrep[1]:6.2f} ms   errors {ofrep[2]}   ({ofrep[0] / serve[0]:.2f}x /v1/prompts)")
import statistics
rounds = [[float(x) for x in r.split(",")] for r in os.environ["ROUNDS_RPS"].split(";") if r]
def spread(ratios):
    return f"median {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x)"
print(f"  round by round ({len(rounds)}): serve/nginx {spread([s / n for n, s, _ in rounds])}, OFREP//v1/prompts {spread([o / s for _, s, o in rounds])}")
def ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
p99s = [[ms(x) for x in r.split(",")] for r in os.environ["ROUNDS_P99"].split(";") if r]
def p99_spread(i):
    values = [r[i] for r in p99s]
    return f"{statistics.median(values):.2f} ms ({min(values):.2f}-{max(values):.2f})"
print(f"  p99 median of rounds: nginx {p99_spread(0)}, serve {p99_spread(1)}, OFREP {p99_spread(2)}")
if sys.argv[5]:
    before = parse(sys.argv[5])
    print(f"before: serve resolve          {before[0]:10.0f} req/s   p99 {before[1]:6.2f} ms   ({before[0] / nginx[0]:.2f}x nginx, --workers 1)")
    before_rounds = [[float(x) for x in r.split(",")] for r in os.environ["BEFORE_ROUNDS"].split(";") if r]
    print(f"  round by round: before/nginx {spread([b / n for b, n, _ in before_rounds])}, before's OFREP/its /v1/prompts {spread([o / b for b, _, o in before_rounds])}")
plain = [parse(t) for t in sys.argv[7:9]]
sent = [parse(t) for t in sys.argv[9:11]]
segment = [parse(t) for t in sys.argv[11:13]]
experiment = [parse(t) for t in sys.argv[13:15]]
best = lambda runs: max(r[0] for r in runs)
p99 = lambda runs: max(r[1] for r in runs)
print(f"canary, no rule, key only                {best(plain):10.0f} req/s   p99 {p99(plain):6.2f} ms   (best of 2)")
print(f"canary, no rule, key and 5 attributes    {best(sent):10.0f} req/s   p99 {p99(sent):6.2f} ms")
print(f"canary, 5-comparison segment, the same   {best(segment):10.0f} req/s   p99 {p99(segment):6.2f} ms   errors {sum(r[2] for r in segment)}")
print(f"  segment against no rule: {best(segment) / best(plain):.2f}x (key only), {best(segment) / best(sent):.2f}x (the same request)")
print(f"experiment, 3 arms, the same segment     {best(experiment):10.0f} req/s   p99 {p99(experiment):6.2f} ms   errors {sum(r[2] for r in experiment)}")
print(f"  experiment against no rule: {best(experiment) / best(plain):.2f}x (key only), {best(experiment) / best(sent):.2f}x (the same request)")
print(f"resident memory with {sys.argv[4]} prompts   {int(sys.argv[3]) / 1024:6.1f} MB")
PY

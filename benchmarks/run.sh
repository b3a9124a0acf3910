#!/usr/bin/env bash
# The fan-out benchmark runner. Builds nothing: it takes the binaries from a build directory (or the
# environment), starts each server under test on loopback with its own port and prefix, runs the
# same matrix against each (a fresh server process per run, so memory figures start clean), prints
# the table with sse-hub's ratios against each peer, and writes one JSON line per run.
#
#   benchmarks/run.sh BUILD_DIR [--quick] [--servers LIST] [--clients "1000 5000"] [--rates "5 50 500"]
#                     [--sizes "128 1024"] [--events M] [--slow-events M] [--threads N]
#                     [--client-threads N] [--repeat K] [--nice N] [--out FILE] [--micro | --no-micro]
#
# Environment (each defaults to the build directory or PATH): SSE_HUB, FANOUT, FLOOR, MICRO, NGINX,
# NODE, NCHAN_MODULE (checked to exist before nchan runs).
# Exit status: 0 when no run lost or duplicated an event; 1 otherwise; 2 on a setup error.
# Times never fail a run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
BUILD="$(cd "$1" && pwd)"; shift

SSE_HUB="${SSE_HUB:-$BUILD/examples/hub/sse-hub}"
FANOUT="${FANOUT:-$BUILD/benchmarks/sse-bench-fanout}"
FLOOR="${FLOOR:-$BUILD/benchmarks/sse-bench-floor}"
MICRO="${MICRO:-$BUILD/benchmarks/sse-bench-micro}"
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
NODE="${NODE:-$(command -v node || echo node)}"
NCHAN_MODULE="${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}"

quick=0
servers="sse-hub,nchan,node,floor"
clients="1000 5000 10000"
rates="5 50 500"
sizes="128 1024"
events=200
slow_events=50      # events for rates below 50/s: keeps each run near 10 s
threads=2           # sse-hub threads and nginx workers (node and the floor are single-threaded)
client_threads=1
repeat=1            # runs of each server per cell, interleaved; the table shows medians
nice_args=()        # --nice N: run servers and the generator at this niceness (negative: root only)
out=""
micro=auto
explicit_servers=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --servers) servers="$2"; explicit_servers=1; shift ;;
    --clients) clients="$2"; shift ;;
    --rates) rates="$2"; shift ;;
    --sizes) sizes="$2"; shift ;;
    --events) events="$2"; shift ;;
    --slow-events) slow_events="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --client-threads) client_threads="$2"; shift ;;
    --repeat) repeat="$2"; shift ;;
    --nice) nice_args=(nice -n "$2"); shift ;;
    --out) out="$2"; shift ;;
    --micro) micro=1 ;;
    --no-micro) micro=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$quick" = 1 ]; then
  # The CI configuration: ~500 clients, 100 events, sse-hub against the floor (peers on request).
  [ "$explicit_servers" = 1 ] || servers="sse-hub,floor"
  clients=500; rates=100; sizes=128; events=100; slow_events=100
  [ "$micro" = auto ] && micro=0
fi
[ "$micro" = auto ] && micro=1
out="${out:-$BUILD/bench-results-$(date -u +%Y%m%dT%H%M%SZ).jsonl}"

for b in "$FANOUT"; do
  [ -x "$b" ] || { echo "run.sh: $b not found (build the benchmarks first: scripts/bench.sh)" >&2; exit 2; }
done

# File descriptors: N clients in the generator, N connections in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$(( $(tr ' ' '\n' <<<"$clients" | sort -n | tail -1) + 100 ))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  echo "run.sh: open-file limit $(ulimit -n) is below $need; raise the hard limit (ulimit -Hn)" >&2
  exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/sse-bench.XXXXXX")"
started=()
server_pid=""
cleanup() {
  local p
  for p in "${started[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${started[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  if [ "${keep_work:-0}" = 1 ]; then echo "run.sh: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for_url LOGFILE PID NAME: waits for "listening on http://..." on the server's stdout.
wait_for_url() {
  local log="$1" pid="$2" name="$3" url=""
  for _ in $(seq 200); do
    url="$(sed -n 's/.* listening on \(http:\/\/[^ ]*\).*/\1/p' "$log" 2>/dev/null | head -1)"
    [ -n "$url" ] && { echo "$url"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "run.sh: $name did not start; its output:" >&2
  cat "$log" >&2 || true
  return 1
}

# wait_for_port PORT PID NAME
wait_for_port() {
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  echo "run.sh: $3 did not open port $1" >&2
  return 1
}

# start_server NAME: sets server_pid, server_url, sub_path, pub_path.
start_server() {
  local name="$1" log="$work/$1.$RANDOM.log"
  sub_path="/events/{topic}"
  pub_path="/publish/{topic}"
  case "$name" in
    sse-hub)
      "${nice_args[@]}" "$SSE_HUB" --port 0 --threads "$threads" --max-connections 30000 --log-level warn >"$log" 2>&1 &
      server_pid=$!
      started+=("$server_pid")
      server_url="$(wait_for_url "$log" "$server_pid" sse-hub)" ;;
    floor)
      "${nice_args[@]}" "$FLOOR" --port 0 >"$log" 2>&1 &
      server_pid=$!
      started+=("$server_pid")
      server_url="$(wait_for_url "$log" "$server_pid" floor)" ;;
    node)
      "${nice_args[@]}" "$NODE" "$here/peers/node-server.mjs" --port 0 >"$log" 2>&1 &
      server_pid=$!
      started+=("$server_pid")
      server_url="$(wait_for_url "$log" "$server_pid" node)" ;;
    nchan)
      local prefix="$work/nginx.$RANDOM" port
      port="$("$FANOUT" --free-port)"
      mkdir -p "$prefix"
      sed -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$port|g" -e "s|@WORKERS@|$threads|g" \
        "$here/peers/nchan.conf.in" >"$prefix/nginx.conf"
      "${nice_args[@]}" "$NGINX" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" >"$log" 2>&1 &
      server_pid=$!
      started+=("$server_pid")
      wait_for_port "$port" "$server_pid" nginx || { cat "$log" "$prefix/error.log" >&2 2>/dev/null; return 1; }
      server_url="http://127.0.0.1:$port" ;;
    *) echo "run.sh: unknown server $name" >&2; return 1 ;;
  esac
}

stop_server() {
  local p="$server_pid"
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  local keep=()
  for q in "${started[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
  started=("${keep[@]+"${keep[@]}"}")
}

# Which servers can run here.
IFS=, read -r -a wanted <<<"$servers"
run_servers=()
for s in "${wanted[@]}"; do
  case "$s" in
    sse-hub) [ -x "$SSE_HUB" ] || { echo "run.sh: $SSE_HUB not found" >&2; exit 2; } ;;
    floor) [ -x "$FLOOR" ] || { echo "run.sh: $FLOOR not found" >&2; exit 2; } ;;
    node) command -v "$NODE" >/dev/null 2>&1 || { echo "run.sh: node not found, skipping the node peer" >&2; continue; } ;;
    nchan)
      if ! command -v "$NGINX" >/dev/null 2>&1 || [ ! -f "$NCHAN_MODULE" ]; then
        echo "run.sh: nginx or $NCHAN_MODULE not found (apt-get install nginx-light libnginx-mod-nchan), skipping nchan" >&2
        continue
      fi ;;
  esac
  run_servers+=("$s")
done

machine="$(uname -srm); $(nproc) cores: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
{
  echo "# sse fan-out benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# machine: $machine"
  echo "# servers: ${run_servers[*]}; server threads $threads; client threads $client_threads; repeat $repeat"
} | tee -a "$out" >&2

runs=0
for n in $clients; do
  for size in $sizes; do
    for rate in $rates; do
      m="$events"
      awk -v r="$rate" 'BEGIN { exit !(r < 50) }' && m="$slow_events"
      for _ in $(seq "$repeat"); do
        for s in "${run_servers[@]}"; do
          start_server "$s" || { keep_work=1; exit 2; }
          "${nice_args[@]}" "$FANOUT" --url "$server_url" --subscribe "$sub_path" --publish "$pub_path" \
            --clients "$n" --events "$m" --rate "$rate" --size "$size" --threads "$client_threads" \
            --server-pid "$server_pid" --label "$s" --json "$out" >/dev/null || true
          stop_server
          runs=$((runs + 1))
        done
      done
    done
  done
done

echo
echo "results: $out ($runs runs); machine: $machine"
status=0
"$FANOUT" --report "$out" || status=1

if [ "$micro" = 1 ] && [ -x "$MICRO" ]; then
  echo
  "$MICRO"
fi
exit "$status"

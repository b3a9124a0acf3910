#!/usr/bin/env bash
# The fan-out benchmark runner. Builds nothing: it takes the binaries from a build directory (or the
# environment), starts each server under test on loopback with its own port and prefix, runs the
# same matrix against each (a fresh server process per run, so memory figures start clean), prints
# the table with sse-hub's ratios against each peer, and writes one JSON line per run.
# Servers: sse-hub, nchan, node, floor, and sse-hub-redis2: two sse-hub instances sharing topics
# through one redis-server (--redis), subscribers split half/half, publishing to the first;
# sse-hub-redis4 (or -redisK, K 2..16): K instances on K ports, one redis-server, subscribers spread.
# --topics "1 2000": each cell also per topic count (the generator's --topics: client k on topic
# (k div K) mod T, events to seeded random topics). --redis-readers "1 4": each sse-hub-redisK run
# once per value (sse-hub --redis-readers N), labelled sse-hub-redisK-rN; without it, the default.
# --generators K: K generator processes per run (sse-bench-fanout --shard I/K), each holding N/K of
# the clients (an open-file limit is per process), merged into one result line (--merge).
#
#   benchmarks/run.sh BUILD_DIR [--quick] [--servers LIST] [--clients "1000 5000"] [--rates "5 50 500"]
#                     [--sizes "128 1024"] [--topics "1 2000"] [--events M] [--slow-events M]
#                     [--threads N] [--client-threads N] [--publishers P] [--repeat K] [--nice N]
#                     [--redis-readers "1 4"] [--generators K] [--out FILE] [--micro | --no-micro]
#
# Environment (each defaults to the build directory or PATH): SSE_HUB, FANOUT, FLOOR, MICRO, NGINX,
# NODE, NCHAN_MODULE (checked to exist before nchan runs), REDIS_SERVER, REDIS_CLI.
# Exit status: 0 when no run lost or duplicated an event or saw event ids out of order; 1 otherwise
# (or when a run gave no figures); 2 on a setup error.
# Times never fail a run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() { sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

# The whole script is this function, called on its last line: bash reads a script as it runs it,
# so an edit of this file during a long run would otherwise change what the rest of the run does.
main() {
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
REDIS_SERVER="${REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}"
REDIS_CLI="${REDIS_CLI:-$(command -v redis-cli || echo /usr/bin/redis-cli)}"

quick=0
servers="sse-hub,nchan,node,floor"
clients="1000 5000 10000"
rates="5 50 500"
sizes="128 1024"
topics_list="1"     # --topics: topic counts (1: one topic, the generator's default)
redis_readers=""    # --redis-readers: reader connections of each sse-hub-redisK instance (empty: default)
events=200
slow_events=50      # events for rates below 50/s: keeps each run near 10 s
threads=2           # sse-hub threads and nginx workers (node and the floor are single-threaded)
client_threads=1
generators=1        # --generators: generator processes per run (each holds its share of the clients)
publishers=1        # publishing connections of the generator (--publishers), one POST in flight on each
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
    --topics) topics_list="$2"; shift ;;
    --redis-readers) redis_readers="$2"; shift ;;
    --events) events="$2"; shift ;;
    --slow-events) slow_events="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --client-threads) client_threads="$2"; shift ;;
    --publishers) publishers="$2"; shift ;;
    --generators) generators="$2"; shift ;;
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
  # The CI configuration: ~500 clients, 100 events, sse-hub against the floor and against two
  # instances sharing topics through Redis (skipped when redis-server is missing; peers on request).
  [ "$explicit_servers" = 1 ] || servers="sse-hub,sse-hub-redis2,floor"
  clients=500; rates=100; sizes=128; events=100; slow_events=100
  [ "$micro" = auto ] && micro=0
fi
[ "$micro" = auto ] && micro=1
case "$generators" in ''|*[!0-9]*|0) echo "run.sh: --generators takes a positive number" >&2; exit 2 ;; esac
out="${out:-$BUILD/bench-results-$(date -u +%Y%m%dT%H%M%SZ).jsonl}"

for b in "$FANOUT"; do
  [ -x "$b" ] || { echo "run.sh: $b not found (build the benchmarks first: scripts/bench.sh)" >&2; exit 2; }
done

# File descriptors: N clients in the generator, N connections in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$(( ($(tr ' ' '\n' <<<"$clients" | sort -n | tail -1) + generators - 1) / generators + 100 ))  # per generator
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  echo "run.sh: open-file limit $(ulimit -n) is below $need; raise the hard limit (ulimit -Hn) or use more --generators" >&2
  exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/sse-bench.XXXXXX")"
started=()
server_pids=()      # the server under test: its processes' CPU and RSS are summed
side_pids=()        # helpers measured apart (redis-server)
redis_pid=""        # one redis-server for the whole run, started when first needed
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

# poll PID WHAT CMD...: runs CMD every 50 ms until it succeeds (10 s at most, or until PID exits).
poll() {
  local pid="$1" what="$2"
  shift 2
  for _ in $(seq 200); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "run.sh: $what" >&2
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# http_get PORT PATH: prints the response (head and body) of GET http://127.0.0.1:PORT/PATH.
http_get() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3 &&
    timeout 2 cat <&3) 2>/dev/null || true
}

redis_up() { http_get "$1" /metrics | grep -q '^sse_redis_up 1'; }

# wait_for_port PORT PID NAME
wait_for_port() { poll "$2" "$3 did not open port $1" port_open "$1"; }

# wait_for_redis_up URL PID NAME: until the instance's /metrics says both Redis connections are up.
wait_for_redis_up() { poll "$2" "$3 did not connect to Redis" redis_up "${1##*:}"; }

# ensure_redis: starts the run's redis-server (no persistence, its own directory) once; sets redis_port.
ensure_redis() {
  [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null && return 0
  mkdir -p "$work/redis"
  redis_port="$("$FANOUT" --free-port)"
  "${nice_args[@]}" "$REDIS_SERVER" --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --dir "$work/redis" >"$work/redis/redis.log" 2>&1 &
  redis_pid=$!
  started+=("$redis_pid")
  wait_for_port "$redis_port" "$redis_pid" redis-server || { cat "$work/redis/redis.log" >&2; return 1; }
}

# start_sse_hub NAME [ARGS...]: starts one sse-hub; appends its pid to server_pids, sets hub_url.
start_sse_hub() {
  local name="$1" log="$work/$1.$RANDOM.log" pid
  shift
  local limits=()  # many topics (--topics): room for them (by default 10000 topics, 1000 made by subscribers only)
  [ "${topics:-1}" -gt 1 ] && limits=(--max-topics $((topics * 2 + 100)) --max-subscribed-topics $((topics + 100)))
  "${nice_args[@]}" "$SSE_HUB" --port 0 --threads "$threads" --max-connections 30000 --log-level warn \
    "${limits[@]+"${limits[@]}"}" "$@" >"$log" 2>&1 &
  pid=$!
  started+=("$pid")
  server_pids+=("$pid")
  hub_url="$(wait_for_url "$log" "$pid" "$name")"
}

# start_server NAME: sets server_pids, side_pids, server_url (publishing), sub_args, pub_path.
start_server() {
  local name="$1" log="$work/$1.$RANDOM.log" server_pid
  local sub_path="/events/{topic}"
  pub_path="/publish/{topic}"
  server_pids=()
  side_pids=()
  case "$name" in
    sse-hub)
      start_sse_hub sse-hub || return 1
      server_url="$hub_url"
      sub_args=(--subscribe "$sub_path")
      return 0 ;;
    sse-hub-redis[0-9]*)
      # K instances on one Redis (sse-hub-redis2: two), a fresh key prefix per run (and FLUSHALL, so
      # Redis's memory starts clean); subscribers spread over them (the generator: client k on the
      # (k mod K)-th), publishing to the first. RUN_READERS: --redis-readers for each instance.
      ensure_redis || return 1
      if [ -x "$REDIS_CLI" ]; then "$REDIS_CLI" -p "$redis_port" FLUSHALL >/dev/null 2>&1 || true; fi
      local redis_url="redis://127.0.0.1:$redis_port/0" prefix="bench-$$-$runs:" k urls=() extra=()
      local count="${name#sse-hub-redis}"
      [ -n "${RUN_READERS:-}" ] && extra=(--redis-readers "$RUN_READERS")
      for k in $(seq "$count"); do
        start_sse_hub "sse-hub-$k" --redis "$redis_url" --redis-prefix "$prefix" "${extra[@]+"${extra[@]}"}" || return 1
        urls+=("$hub_url")
      done
      sub_args=()
      for k in $(seq "$count"); do
        wait_for_redis_up "${urls[$((k - 1))]}" "${server_pids[$((k - 1))]}" "sse-hub-$k" || return 1
        sub_args+=(--subscribe "${urls[$((k - 1))]}$sub_path")
      done
      server_url="${urls[0]}"
      side_pids=("$redis_pid")
      return 0 ;;
    floor)
      "${nice_args[@]}" "$FLOOR" --port 0 >"$log" 2>&1 &
      server_pid=$!
      started+=("$server_pid")
      server_url="$(wait_for_url "$log" "$server_pid" floor)" || return 1 ;;
    node)
      "${nice_args[@]}" "$NODE" "$here/peers/node-server.mjs" --port 0 >"$log" 2>&1 &
      server_pid=$!
      started+=("$server_pid")
      server_url="$(wait_for_url "$log" "$server_pid" node)" || return 1 ;;
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
  server_pids=("$server_pid")
  sub_args=(--subscribe "$sub_path")
}

# stop_server: stops the server's processes (not the shared redis-server).
stop_server() {
  local p q keep=()
  for p in "${server_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${server_pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  for q in "${started[@]}"; do
    for p in "${server_pids[@]}"; do [ "$q" = "$p" ] && continue 2; done
    keep+=("$q")
  done
  started=("${keep[@]+"${keep[@]}"}")
  server_pids=()
}

# run_generators: the run's clients over $generators generator processes (sse-bench-fanout --shard
# I/K, one rendezvous directory per run; generator 0 measures the server and publishes), then one
# merged JSON line into $out (--merge). Status: the merge's (0 valid, 1 invalid), or 2 when a
# generator failed outright (no result file).
run_generators() {
  local dir="$work/gen.$runs" g gpids=() extra results=() grc=0 topic="bench-$$-$runs"
  mkdir -p "$dir"
  for g in $(seq 0 $((generators - 1))); do
    extra=()
    [ "$g" = 0 ] && extra=("${pid_args[@]}")
    "${nice_args[@]}" "$FANOUT" --url "$server_url" "${sub_args[@]}" --publish "$pub_path" \
      --clients "$n" --events "$m" --rate "$rate" --size "$size" --threads "$client_threads" \
      "${pub_args[@]+"${pub_args[@]}"}" "${extra[@]+"${extra[@]}"}" --label "$label" --topic "$topic" \
      --shard "$g/$generators" --shard-dir "$dir" --result "$dir/result.$g" >/dev/null 2>"$dir/gen.$g.log" &
    gpids+=($!)
    started+=("$!")
    results+=("$dir/result.$g")
  done
  for g in "${!gpids[@]}"; do
    wait "${gpids[$g]}" || { [ $? -gt 1 ] && grc=2; }
  done
  local q keep=()  # the generators have exited: forget their pids (a pid may be reused later)
  for q in "${started[@]}"; do
    for g in "${gpids[@]}"; do [ "$q" = "$g" ] && continue 2; done
    keep+=("$q")
  done
  started=("${keep[@]+"${keep[@]}"}")
  cat "$dir"/gen.*.log >&2
  [ "$grc" = 0 ] || { echo "run.sh: a generator failed (see above)" >&2; return 2; }
  "$FANOUT" --merge "${results[@]}" --json "$out" >/dev/null
}

# Which servers can run here.
IFS=, read -r -a wanted <<<"$servers"
run_servers=()
for s in "${wanted[@]}"; do
  case "$s" in
    sse-hub) [ -x "$SSE_HUB" ] || { echo "run.sh: $SSE_HUB not found" >&2; exit 2; } ;;
    floor) [ -x "$FLOOR" ] || { echo "run.sh: $FLOOR not found" >&2; exit 2; } ;;
    sse-hub-redis[0-9]*)
      case "${s#sse-hub-redis}" in
        ''|*[!0-9]*) echo "run.sh: unknown server $s (sse-hub-redisK, K 2..16)" >&2; exit 2 ;;
      esac
      if [ "${s#sse-hub-redis}" -lt 2 ] || [ "${s#sse-hub-redis}" -gt 16 ]; then
        echo "run.sh: $s: K instances, 2..16" >&2; exit 2
      fi
      [ -x "$SSE_HUB" ] || { echo "run.sh: $SSE_HUB not found" >&2; exit 2; }
      if ! [ -x "$REDIS_SERVER" ]; then
        echo "run.sh: redis-server not found (apt-get install redis-server), skipping $s (instances through Redis)" >&2
        continue
      fi
      if grep -qF "built without Redis support" "$SSE_HUB"; then
        echo "run.sh: $SSE_HUB was built without Redis support (apt-get install libhiredis-dev, rebuild), skipping $s" >&2
        continue
      fi ;;
    node) command -v "$NODE" >/dev/null 2>&1 || { echo "run.sh: node not found, skipping the node peer" >&2; continue; } ;;
    nchan)
      if ! command -v "$NGINX" >/dev/null 2>&1 || [ ! -f "$NCHAN_MODULE" ]; then
        echo "run.sh: nginx or $NCHAN_MODULE not found (apt-get install nginx-light libnginx-mod-nchan), skipping nchan" >&2
        continue
      fi ;;
  esac
  run_servers+=("$s")
done

# Each server process holds its share of the connections (sse-hub-redisK: N/K each, the others all N)
# and needs a descriptor for each: refuse a cell no process can hold rather than fail in mid-run.
max_clients=$(tr ' ' '\n' <<<"$clients" | sort -n | tail -1)
if [ "$(ulimit -n)" != unlimited ]; then
  for s in "${run_servers[@]}"; do
    per=$max_clients
    case "$s" in sse-hub-redis[0-9]*) per=$(( (max_clients + ${s#sse-hub-redis} - 1) / ${s#sse-hub-redis} )) ;; esac
    if [ $((per + 64)) -gt "$(ulimit -n)" ]; then
      echo "run.sh: $s would hold $per connections per process: above the open-file limit $(ulimit -n) (less 64)" >&2
      exit 2
    fi
  done
fi

# What runs in each cell: each server, and each sse-hub-redisK once per --redis-readers value
# ("server:readers"; labelled server-rN when --redis-readers is given).
variants=()
for s in "${run_servers[@]}"; do
  case "$s" in
    sse-hub-redis[0-9]*)
      if [ -n "$redis_readers" ]; then
        for r in $redis_readers; do variants+=("$s:$r"); done
        continue
      fi ;;
  esac
  variants+=("$s:")
done

machine="$(uname -srm); $(nproc) cores: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
{
  echo "# sse fan-out benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# machine: $machine"
  echo "# servers: ${run_servers[*]}; server threads $threads; client threads $client_threads; publishers $publishers; repeat $repeat${redis_readers:+; redis readers $redis_readers}; topics $topics_list$( [ "$generators" = 1 ] || echo "; generators $generators")"
} | tee -a "$out" >&2

runs=0
failed_runs=0
for n in $clients; do
  for size in $sizes; do
    for rate in $rates; do
     for topics in $topics_list; do
      m="$events"
      awk -v r="$rate" 'BEGIN { exit !(r < 50) }' && m="$slow_events"
      for _ in $(seq "$repeat"); do
        for v in "${variants[@]}"; do
          s="${v%%:*}"
          RUN_READERS="${v#*:}"
          label="$s${RUN_READERS:+-r$RUN_READERS}"
          start_server "$s" || { keep_work=1; exit 2; }
          pid_args=()
          for p in "${server_pids[@]}"; do pid_args+=(--server-pid "$p"); done
          for p in "${side_pids[@]+"${side_pids[@]}"}"; do pid_args+=(--side-pid "$p" --side-label redis-server); done
          pub_args=()
          [ "$publishers" = 1 ] || pub_args=(--publishers "$publishers")
          [ "$topics" = 1 ] || pub_args+=(--topics "$topics")
          rc=0
          if [ "$generators" = 1 ]; then
            "${nice_args[@]}" "$FANOUT" --url "$server_url" "${sub_args[@]}" --publish "$pub_path" \
              --clients "$n" --events "$m" --rate "$rate" --size "$size" --threads "$client_threads" \
              "${pub_args[@]+"${pub_args[@]}"}" "${pid_args[@]}" --label "$label" --json "$out" >/dev/null || rc=$?
          else
            run_generators || rc=$?
          fi
          # 1: an invalid run, in the results file (the report shows it); more: no figures at all.
          if [ "$rc" -gt 1 ]; then
            echo "run.sh: the generator failed against $label (exit $rc): this run has no figures" >&2
            failed_runs=$((failed_runs + 1))
          fi
          stop_server
          runs=$((runs + 1))
        done
      done
     done
    done
  done
done

echo
echo "results: $out ($runs runs); machine: $machine"
status=0
"$FANOUT" --report "$out" || status=1
if [ "$failed_runs" -gt 0 ]; then
  echo "$failed_runs run(s) gave no figures (see the messages above)"
  status=1
fi

if [ "$micro" = 1 ] && [ -x "$MICRO" ]; then
  echo
  "$MICRO"
fi
exit "$status"
}

main "$@"; exit

#!/usr/bin/env bash
# The publish-rate benchmark runner. Builds nothing: it takes sse-hub and sse-bench-publish from a
# build directory (Release: cmake -DCMAKE_BUILD_TYPE=Release; ninja sse-hub sse-bench-publish),
# starts each server on a free loopback port (a fresh process per run), drives the same matrix
# against each with the same generator, and prints events/s with sse-hub's ratios against nchan's
# publisher from the same run, plus one JSON line per run (--out).
#
#   benchmarks/publish.sh BUILD_DIR [--topics "1 10000"] [--batch N] [--connections P] [--seconds S]
#                         [--size BYTES] [--threads N] [--repeat K] [--out FILE]
#
# Per topic count, three cells: sse-hub with single-event POSTs (POST /publish/{topic}), sse-hub with
# batches of N events (POST /publish, NDJSON; N = 100 by default), nchan with single-event POSTs
# (its publisher location, benchmarks/peers/nchan.conf.in; nchan has no multi-event request). P
# keep-alive connections (default 4), one request in flight on each, S seconds per run (default 5),
# topics drawn at random from the T names. sse-hub runs N threads, nginx N workers (default 2).
# Environment: SSE_HUB, PUBLISH (the generator), NGINX, NCHAN_MODULE.
# Exit status: 0 when every request and event was published; 1 otherwise; 2 on a setup error.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
BUILD="$(cd "$1" && pwd)"; shift

SSE_HUB="${SSE_HUB:-$BUILD/examples/hub/sse-hub}"
PUBLISH="${PUBLISH:-$BUILD/benchmarks/sse-bench-publish}"
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
NCHAN_MODULE="${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}"

topics_list="1 10000"
batch=100
connections=4
seconds=5
size=128
threads=2
repeat=1
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --topics) topics_list="$2"; shift ;;
    --batch) batch="$2"; shift ;;
    --connections) connections="$2"; shift ;;
    --seconds) seconds="$2"; shift ;;
    --size) size="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --repeat) repeat="$2"; shift ;;
    --out) out="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "publish.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
out="${out:-$BUILD/publish-results-$(date -u +%Y%m%dT%H%M%SZ).jsonl}"

for b in "$SSE_HUB" "$PUBLISH"; do
  [ -x "$b" ] || { echo "publish.sh: $b not found (build it first, see --help)" >&2; exit 2; }
done
have_nchan=1
if ! command -v "$NGINX" >/dev/null 2>&1 || [ ! -f "$NCHAN_MODULE" ]; then
  echo "publish.sh: nginx or $NCHAN_MODULE not found (apt-get install nginx-light libnginx-mod-nchan): no nchan cells, no ratios" >&2
  have_nchan=0
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/sse-publish.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME: starts a fresh server; sets server_pid, url, pid_args.
start() {
  local log="$work/$1.$RANDOM.log" port
  case "$1" in
    sse-hub)
      "$SSE_HUB" --port 0 --threads "$threads" --max-topics 1000000 --log-level warn >"$log" 2>&1 &
      server_pid=$!
      url=""
      for _ in $(seq 200); do
        url="$(sed -n 's/.* listening on \(http:\/\/[^ ]*\).*/\1/p' "$log" | head -1)"
        [ -n "$url" ] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
      done
      [ -n "$url" ] || { cat "$log" >&2; return 1; }
      pid_args=(--server-pid "$server_pid") ;;
    nchan)
      local prefix="$work/nginx.$RANDOM"
      port="$("$PUBLISH" --free-port)"
      mkdir -p "$prefix"
      sed -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$port|g" -e "s|@WORKERS@|$threads|g" \
        "$here/peers/nchan.conf.in" >"$prefix/nginx.conf"
      "$NGINX" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" >"$log" 2>&1 &
      server_pid=$!
      url="http://127.0.0.1:$port"
      local up=0
      for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
      done
      [ "$up" = 1 ] || { cat "$log" "$prefix/error.log" >&2 2>/dev/null; return 1; }
      pid_args=(--server-pid "$server_pid")
      local w
      for w in $(pgrep -P "$server_pid" || true); do pid_args+=(--server-pid "$w"); done ;;
  esac
}

stop() {
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$2"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

machine="$(uname -srm); $(nproc) cores: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
{
  echo "# sse publish benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# machine: $machine; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# $connections connections, ${seconds}s per run, $size B events, batches of $batch, server threads/workers $threads, repeat $repeat"
} | tee -a "$out" >&2

failed=0
declare -A eps cpu
cells=("sse-hub single" "sse-hub batch")
[ "$have_nchan" = 1 ] && cells+=("nchan single")
for topics in $topics_list; do
  for _ in $(seq "$repeat"); do
    for cell in "${cells[@]}"; do
      read -r server mode <<<"$cell"
      start "$server" || { echo "publish.sh: $server did not start" >&2; exit 2; }
      mode_args=(--single "/publish/{topic}")
      [ "$mode" = batch ] && mode_args=(--batch "$batch" --batch-path /publish)
      line="$("$PUBLISH" --url "$url" "${mode_args[@]}" --topics "$topics" --connections "$connections" \
        --seconds "$seconds" --size "$size" --label "$server" "${pid_args[@]}")" || failed=1
      stop
      echo "$line" >>"$out"
      key="$server $mode $topics"
      eps[$key]="${eps[$key]:-} $(field events_per_s "$line")"
      cpu[$key]="${cpu[$key]:-} $(field server_cpu_us_per_event "$line")"
    done
  done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "-" }'; }
printf '\n%-8s %-26s %14s %14s %16s\n' topics cell "events/s" "CPU us/event" "vs nchan single"
for topics in $topics_list; do
  n="$(median <<<"${eps[nchan single $topics]:-}")"
  for cell in "${cells[@]}"; do
    e="$(median <<<"${eps[$cell $topics]}")"
    c="$(median <<<"${cpu[$cell $topics]}")"
    label="$cell"
    [ "$cell" = "sse-hub batch" ] && label="sse-hub batch of $batch"
    printf '%-8s %-26s %14.0f %14.2f %16s\n' "$topics" "$label" "$e" "$c" "$(ratio "$e" "$n")"
  done
done
echo "(medians of $repeat; results appended to $out)"
exit "$failed"

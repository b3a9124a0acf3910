#!/usr/bin/env bash
# Several generator processes (sse-bench-fanout --shard I/K, --merge; benchmarks/run.sh --generators).
#
#   test_multigen.sh FANOUT SSE_HUB SHARD_FIXTURES_DIR WORK_DIR
#
# 1. --merge of two fixture shard results (shards/shard0.txt, shard1.txt): exact totals, percentiles
#    of the merged histograms (p50 2 ms where the shards' own p50s are 1 and 50 ms: an average of
#    percentiles would say 25.5), connect time from the earliest start to the last connect, memory
#    per connection over both shards' clients; a duplicate in one shard makes the merged run invalid
#    (exit 1); a missing shard or a shard given twice is refused (exit 2).
# 2. The real generator as 2 processes against a real sse-hub (300 clients, 20 events): the merged
#    line has delivered = expected = 6000, lost 0, dup 0, 300 connected; then 3 processes, 2 subscribe
#    targets and 30 topics (10 subscribers each): delivered = expected = 200.
# Loopback only, a free port, every process stopped; a few seconds.
set -euo pipefail
FANOUT="$1" SSE_HUB="$2" FIX="$3" WORK="$4"
rm -rf "$WORK"
mkdir -p "$WORK"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# field JSONLINE KEY: the value of "KEY" in a flat JSON line.
field() { grep -o "\"$2\":[^,}]*" <<<"$1" | head -1 | cut -d: -f2- | tr -d '"'; }
expect() {  # expect JSONLINE KEY VALUE
  local got
  got="$(field "$1" "$2")"
  [ "$got" = "$3" ] || fail "$2: expected $3, got '${got}' in $1"
}

# ---- 1. merging fixtures
rc=0
line="$("$FANOUT" --merge "$FIX/shard0.txt" "$FIX/shard1.txt" --json "$WORK/merged.jsonl" 2>"$WORK/merge.err")" || rc=$?
[ "$rc" = 0 ] || fail "merge of the fixtures: exit $rc ($(cat "$WORK/merge.err"))"
for kv in server=fixture clients=4 events=5 generators=2 connected=4 expected=20 delivered=20 lost=0 duplicated=0 \
  probed=4 probes=3 lat_p50_ms=2 lat_p90_ms=50 lat_p99_ms=50 lat_max_ms=50 connect_s=2 connect_p99_ms=0.5 \
  publish_rtt_p50_ms=0.7 delivery_span_s=6 deliveries_per_s=3 client_cpu_s=0.75 server_cpu_s=0.5 \
  mem_per_conn_kib=1 rss_end_kib=1010 valid=true; do
  expect "$line" "${kv%%=*}" "${kv#*=}"
done
[ "$(cat "$WORK/merged.jsonl")" = "$line" ] || fail "--json FILE does not hold the printed line"
grep -q 'delivered 20/20 lost 0 dup 0 | latency p50 2.00 p90 50.00 p99 50.00' "$WORK/merge.err" ||
  fail "merge summary: $(cat "$WORK/merge.err")"
sed 's/^duplicated 0$/duplicated 1/' "$FIX/shard1.txt" >"$WORK/shard1-dup.txt"
rc=0
line="$("$FANOUT" --merge "$FIX/shard0.txt" "$WORK/shard1-dup.txt" 2>/dev/null)" || rc=$?
[ "$rc" = 1 ] || fail "a duplicate in a shard: exit $rc, expected 1"
expect "$line" duplicated 1
expect "$line" valid false
for files in "$FIX/shard0.txt" "$FIX/shard0.txt $FIX/shard0.txt" "$FIX/shard1.txt $FIX/shard1.txt"; do
  rc=0
  # shellcheck disable=SC2086
  "$FANOUT" --merge $files >/dev/null 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "--merge $files: exit $rc, expected 2 (refused)"
done

# ---- 2. real processes
hub_pid=""
cleanup() {
  if [ -n "$hub_pid" ]; then
    kill -TERM "$hub_pid" 2>/dev/null || true
    wait "$hub_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
"$SSE_HUB" --port 0 --threads 2 --log-level warn >"$WORK/hub.log" 2>&1 &
hub_pid=$!
url=""
for _ in $(seq 100); do
  url="$(sed -n 's/.* listening on \(http:\/\/[^ ]*\).*/\1/p' "$WORK/hub.log" | head -1)"
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || { echo "FAIL: sse-hub did not start: $(cat "$WORK/hub.log")" >&2; exit 1; }

# run_generators NAME K ARGS...: K generator processes, then their merge (printed).
run_generators() {
  local name="$1" k="$2" g pids=() files=() rc=0
  shift 2
  mkdir -p "$WORK/$name"
  for g in $(seq 0 $((k - 1))); do
    local extra=()
    [ "$g" = 0 ] && extra=(--server-pid "$hub_pid")
    "$FANOUT" --url "$url" "$@" "${extra[@]+"${extra[@]}"}" --topic "$name-$$" --label "$name" --drain-timeout 5 \
      --shard "$g/$k" --shard-dir "$WORK/$name" --result "$WORK/$name/result.$g" >/dev/null 2>"$WORK/$name/gen.$g.log" &
    pids+=($!)
    files+=("$WORK/$name/result.$g")
  done
  for g in "${pids[@]}"; do wait "$g" || rc=$?; done
  [ "$rc" = 0 ] || fail "$name: a generator exited $rc: $(cat "$WORK/$name"/gen.*.log)"
  "$FANOUT" --merge "${files[@]}" 2>"$WORK/$name/merge.err" || fail "$name: merge exit $?: $(cat "$WORK/$name/merge.err")"
}

line="$(run_generators two 2 --clients 300 --events 20 --rate 200)"
for kv in clients=300 events=20 generators=2 connected=300 expected=6000 delivered=6000 lost=0 duplicated=0 \
  unexpected=0 id_out_of_order=0 publish_errors=0 valid=true; do
  expect "$line" "${kv%%=*}" "${kv#*=}"
done

line="$(run_generators topics 3 --clients 300 --events 20 --rate 200 --topics 30 --publishers 2 \
  --subscribe "$url/events/{topic}" --subscribe "$url/events/{topic}")"
for kv in clients=300 topics=30 generators=3 connected=300 expected=200 delivered=200 lost=0 duplicated=0 \
  unexpected=0 targets=2 t0_clients=150 t1_clients=150 valid=true; do
  expect "$line" "${kv%%=*}" "${kv#*=}"
done

if [ "$fails" -gt 0 ]; then
  echo "test_multigen: $fails failure(s)" >&2
  exit 1
fi
echo "test_multigen: ok"

#!/usr/bin/env bash
# benchmarks/plot.sh (scripts/bench.sh --charts) on tests/bench/fixture.jsonl: a results file in the
# generator's format (made-up figures; 4 servers x 2 client counts x 2 rates, sse-hub run three times
# in one cell, one invalid node run). Checks, exactly: the three SVGs, every series (panel, server,
# p50/p99) with its number of data points, the provenance lines, the medians, runs with several
# topics drawn apart; then that a malformed line and a run without a needed field each fail the
# script, naming the line, and write no chart.
#   tests/bench/test_plot.sh PLOT_SH FIXTURE_DIR WORK_DIR
set -euo pipefail
plot="$1" fixture_dir="$2" work="$3"
fixture="$fixture_dir/fixture.jsonl"
fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in gnuplot jq; do
  command -v "$tool" >/dev/null 2>&1 ||
    fail "$tool is not installed (Debian packages gnuplot-nox and jq; scripts/test.sh installs them from scripts/packages-test.txt)"
done
rm -rf "$work" && mkdir -p "$work"

# series SVG: one line per plotted series: panel letter (a = first panel), key title, data points.
# gnuplot's SVG puts each series in <g id="gnuplot_plot_<n><panel>"><title>TITLE</title>, then one
# <use xlink:href='#gpPt..'> per point, the key's sample point included (hence - 1; a series drawn
# without points, the "offered" diagonal, or without data, has none).
series() {
  awk '
    function flush() { if (id != "") print panel, title, (uses > 0 ? uses - 1 : 0) }
    /<g id="gnuplot_plot_/ {
      flush()
      match($0, /gnuplot_plot_[0-9]+[a-z]*/); id = substr($0, RSTART, RLENGTH)
      panel = id; sub(/gnuplot_plot_[0-9]+/, "", panel); if (panel == "") panel = "a"
      title = $0; sub(/.*<title>/, "", title); sub(/<\/title>.*/, "", title)
      uses = 0; next
    }
    id != "" { uses += gsub(/xlink:href=.#gpPt/, "&") }
    END { flush() }' "$1"
}

expect_series() {  # SVG EXPECTED
  local got
  got="$(series "$1")"
  [ "$got" = "$2" ] || fail "$(basename "$1"): series and points differ
--- expected
$2
--- got
$got"
}

# 1. The fixture renders.
"$plot" "$fixture" "$work/out" --data "$work/data" --note "fixture: made-up figures" >"$work/stdout" 2>"$work/stderr" ||
  fail "plot.sh failed on the fixture: $(cat "$work/stderr")"
for f in latency memory throughput; do
  [ -s "$work/out/bench-$f.svg" ] || fail "bench-$f.svg was not written"
  grep -q '</svg>' "$work/out/bench-$f.svg" || fail "bench-$f.svg is not a complete SVG"
done
grep -qx 'plot.sh: 1 invalid run(s) (lost, duplicated or reordered events) left out of the charts' "$work/stderr" ||
  fail "no message about the invalid run: $(cat "$work/stderr")"

# 2. Every series and its points. Latency: panel a = 5 events/s, b = 50 events/s; 1000 and 5000
# clients; node's only run at 5000 clients, 50/s, is invalid: one point there.
expect_series "$work/out/bench-latency.svg" "a sse-hub p50 2
a sse-hub p99 2
a nchan p50 2
a nchan p99 2
a node p50 2
a node p99 2
a floor p50 2
a floor p99 2
b sse-hub p50 2
b sse-hub p99 2
b nchan p50 2
b nchan p99 2
b node p50 1
b node p99 1
b floor p50 2
b floor p99 2"
expect_series "$work/out/bench-memory.svg" "a sse-hub 2
a nchan 2
a node 2
a floor 2"
# Offered load (clients x rate): 5k, 25k, 50k, 250k; node has no valid run at 250k.
expect_series "$work/out/bench-throughput.svg" "a sse-hub 4
a nchan 4
a node 3
a floor 4
a offered 0"

# 3. What every chart states: the machine, when, the command (from the fixture's '#' lines), the note.
for f in latency memory throughput; do
  svg="$work/out/bench-$f.svg"
  for text in "machine: Linux 6.1.0 x86_64; 2 cores: Test CPU 9000; 8 GiB" \
      "runs: 2026-12-01 10:00:07 to 10:02:06 UTC; 18 runs, each point the median of its valid runs; 1 invalid run(s) left out (node)" \
      "command: scripts/bench.sh --charts --clients '1000 5000' --rates '5 50' --sizes 128" \
      "fixture: made-up figures"; do
    grep -qF "<text>$text</text>" "$svg" || fail "bench-$f.svg does not say: $text"
  done
done
grep -qF '<text>5 events/s, 128 B events</text>' "$work/out/bench-latency.svg" || fail "latency: no panel title for 5 events/s"
grep -qF '<text>50 events/s, 128 B events</text>' "$work/out/bench-latency.svg" || fail "latency: no panel title for 50 events/s"

# 4. Medians: sse-hub ran three times at 1000 clients, 5/s (p50 3.1, 9.9, 3.5 ms; p99 8.2, 20.4,
# 8.0): 3.5 and 8.2, not the means. Memory at 1000 clients pools its four runs of both rates (2.45,
# 2.51, 2.47, 2.46 KiB): 2.465.
[ "$(head -1 "$work/data/latency.dat")" = "1000 3.5 8.2 3" ] ||
  fail "latency median: first row $(head -1 "$work/data/latency.dat"), expected 1000 3.5 8.2 3"
[ "$(head -1 "$work/data/memory.dat")" = "1000 2.465 4 0" ] ||
  fail "memory median: first row $(head -1 "$work/data/memory.dat"), expected 1000 2.465 4 0"

# 5. Runs with several topics (the generator's --topics T writes "topics"; T = 1 writes none) are
# cells of their own: the four 1000-client runs at 50/s made 2000-topic runs give panels of their own.
sed '/"clients":1000,"events":200/s/"publishers":1,/"publishers":1,"topics":2000,"seed":1,/' "$fixture" >"$work/topics.jsonl"
"$plot" "$work/topics.jsonl" "$work/out-topics" >/dev/null 2>&1 || fail "plot.sh failed on the file with topics"
expect_series "$work/out-topics/bench-memory.svg" "a sse-hub 2
a nchan 2
a node 2
a floor 2
b sse-hub 1
b nchan 1
b node 1
b floor 1"
grep -qF '<text>50 events/s, 128 B events, 2000 topics</text>' "$work/out-topics/bench-latency.svg" ||
  fail "latency: no panel of its own for the 2000-topic runs"

# 6. A malformed line (cut short) and a run without a field the charts need: exit 1, the line named,
# no chart written.
bad_case() {  # NAME SED-EXPRESSION EXPECTED-MESSAGE
  local name="$1" expr="$2" message="$3" rc=0
  sed "$expr" "$fixture" >"$work/$name.jsonl"
  "$plot" "$work/$name.jsonl" "$work/out-$name" >/dev/null 2>"$work/$name.err" || rc=$?
  [ "$rc" = 1 ] || fail "$name: exit status $rc, expected 1 (stderr: $(cat "$work/$name.err"))"
  grep -qF "$message" "$work/$name.err" || fail "$name: expected the message '$message', got: $(cat "$work/$name.err")"
  ! ls "$work/out-$name"/*.svg >/dev/null 2>&1 || fail "$name: a chart was written anyway"
}
bad_case truncated '10s/,"lat_p99_ms".*//' "$work/truncated.jsonl:10: malformed run: not JSON"
bad_case no_field '12s/"lat_p99_ms":[0-9.]*,//' "$work/no_field.jsonl:12: malformed run: field \"lat_p99_ms\" is missing or not a number"
echo "ok: 3 charts, $(series "$work/out/bench-latency.svg" | wc -l) + 4 + 5 series checked, medians, topic counts apart, 2 malformed files refused"

#!/usr/bin/env bash
# Renders a fan-out results file (benchmarks/run.sh --out: one JSON line per run, '#' comment lines)
# into three SVG charts, each server a line:
#   OUTDIR/bench-latency.svg     p50 (solid) and p99 (dashed) publish-to-delivery latency against the
#                                number of clients; one panel per (rate, size[, publishers, topics])
#   OUTDIR/bench-memory.svg      resident memory per idle connection against the number of clients
#                                (one panel per topic count when the file has several)
#   OUTDIR/bench-throughput.svg  delivered events/s against offered load (clients x rate), with the
#                                offered load as a diagonal; one panel per size[, publishers, topics]
# Every point is the median of the valid runs of its cell (run.sh --repeat K gives K runs); runs that
# lost, duplicated or reordered events (valid: false) are left out, and the footer says how many.
# Memory is measured idle (before publishing), so the memory chart takes the median over every rate
# and size at one number of clients. Every chart states the machine (the file's "# machine:" line,
# written by run.sh), the UTC time span of the runs and the command that produced them.
#
#   benchmarks/plot.sh RESULTS.jsonl OUTDIR [--command CMD] [--note TEXT] [--data DIR]
#
#   --command CMD  the command that produced the results (default: the file's "# command:" lines,
#                  written by scripts/bench.sh)
#   --note TEXT    one more footer line (e.g. that the machine was shared)
#   --data DIR     also write the medians gnuplot plots (latency.dat, memory.dat, throughput.dat)
# Needs gnuplot (Debian gnuplot-nox) and jq. Exit status: 0; 1 on a malformed or empty results file
# (the message names the line); 2 on a usage error or a missing tool.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "plot.sh: $*" >&2; exit 2; }

case "${1:-}" in -h|--help) usage; exit 0 ;; esac
[ $# -ge 2 ] || { usage >&2; exit 2; }
results="$1" outdir="$2"
shift 2
command_line="" note="" datadir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --command) [ $# -ge 2 ] || die "--command needs a value"; command_line="$2"; shift ;;
    --note) [ $# -ge 2 ] || die "--note needs a value"; note="$2"; shift ;;
    --data) [ $# -ge 2 ] || die "--data needs a value"; datadir="$2"; shift ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
GNUPLOT="${GNUPLOT:-gnuplot}"
JQ="${JQ:-jq}"
command -v "$GNUPLOT" >/dev/null 2>&1 || die "gnuplot not found (apt-get install gnuplot-nox)"
command -v "$JQ" >/dev/null 2>&1 || die "jq not found (apt-get install jq)"
[ -r "$results" ] || die "cannot read $results"
mkdir -p "$outdir" || die "cannot create $outdir"

work="$(mktemp -d "${TMPDIR:-/tmp}/sse-plot.XXXXXX")"
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT

# 1. Every line: empty, a '#' comment, or one run's JSON object with the fields the charts need.
# Prints the run as compact JSON, or "ERROR<TAB>line<TAB>message".
"$JQ" -R -r '
  def need($k; $t):
    if (.[$k] | type) == $t then . else error("field \"\($k)\" is missing or not a \($t)") end;
  input_line_number as $n
  | if (ltrimstr(" ") | length) == 0 or startswith("#") then empty
    else
      (try [fromjson] catch .) as $r
      | if ($r | type) != "array" then "ERROR\t\($n)\tnot JSON (\($r))"
        else
          try (
            $r[0]
            | if type != "object" then error("not a JSON object") else . end
            | need("server"; "string") | need("clients"; "number") | need("rate"; "number")
            | need("size"; "number") | need("lat_p50_ms"; "number") | need("lat_p99_ms"; "number")
            | need("mem_per_conn_kib"; "number") | need("deliveries_per_s"; "number")
            | need("valid"; "boolean") | need("time"; "string")
            | if (.server | test("^[A-Za-z0-9._+-]{1,40}$")) then . else error("bad server name") end
            | if .clients > 0 and .rate > 0 and .size > 0 then . else error("clients, rate and size must be > 0") end
            | {server, clients, rate, size, publishers: (.publishers // 1), topics: (.topics // 1), valid, time,
               p50: .lat_p50_ms, p99: .lat_p99_ms, mem: .mem_per_conn_kib, deliv: .deliveries_per_s, line: $n}
            | tojson)
          catch "ERROR\t\($n)\t\(.)"
        end
    end' "$results" >"$work/runs.txt" || { echo "plot.sh: $results: jq failed" >&2; exit 1; }
if grep -q '^ERROR' "$work/runs.txt"; then
  grep '^ERROR' "$work/runs.txt" | head -5 | while IFS=$'\t' read -r _ line msg; do
    echo "plot.sh: $results:$line: malformed run: $msg" >&2
  done
  echo "plot.sh: $results is not a results file of benchmarks/run.sh (one JSON object per run); no chart written" >&2
  exit 1
fi
grep -v '^ERROR' "$work/runs.txt" >"$work/runs.jsonl" || true
[ -s "$work/runs.jsonl" ] || { echo "plot.sh: $results holds no runs; no chart written" >&2; exit 1; }
if [ "$("$JQ" -s 'map(select(.valid)) | length' "$work/runs.jsonl")" = 0 ]; then
  echo "plot.sh: $results holds no valid run (every run lost, duplicated or reordered events); no chart written" >&2
  exit 1
fi

# 2. Provenance: machine, time span, command.
machine="$(sed -n 's/^# machine: //p' "$results" | head -1)"
if [ -z "$machine" ]; then
  machine="$(nproc) cores: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) (the machine that drew this chart; the results file does not say where it ran)"
fi
if [ -z "$command_line" ]; then
  # Every distinct command that appended to the file (run.sh --out FILE, used twice), in order.
  command_line="$(sed -n 's/^# command: //p' "$results" | awk '!seen[$0]++' | head -4)"
fi
[ -n "$command_line" ] || command_line="unknown (not recorded in $(basename "$results"))"

# 3. Medians and the gnuplot variables (meta.gp) and data files (one block per panel and server).
"$JQ" -s -r \
  --arg machine "$machine" --arg command "$command_line" --arg note "$note" --arg work "$work" '
  def median: sort | length as $n
    | if $n == 0 then null elif $n % 2 == 1 then .[($n - 1) / 2 | floor]
      else (.[$n / 2 - 1 | floor] + .[$n / 2 | floor]) / 2 end;
  def gq: "\u0027" + gsub("\u0027"; "\u0027\u0027") + "\u0027";
  def garray($name): "array \($name)[\(length)] = [" + (map(if type == "string" then gq else tostring end) | join(", ")) + "]";
  def num: if . == null then "NaN" elif . == (. | floor) then tostring else (. * 10000 | round / 10000 | tostring) end;
  # Wraps a long string into lines of at most $w characters, at spaces.
  def wrap($w): reduce (split(" ")[]) as $word ([""];
      if (.[-1] | length) == 0 then .[-1] = $word
      elif (.[-1] | length) + 1 + ($word | length) > $w then . + [$word]
      else .[-1] += " " + $word end);
  def palette: {"sse-hub": "#1f5fbf", "nchan": "#e07b00", "node": "#2a9d2a", "floor": "#555555",
                "sse-hub-redis2": "#8e44ad"};
  def spare: ["#c0392b", "#16a085", "#b8860b", "#d63384", "#17becf", "#7f7f7f"];

  . as $all
  | ($all | map(select(.valid))) as $ok
  | ($all | map(select(.valid | not))) as $bad
  | ($ok | reduce .[].server as $s ([]; if index([$s]) then . else . + [$s] end)) as $servers
  | ($servers | to_entries | map(palette[.value] // spare[.key % (spare | length)])) as $colors
  # Latency panels: (size, publishers, topics, rate); memory panels: topics; throughput panels:
  # (size, publishers, topics).
  | ($ok | map({rate, size, publishers, topics}) | unique | sort_by(.size, .publishers, .topics, .rate)) as $lat_panels
  | ($ok | map({topics}) | unique | sort_by(.topics)) as $mem_panels
  | ($ok | map({size, publishers, topics}) | unique | sort_by(.size, .publishers, .topics)) as $thr_panels
  | def ptitle: [ (if .rate then "\(.rate) events/s" else empty end), (if .size then "\(.size) B events" else empty end),
        (if (.publishers // 1) != 1 then "\(.publishers) publishers" else empty end),
        (if .topics != 1 then "\(.topics) topics" else empty end) ] | join(", ");
    def block($rows): if ($rows | length) == 0 then "NaN NaN NaN NaN" else $rows | map(map(num) | join(" ")) | join("\n") end;
  # latency.dat: block (panel - 1) * S + (server - 1): clients p50 p99 runs
  ([ $lat_panels[] as $p | $servers[] as $s
     | [ $ok[] | select(.server == $s and .rate == $p.rate and .size == $p.size and .publishers == $p.publishers
                  and .topics == $p.topics) ]
     | group_by(.clients)
     | map([.[0].clients, (map(.p50) | median), (map(.p99) | median), length])
     | block(.) ] | join("\n\n\n")) as $lat_dat
  # memory.dat: block (panel - 1) * S + (server - 1): clients KiB/conn runs
  | ([ $mem_panels[] as $p | $servers[] as $s
     | [ $ok[] | select(.server == $s and .topics == $p.topics) ] | group_by(.clients)
     | map([.[0].clients, (map(.mem) | median), length, 0])
     | block(.) ] | join("\n\n\n")) as $mem_dat
  # throughput.dat: block (panel - 1) * S + (server - 1): offered deliv/s clients rate (sorted by offered)
  | ([ $thr_panels[] as $p | $servers[] as $s
     | [ $ok[] | select(.server == $s and .size == $p.size and .publishers == $p.publishers and .topics == $p.topics) ]
     | group_by([.clients * .rate, .clients, .rate])
     | map([.[0].clients * .[0].rate, (map(.deliv) | median), .[0].clients, .[0].rate])
     | block(.) ] | join("\n\n\n")) as $thr_dat
  | ($all | map(.time) | sort) as $times
  | ( ["machine: \($machine)",
       "runs: \($times[0] | sub("T"; " ") | sub("Z$"; "")) to \($times[-1] | sub("^.*T"; "") | sub("Z$"; "")) UTC; \($all | length) runs, each point the median of its valid runs"
         + (if ($bad | length) > 0 then "; \($bad | length) invalid run(s) left out (\($bad | map(.server) | unique | join(", ")))" else "" end)]
      + ([$command | split("\n")[] | "command: \(.)" | wrap(150)] | add)
      + (if $note != "" then ($note | wrap(150)) else [] end) ) as $foot
  | [ "servers = \($servers | join(" ") | gq)",
      "S = \($servers | length)",
      "clients_tics = \("(" + ($ok | map(.clients) | unique | map(tostring) | join(", ")) + ")" | gq)",
      "clients_min = \($ok | map(.clients) | min)",
      "clients_max = \($ok | map(.clients) | max)",
      "offered_tics = \("(" + ($ok | map(.clients * .rate) | unique | map(tostring) | join(", ")) + ")" | gq)",
      "offered_min = \($ok | map(.clients * .rate) | min)",
      "offered_max = \($ok | map(.clients * .rate) | max)",
      ($colors | garray("colors")),
      ($foot | garray("foot")),
      "lat_P = \($lat_panels | length)",
      ($lat_panels | map(ptitle) | garray("lat_title")),
      "mem_P = \($mem_panels | length)",
      ($mem_panels | map(ptitle) | garray("mem_title")),
      "thr_P = \($thr_panels | length)",
      ($thr_panels | map(del(.rate) | ptitle) | garray("thr_title")),
      "lat_file = \("\($work)/latency.dat" | gq)",
      "mem_file = \("\($work)/memory.dat" | gq)",
      "thr_file = \("\($work)/throughput.dat" | gq)",
      "# DATA latency", $lat_dat, "# DATA memory", $mem_dat, "# DATA throughput", $thr_dat ]
  | join("\n")
' "$work/runs.jsonl" >"$work/all.txt"

# Split: the gnuplot variables, then each data file.
awk -v dir="$work" '
  /^# DATA / { out = dir "/" $3 ".dat"; next }
  { if (out == "") print > (dir "/meta.gp"); else print > out }
' "$work/all.txt"

bad=$("$JQ" -s 'map(select(.valid | not)) | length' "$work/runs.jsonl")
[ "$bad" = 0 ] || echo "plot.sh: $bad invalid run(s) (lost, duplicated or reordered events) left out of the charts" >&2

"$GNUPLOT" -e "meta='$work/meta.gp'; outdir='${outdir//\'/\'\'}'" "$here/plot.gp" 2>"$work/gnuplot.err" || {
  cat "$work/gnuplot.err" >&2
  echo "plot.sh: gnuplot failed" >&2
  exit 1
}
# gnuplot warns (and still draws) e.g. when a server has no valid run in a panel: show it.
grep -v '^$' "$work/gnuplot.err" >&2 || true

if [ -n "$datadir" ]; then
  mkdir -p "$datadir"
  cp "$work/latency.dat" "$work/memory.dat" "$work/throughput.dat" "$work/meta.gp" "$datadir/"
fi
for f in latency memory throughput; do echo "$outdir/bench-$f.svg"; done

#!/usr/bin/env bash
# Builds the benchmarks (Release, build/bench) and runs them through benchmarks/run.sh.
#   scripts/bench.sh            the full matrix (sse-hub, nginx+nchan, Node.js, the floor) and the
#                               micro-benchmarks; about 15-25 minutes
#   scripts/bench.sh --quick    the CI configuration: 500 clients, 100 events, sse-hub against the
#                               floor; fails only when an event was lost or duplicated, never on times
#   scripts/bench.sh --charts [run.sh options]
#                               runs the matrix, then renders the results into docs/bench-latency.svg,
#                               docs/bench-memory.svg and docs/bench-throughput.svg (benchmarks/plot.sh,
#                               gnuplot); installs the Debian packages of scripts/packages-bench.txt
#                               (gnuplot-nox, jq, and nginx-light + libnginx-mod-nchan for the nchan peer)
#   --charts-dir DIR            the same into DIR (implies --charts)
#   --chart-note TEXT           one more footer line on every chart (e.g. that the machine was shared)
# Other options are passed to benchmarks/run.sh (see its header), e.g. --servers sse-hub,nchan.
# The results file (run.sh --out, default BUILD/bench-results-<time>.jsonl) starts with a
# "# command:" line: this command, which the charts show.
# Environment: BUILD_ROOT (default ./build).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$SSE_ROOT"

# The command as typed (arguments quoted where needed), for the results file and the charts.
quote() {
  local a out=()
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./,=:+@%-]+$ ]]; then out+=("$a"); else out+=("'${a//\'/\'\\\'\'}'"); fi
  done
  echo "${out[*]}"
}
command_line="scripts/bench.sh"
[ $# -eq 0 ] || command_line+=" $(quote "$@")"
[ -n "${BUILD_ROOT:-}" ] && command_line="BUILD_ROOT=$(quote "$BUILD_ROOT") $command_line"

charts_dir="" chart_note="" out="" run_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --charts) charts_dir="${charts_dir:-$SSE_ROOT/docs}" ;;
    --charts-dir) [ $# -ge 2 ] || { echo "bench.sh: --charts-dir needs a directory" >&2; exit 2; }
      charts_dir="$2"; shift ;;
    --chart-note) [ $# -ge 2 ] || { echo "bench.sh: --chart-note needs a text" >&2; exit 2; }
      chart_note="$2"; shift ;;
    --out) [ $# -ge 2 ] || { echo "bench.sh: --out needs a file" >&2; exit 2; }
      out="$2"; shift ;;
    *) run_args+=("$1") ;;
  esac
  shift
done

BUILD_ROOT="${BUILD_ROOT:-$SSE_ROOT/build}"
dir="$BUILD_ROOT/bench"

# Before the build and the runs, so that a missing gnuplot does not show only at the end.
[ -z "$charts_dir" ] || ensure_packages scripts/packages-bench.txt

log "build: benchmarks (Release) in $dir"
configure "$dir" -DCMAKE_BUILD_TYPE=Release -DSSE_BUILD_TESTS=OFF -DSSE_BUILD_EXAMPLES=ON \
  -DSSE_BUILD_BENCHMARKS=ON -DSSE_BUILD_TOOLS=OFF -DSSE_INSTALL=OFF
cmake --build "$dir" -j "$JOBS" --target sse-hub sse-bench-fanout sse-bench-floor sse-bench-micro

out="${out:-$dir/bench-results-$(date -u +%Y%m%dT%H%M%SZ).jsonl}"
mkdir -p "$(dirname "$out")"
echo "# command: $command_line" >>"$out"

log "run: benchmarks/run.sh $dir ${run_args[*]+"${run_args[*]}"} --out $out"
status=0
benchmarks/run.sh "$dir" ${run_args[@]+"${run_args[@]}"} --out "$out" || status=$?
[ -n "$charts_dir" ] || exit "$status"
if [ "$status" = 2 ]; then
  log "no charts: the benchmark stopped on a setup error"
  grep -q '^{' "$out" 2>/dev/null && log "(the runs that finished are in $out: benchmarks/plot.sh $out $charts_dir draws them)"
  exit 2
fi

# Invalid runs (lost or duplicated events) are left out of the charts, and the status stays 1.
log "charts: benchmarks/plot.sh $out $charts_dir"
note_args=()
[ -z "$chart_note" ] || note_args=(--note "$chart_note")
benchmarks/plot.sh "$out" "$charts_dir" ${note_args[@]+"${note_args[@]}"} || exit 1
exit "$status"

#!/usr/bin/env bash
# Builds the benchmarks (Release, build/bench) and runs them through benchmarks/run.sh.
#   scripts/bench.sh            the full matrix (sse-hub, nginx+nchan, Node.js, the floor) and the
#                               micro-benchmarks; about 15-25 minutes
#   scripts/bench.sh --quick    the CI configuration: 500 clients, 100 events, sse-hub against the
#                               floor; fails only when an event was lost or duplicated, never on times
# Other options are passed to benchmarks/run.sh (see its header), e.g. --servers sse-hub,nchan.
# Environment: BUILD_ROOT (default ./build).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$SSE_ROOT"

BUILD_ROOT="${BUILD_ROOT:-$SSE_ROOT/build}"
dir="$BUILD_ROOT/bench"

log "build: benchmarks (Release) in $dir"
configure "$dir" -DCMAKE_BUILD_TYPE=Release -DSSE_BUILD_TESTS=OFF -DSSE_BUILD_EXAMPLES=ON \
  -DSSE_BUILD_BENCHMARKS=ON -DSSE_BUILD_TOOLS=OFF -DSSE_INSTALL=OFF
cmake --build "$dir" -j "$JOBS" --target sse-hub sse-bench-fanout sse-bench-floor sse-bench-micro

log "run: benchmarks/run.sh $*"
exec benchmarks/run.sh "$dir" "$@"

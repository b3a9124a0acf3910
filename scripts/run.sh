#!/usr/bin/env bash
# Builds in Release and starts the main example on localhost. Installs what is missing itself
# (Debian packages, via sudo when not root). Idempotent; extra arguments go to the server.
#
# Environment: BUILD_ROOT (default ./build), PORT (default 8080), BIND (default 127.0.0.1).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$SSE_ROOT"

BUILD_ROOT="${BUILD_ROOT:-$SSE_ROOT/build}"
PORT="${PORT:-8080}"
BIND="${BIND:-127.0.0.1}"

ensure_packages scripts/packages-build.txt

log "build: Release"
configure "$BUILD_ROOT/release" -DCMAKE_BUILD_TYPE=Release -DSSE_BUILD_TESTS=OFF -DSSE_BUILD_BENCHMARKS=OFF
cmake --build "$BUILD_ROOT/release" -j "$JOBS" --target sse-hub

log "starting sse-hub on http://$BIND:$PORT/ (Ctrl-C to stop)"
cat >&2 <<EOT
  subscribe: curl -N http://$BIND:$PORT/events/demo
  publish:   curl -X POST --data 'hello' http://$BIND:$PORT/publish/demo
  metrics:   curl http://$BIND:$PORT/metrics
EOT
exec "$BUILD_ROOT/release/examples/hub/sse-hub" --bind "$BIND" --port "$PORT" "$@"

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
cmake --build "$BUILD_ROOT/release" -j "$JOBS" --target sse-installer sse-hub

log "starting sse-installer on http://$BIND:$PORT/ (Ctrl-C to stop)"
cat >&2 <<EOT
  the page:  http://$BIND:$PORT/
  install:   curl -X POST -H 'X-Installer-Request: 1' http://$BIND:$PORT/api/components/core-runtime/install
  stream:    curl -N http://$BIND:$PORT/api/jobs/<job>/events
  data, logs and installed components: $BUILD_ROOT/installer-data
EOT
exec "$BUILD_ROOT/release/examples/installer/sse-installer" --bind "$BIND" --port "$PORT" \
  --data-dir "$BUILD_ROOT/installer-data" "$@"

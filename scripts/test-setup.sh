#!/usr/bin/env bash
# Test prerequisites beyond Debian's build packages: Node.js (for third-party client tests and the
# browser client package) and the npm packages pinned in tests/node/package-lock.json and
# clients/js/package-lock.json (the package's devDependencies: typescript). Called by scripts/test.sh.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$SSE_ROOT"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  # Only when the machine has no Node.js at all: Debian's packages (a NodeSource build may already be there).
  log "installing Node.js from Debian"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

if [ ! -f tests/node/node_modules/.package-lock.json ] || \
   [ tests/node/package-lock.json -nt tests/node/node_modules/.package-lock.json ]; then
  log "installing npm packages for the tests (tests/node)"
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ ! -f clients/js/node_modules/.package-lock.json ] || \
   [ clients/js/package-lock.json -nt clients/js/node_modules/.package-lock.json ]; then
  log "installing npm dev packages of the browser client (clients/js: typescript)"
  (cd clients/js && npm ci --no-audit --no-fund --loglevel=error)
fi

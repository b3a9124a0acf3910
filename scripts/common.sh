# Shared by scripts/run.sh and scripts/test.sh. Sourced, not run.
set -euo pipefail

SSE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

log() { printf '\033[1m==> %s %s\033[0m\n' "$(date +%T)" "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_packages FILE...: installs the Debian packages listed in the files (one a line, # comments)
# that are not installed yet. Fast when everything is there: one dpkg-query, no apt call.
ensure_packages() {
  local wanted=() missing=() p
  for f in "$@"; do
    while read -r p; do
      p="${p%%#*}"; p="${p//[[:space:]]/}"
      [ -n "$p" ] && wanted+=("$p")
    done < "$f"
  done
  for p in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Some packages (nginx, redis-server) start a system service on install; tests start their own.
    for svc in nginx redis-server; do
      as_root service "$svc" stop >/dev/null 2>&1 || true
    done
  fi
}

# configure DIR [cmake args...]: configures once; later calls only rebuild.
configure() {
  local dir="$1"; shift
  local gen=()
  command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S "$SSE_ROOT" -B "$dir" "${gen[@]}" "$@" >/dev/null
  else
    cmake -S "$SSE_ROOT" -B "$dir" "$@" >/dev/null
  fi
}

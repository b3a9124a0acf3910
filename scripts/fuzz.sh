#!/usr/bin/env bash
# Builds each libFuzzer target (tests/fuzz/*.cpp) with clang++-14 and runs it for SECONDS (default 30),
# as many at a time as there are cores.
# Seeds come from the committed conformance vectors; new inputs go to a scratch corpus, not the repo.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$SSE_ROOT"
seconds="${1:-30}"
out="${BUILD_ROOT:-$SSE_ROOT/build}/fuzz"
mkdir -p "$out"

seeds="$out/seeds"
if [ ! -d "$seeds" ]; then
  mkdir -p "$seeds"
  python3 - "$seeds" <<'PY' || true
import json, sys, os, hashlib
d = sys.argv[1]
for f in ("parser-cases.json", "writer-cases.json"):
    for c in json.load(open(os.path.join("tests/conformance", f))):
        s = c.get("input") or json.dumps(c.get("event", ""))
        b = bytes.fromhex(c["input_hex"]) if c.get("input_hex") else s.encode()
        open(os.path.join(d, hashlib.sha1(b).hexdigest()), "wb").write(b[:4096])
PY
fi

# fuzz_one NAME SOURCE: builds one target and runs it; its output goes to $out/NAME.log. A target
# that needs more than the headers (Asio, {fmt}, a library) names its flags on a line
# `// fuzz-flags: ...` (tests/fuzz/fuzz_http2.cpp).
fuzz_one() {
  local name="$1" src="$2" corpus="$out/corpus-$1" flags
  flags="$(sed -n 's|^// fuzz-flags: ||p' "$src")"
  # shellcheck disable=SC2086 # the flags are words
  clang++-14 -std=c++20 -O1 -gline-tables-only -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Iinclude "$src" $flags -o "$out/$name" > "$out/$name.log" 2>&1 || return 1
  mkdir -p "$corpus"
  "$out/$name" -max_total_time="$seconds" -print_final_stats=1 -max_len=4096 \
    -artifact_prefix="$out/$name-" "$corpus" "$seeds" >> "$out/$name.log" 2>&1
}

# The targets run $JOBS at a time (each is single-threaded): every one still gets its full time.
status=0
names=() pids=()
for src in tests/fuzz/*.cpp; do
  name="$(basename "$src" .cpp)"
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  log "fuzz: $name (${seconds}s)"
  fuzz_one "$name" "$src" &
  names+=("$name") pids+=($!)
done
for i in "${!pids[@]}"; do
  name="${names[$i]}"
  if ! wait "${pids[$i]}"; then
    status=1
    log "fuzz: $name FAILED"
    tail -n 40 "$out/$name.log"
  fi
  grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$out/$name.log" | tail -n 2 | sed "s/^/$name: /" || true
done
exit $status

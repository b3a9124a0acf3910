#!/usr/bin/env bash
# Builds each libFuzzer target (tests/fuzz/*.cpp) with clang++-14 and runs it for SECONDS (default 30).
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

fmt_inc=""
status=0
for src in tests/fuzz/*.cpp; do
  name="$(basename "$src" .cpp)"
  log "fuzz: $name (${seconds}s)"
  clang++-14 -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Iinclude $fmt_inc "$src" -o "$out/$name"
  corpus="$out/corpus-$name"
  mkdir -p "$corpus"
  if ! "$out/$name" -max_total_time="$seconds" -print_final_stats=1 -max_len=4096 \
       -artifact_prefix="$out/$name-" "$corpus" "$seeds" > "$out/$name.log" 2>&1; then
    status=1
    tail -n 40 "$out/$name.log"
  fi
  grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$out/$name.log" | tail -n 2 || true
done
exit $status

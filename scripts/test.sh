#!/usr/bin/env bash
# Builds everything and runs every test: the full suite through CTest (g++), everything compiled again
# with clang++-14 under ASan+UBSan (warnings are errors) and the unit tests and the servers'
# integration tests run there, the threaded tests and the servers' integration tests under TSan
# (sse-hub, sse-installer and sse-cat built with the sanitizer), and each libFuzzer target for a
# bounded time.
# Installs what is missing itself (Debian packages, via sudo when not root). Idempotent.
#
# Environment: BUILD_ROOT (default ./build), FUZZ_SECONDS (default 30; 0 skips fuzzing),
#              SSE_SKIP_SANITIZERS=1 to skip the sanitizer builds (and with them the clang build),
#              SSE_SKIP_BENCH=1 the quick benchmark.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$SSE_ROOT"

BUILD_ROOT="${BUILD_ROOT:-$SSE_ROOT/build}"
FUZZ_SECONDS="${FUZZ_SECONDS:-30}"

ensure_packages scripts/packages-build.txt scripts/packages-test.txt
[ -x scripts/test-setup.sh ] && scripts/test-setup.sh   # npm packages and the like, if any

# -O1 without debug info: about a third of the compile time of RelWithDebInfo (-O2 -g; 23 s against
# 66 s for tests/server/test_server.cpp with g++ 12), optimised enough for the tests' timings and the
# quick benchmark (which fails only on lost events), and g++'s flow-based warnings still run.
# g++'s garbage collector starts at 1 GiB instead of a few MiB: a tenth less compile time, about
# 1.2 GB resident per compiler at most.
log "build: tests (warnings are errors)"
configure "$BUILD_ROOT/test" -DCMAKE_BUILD_TYPE= \
  "-DCMAKE_CXX_FLAGS=-O1 --param=ggc-min-expand=400 --param=ggc-min-heapsize=1048576" -DSSE_WARNINGS_AS_ERRORS=ON
cmake --build "$BUILD_ROOT/test" -j "$JOBS"

# Two lanes, so that a test suite waiting on sockets and timers does not leave the cores idle:
# - the test lane (a background job, normal priority) runs the test suites one after another, each
#   once its build is there: the whole suite (g++), then ASan+UBSan, then TSan;
# - the build lane (this shell, `nice -n 19`, so a test never waits for a core behind a compiler)
#   builds the sanitizer trees and runs the fuzzers.
# Then the quick benchmark on a quiet machine, and the suites' output, the whole suite's last, so
# that the run ends with CTest's summary line.
lane="$BUILD_ROOT/lanes"
rm -rf "$lane" && mkdir -p "$lane"
status=0

# suite NAME DIR [ENV=VALUE...] -- CTEST-ARGS...: runs one test suite into $lane/NAME.log; NAME.rc
# holds its exit status.
suite() {
  local name="$1" dir="$2"; shift 2
  local envs=() t0=$SECONDS
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  (cd "$dir" && env "${envs[@]}" ctest -j "$JOBS" --output-on-failure "$@") > "$lane/$name.log" 2>&1
  echo $? > "$lane/$name.rc"
  echo $((SECONDS - t0)) > "$lane/$name.secs"
}
# wait_for FLAG: waits until the build lane has made FLAG (it gives up with the build lane: an exit
# of this shell stops the test lane, see the trap below).
wait_for() { while [ ! -e "$lane/$1" ]; do sleep 1; done; }

sanitizers=1
[ "${SSE_SKIP_SANITIZERS:-0}" = 1 ] && sanitizers=0
log "run: the whole suite (g++), then the sanitizer suites as their builds finish (test lane, output at the end)"
(
  set +e
  suite full "$BUILD_ROOT/test" --
  if [ $sanitizers = 1 ]; then
    wait_for asan.built
    [ -e "$lane/asan.failed" ] || suite asan "$BUILD_ROOT/asan" ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
      UBSAN_OPTIONS=print_stacktrace=1 -- -L "unit|servers"
    wait_for tsan.built
    [ -e "$lane/tsan.failed" ] || suite tsan "$BUILD_ROOT/tsan" TSAN_OPTIONS=halt_on_error=1 -- \
      -L "threaded|servers" --no-tests=ignore
  fi
) &
test_lane=$!
trap 'pkill -P $test_lane 2>/dev/null; kill $test_lane 2>/dev/null || true' EXIT

# build_tests_for DIR LABELS: builds only what the tests with those labels run (the executable of each
# C++ test is listed in DIR/sse-test-targets.txt, see sse_add_test) and the servers they start.
build_tests_for() {
  local dir="$1" labels="$2" targets
  targets=$(cd "$dir" && ctest -N -L "$labels" | sed -n 's/^ *Test *#[0-9]*: *\([^ ]*\).*/\1/p' |
    awk 'NR == FNR { wanted[$1] = 1; next } wanted[$1] { print $2 }' - sse-test-targets.txt | sort -u)
  nice -n 19 cmake --build "$dir" -j "$JOBS" --target $targets sse-hub sse-installer sse-cat
}

# The sanitizer builds use clang++-14, and the first of them compiles every translation unit (library
# headers, tests, examples, tools, benchmarks), so that a clang-only warning fails here too, without a
# third full build. Unoptimised, with line tables only (symbolised reports, a fraction of -g's cost):
# clang compiles a test under ASan in half the time g++ takes with -g.
if [ $sanitizers = 1 ]; then
  command -v clang++-14 >/dev/null || { log "clang++-14 not found (package clang-14)"; exit 1; }
  clang_sanitizer_build() {   # DIR SANITIZERS [cmake args...]
    local dir="$1" sanitize="$2"; shift 2
    configure "$dir" -DCMAKE_CXX_COMPILER="$(command -v clang++-14)" -DCMAKE_BUILD_TYPE= \
      "-DCMAKE_CXX_FLAGS=-O0 -gline-tables-only" -DSSE_WARNINGS_AS_ERRORS=ON -DSSE_SANITIZE="$sanitize" "$@"
  }
  # The servers (sse-hub, sse-installer, sse-cat) are built with the sanitizers too, and their
  # integration tests (label "servers") run against those binaries.
  log "build: clang++-14 with ASan+UBSan, everything (warnings are errors)"
  clang_sanitizer_build "$BUILD_ROOT/asan" address,undefined
  nice -n 19 cmake --build "$BUILD_ROOT/asan" -j "$JOBS" || { status=1; touch "$lane/asan.failed"; }
  touch "$lane/asan.built"

  log "build: clang++-14 with TSan (threaded tests, the servers and their integration tests)"
  clang_sanitizer_build "$BUILD_ROOT/tsan" thread -DSSE_BUILD_BENCHMARKS=OFF
  build_tests_for "$BUILD_ROOT/tsan" "threaded|servers" || { status=1; touch "$lane/tsan.failed"; }
  touch "$lane/tsan.built"
fi

if [ "$FUZZ_SECONDS" != 0 ] && command -v clang++-14 >/dev/null 2>&1; then
  nice -n 19 scripts/fuzz.sh "$FUZZ_SECONDS" || status=1
fi

log "waiting for the test lane"
wait $test_lane || true
trap - EXIT

# The short fan-out benchmark (about 500 clients, 100 events: sse-hub against two sse-hub instances
# sharing Redis and against the floor): prints the table; fails only on lost or duplicated events,
# never on times.
if [ "${SSE_SKIP_BENCH:-0}" != 1 ]; then
  log "run: quick fan-out benchmark"
  benchmarks/run.sh "$BUILD_ROOT/test" --quick || status=1
fi

for name in asan tsan full; do
  case $name in
    asan) title="unit tests and the servers' integration tests under ASan+UBSan (clang++-14)" ;;
    tsan) title="threaded tests and the servers' integration tests under TSan (clang++-14)" ;;
    full) title="the whole suite (g++)" ;;
  esac
  if [ -e "$lane/$name.failed" ]; then log "$title: not run, its build failed"; continue; fi
  [ -e "$lane/$name.rc" ] || continue
  log "run: $title ($(cat "$lane/$name.secs") s, in the test lane)"
  cat "$lane/$name.log"
  [ "$(cat "$lane/$name.rc")" = 0 ] || status=1
done
exit $status

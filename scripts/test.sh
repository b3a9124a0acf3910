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
log "build: tests (warnings are errors)"
configure "$BUILD_ROOT/test" -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_FLAGS=-O1 -DSSE_WARNINGS_AS_ERRORS=ON
cmake --build "$BUILD_ROOT/test" -j "$JOBS"

status=0

# build_tests_for DIR LABELS: builds only what the tests with those labels run (a C++ test's executable
# has the test's name, test_* or rt_*, see sse_add_test) and the servers they start.
build_tests_for() {
  local dir="$1" labels="$2" targets
  targets=$(cd "$dir" && ctest -N -L "$labels" | sed -n 's/^ *Test *#[0-9]*: *\(\(test\|rt\)_[^ ]*\).*/\1/p')
  cmake --build "$dir" -j "$JOBS" --target $targets sse-hub sse-installer sse-cat
}

# The sanitizer builds use clang++-14, and the first of them compiles every translation unit (library
# headers, tests, examples, tools, benchmarks), so that a clang-only warning fails here too, without a
# third full build. Unoptimised, with line tables only (symbolised reports, a fraction of -g's cost):
# clang compiles a test under ASan in half the time g++ takes with -g.
if [ "${SSE_SKIP_SANITIZERS:-0}" != 1 ]; then
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
  cmake --build "$BUILD_ROOT/asan" -j "$JOBS"
  log "run: unit tests and the servers' integration tests under ASan+UBSan"
  (cd "$BUILD_ROOT/asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest -L "unit|servers" -j "$JOBS" --output-on-failure) || status=1

  log "build: clang++-14 with TSan (threaded tests, the servers and their integration tests)"
  clang_sanitizer_build "$BUILD_ROOT/tsan" thread -DSSE_BUILD_BENCHMARKS=OFF
  build_tests_for "$BUILD_ROOT/tsan" "threaded|servers"
  log "run: TSan"
  (cd "$BUILD_ROOT/tsan" && TSAN_OPTIONS=halt_on_error=1 ctest -L "threaded|servers" -j "$JOBS" --output-on-failure --no-tests=ignore) || status=1
fi

if [ "$FUZZ_SECONDS" != 0 ] && command -v clang++-14 >/dev/null 2>&1; then
  scripts/fuzz.sh "$FUZZ_SECONDS" || status=1
fi

# The short fan-out benchmark (about 500 clients, 100 events: sse-hub against two sse-hub instances
# sharing Redis and against the floor): prints the table; fails only on lost or duplicated events,
# never on times.
if [ "${SSE_SKIP_BENCH:-0}" != 1 ]; then
  log "run: quick fan-out benchmark"
  benchmarks/run.sh "$BUILD_ROOT/test" --quick || status=1
fi

# Last, so that the run ends with CTest's summary line.
log "run: full test suite"
(cd "$BUILD_ROOT/test" && ctest -j "$JOBS" --output-on-failure) || status=1
exit $status

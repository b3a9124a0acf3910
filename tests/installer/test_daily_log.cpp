// The installer's daily log file: the name, the line format, levels, and rotation when the UTC
// date changes (with an injected clock).
#include "installer/daily_log.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "../support/process.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_daily_log_cases {

using namespace std::chrono_literals;

namespace {
std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_SUITE("installer.daily_log") {
  TEST_CASE("writes installer-YYYY-MM-DD.log and starts a new file when the UTC date changes") {
    sse_test::temp_dir dir;
    // 2026-11-27T23:59:59.500Z
    auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795823999500LL));
    installer::daily_log log(dir.path() / "logs", sse::log_level::info, [&] { return now; });
    CHECK(log.current_path() == dir.path() / "logs" / "installer-2026-11-27.log");
    log.write(sse::log_level::info, "before midnight");
    log.write(sse::log_level::debug, "filtered out");
    now += 600ms;  // 2026-11-28T00:00:00.100Z
    log.write(sse::log_level::warn, "after\nmidnight");
    log.hook()(sse::log_level::error, "through the hook");
    CHECK(read(dir.path() / "logs" / "installer-2026-11-27.log") == "2026-11-27T23:59:59.500Z info  before midnight\n");
    CHECK(read(dir.path() / "logs" / "installer-2026-11-28.log") ==
          "2026-11-28T00:00:00.100Z warn  after midnight\n2026-11-28T00:00:00.100Z error through the hook\n");
  }

  TEST_CASE("debug level lets debug lines (ping traces) through") {
    sse_test::temp_dir dir;
    auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(0));
    installer::daily_log log(dir.path(), sse::log_level::debug, [&] { return now; });
    log.write(sse::log_level::debug, "keepalive: ping x");
    log.write(sse::log_level::trace, "filtered out");
    CHECK(read(dir.path() / "installer-1970-01-01.log") == "1970-01-01T00:00:00.000Z debug keepalive: ping x\n");
    CHECK(installer::iso_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(1795823999500LL))) ==
          "2026-11-27T23:59:59.500Z");
  }
}

}  // namespace test_daily_log_cases

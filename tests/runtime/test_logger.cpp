// sse::detail::log_throttle: one line per interval for a repeated event, the rest counted; by a table
// of times (no clock, no sleeping), and from several threads at once.
#include "sse/logger.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_logger_cases {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

TEST_SUITE("runtime.logger") {
  TEST_CASE("log_throttle: the first occurrence is logged, then one per interval with the count held back") {
    struct step {
      long long at_ms;
      bool log;
      std::uint64_t held_back;
    };
    const std::vector<step> steps = {
        {0, true, 0},     {1, false, 0},   {999, false, 0}, {1000, true, 2},  // two held back in [0, 1000)
        {1000, false, 0}, {1500, false, 0}, {2000, true, 2},
        {9000, true, 0},  // long quiet: logged, nothing held back
        {9001, false, 0}, {10001, true, 1},
    };
    sse::detail::log_throttle throttle(1s);
    const clk::time_point t0 = clk::now();
    for (std::size_t i = 0; i < steps.size(); ++i) {
      const auto v = throttle.admit(t0 + std::chrono::milliseconds(steps[i].at_ms));
      CHECK_MESSAGE(v.log == steps[i].log, "step ", i);
      CHECK_MESSAGE(v.held_back == steps[i].held_back, "step ", i);
    }
    CHECK(sse::detail::held_back_note(0).empty());
    CHECK(sse::detail::held_back_note(3) == " (3 more since the last such line, not logged)");
  }

  TEST_CASE("log_throttle: four threads at the same instant: exactly one logs") {
    sse::detail::log_throttle throttle(1h);
    const clk::time_point now = clk::now();
    std::atomic<int> logged{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
      threads.emplace_back([&] {
        for (int k = 0; k < 10000; ++k)
          if (throttle.admit(now).log) logged.fetch_add(1);
      });
    for (auto& t : threads) t.join();
    CHECK(logged == 1);
    const auto later = throttle.admit(now + 2h);
    CHECK(later.log);
    CHECK(later.held_back == 39999);
  }
}

}  // namespace test_logger_cases

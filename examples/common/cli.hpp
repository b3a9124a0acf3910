// Command-line helpers shared by the example servers (sse-hub, sse-installer). Not part of the library.
#pragma once

#include <fmt/core.h>

#include <charconv>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

#include "sse/detail/rt_logger.hpp"

namespace sse_example {

/// Errors about the command line: print "PROGRAM: message" and a hint, exit with status 2.
struct cli {
  std::string_view program;

  [[noreturn]] void die(const std::string& msg) const {
    fmt::print(stderr, "{}: {}\n(see {} --help)\n", program, msg, program);
    std::exit(2);
  }

  /// The whole of `v` as a number of type T, or die naming the flag.
  template <class T>
  T number(std::string_view flag, std::string_view v) const {
    T out{};
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc{} || p != v.data() + v.size()) die(fmt::format("{} takes a number, not '{}'", flag, v));
    return out;
  }

  sse::log_level log_level(std::string_view v) const {
    if (v == "trace") return sse::log_level::trace;
    if (v == "debug") return sse::log_level::debug;
    if (v == "info") return sse::log_level::info;
    if (v == "warn") return sse::log_level::warn;
    if (v == "error") return sse::log_level::error;
    die(fmt::format("unknown log level '{}'", v));
  }
};

}  // namespace sse_example

// The stderr log of the example servers. Not part of the library.
#pragma once

#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

#include "sse/logger.hpp"

namespace sse_example {

/// "2026-11-27T10:00:00Z info  message" lines on stderr, from `min` up.
inline sse::logger stderr_log_sink(sse::log_level min) {
  return [min](sse::log_level level, std::string_view msg) {
    if (level < min) return;
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char ts[32];
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const std::string line = std::string(ts) + " " + std::string(sse::to_string(level)) +
                             std::string(5 - std::min<std::size_t>(5, sse::to_string(level).size()), ' ') + " " +
                             sse::log_escape(msg, 4096, sse::escape_mode::line) + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  };
}

}  // namespace sse_example

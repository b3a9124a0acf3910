// The stderr log of the example servers. Not part of the library.
#pragma once

#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

#include "sse/detail/rt_logger.hpp"

namespace sse_example {

/// A log message made safe for one line of a log file or a terminal, whatever reached it: control
/// bytes (ESC, BEL, CR, LF, DEL...) become `\xNN` and a message longer than `max_bytes` is cut
/// (`...(+N bytes)`). Printable text and UTF-8 pass unchanged, so values that were escaped with
/// sse::log_escape where they entered the message are not escaped twice.
inline std::string log_line_safe(std::string_view msg, std::size_t max_bytes = 4096) {
  std::string out;
  const std::size_t n = msg.size() < max_bytes ? msg.size() : max_bytes;
  out.reserve(n + 16);
  static constexpr char hex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(msg[i]);
    if (c < 0x20 || c == 0x7F) {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xF]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (msg.size() > n) out += "...(+" + std::to_string(msg.size() - n) + " bytes)";
  return out;
}

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
                             log_line_safe(msg) + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  };
}

}  // namespace sse_example

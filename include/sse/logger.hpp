/**
 * @file logger.hpp
 * @brief The logging hook of the runtime: a std::function taking a level and a message.
 */
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace sse {

/// Severity of a runtime log line.
enum class log_level { trace, debug, info, warn, error };

/// Receives runtime log lines (already formatted). May be called on any executor's thread.
using logger = std::function<void(log_level, std::string_view)>;

inline std::string_view to_string(log_level l) noexcept {
  switch (l) {
    case log_level::trace: return "trace";
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
  }
  return "unknown";
}

/// What log_escape() keeps as it is.
enum class escape_mode : std::uint8_t {
  /// An untrusted value (a header, a topic, a Last-Event-ID, a path): printable ASCII only; a
  /// backslash is doubled, so an escaped value cannot pass for another.
  value,
  /// A whole log message whose untrusted parts were escaped where they entered it: printable text
  /// and UTF-8 pass unchanged (a backslash too, so nothing is escaped twice); control bytes still go.
  line,
};

/// Makes bytes safe for one log line: control characters (ESC, BEL, CR, LF, DEL, ...) and, for
/// escape_mode::value, every byte >= 0x80 become `\xNN`; more than `max_bytes` input bytes are
/// cut, with `...(+N bytes)` saying how many were left out. A log line can then neither be split,
/// nor forged, nor drive a terminal, nor grow without bound.
inline std::string log_escape(std::string_view v, std::size_t max_bytes = 200, escape_mode mode = escape_mode::value) {
  std::string out;
  const std::size_t n = v.size() < max_bytes ? v.size() : max_bytes;
  out.reserve(n + 16);
  static constexpr char hex[] = "0123456789abcdef";
  const bool keep_high = mode == escape_mode::line;
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    if (c == '\\' && mode == escape_mode::value) {
      out += "\\\\";
    } else if ((c >= 0x20 && c < 0x7F) || (keep_high && c >= 0x80)) {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xF]);
    }
  }
  if (v.size() > n) {
    out += "...(+";
    out += std::to_string(v.size() - n);
    out += " bytes)";
  }
  return out;
}

namespace detail {
/// Formats with fmt only when a hook is installed.
template <class... Args>
void log_to(const logger& hook, log_level level, fmt::format_string<Args...> f, Args&&... args) {
  if (hook) hook(level, fmt::format(f, std::forward<Args>(args)...));
}

/// At most one log line per `interval` for one kind of repeated event (a limit refusing many
/// requests: one batch of 1000 events to new topics would otherwise write 1000 warnings), from any
/// thread. admit(now) says whether this occurrence may be logged and how many were held back since
/// the last one logged, so that the line can say it; the time is a parameter (tests use a table).
class log_throttle {
 public:
  using clock = std::chrono::steady_clock;
  explicit log_throttle(clock::duration interval = std::chrono::seconds(1)) noexcept : interval_(interval.count()) {}

  struct verdict {
    bool log = false;             ///< write this occurrence's line
    std::uint64_t held_back = 0;  ///< occurrences not logged since the last line (when `log`)
  };

  verdict admit(clock::time_point now) noexcept {
    const clock::rep t = now.time_since_epoch().count();
    clock::rep next = next_.load(std::memory_order_relaxed);
    if (t < next || !next_.compare_exchange_strong(next, t + interval_, std::memory_order_relaxed)) {
      held_back_.fetch_add(1, std::memory_order_relaxed);
      return {};
    }
    return {true, held_back_.exchange(0, std::memory_order_relaxed)};
  }

 private:
  clock::rep interval_;
  std::atomic<clock::rep> next_{std::numeric_limits<clock::rep>::min()};
  std::atomic<std::uint64_t> held_back_{0};
};

/// " (N more not logged)" when `held_back` > 0, else empty: the tail of a throttled line.
inline std::string held_back_note(std::uint64_t held_back) {
  return held_back == 0 ? std::string() : fmt::format(" ({} more since the last such line, not logged)", held_back);
}
}  // namespace detail

}  // namespace sse

/**
 * @file rt_logger.hpp
 * @brief The logging hook of the runtime: a std::function taking a level and a message.
 */
#pragma once

#include <functional>
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

namespace detail {
/// Formats with fmt only when a hook is installed.
template <class... Args>
void rt_log(const logger& hook, log_level level, fmt::format_string<Args...> f, Args&&... args) {
  if (hook) hook(level, fmt::format(f, std::forward<Args>(args)...));
}
}  // namespace detail

}  // namespace sse

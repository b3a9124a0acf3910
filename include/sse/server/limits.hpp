/**
 * @file server/limits.hpp
 * @brief The server's sans-io decisions about resources and names: the file-descriptor budget,
 *        when to accept again after accept() failed, and the Host allow-list. Pure functions and
 *        small state machines, tested by tables without sockets.
 */
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sse/http/request_parser.hpp"
#include "sse/logger.hpp"

namespace sse {

/// The file descriptors a server may use for connections, from the soft RLIMIT_NOFILE: the rest
/// (a tenth, 32 to 1024) is left for listening sockets, files, the store, Redis and the logs.
struct fd_budget {
  std::uint64_t soft = 0;         ///< the soft limit in force
  std::uint64_t headroom = 0;     ///< kept for everything that is not a connection
  std::uint64_t connections = 0;  ///< soft - headroom (at least 1)

  static constexpr fd_budget for_limit(std::uint64_t soft) noexcept {
    std::uint64_t headroom = soft / 10;
    headroom = headroom < 32 ? 32 : headroom > 1024 ? 1024 : headroom;
    const std::uint64_t conns = soft > headroom + 1 ? soft - headroom : 1;
    return {soft, headroom, conns};
  }
};

namespace detail {
/// When to try accept() again after it failed (sans-io): at once after a per-connection error (the
/// peer reset it before we took it); after a pause growing from `first` to `max` after running out
/// of a resource (EMFILE, ENFILE, ENOBUFS, ENOMEM) or after 16 errors in a row, so that an accept
/// loop never spins on a listening socket that stays readable. Log lines: at most one per
/// `log_every`, with the count since the last one.
class accept_backoff {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds first{10};
  static constexpr std::chrono::milliseconds max{1000};
  static constexpr std::chrono::milliseconds log_every{1000};

  struct decision {
    std::chrono::milliseconds delay{0};  ///< 0 = accept again at once
    bool log = false;                    ///< write a log line now
    std::uint64_t errors_since_log = 0;  ///< errors the log line reports (this one included)
  };

  static bool is_exhaustion(const std::error_code& ec) noexcept {
    return ec == std::errc::too_many_files_open || ec == std::errc::too_many_files_open_in_system ||
           ec == std::errc::no_buffer_space || ec == std::errc::not_enough_memory;
  }

  decision on_error(const std::error_code& ec, clock::time_point now) noexcept {
    decision d;
    ++in_a_row_;
    if (is_exhaustion(ec) || in_a_row_ > 16) {
      delay_ = delay_.count() == 0 ? first : std::min(max, delay_ * 2);
      d.delay = delay_;
    }
    if (const auto v = log_.admit(now); v.log) {
      d.log = true;
      d.errors_since_log = v.held_back + 1;
    }
    return d;
  }
  void on_success() noexcept {
    in_a_row_ = 0;
    delay_ = std::chrono::milliseconds(0);
  }

 private:
  std::chrono::milliseconds delay_{0};
  std::uint64_t in_a_row_ = 0;
  log_throttle log_{log_every};
};
}  // namespace detail

/// The host part of a `Host` value (`name`, `name:port`, `[v6]`, `[v6]:port`), without the port.
inline std::string_view host_without_port(std::string_view host) noexcept {
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  const auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

/// True when `host` (a Host header value) names one of `allowed` (compared without case and port;
/// a trailing dot ignored); "*" in `allowed` allows any.
inline bool is_allowed_host(std::string_view host, const std::vector<std::string>& allowed) noexcept {
  std::string_view name = host_without_port(host);
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  for (const auto& a : allowed)
    if (a == "*" || http::detail::grammar::iequals(name, a)) return true;
  return false;
}

}  // namespace sse

/**
 * @file error.hpp
 * @brief sse::redis::errc: why a Redis command, connection or URL failed, as std::error_code.
 */
#pragma once

#include <string>
#include <system_error>

#include "sse/error_category.hpp"

namespace sse::redis {

/// Errors of the Redis layer. An error reply from the server is `server_error`; its text is in
/// the reply (and in the log).
enum class errc {
  not_connected = 1,  ///< no connection to Redis right now (down or reconnecting)
  connect_failed,     ///< the TCP connection could not be made
  connect_timeout,    ///< connecting (and AUTH/SELECT) took longer than connect_timeout
  connection_lost,    ///< the connection broke while the command was pending
  auth_failed,        ///< AUTH was refused (wrong password or user)
  select_failed,      ///< SELECT db was refused
  command_timeout,    ///< no reply within the command's timeout; the connection was dropped
  server_error,       ///< Redis answered with an error reply
  unexpected_reply,   ///< the reply did not have the expected shape
  closed,             ///< the connection was stopped by the application
  invalid_url,        ///< not a redis://[[user]:password@]host[:port][/db] URL
  resolve_failed,     ///< the host name could not be resolved
};

}  // namespace sse::redis

template <>
struct std::is_error_code_enum<sse::redis::errc> : std::true_type {};

namespace sse::redis {

namespace detail {
struct category_impl {
  static constexpr const char* name = "sse.redis";
  static std::string message(int ev) {
    switch (static_cast<errc>(ev)) {
      case errc::not_connected: return "redis unavailable: not connected";
      case errc::connect_failed: return "redis unavailable: connection refused or failed";
      case errc::connect_timeout: return "redis unavailable: connect timed out";
      case errc::connection_lost: return "redis unavailable: connection lost";
      case errc::auth_failed: return "redis: authentication failed";
      case errc::select_failed: return "redis: SELECT of the database failed";
      case errc::command_timeout: return "redis unavailable: command timed out";
      case errc::server_error: return "redis: error reply";
      case errc::unexpected_reply: return "redis: unexpected reply";
      case errc::closed: return "redis: connection closed by the application";
      case errc::invalid_url: return "redis: invalid URL (want redis://[[user]:password@]host[:port][/db])";
      case errc::resolve_failed: return "redis unavailable: host name not resolved";
    }
    return "unknown sse.redis error";
  }
};
}  // namespace detail

inline const std::error_category& category() noexcept {
  return sse::error_category_for<detail::category_impl>();
}

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

/// True for errors meaning "Redis cannot be reached now; retry later" (a server maps them to 503).
inline bool is_unavailable(const std::error_code& ec) noexcept {
  if (ec.category() != category()) return false;
  switch (static_cast<errc>(ec.value())) {
    case errc::not_connected:
    case errc::connect_failed:
    case errc::connect_timeout:
    case errc::connection_lost:
    case errc::command_timeout:
    case errc::closed:
    case errc::resolve_failed:
    case errc::auth_failed:
    case errc::select_failed: return true;
    default: return false;
  }
}

}  // namespace sse::redis

/**
 * @file server/options.hpp
 * @brief sse::server_options (listening, limits, timeouts, CORS, Host allow-list, the hub's and
 *        the streams' options) and sse::server_metrics (the HTTP layer's counters).
 */
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sse/logger.hpp"
#include "sse/http/request_parser.hpp"
#include "sse/hub.hpp"
#include "sse/server/handler.hpp"
#include "sse/stream.hpp"

namespace sse {

struct server_options {
  std::string bind = "127.0.0.1";
  unsigned short port = 8080;        ///< 0 = any free port (see server::port())
  /// SO_REUSEPORT on the TCP listener: several processes (each with it set) share one port and the
  /// kernel spreads new connections across them (several sse-hub instances on one Redis).
  bool reuse_port = false;
  std::string unix_path = {};        ///< non-empty: listen on this Unix-domain socket instead of TCP
  std::size_t threads = 0;           ///< executors to own; 0 = hardware threads (ignored with a borrowed io_context)
  /// Open HTTP connections and streams; beyond: 503. 0 = derived from the file-descriptor limit
  /// (see fd_budget): the soft RLIMIT_NOFILE less headroom for files, the store and Redis.
  std::size_t max_connections = 0;
  /// At start(), raise the process's soft RLIMIT_NOFILE to its hard limit (as Go's runtime and
  /// nginx's worker_rlimit_nofile do), and say so in the log.
  bool raise_fd_limit = true;
  std::chrono::milliseconds head_timeout = std::chrono::seconds(10);  ///< whole head (and body) must arrive in this time: 408
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);  ///< keep-alive wait for the next request
  /// An ordinary response must be taken by the client within this time, else the connection is
  /// closed (a client that pipelines requests and never reads cannot hold a connection forever).
  std::chrono::milliseconds write_timeout = std::chrono::seconds(30);
  std::size_t max_body_bytes = std::size_t{64} << 10;                 ///< request bodies above: 413
  http::request_limits request_limits = {};
  std::vector<std::string> allow_origins = {};      ///< CORS allow-list ("*" = any); empty = no CORS headers
  /// Request headers a preflight allows besides Authorization, Content-Type, Last-Event-ID and
  /// Cache-Control (an application's own, such as the installer's X-Installer-Request).
  std::vector<std::string> cors_allow_headers = {};
  /// Host names this server answers for (the `Host` header without its port, compared without
  /// case; IPv6 literals in brackets, e.g. "[::1]"); any other Host gets 421 with the reason, so a
  /// DNS-rebinding page cannot read the API. Empty = any host (a server behind a proxy that checks).
  std::vector<std::string> allowed_hosts = {};
  std::chrono::milliseconds shutdown_grace = std::chrono::seconds(5);  ///< stop(): streams get this long to close
  std::chrono::milliseconds shutdown_retry = std::chrono::seconds(1);  ///< `retry:` hint sent to streams on stop
  stream_options stream = {};        ///< template for every stream (head and framing are filled in)
  hub_options hub = {};              ///< the hub's options (metrics and logger are filled in)
  bool serve_metrics = true;         ///< GET /metrics
  bool serve_healthz = true;         ///< GET /healthz
  auth_hook metrics_auth = {};       ///< guards /metrics when set
  logger on_log = {};
};

/// Counters of the HTTP layer, rendered after the hub's in /metrics.
struct server_metrics {
  std::atomic<std::uint64_t> http_connections_total{0};
  std::atomic<std::uint64_t> http_connections_rejected{0};
  std::atomic<std::uint64_t> http_requests_total{0};
  std::atomic<std::uint64_t> http_client_errors{0};  ///< 4xx answered
  std::atomic<std::uint64_t> http_server_errors{0};  ///< 5xx answered
  std::atomic<std::uint64_t> http_timeouts{0};       ///< 408, idle close or write timeout
  std::atomic<std::uint64_t> accept_errors{0};       ///< accept() failures (EMFILE, ENFILE, ...)
  std::atomic<std::uint64_t> accept_pauses{0};       ///< times accepting was paused after one
};

}  // namespace sse

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

#include <asio/ip/tcp.hpp>

namespace sse {

class server;

/// HTTP/2 over cleartext TCP with prior knowledge (h2c): the limits, and the glue that serves it.
/// Off unless `h2c` is set, which sse::h2c() does (sse/server/http2_connection.hpp, CMake target
/// sse::http2, libnghttp2): `options.http2 = sse::h2c();`. A TCP connection whose first 24 bytes are
/// the HTTP/2 connection preface then goes to the HTTP/2 glue; any other goes on as HTTP/1.1.
/// A request's header list is bounded by request_limits (as an HTTP/1.1 head), its body by
/// max_body_bytes; head_timeout, idle_timeout and write_timeout apply per connection as for HTTP/1.1.
struct http2_options {
  std::uint32_t max_concurrent_streams = 100;  ///< SETTINGS_MAX_CONCURRENT_STREAMS; more: RST_STREAM(REFUSED_STREAM)
  /// RST_STREAM frames a client may send within reset_window; one more ends the connection with
  /// GOAWAY(ENHANCE_YOUR_CALM) (the 2023 "rapid reset" attack, CVE-2023-44487).
  std::uint32_t max_client_resets = 200;
  std::chrono::milliseconds reset_window = std::chrono::seconds(10);
  std::size_t max_output_bytes = std::size_t{64} << 10;  ///< frames gathered for one socket write at most
  /// Serves a connection that sent the preface; set by sse::h2c(). nullptr: no HTTP/2.
  void (*h2c)(server&, asio::ip::tcp::socket&&, std::string&&) = nullptr;
};

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
  http2_options http2 = {};          ///< h2c with prior knowledge; off unless set by sse::h2c()
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

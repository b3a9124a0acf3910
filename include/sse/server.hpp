/**
 * @file server.hpp
 * @brief sse::server: HTTP/1.1 glue around sse::hub — accept loop, routing, limits, auth hooks,
 *        CORS, `/metrics`, `/healthz`, and graceful shutdown.
 *
 * One server owns (or borrows) the executors, and a hub sharded over them. A connection lives on one
 * executor: its request head is read with sse::http::request_parser under a deadline (slowloris),
 * bounded in size, routed, and either answered (keep-alive and pipelining supported) or turned into
 * an sse::basic_stream subscribed to a topic of the hub. Bad bytes from the network never throw past
 * the connection: they get a status with a reason and a clean close.
 */
#pragma once

#include <asio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <future>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

#include "sse/detail/rt_json.hpp"
#include "sse/detail/rt_logger.hpp"
#include "sse/http/error.hpp"
#include "sse/http/request_parser.hpp"
#include "sse/http/response.hpp"
#include "sse/hub.hpp"
#include "sse/metrics.hpp"
#include "sse/stream.hpp"
#include "sse/transport/tcp.hpp"
#include "sse/transport/unix.hpp"

namespace sse {

/// A pool of io_contexts, one thread each: the executors a server and its hub are sharded over.
class io_pool {
 public:
  explicit io_pool(std::size_t threads) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    for (std::size_t i = 0; i < threads; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      guards_.emplace_back(asio::make_work_guard(*contexts_.back()));
    }
  }
  ~io_pool() {
    stop();
    join();
  }
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  /// Starts one thread per io_context (once).
  void start() {
    if (!threads_.empty()) return;
    for (auto& c : contexts_) threads_.emplace_back([ctx = c.get()] { ctx->run(); });
  }
  /// Lets the contexts finish their work and return (pending handlers still run).
  void release() { guards_.clear(); }
  /// Stops every context at once.
  void stop() {
    guards_.clear();
    for (auto& c : contexts_) c->stop();
  }
  void join() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }
  /// Waits up to `timeout` for every context to run out of work (after release()), then joins.
  /// Returns false, joining nothing, if one is still busy.
  bool join_for(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (auto& c : contexts_)
      while (!c->stopped()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    join();
    return true;
  }
  std::vector<asio::any_io_executor> executors() const {
    std::vector<asio::any_io_executor> out;
    for (auto& c : contexts_) out.push_back(c->get_executor());
    return out;
  }
  std::size_t size() const noexcept { return contexts_.size(); }

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

/// A complete (non-streaming) response returned by a handler.
struct response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body = {};
  std::vector<std::pair<std::string, std::string>> headers = {};

  static response text(int status, std::string body) { return {status, "text/plain; charset=utf-8", std::move(body) + "\n", {}}; }
  static response json(int status, std::string body) { return {status, "application/json", std::move(body), {}}; }
};

/// What a handler sees of a request.
struct request_context {
  const http::request& request;
  std::string_view body;
  std::vector<std::pair<std::string, std::string>> params;  ///< `{name}` captures of the route
  std::string remote;                                       ///< peer address, for logs

  /// The value captured by `{name}` in the route pattern ("" if none).
  std::string_view param(std::string_view name) const {
    for (const auto& [k, v] : params)
      if (k == name) return v;
    return {};
  }
};

/// Decides whether a request may go on: nullopt = yes, otherwise the response to send instead.
using auth_hook = std::function<std::optional<response>(const request_context&)>;
using request_handler = std::function<response(const request_context&)>;

/// What an SSE route's handler decides: a topic to subscribe to, or a response (refusal).
struct subscription {
  std::string topic;
  std::optional<std::string> last_event_id = {};  ///< overrides the request's Last-Event-ID
  /// End the stream gracefully once the replay is written (a finished, closed topic such as a
  /// completed job): no live events follow. The optional `retry:` hint is written last.
  bool close_after_replay = false;
  std::optional<std::chrono::milliseconds> close_retry = {};
};
using subscribe_handler = std::function<std::variant<subscription, response>(const request_context&)>;
/// A handler that answers later: it calls `respond` once, from any thread (the context is valid
/// until then). The request's deadline is suspended meanwhile: the handler must bound its wait.
using async_request_handler = std::function<void(const request_context&, std::function<void(response)> respond)>;

/// An auth hook that accepts `Authorization: Bearer <token>` (compared in constant time).
inline auth_hook bearer_token(std::string token) {
  return [token = std::move(token)](const request_context& ctx) -> std::optional<response> {
    const auto h = ctx.request.header("Authorization");
    std::string_view got = h.value_or("");
    const bool has_prefix = got.size() > 7 && http::detail::grammar::iequals(got.substr(0, 7), "Bearer ");
    if (has_prefix) got.remove_prefix(7);
    unsigned diff = has_prefix && got.size() == token.size() ? 0u : 1u;
    for (std::size_t i = 0; i < token.size(); ++i)
      diff |= static_cast<unsigned>(static_cast<unsigned char>(token[i]) ^
                                    static_cast<unsigned char>(i < got.size() ? got[i] : 0));
    if (diff == 0) return std::nullopt;
    response r = response::text(401, "a valid bearer token is required");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  };
}

struct server_options {
  std::string bind = "127.0.0.1";
  unsigned short port = 8080;        ///< 0 = any free port (see server::port())
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
    ++since_log_;
    if (is_exhaustion(ec) || in_a_row_ > 16) {
      delay_ = delay_.count() == 0 ? first : std::min(max, delay_ * 2);
      d.delay = delay_;
    }
    if (!logged_once_ || now - last_log_ >= log_every) {
      d.log = true;
      d.errors_since_log = since_log_;
      since_log_ = 0;
      last_log_ = now;
      logged_once_ = true;
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
  std::uint64_t since_log_ = 0;
  clock::time_point last_log_{};
  bool logged_once_ = false;
};
}  // namespace detail

class server;

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

namespace detail {

/// A route pattern split into segments; `{name}` captures one non-empty segment.
struct srv_route {
  std::vector<std::string> segments;
  std::string method;  ///< "" for SSE routes (GET and HEAD)
  request_handler handle;
  subscribe_handler subscribe;
  auth_hook auth;
  async_request_handler async_handle;

  static std::vector<std::string> split(std::string_view path) {
    std::vector<std::string> out;
    while (!path.empty()) {
      if (path.front() == '/') {
        path.remove_prefix(1);
        continue;
      }
      const auto slash = path.find('/');
      out.emplace_back(path.substr(0, slash));
      if (slash == std::string_view::npos) break;
      path.remove_prefix(slash);
    }
    return out;
  }

  bool match(const std::vector<std::string>& parts, std::vector<std::pair<std::string, std::string>>& params) const {
    if (parts.size() != segments.size()) return false;
    params.clear();
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const auto& s = segments[i];
      if (s.size() > 2 && s.front() == '{' && s.back() == '}') {
        if (parts[i].empty()) return false;
        params.emplace_back(s.substr(1, s.size() - 2), parts[i]);
      } else if (s != parts[i]) {
        return false;
      }
    }
    return true;
  }
};

inline void srv_log(const logger& hook, log_level level, std::string_view msg) {
  if (hook) hook(level, msg);
}

}  // namespace detail

/// An HTTP/1.1 server that serves SSE routes from its hub, plus ordinary request/response routes.
class server {
 public:
  /// Owns `options.threads` executors (threads start with start() or run()).
  explicit server(server_options options = {})
      : opts_(std::move(options)), pool_(std::make_unique<io_pool>(opts_.threads)) {
    init(pool_->executors());
  }

  /// Borrows the caller's io_context (one shard); the caller runs it.
  server(asio::io_context& ioc, server_options options) : opts_(std::move(options)) {
    init({ioc.get_executor()});
  }

  /// Ends every connection at once (call stop() first for a graceful end). With owned threads it
  /// then lets the executors run out of work, so no socket outlives its io_context. With a borrowed
  /// io_context, destroy the server before the io_context and keep running it until it returns.
  ~server() {
    stop(std::chrono::milliseconds(0));
    state_->abort_everything();
    for (std::size_t i = 0; i < hub_->shard_count(); ++i)  // timers would keep the executors busy
      if (auto k = hub_->keepalive(i)) k->stop();
    if (const auto& b = hub_->options().broker) b->detach();  // its connections too
    if (pool_) {
      pool_->release();
      if (!pool_->join_for(std::chrono::seconds(10))) {
        log(log_level::error, "shutdown: executors still busy after 10 s; stopping them");
        pool_->stop();
        pool_->join();
      }
    }
  }
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  sse::hub& hub() noexcept { return *hub_; }
  sse::metrics& metrics() noexcept { return metrics_; }
  const server_metrics& http_metrics() const noexcept { return state_->http; }
  const server_options& options() const noexcept { return opts_; }

  /// An ordinary route: `method` and a pattern such as "/api/jobs/{id}".
  void route(std::string method, std::string_view pattern, request_handler h, auth_hook auth = {}) {
    add({detail::srv_route::split(pattern), std::move(method), std::move(h), {}, std::move(auth), {}});
  }

  /// An ordinary route answered asynchronously (see async_request_handler).
  void async_route(std::string method, std::string_view pattern, async_request_handler h, auth_hook auth = {}) {
    add({detail::srv_route::split(pattern), std::move(method), {}, {}, std::move(auth), std::move(h)});
  }

  /// An SSE route (GET): the handler picks the topic. The default takes the `{topic}` capture.
  void sse_route(std::string_view pattern, subscribe_handler h = {}, auth_hook auth = {}) {
    if (!h)
      h = [](const request_context& ctx) -> std::variant<subscription, response> {
        return subscription{std::string(ctx.param("topic"))};
      };
    add({detail::srv_route::split(pattern), "", {}, std::move(h), std::move(auth), {}});
  }

  /// A publish route (POST): the body is the event's data, the optional `event` query parameter its
  /// type. Answers 202 `{"id":"..."}`; 400 for a bad topic or type; 413 above max_body_bytes; 503
  /// with the reason when the hub's broker (Redis) is unavailable, with `Retry-After: 1`.
  void publish_route(std::string_view pattern, auth_hook auth = {}) {
    async_route(
        "POST", pattern,
        [this](const request_context& ctx, std::function<void(response)> respond) { publish_from(ctx, std::move(respond)); },
        std::move(auth));
  }

  /// Binds and starts accepting; starts the owned threads. Returns at once.
  void start() {
    std::error_code ec;
    start(ec);
    if (ec) throw std::system_error(ec, "sse::server: cannot listen on " + listen_address());
  }

  void start(std::error_code& ec) {
    ec = {};
    if (started_) return;
    apply_fd_limit();
    if (opts_.unix_path.empty()) {
      tcp_acceptor_.emplace(executors_.front());
      asio::ip::tcp::endpoint ep(asio::ip::make_address(opts_.bind, ec), opts_.port);
      if (ec) return;
      open_acceptor(*tcp_acceptor_, ep, ec);
      if (ec) return;
      port_ = tcp_acceptor_->local_endpoint(ec).port();
    } else {
      ::unlink(opts_.unix_path.c_str());
      unix_acceptor_.emplace(executors_.front());
      open_acceptor(*unix_acceptor_, asio::local::stream_protocol::endpoint(opts_.unix_path), ec);
      if (ec) return;
    }
    log(log_level::info, fmt::format("listening on {}", listen_address()));
    accept_timer_.emplace(executors_.front());
    if (tcp_acceptor_) accept(*tcp_acceptor_);
    if (unix_acceptor_) accept(*unix_acceptor_);
    if (pool_) pool_->start();
    started_ = true;
  }

  /// The bound TCP port (after start()).
  unsigned short port() const noexcept { return port_; }

  std::string listen_address() const {
    return opts_.unix_path.empty() ? fmt::format("http://{}:{}", opts_.bind, port_ ? port_ : opts_.port)
                                   : "unix:" + opts_.unix_path;
  }

  /// Graceful stop: stop accepting, tell every stream when to reconnect (`retry:` hint) and end it,
  /// then wait up to `grace` for connections to close. Any thread but the server's own.
  void stop(std::optional<std::chrono::milliseconds> grace = std::nullopt) {
    if (stopped_.exchange(true)) return;
    const auto deadline = std::chrono::steady_clock::now() + grace.value_or(opts_.shutdown_grace);
    state_->stopping.store(true);
    auto closed = std::make_shared<std::promise<void>>();
    auto done = closed->get_future();
    asio::post(executors_.front(), [this, closed] {
      std::error_code ignored;
      if (tcp_acceptor_) tcp_acceptor_->close(ignored);
      if (unix_acceptor_) unix_acceptor_->close(ignored);
      if (accept_timer_) accept_timer_->cancel();
      closed->set_value();
    });
    // With a borrowed io_context the caller may be its only thread: do not block it.
    if (!pool_) {
      hub_->close_all(opts_.shutdown_retry);
      state_->close_idle_connections();
      return;
    }
    done.wait_until(deadline);
    hub_->close_all(opts_.shutdown_retry);
    state_->close_idle_connections();
    std::unique_lock lk(state_->mu);
    state_->cv.wait_until(lk, deadline, [&] { return state_->open_connections == 0; });
    if (state_->open_connections != 0)
      log(log_level::warn, fmt::format("shutdown: {} connections still open after the grace period",
                                       state_->open_connections));
    if (!opts_.unix_path.empty()) ::unlink(opts_.unix_path.c_str());
  }

  /// start() (if not done yet), then block until SIGINT or SIGTERM, then stop() gracefully. For owned threads only.
  void run() {
    if (!pool_) throw std::logic_error("sse::server::run: the server borrows an io_context; run it yourself");
    asio::io_context signals_ctx;
    asio::signal_set signals(signals_ctx, SIGINT, SIGTERM);
    int which = 0;
    signals.async_wait([&](std::error_code ec, int sig) {
      if (!ec) which = sig;
    });
    start();
    signals_ctx.run();
    log(log_level::info, fmt::format("signal {}: shutting down (grace {} ms)", which, opts_.shutdown_grace.count()));
    stop();
    pool_->stop();
    pool_->join();
  }

  /// The connection limit in force: server_options::max_connections, or the one derived from the
  /// file-descriptor limit by start() when that is 0.
  std::size_t max_connections() const noexcept { return max_connections_; }

  /// Open connections (HTTP and streams).
  std::size_t open_connections() const {
    std::lock_guard lk(state_->mu);
    return state_->open_connections;
  }

 private:
  /// What stop() needs of an HTTP connection: to end it if it waits between requests.
  struct closable {
    virtual ~closable() = default;
    virtual void shutdown_if_idle() = 0;
    virtual void shutdown_now() = 0;
  };

  struct shared_state {
    server_metrics http;
    std::mutex mu;
    std::condition_variable cv;
    std::size_t open_connections = 0;  // guarded by mu
    std::atomic<bool> stopping{false};
    // Live HTTP connections (not yet streams), so stop() can end idle keep-alive ones at once.
    std::mutex conns_mu;
    std::vector<std::weak_ptr<closable>> conns;  // guarded by conns_mu; expired entries pruned lazily
    std::vector<std::weak_ptr<stream_base>> streams;  // guarded by conns_mu; likewise

    bool acquire(std::size_t max) {
      std::lock_guard lk(mu);
      if (open_connections >= max) return false;
      ++open_connections;
      return true;
    }
    void release() {
      {
        std::lock_guard lk(mu);
        --open_connections;
      }
      cv.notify_all();
    }
    void track(std::weak_ptr<closable> c) {
      std::lock_guard lk(conns_mu);
      if (conns.size() >= 64 && conns.size() == conns.capacity())
        std::erase_if(conns, [](const auto& w) { return w.expired(); });
      conns.push_back(std::move(c));
    }
    void track_stream(std::weak_ptr<stream_base> st) {
      std::lock_guard lk(conns_mu);
      if (streams.size() >= 64 && streams.size() == streams.capacity())
        std::erase_if(streams, [](const auto& w) { return w.expired(); });
      streams.push_back(std::move(st));
    }
    /// Ends every connection and stream at once (their pending operations then complete).
    void abort_everything() {
      std::vector<std::weak_ptr<closable>> cs;
      std::vector<std::weak_ptr<stream_base>> ss;
      {
        std::lock_guard lk(conns_mu);
        cs.swap(conns);
        ss.swap(streams);
      }
      for (auto& w : cs)
        if (auto c = w.lock()) c->shutdown_now();
      for (auto& w : ss)
        if (auto st = w.lock()) st->abort();
    }
    void close_idle_connections() {
      std::vector<std::weak_ptr<closable>> all;
      {
        std::lock_guard lk(conns_mu);
        all.swap(conns);
      }
      for (auto& w : all)
        if (auto c = w.lock()) c->shutdown_if_idle();
    }
  };

  template <class Protocol>
  class connection;

  void init(std::vector<asio::any_io_executor> executors) {
    executors_ = std::move(executors);
    max_connections_ = opts_.max_connections;
    state_ = std::make_shared<shared_state>();
    hub_options ho = opts_.hub;
    ho.metrics = &metrics_;
    if (!ho.on_log) ho.on_log = opts_.on_log;
    hub_ = std::make_unique<sse::hub>(executors_, std::move(ho));
    opts_.stream.metrics = &metrics_;
    if (!opts_.stream.on_log) opts_.stream.on_log = opts_.on_log;
  }

  void add(detail::srv_route r) {
    std::lock_guard lk(routes_mu_);
    routes_.push_back(std::move(r));
  }

  void log(log_level level, std::string_view msg) const { detail::srv_log(opts_.on_log, level, msg); }

  template <class Acceptor, class Endpoint>
  static void open_acceptor(Acceptor& a, const Endpoint& ep, std::error_code& ec) {
    a.open(ep.protocol(), ec);
    if (ec) return;
    if constexpr (std::is_same_v<Acceptor, asio::ip::tcp::acceptor>) a.set_option(asio::socket_base::reuse_address(true), ec);
    if (ec) return;
    a.bind(ep, ec);
    if (ec) return;
    a.listen(asio::socket_base::max_listen_connections, ec);
  }

  const asio::any_io_executor& next_executor() noexcept {
    return executors_[next_.fetch_add(1, std::memory_order_relaxed) % executors_.size()];
  }

  /// Raises the soft descriptor limit (raise_fd_limit) and derives max_connections from it when
  /// it is 0; says what it did in the log.
  void apply_fd_limit() {
    ::rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
      if (max_connections_ == 0) max_connections_ = 1024;
      return;
    }
    const auto before = static_cast<std::uint64_t>(rl.rlim_cur);
    if (opts_.raise_fd_limit && rl.rlim_cur != rl.rlim_max) {
      ::rlimit raised = rl;
      raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? std::max<rlim_t>(rl.rlim_cur, 1 << 20) : rl.rlim_max;
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    const auto budget = fd_budget::for_limit(static_cast<std::uint64_t>(rl.rlim_cur));
    const std::string raised_note =
        budget.soft != before ? fmt::format("raised from {} to the hard limit {}", before, budget.soft)
                              : fmt::format("{}", budget.soft);
    if (max_connections_ == 0) {
      max_connections_ = static_cast<std::size_t>(budget.connections);
      log(log_level::info, fmt::format("file descriptors: soft limit {}; connection limit {} ({} kept for files, "
                                       "the store and Redis)",
                                       raised_note, max_connections_, budget.headroom));
    } else if (max_connections_ > budget.connections) {
      log(log_level::warn, fmt::format("file descriptors: soft limit {}; max_connections {} is above the {} it "
                                       "leaves for connections: accepting pauses when descriptors run out",
                                       raised_note, max_connections_, budget.connections));
    } else {
      log(log_level::info, fmt::format("file descriptors: soft limit {}; connection limit {}", raised_note,
                                       max_connections_));
    }
  }

  template <class Acceptor>
  void accept(Acceptor& acceptor) {
    using protocol = typename Acceptor::protocol_type;
    acceptor.async_accept(next_executor(), [this, &acceptor](std::error_code ec, typename protocol::socket sock) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        accept_backoff_.on_success();
        state_->http.http_connections_total.fetch_add(1, std::memory_order_relaxed);
        auto conn = std::make_shared<connection<protocol>>(*this, std::move(sock));
        asio::dispatch(conn->executor(), [conn] { conn->start(); });
        return accept(acceptor);
      }
      state_->http.accept_errors.fetch_add(1, std::memory_order_relaxed);
      const auto d = accept_backoff_.on_error(ec, std::chrono::steady_clock::now());
      if (d.log)
        log(log_level::warn, fmt::format("accept: {} ({} errors since the last report; {} connections open, limit "
                                         "{}){}",
                                         ec.message(), d.errors_since_log, open_connections(), max_connections_,
                                         d.delay.count() ? fmt::format("; accepting paused for {} ms", d.delay.count())
                                                         : std::string()));
      if (d.delay.count() == 0) return accept(acceptor);
      state_->http.accept_pauses.fetch_add(1, std::memory_order_relaxed);
      // The acceptor and this timer live on the first executor (accept's handler runs there too).
      accept_timer_->expires_after(d.delay);
      accept_timer_->async_wait([this, &acceptor](std::error_code wec) {
        if (wec || !acceptor.is_open()) return;
        accept(acceptor);
      });
    });
  }

  /// Finds the route for a request. Returns the route or a 404/405 response.
  std::variant<const detail::srv_route*, response> find_route(const http::request& req,
                                                               std::vector<std::pair<std::string, std::string>>& params) const {
    const auto parts = detail::srv_route::split(req.path);
    std::string allowed;
    std::lock_guard lk(routes_mu_);
    for (const auto& r : routes_) {
      if (!r.match(parts, params)) continue;
      const bool is_sse = r.method.empty();
      const bool ok = is_sse ? (req.method == "GET" || req.method == "HEAD") : req.method == r.method ||
                                                                                  (r.method == "GET" && req.method == "HEAD");
      if (ok) return &r;
      const std::string m = is_sse ? "GET, HEAD" : r.method;
      if (allowed.find(m) == std::string::npos) allowed += (allowed.empty() ? "" : ", ") + m;
    }
    if (allowed.empty()) return response::text(404, "no such resource: " + req.path);
    response r = response::text(405, "method " + req.method + " not allowed here; allowed: " + allowed);
    r.headers.emplace_back("Allow", allowed);
    return r;
  }

  /// True when the request's Host names one of server_options::allowed_hosts (or the list is empty).
  /// A request without Host (HTTP/1.0) is accepted: no browser sends one.
  bool host_allowed(const http::request& req) const {
    if (opts_.allowed_hosts.empty()) return true;
    const auto host = req.header("Host");
    if (!host) return true;
    return is_allowed_host(*host, opts_.allowed_hosts);
  }

  /// The Access-Control-Allow-Origin value for a request ("" = none).
  std::string cors_origin(const http::request& req) const {
    const auto origin = req.header("Origin");
    if (!origin || opts_.allow_origins.empty()) return {};
    for (const auto& o : opts_.allow_origins) {
      if (o == "*") return "*";
      if (o == *origin) return std::string(*origin);
    }
    return {};
  }

  std::string cors_allow_headers() const {
    std::string out = "Authorization, Content-Type, Last-Event-ID, Cache-Control";
    for (const auto& h : opts_.cors_allow_headers) out += ", " + h;
    return out;
  }

  void publish_from(const request_context& ctx, std::function<void(response)> respond) {
    event ev;
    ev.data = std::string(ctx.body);
    if (auto type = ctx.request.query("event")) ev.type = *type;
    hub_->async_publish(ctx.param("topic"), std::move(ev),
                        [broker = hub_->options().broker, respond = std::move(respond)](std::error_code ec, std::string id) {
                          respond(publish_response(broker.get(), ec, id));
                        });
  }

  static response publish_response(const sse::broker* broker, std::error_code ec, const std::string& id) {
    if (ec == hub_errc::too_many_topics) return response::text(503, ec.message());
    if (ec && broker && ec.category() != hub_category() && ec.category() != error_category()) {
      // The shared log failed: unavailable (503, retry later) or refused the event (500).
      response r = response::text(broker->is_unavailable(ec) ? 503 : 500, "publish failed: " + ec.message());
      if (r.status == 503) r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    if (ec && ec.category() != hub_category() && ec.category() != error_category()) {
      // The durable store cannot take the event now (locked, full disk, queue full): retry later.
      response r = response::text(503, "publish failed: the event store cannot write: " + ec.message());
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    if (ec) return response::text(400, ec.message());
    std::string body = "{\"id\":";
    detail::rt_json_string_to(body, id);
    body += "}";
    return response::json(202, std::move(body));
  }

  response builtin(const http::request& req, bool& handled, const request_context& ctx) const {
    handled = true;
    if (opts_.serve_healthz && req.path == "/healthz" && (req.method == "GET" || req.method == "HEAD")) {
      // Not healthy while the durable store cannot write: publishes that need it answer 503 meanwhile.
      if (const auto& st = hub_->options().store)
        if (const auto ec = st->status()) {
          response r = response::text(503, "unhealthy: the event store cannot write: " + ec.message());
          r.headers.emplace_back("Retry-After", "1");
          return r;
        }
      return response::text(200, "ok");
    }
    if (opts_.serve_metrics && req.path == "/metrics" && (req.method == "GET" || req.method == "HEAD")) {
      if (opts_.metrics_auth)
        if (auto refusal = opts_.metrics_auth(ctx)) return *refusal;
      return {200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(), {}};
    }
    handled = false;
    return {};
  }

  std::string render_metrics() const {
    std::string out = render_prometheus(metrics_);
    if (const auto& b = hub_->options().broker) out += b->prometheus();
    if (const auto& st = hub_->options().store) out += st->prometheus();
    const auto& h = state_->http;
    auto counter = [&](const char* name, const char* help, const std::atomic<std::uint64_t>& v) {
      out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, v.load(std::memory_order_relaxed));
    };
    counter("sse_http_connections_total", "TCP/Unix connections accepted.", h.http_connections_total);
    counter("sse_http_connections_rejected_total", "Connections refused with 503 (max_connections).",
            h.http_connections_rejected);
    counter("sse_http_requests_total", "HTTP requests parsed.", h.http_requests_total);
    counter("sse_http_client_errors_total", "Requests answered with a 4xx status.", h.http_client_errors);
    counter("sse_http_server_errors_total", "Requests answered with a 5xx status.", h.http_server_errors);
    counter("sse_http_timeouts_total", "Connections closed for a slow request head or body, an idle keep-alive "
            "wait or a response not taken in time.", h.http_timeouts);
    counter("sse_http_accept_errors_total", "accept() failures (EMFILE: out of file descriptors, ...).",
            h.accept_errors);
    counter("sse_http_accept_pauses_total", "Times accepting paused after running out of a resource.",
            h.accept_pauses);
    out += fmt::format("# HELP sse_http_max_connections The connection limit in force.\n"
                       "# TYPE sse_http_max_connections gauge\nsse_http_max_connections {}\n",
                       max_connections_);
    return out;
  }

  server_options opts_;
  std::unique_ptr<io_pool> pool_;
  std::vector<asio::any_io_executor> executors_;
  sse::metrics metrics_;
  std::shared_ptr<shared_state> state_;
  std::unique_ptr<sse::hub> hub_;
  mutable std::mutex routes_mu_;
  std::vector<detail::srv_route> routes_;
  std::optional<asio::ip::tcp::acceptor> tcp_acceptor_;
  std::optional<asio::local::stream_protocol::acceptor> unix_acceptor_;
  std::optional<asio::steady_timer> accept_timer_;  // on the first executor, like the acceptors
  detail::accept_backoff accept_backoff_;           // touched by accept handlers only (first executor)
  std::size_t max_connections_ = 0;                 // in force (options, or derived at start())
  std::atomic<std::size_t> next_{0};
  std::atomic<bool> stopped_{false};
  bool started_ = false;
  unsigned short port_ = 0;
};

/// One HTTP connection until it is answered and closed, or handed to a stream.
template <class Protocol>
class server::connection final : public server::closable,
                                 public std::enable_shared_from_this<server::connection<Protocol>> {
  using socket_type = typename Protocol::socket;
  using transport_type = socket_transport<Protocol>;

 public:
  connection(server& srv, socket_type sock)
      : srv_(srv), state_(srv.state_), socket_(std::move(sock)), timer_(socket_.get_executor()),
        parser_(srv.opts_.request_limits) {}

  ~connection() {
    if (counted_) state_->release();
  }

  asio::any_io_executor executor() { return socket_.get_executor(); }

  /// On stop(): a connection waiting for its next request closes now; one mid-request finishes
  /// (its response says Connection: close).
  void shutdown_now() override {
    asio::post(socket_.get_executor(), [w = std::weak_ptr<connection>(self())] {
      if (auto s = w.lock(); s && !s->handed_off_) s->close();
    });
  }

  void shutdown_if_idle() override {
    asio::post(socket_.get_executor(), [w = std::weak_ptr<connection>(self())] {
      if (auto s = w.lock(); s && s->idle_ && !s->handed_off_) s->close();
    });
  }

  void start() {
    std::error_code ec;
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
      const auto ep = socket_.remote_endpoint(ec);
      if (!ec) remote_ = fmt::format("{}:{}", ep.address().to_string(), ep.port());
    } else {
      remote_ = "unix";
    }
    if (state_->stopping.load() || !state_->acquire(srv_.max_connections_)) {
      state_->http.http_connections_rejected.fetch_add(1, std::memory_order_relaxed);
      write_and_close(http::error_response(503, "server busy or shutting down, retry later", {{"Retry-After", "1"}}));
      return;
    }
    counted_ = true;
    idle_ = true;  // no byte of a request yet: a timeout now closes quietly, stop() closes at once
    state_->track(self());
    arm_timer(srv_.opts_.head_timeout);
    read();
  }

 private:
  std::shared_ptr<connection> self() { return this->shared_from_this(); }

  // One timer, one meaning at a time: while a request is being received it is the head (and body)
  // deadline (408); between requests the keep-alive wait (quiet close); while a response is being
  // written the write deadline (close: nothing else may be written while a write is in flight);
  // while an asynchronous handler works, none. Every arm or disarm bumps timer_gen_, so that a
  // completion already queued for an earlier arming (Asio cannot cancel one that has expired)
  // does nothing.
  void arm_timer(std::chrono::milliseconds d) {
    const std::uint64_t gen = ++timer_gen_;
    timer_.expires_after(d);
    timer_.async_wait([w = std::weak_ptr<connection>(self()), gen](std::error_code ec) {
      auto s = w.lock();
      if (!s || ec || s->handed_off_ || gen != s->timer_gen_) return;
      s->on_timeout();
    });
  }

  void disarm_timer() {
    ++timer_gen_;
    timer_.cancel();
  }

  void on_timeout() {
    state_->http.http_timeouts.fetch_add(1, std::memory_order_relaxed);
    if (writing_) {
      srv_.log(log_level::debug, fmt::format("{}: response not taken within {} ms: closing", remote_,
                                             srv_.opts_.write_timeout.count()));
      return close();
    }
    if (idle_) return close();  // keep-alive connection with no new request: just close
    respond_error(408, "request head or body not received in time");
  }

  void read() {
    const std::size_t max = srv_.opts_.request_limits.max_head_bytes + srv_.opts_.max_body_bytes + 4096;
    if (buf_.size() >= max) return respond_error(413, "request too large");
    const std::size_t old = buf_.size();
    buf_.resize(std::min(max, old + 4096));
    socket_.async_read_some(asio::buffer(buf_.data() + old, buf_.size() - old),
                            [s = self(), old](std::error_code ec, std::size_t n) {
                              s->buf_.resize(old + n);
                              if (ec) return s->close();
                              s->on_bytes();
                            });
  }

  void on_bytes() {
    if (idle_ && !buf_.empty()) {
      idle_ = false;
      arm_timer(srv_.opts_.head_timeout);
    }
    bool head_now = false;
    if (!parser_.done()) {
      std::error_code ec;
      const std::size_t used = parser_.feed(std::string_view(buf_).substr(fed_), ec);
      fed_ += used;
      if (ec) {
        return respond_error(http::status_for(ec), ec.message());
      }
      if (!parser_.done()) {
        buf_.erase(0, fed_);
        fed_ = 0;
        return read();
      }
      buf_.erase(0, fed_);
      fed_ = 0;
      state_->http.http_requests_total.fetch_add(1, std::memory_order_relaxed);
      const auto& req = parser_.get();
      if (req.chunked) return respond_error(411, "chunked request bodies are not supported; send Content-Length");
      if (req.content_length && *req.content_length > srv_.opts_.max_body_bytes)
        return respond_error(413, fmt::format("request body larger than {} bytes", srv_.opts_.max_body_bytes));
      head_now = true;
    }
    const std::size_t body_len = static_cast<std::size_t>(parser_.get().content_length.value_or(0));
    if (buf_.size() < body_len) {
      if (head_now)
        if (auto expect = parser_.get().header("Expect")) return expect_continue(*expect);
      return read();
    }
    disarm_timer();  // the whole request is here: the handler's time is not the client's
    handle(body_len);
  }

  /// `Expect: 100-continue` on a request whose body has not arrived (RFC 9110 10.1.1): the final
  /// status at once when the request will be refused anyway (the body is then not read and the
  /// connection closes), else `100 Continue` and the body is read.
  void expect_continue(std::string_view expect) {
    if (!http::detail::grammar::iequals(expect, "100-continue"))
      return respond_error(417, "only 'Expect: 100-continue' is supported");
    const http::request& req = parser_.get();
    if (req.version_minor == 0) return read();  // an HTTP/1.0 client does not wait for 100
    if (auto refusal = early_refusal(req)) return finish(std::move(*refusal), false, 0, srv_.cors_origin(req));
    writing_ = true;
    interim_ = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(socket_, asio::buffer(interim_), [s = self()](std::error_code ec, std::size_t) {
      s->writing_ = false;
      if (ec) return s->close();
      s->on_bytes();  // the body may have come meanwhile (a client that did not wait)
    });
  }

  /// The refusal a request would get before its body matters: wrong host, no such route or method,
  /// refused by the route's auth hook (which sees the headers and an empty body). nullopt = go on.
  std::optional<response> early_refusal(const http::request& req) {
    if (!srv_.host_allowed(req)) return response::text(421, "this server does not answer for this host");
    request_context ctx{req, {}, {}, remote_};
    auto found = srv_.find_route(req, ctx.params);
    if (auto* refusal = std::get_if<response>(&found)) return std::move(*refusal);
    const detail::srv_route& route = *std::get<const detail::srv_route*>(found);
    if (route.auth) return route.auth(ctx);
    return std::nullopt;
  }

  void handle(std::size_t body_len) {
    const http::request& req = parser_.get();
    request_context ctx{req, std::string_view(buf_).substr(0, body_len), {}, remote_};
    const bool keep = req.keep_alive() && !state_->stopping.load();
    const std::string origin = srv_.cors_origin(req);

    if (!srv_.host_allowed(req))
      return finish(response::text(421, "this server does not answer for host '" +
                                            log_escape(req.header("Host").value_or(""), 100) + "'"),
                    keep, body_len, {});

    // CORS preflight.
    if (req.method == "OPTIONS" && req.header("Origin") && req.header("Access-Control-Request-Method")) {
      if (origin.empty()) return finish(response::text(403, "origin not allowed"), keep, body_len, origin);
      response r{204, "", {}, {}};
      r.headers = {{"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                   {"Access-Control-Allow-Headers", srv_.cors_allow_headers()},
                   {"Access-Control-Max-Age", "600"}};
      return finish(std::move(r), keep, body_len, origin);
    }

    bool handled = false;
    response r = srv_.builtin(req, handled, ctx);
    if (handled) return finish(std::move(r), keep, body_len, origin);

    auto found = srv_.find_route(req, ctx.params);
    if (auto* refusal = std::get_if<response>(&found)) return finish(std::move(*refusal), keep, body_len, origin);
    const detail::srv_route& route = *std::get<const detail::srv_route*>(found);
    if (route.auth)
      if (auto refusal = route.auth(ctx)) return finish(std::move(*refusal), keep, body_len, origin);

    if (route.async_handle) {
      // The timer is disarmed: the handler bounds its own wait.
      // Holds the connection until the answer comes (nothing else does meanwhile).
      auto respond = [s = self(), keep, body_len, origin](response r) {
        asio::dispatch(s->socket_.get_executor(), [s, r = std::move(r), keep, body_len, origin]() mutable {
          s->finish(std::move(r), keep, body_len, origin);
        });
      };
      try {
        route.async_handle(ctx, std::move(respond));
      } catch (const std::exception& e) {
        srv_.log(log_level::error, fmt::format("{} {}: handler threw: {}", req.method, log_escape(req.target), log_escape(e.what(), 500)));
        finish(response::text(500, "internal error"), keep, body_len, origin);
      }
      return;
    }
    if (route.handle) {
      response out;
      try {
        out = route.handle(ctx);
      } catch (const std::exception& e) {
        srv_.log(log_level::error, fmt::format("{} {}: handler threw: {}", req.method, log_escape(req.target), log_escape(e.what(), 500)));
        out = response::text(500, "internal error");
      }
      return finish(std::move(out), keep, body_len, origin);
    }

    std::variant<subscription, response> decision;
    try {
      decision = route.subscribe(ctx);
    } catch (const std::exception& e) {
      srv_.log(log_level::error, fmt::format("{} {}: handler threw: {}", req.method, log_escape(req.target), log_escape(e.what(), 500)));
      decision = response::text(500, "internal error");
    }
    if (auto* refusal = std::get_if<response>(&decision)) return finish(std::move(*refusal), keep, body_len, origin);
    auto& sub = std::get<subscription>(decision);
    if (!is_valid_topic(sub.topic, srv_.opts_.hub.max_topic_bytes))
      return finish(response::text(400, "invalid topic name"), keep, body_len, origin);
    if (req.method == "HEAD") {
      response head{200, "text/event-stream; charset=utf-8", {}, {{"Cache-Control", "no-cache, no-store, no-transform"}}};
      return finish(std::move(head), keep, body_len, origin, /*head_only=*/true);
    }
    start_stream(req, std::move(sub), origin);
  }

  /// The response head for (HTTP/1.x minor version, CORS origin), built once and shared by every
  /// stream with the same pair (a small per-thread cache: no lock; a head is a pure function of both).
  static std::shared_ptr<const std::string> shared_sse_head(int version_minor, const std::string& origin,
                                                            std::error_code& ec) {
    struct entry {
      int version_minor;
      std::string origin;
      std::shared_ptr<const std::string> head;
    };
    static constexpr std::size_t max_entries = 16;
    thread_local std::vector<entry> cache;
    for (const auto& e : cache)
      if (e.version_minor == version_minor && e.origin == origin) return e.head;
    http::sse_head_options ho;
    ho.version_minor = version_minor;
    ho.allow_origin = origin;
    auto head = std::make_shared<const std::string>(http::sse_response_head(ho, ec));
    if (ec) return nullptr;
    if (cache.size() >= max_entries) cache.erase(cache.begin());  // many origins ("*" echoing): oldest out
    cache.push_back(entry{version_minor, origin, head});
    return head;
  }

  void start_stream(const http::request& req, subscription sub, const std::string& origin) {
    if (state_->stopping.load()) return respond_error(503, "server shutting down, retry later");
    stream_options so = srv_.opts_.stream;
    std::error_code ec;
    so.head.clear();
    so.shared_head = shared_sse_head(req.version_minor, origin, ec);
    if (ec) return respond_error(500, ec.message());
    so.body_framing = req.version_minor == 0 ? framing::close_delimited : framing::chunked;
    const std::string last = sub.last_event_id ? *sub.last_event_id : req.last_event_id().value_or("");
    if (!srv_.opts_.hub.broker) {
      // Create the topic now, while an error can still be an HTTP answer (the topic limit: 503).
      try {
        srv_.hub_->open_topic(sub.topic, topic_role::subscriber);  // never takes a publisher's slot
      } catch (const hub_error& e) {
        srv_.log(log_level::warn, fmt::format("subscribe to '{}' refused: {}", sub.topic, e.what()));
        return respond_error(503, e.what());
      }
    }
    disarm_timer();
    handed_off_ = true;
    auto stream = basic_stream<transport_type>::create(transport_type(std::move(socket_)), std::move(so));
    // The stream now holds the connection slot: release it when the stream closes.
    counted_ = false;
    stream->on_close([st = state_](std::error_code) { st->release(); });
    state_->track_stream(stream);
    srv_.log(log_level::debug, fmt::format("{} subscribed to '{}' (Last-Event-ID '{}')", remote_, sub.topic, log_escape(last, 100)));
    try {
      srv_.hub_->subscribe(stream, sub.topic, last, {sub.close_after_replay, sub.close_retry});
    } catch (const std::exception& e) {
      srv_.log(log_level::warn, fmt::format("subscribe to '{}' failed: {}", sub.topic, e.what()));
      stream->abort();
    }
  }

  void finish(response r, bool keep, std::size_t body_len, const std::string& origin, bool head_only = false) {
    count_status(r.status);
    std::vector<http::field> fields;
    for (const auto& [k, v] : r.headers) fields.push_back({k, v});
    if (!origin.empty()) {
      fields.push_back({"Access-Control-Allow-Origin", origin});
      if (origin != "*") fields.push_back({"Vary", "Origin"});
    }
    http::response_options ro;
    ro.status = r.status;
    ro.content_type = r.content_type;
    ro.body = r.body;
    ro.headers = std::move(fields);
    ro.keep_alive = keep;
    ro.head_only = head_only || parser_.get().method == "HEAD";
    std::error_code ec;
    std::string bytes = http::make_response(ro, ec);
    if (ec) {
      srv_.log(log_level::error, fmt::format("bad response from handler: {}", ec.message()));
      bytes = http::error_response(500, "internal error: invalid response header");
      keep = false;
    }
    buf_.erase(0, body_len);
    write(std::move(bytes), keep);
  }

  void count_status(int status) {
    if (status >= 500) state_->http.http_server_errors.fetch_add(1, std::memory_order_relaxed);
    else if (status >= 400) state_->http.http_client_errors.fetch_add(1, std::memory_order_relaxed);
  }

  void respond_error(int status, std::string_view reason) {
    if (writing_) return close();  // a response is on its way: nothing may overtake or replace it
    count_status(status);
    srv_.log(log_level::debug, fmt::format("{}: {} {}", remote_, status, reason));
    std::vector<http::field> extra;
    if (status == 503) extra.push_back({"Retry-After", "1"});
    write_and_close(http::error_response(status, reason, extra));
  }

  void write_and_close(std::string bytes) { write(std::move(bytes), false); }

  /// The only way a response leaves: one write in flight at most, under the write deadline.
  void write(std::string bytes, bool keep) {
    if (writing_) {  // a bug, never a second write on the socket
      srv_.log(log_level::error, fmt::format("{}: a second response while one is being written: closing", remote_));
      return close();
    }
    writing_ = true;
    out_ = std::move(bytes);
    arm_timer(srv_.opts_.write_timeout);
    asio::async_write(socket_, asio::buffer(out_), [s = self(), keep](std::error_code ec, std::size_t) {
      s->writing_ = false;
      if (ec || !keep) return s->close();
      s->next_request();
    });
  }

  void next_request() {
    parser_.reset();
    fed_ = 0;
    idle_ = buf_.empty();
    arm_timer(idle_ ? srv_.opts_.idle_timeout : srv_.opts_.head_timeout);
    if (!buf_.empty()) return on_bytes();  // pipelined request already here
    read();
  }

  void close() {
    disarm_timer();
    std::error_code ignored;
    if (socket_.is_open()) {
      socket_.shutdown(socket_type::shutdown_send, ignored);
      socket_.close(ignored);
    }
  }

  server& srv_;
  std::shared_ptr<shared_state> state_;
  socket_type socket_;
  asio::steady_timer timer_;
  http::request_parser parser_;
  std::string buf_;
  std::size_t fed_ = 0;
  std::string out_;
  std::string interim_;  // `100 Continue`
  std::string remote_;
  std::uint64_t timer_gen_ = 0;
  bool writing_ = false;  // a write is in flight
  bool counted_ = false;
  bool idle_ = false;
  bool handed_off_ = false;
};

}  // namespace sse

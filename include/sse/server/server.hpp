/**
 * @file server/server.hpp
 * @brief sse::server: the lifecycle around sse::hub — executors, listening and accepting (with
 *        the file-descriptor budget and accept pauses), routes, built-in routes (`/metrics`,
 *        `/healthz`, publish), CORS, and graceful shutdown. The HTTP/1.1 connection is in
 *        sse/server/http1_connection.hpp.
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
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <functional>
#include <future>
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

#include "sse/detail/json.hpp"
#include "sse/logger.hpp"
#include "sse/http/error.hpp"
#include "sse/http/request_parser.hpp"
#include "sse/http/response.hpp"
#include "sse/hub.hpp"
#include "sse/metrics.hpp"
#include "sse/server/handler.hpp"
#include "sse/server/io_pool.hpp"
#include "sse/server/limits.hpp"
#include "sse/server/options.hpp"
#include "sse/server/registry.hpp"
#include "sse/server/router.hpp"
#include "sse/stream.hpp"
#include "sse/transport/tcp.hpp"
#include "sse/transport/unix.hpp"

namespace sse {

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
    hub_->stop();  // its timers and the broker's connections would keep the executors busy
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
    add(sse::route{sse::route::split(pattern), std::move(method), std::move(h), {}, std::move(auth), {}});
  }

  /// An ordinary route answered asynchronously (see async_request_handler).
  void async_route(std::string method, std::string_view pattern, async_request_handler h, auth_hook auth = {}) {
    add(sse::route{sse::route::split(pattern), std::move(method), {}, {}, std::move(auth), std::move(h)});
  }

  /// An SSE route (GET): the handler picks the topic. The default takes the `{topic}` capture.
  void sse_route(std::string_view pattern, subscribe_handler h = {}, auth_hook auth = {}) {
    if (!h)
      h = [](const request_context& ctx) -> std::variant<subscription, response> {
        return subscription{std::string(ctx.param("topic"))};
      };
    add(sse::route{sse::route::split(pattern), "", {}, std::move(h), std::move(auth), {}});
  }

  /// A publish route (POST): the body is the event's data, the optional `event` query parameter its
  /// type. Answers 202 `{"id":"..."}`; 400 for a bad topic or type; 413 above max_body_bytes; 503
  /// with the reason when the hub's broker (Redis) is unavailable, with `Retry-After: 1`. Many
  /// events in one request: sse::add_publish_batch_route (sse/server/publish_batch.hpp, sse::batch).
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
      open_acceptor(*tcp_acceptor_, ep, ec, opts_.reuse_port);
      if (ec) return;
      port_ = tcp_acceptor_->local_endpoint(ec).port();
    } else {
      ::unlink(opts_.unix_path.c_str());
      unix_acceptor_.emplace(executors_.front());
      open_acceptor(*unix_acceptor_, asio::local::stream_protocol::endpoint(opts_.unix_path), ec);
      if (ec) return;
    }
    log(log_level::info, fmt::format("listening on {}", listen_address()));
    // Each executor's reactor (epoll and event descriptors) is made on first use of a socket there:
    // make it now, while descriptors are available, not in the middle of an accept when they have
    // run out (where it would throw).
    for (const auto& ex : executors_) asio::ip::tcp::socket warm(ex);
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

  /// One HTTP/2 connection (sse/server/http2_connection.hpp, sse::http2; see http2_options).
  class http2_connection;

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
    // Live HTTP connections (not yet streams), so stop() can end idle keep-alive ones at once, and
    // live streams; each entry given back when its connection or stream ends.
    detail::registry<closable> conns;
    detail::registry<stream_base> streams;
    // The options of new streams, one copy shared by every stream with the same (HTTP/1.x minor
    // version, CORS origin): the head and the framing depend on both, the rest is opts_.stream.
    // At most 16 pairs (many echoed origins: the oldest out; its streams keep their copy).
    struct shared_stream_options {
      int version_minor;
      std::string origin;
      std::shared_ptr<const stream_options> opts;
    };
    std::mutex stream_opts_mu;
    std::vector<shared_stream_options> stream_opts;  // guarded by stream_opts_mu

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
    /// Ends every connection and stream at once (their pending operations then complete).
    void abort_everything() {
      for (auto& c : conns.alive()) c->shutdown_now();
      for (auto& st : streams.alive()) st->abort();
    }
    void close_idle_connections() {
      for (auto& c : conns.alive()) c->shutdown_if_idle();
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

  void add(sse::route r) { router_.add(std::move(r)); }

  void log(log_level level, std::string_view msg) const {
    if (opts_.on_log) opts_.on_log(level, msg);
  }

  template <class Acceptor, class Endpoint>
  static void open_acceptor(Acceptor& a, const Endpoint& ep, std::error_code& ec, bool reuse_port = false) {
    a.open(ep.protocol(), ec);
    if (ec) return;
    if constexpr (std::is_same_v<Acceptor, asio::ip::tcp::acceptor>) {
      a.set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec && reuse_port) a.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
    }
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
    try {
      start_accept(acceptor);
    } catch (const std::system_error& e) {  // out of a resource before the accept could even start
      on_accept_error(acceptor, e.code());
    }
  }

  template <class Acceptor>
  void start_accept(Acceptor& acceptor) {
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
      on_accept_error(acceptor, ec);
    });
  }

  /// accept() failed: count it, log at most once a second, and accept again at once or after a pause.
  template <class Acceptor>
  void on_accept_error(Acceptor& acceptor, std::error_code ec) {
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

 public:
  /// The answer of the publish route to an outcome of hub::async_publish: 202 `{"id":"..."}`, or
  /// the error's status and reason (503 too many topics; 503 with `Retry-After: 1` when the broker
  /// or the store is unavailable; 500 when the broker refused the event; 400 otherwise). Also the
  /// per-line status of sse::add_publish_batch_route (sse/server/publish_batch.hpp).
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
    detail::json_string_to(body, id);
    body += "}";
    return response::json(202, std::move(body));
  }

 private:
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
  sse::router router_;
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

}  // namespace sse

// The HTTP/1.1 connection (server::connection), defined in its own header.
#include "sse/server/http1_connection.hpp"

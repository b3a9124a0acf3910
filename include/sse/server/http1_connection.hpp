/**
 * @file server/http1_connection.hpp
 * @brief sse::server::connection: one HTTP/1.1 connection, from its first byte until it is answered
 *        and closed or handed to a stream. At most one write in flight; one timer whose meaning
 *        follows the state (request head and body, keep-alive wait, response write); pipelined
 *        requests answered in order; `Expect: 100-continue`; preflight, built-in and user routes.
 */
#pragma once

#include "sse/server/server.hpp"

#include <array>

namespace sse {

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
    if (tracked_) state_->conns.remove(slot_);
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
    slot_ = state_->conns.add(self());
    tracked_ = true;
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

  std::size_t max_buffered() const {
    return srv_.opts_.request_limits.max_head_bytes + srv_.opts_.max_body_bytes + 4096;
  }

  /// Waits for bytes without a buffer: a connection waiting for its request holds none. Once the
  /// socket is readable, read_ready() reads into a per-thread scratch buffer and keeps only what
  /// arrived (a burst of 10 000 connections used to leave a 4 KiB buffer each, freed at the hand-off
  /// to a stream: about 400 B of free heap pages per stream afterwards, measured).
  void read() {
    if (buf_.size() >= max_buffered()) return respond_error(413, "request too large");
    socket_.async_wait(socket_type::wait_read, [s = self()](std::error_code ec) {
      if (ec) return s->close();
      s->read_ready();
    });
  }

  void read_ready() {
    thread_local std::array<char, 16 * 1024> scratch;
    const std::size_t room = std::min(scratch.size(), max_buffered() - buf_.size());
    std::error_code ec;
    if (!socket_.non_blocking()) socket_.non_blocking(true, ec);  // read_some below never waits
    const std::size_t n = ec ? 0 : socket_.read_some(asio::buffer(scratch.data(), room), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return read();  // woken for nothing
    if (ec) return close();
    buf_.append(scratch.data(), n);
    on_bytes();
  }

  void on_bytes() {
    if (idle_ && !buf_.empty()) {
      idle_ = false;
      arm_timer(srv_.opts_.head_timeout);
    }
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
      if (!preface_checked_ && srv_.opts_.http2.h2c) {  // HTTP/2 with prior knowledge?
        constexpr std::string_view preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        const std::size_t n = std::min(buf_.size(), preface.size());
        if (std::string_view(buf_).substr(0, n) != preface.substr(0, n)) {
          preface_checked_ = true;
        } else if (n < preface.size()) {
          return read();
        } else {
          return hand_off_h2c();
        }
      }
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

  /// How a request is answered, fixed once its head is here (see finish()).
  struct reply_to {
    bool keep = false;          ///< keep the connection for the next request
    std::size_t body_len = 0;   ///< bytes of the request's body, dropped from buf_ once answered
    std::string origin = {};    ///< Access-Control-Allow-Origin ("" = none)
  };

  /// `Expect: 100-continue` on a request whose body has not arrived (RFC 9110 10.1.1): the final
  /// status at once when the request will be refused anyway (the body is then not read and the
  /// connection closes), else `100 Continue` and the body is read.
  void expect_continue(std::string_view expect) {
    if (!http::detail::grammar::iequals(expect, "100-continue"))
      return respond_error(417, "only 'Expect: 100-continue' is supported");
    const http::request& req = parser_.get();
    if (req.version_minor == 0) return read();  // an HTTP/1.0 client does not wait for 100
    if (auto refusal = early_refusal(req)) return finish(std::move(*refusal), {false, 0, srv_.cors_origin(req)});
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
    auto found = find_route(ctx);
    if (auto* refusal = std::get_if<response>(&found)) return std::move(*refusal);
    return std::nullopt;
  }

  /// Answers a request whose head and body are here, in this order: a host this server does not
  /// answer for, a CORS preflight, a built-in route (/healthz, /metrics), a user route.
  void handle(std::size_t body_len) {
    const http::request& req = parser_.get();
    // Kept in the connection: an asynchronous handler may use it until it responds.
    request_context& ctx = ctx_.emplace(request_context{req, std::string_view(buf_).substr(0, body_len), {}, remote_});
    const reply_to to{req.keep_alive() && !state_->stopping.load(), body_len, srv_.cors_origin(req)};
    if (!srv_.host_allowed(req)) return finish(wrong_host(req), {to.keep, to.body_len, {}});
    if (is_preflight(req)) return finish(preflight(to.origin), to);
    if (auto r = builtin_route(ctx)) return finish(std::move(*r), to);
    auto found = find_route(ctx);
    if (auto* refusal = std::get_if<response>(&found)) return finish(std::move(*refusal), to);
    run_route(*std::get<const sse::route*>(found), ctx, to);
  }

  static response wrong_host(const http::request& req) {
    return response::text(421, "this server does not answer for host '" +
                                   log_escape(req.header("Host").value_or(""), 100) + "'");
  }

  static bool is_preflight(const http::request& req) {
    return req.method == "OPTIONS" && req.header("Origin") && req.header("Access-Control-Request-Method");
  }

  /// The answer to a CORS preflight: what may be sent, or 403 for an origin not allowed.
  response preflight(const std::string& origin) const {
    if (origin.empty()) return response::text(403, "origin not allowed");
    response r{204, "", {}, {}};
    r.headers = {{"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                 {"Access-Control-Allow-Headers", srv_.cors_allow_headers()},
                 {"Access-Control-Max-Age", "600"}};
    return r;
  }

  /// The answer of a built-in route (/healthz, /metrics), or nullopt when none matches.
  std::optional<response> builtin_route(const request_context& ctx) const {
    bool handled = false;
    // /metrics may run the user's metrics_auth hook (`handled` is set before it runs).
    response r = invoke_handler<response>(ctx.request, [&] { return srv_.builtin(ctx.request, handled, ctx); }, "auth hook");
    if (!handled) return std::nullopt;
    return r;
  }

  /// The user route for a request, with its `{name}` captures put in ctx.params; or the refusal:
  /// no such route or method (404, 405), or what the route's auth hook answered instead.
  std::variant<const sse::route*, response> find_route(request_context& ctx) const {
    auto found = srv_.router_.find(ctx.request, ctx.params);
    if (auto* r = std::get_if<const sse::route*>(&found); r && (*r)->auth)
      if (auto refusal = invoke_handler<std::optional<response>>(ctx.request, [&] { return (*r)->auth(ctx); }, "auth hook"))
        return std::move(*refusal);
    return found;
  }

  /// Runs a user route's handler, whichever kind it is: an answer now, an answer later
  /// (asynchronous), or a subscription (a stream) or its refusal.
  void run_route(const sse::route& route, const request_context& ctx, const reply_to& to) {
    if (route.async_handle) {
      // The timer is disarmed: the handler bounds its own wait. `respond` holds the connection
      // until the answer comes (nothing else does meanwhile). One answer per request: a second call
      // of `respond`, or a throw after it (or a call after a throw answered 500), is logged and
      // dropped, never written as a second response.
      auto answered = std::make_shared<std::atomic<bool>>(false);
      auto respond = [s = self(), to, answered, what = log_escape(ctx.request.target)](response r) {
        if (answered->exchange(true)) {
          s->srv_.log(log_level::error, fmt::format("{}: the handler answered twice; the second answer ({}) is dropped", what,
                                                    r.status));
          return;
        }
        asio::dispatch(s->socket_.get_executor(), [s, r = std::move(r), to]() mutable { s->finish(std::move(r), to); });
      };
      auto failed = invoke_handler<std::optional<response>>(ctx.request, [&] {
        route.async_handle(ctx, std::move(respond));
        return std::optional<response>{};  // it answers later, through `respond`
      });
      if (failed && !answered->exchange(true)) finish(std::move(*failed), to);
      return;
    }
    if (route.handle) return finish(invoke_handler<response>(ctx.request, [&] { return route.handle(ctx); }), to);
    auto decision = invoke_handler<std::variant<subscription, response>>(ctx.request, [&] { return route.subscribe(ctx); });
    if (auto* refusal = std::get_if<response>(&decision)) return finish(std::move(*refusal), to);
    subscribe(ctx.request, std::move(std::get<subscription>(decision)), to);
  }

  /// The one place where user code (a handler, an auth hook) runs: `call()` runs it and returns what
  /// it decided. An exception it throws is logged (escaped) and becomes `500 internal error`.
  template <class Decision, class Call>
  Decision invoke_handler(const http::request& req, Call&& call, std::string_view who = "handler") const {
    try {
      return call();
    } catch (const std::exception& e) {
      srv_.log(log_level::error, fmt::format("{} {}: {} threw: {}", req.method, log_escape(req.target), who,
                                             log_escape(e.what(), 500)));
      return Decision(response::text(500, "internal error"));
    }
  }

  /// A subscription decided by a route's handler: its topic checked, a HEAD answered with the
  /// stream's head alone, else the connection becomes a stream.
  void subscribe(const http::request& req, subscription sub, const reply_to& to) {
    if (!is_valid_topic(sub.topic, srv_.opts_.hub.max_topic_bytes))
      return finish(response::text(400, "invalid topic name"), to);
    if (req.method == "HEAD") {
      response head{200, "text/event-stream; charset=utf-8", {}, {{"Cache-Control", "no-cache, no-store, no-transform"}}};
      return finish(std::move(head), to, /*head_only=*/true);
    }
    start_stream(req, std::move(sub), to.origin);
  }

  /// The options of a stream for (HTTP/1.x minor version, CORS origin): the server's stream
  /// options with the response head and the body framing of that pair, built once and shared by every
  /// stream with the same pair (an idle stream carries no copy of them).
  std::shared_ptr<const stream_options> shared_stream_options(int version_minor, const std::string& origin,
                                                             std::error_code& ec) {
    static constexpr std::size_t max_entries = 16;
    std::lock_guard lk(state_->stream_opts_mu);
    auto& cache = state_->stream_opts;
    for (const auto& e : cache)
      if (e.version_minor == version_minor && e.origin == origin) return e.opts;
    http::sse_head_options ho;
    ho.version_minor = version_minor;
    ho.allow_origin = origin;
    auto head = std::make_shared<const std::string>(http::sse_response_head(ho, ec));
    if (ec) return nullptr;
    stream_options so = srv_.opts_.stream;
    so.head.clear();
    so.shared_head = std::move(head);
    so.body_framing = version_minor == 0 ? framing::close_delimited : framing::chunked;
    auto opts = std::make_shared<const stream_options>(std::move(so));
    if (cache.size() >= max_entries) cache.erase(cache.begin());  // many origins ("*" echoing): oldest out
    cache.push_back({version_minor, origin, opts});
    return opts;
  }

  void start_stream(const http::request& req, subscription sub, const std::string& origin) {
    if (state_->stopping.load()) return respond_error(503, "server shutting down, retry later");
    std::error_code ec;
    auto so = shared_stream_options(req.version_minor, origin, ec);
    if (ec) return respond_error(500, ec.message());
    const std::string last = sub.last_event_id ? *sub.last_event_id : req.last_event_id().value_or("");
    // Create the topic now, while an error can still be an HTTP answer (the topic limit: 503).
    try {
      srv_.hub_->open_topic(sub.topic, topic_role::subscriber);  // never takes a publisher's slot
    } catch (const hub_error& e) {
      srv_.log(log_level::warn, fmt::format("subscribe to '{}' refused: {}", sub.topic, e.what()));
      return respond_error(503, e.what());
    }
    disarm_timer();
    handed_off_ = true;
    auto stream = basic_stream<transport_type>::create_sharing(transport_type(std::move(socket_)), std::move(so));
    // The stream now holds the connection slot: release it when the stream closes.
    counted_ = false;
    const std::uint32_t slot = state_->streams.add(stream);
    stream->on_close([st = state_, slot](std::error_code) {
      st->streams.remove(slot);
      st->release();
    });
    srv_.log(log_level::debug, fmt::format("{} subscribed to '{}' (Last-Event-ID '{}')", remote_, sub.topic, log_escape(last, 100)));
    try {
      srv_.hub_->subscribe(stream, sub.topic, last, {sub.close_after_replay, sub.close_retry});
    } catch (const std::exception& e) {
      srv_.log(log_level::warn, fmt::format("subscribe to '{}' failed: {}", sub.topic, e.what()));
      stream->abort();
    }
  }

  /// The client sent the HTTP/2 preface: the HTTP/2 glue takes the socket, the bytes read so far
  /// and the connection's slot (counted in open_connections until it ends).
  void hand_off_h2c() {
    disarm_timer();
    handed_off_ = true;
    counted_ = false;
    if (tracked_) state_->conns.remove(slot_);
    tracked_ = false;
    srv_.opts_.http2.h2c(srv_, std::move(socket_), std::move(buf_));
  }

  /// Answers the current request with `r` (status 0, response::drop(): no answer at all).
  void finish(response r, const reply_to& to, bool head_only = false) {
    if (r.status == 0) return drop();
    bool keep = to.keep;
    const std::string& origin = to.origin;
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
    buf_.erase(0, to.body_len);
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
    ctx_.reset();
    parser_.reset();
    fed_ = 0;
    idle_ = buf_.empty();
    arm_timer(idle_ ? srv_.opts_.idle_timeout : srv_.opts_.head_timeout);
    if (!buf_.empty()) return on_bytes();  // pipelined request already here
    read();
  }

  /// response::drop(): nothing written, an abortive close (RST: SO_LINGER 0), as a dead upstream.
  /// Pipelined requests behind it are dropped with it. Nothing is in flight here (finish() runs
  /// with no read or write pending).
  void drop() {
    disarm_timer();
    srv_.log(log_level::debug, fmt::format("{}: connection dropped by the handler (no response)", remote_));
    std::error_code ignored;
    if (socket_.is_open()) {
      socket_.set_option(asio::socket_base::linger(true, 0), ignored);
      socket_.close(ignored);
    }
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
  std::optional<request_context> ctx_;  // of the request being answered (its body is in buf_)
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
  bool tracked_ = false;
  bool preface_checked_ = false;  // the first bytes are not the HTTP/2 preface (or h2c is off)
  std::uint32_t slot_ = 0;  // in state_->conns, once tracked_
};

}  // namespace sse

/**
 * @file server/http2_connection.hpp
 * @brief HTTP/2 in sse::server, cleartext with prior knowledge (h2c): sse::h2c() turns it on, and
 *        server::http2_connection is the glue between the server's TCP socket and an nghttp2
 *        server session (libnghttp2 does the framing, HPACK and flow control; nothing here parses
 *        a frame). CMake target sse::http2.
 *
 * Every request of every HTTP/2 stream goes through the same routes as HTTP/1.1: built-in routes
 * (`/healthz`, `/metrics`), CORS, the Host allow-list, auth hooks, ordinary and asynchronous
 * routes, publish routes, SSE routes with `Last-Event-ID` resume. The request head is checked by
 * the same strict parser as an HTTP/1.1 head (it is rebuilt from the HEADERS frame: method, path,
 * authority as Host, the fields), so a request means the same over both protocols.
 *
 * An SSE response is an sse::basic_stream over sse::h2_stream_transport: the stream's gathered
 * write is handed to this connection, whose nghttp2 data provider copies it into DATA frames as the
 * peer's flow-control windows allow (NGHTTP2_ERR_DEFERRED while nothing is queued;
 * nghttp2_session_resume_data when a write comes). The write completes once every byte is framed,
 * so the stream's bounded queue and slow-consumer policy hold as over TCP: a stream whose window
 * stays closed keeps its write in flight, fills its queue and is ended (RST_STREAM(CANCEL)), or is
 * ended by the stream's write_timeout; the connection and its other streams go on. A graceful end
 * (close_after_replay, server stop) ends the stream with END_STREAM after its last bytes.
 *
 * Output: at most one socket write in flight, of at most http2_options::max_output_bytes (plus one
 * frame) taken from nghttp2_session_mem_send; while it is in flight nothing more is taken, so the
 * streams' own queues hold what waits. Input: the socket is waited on without a buffer and read
 * into a per-thread scratch buffer, fed whole to nghttp2_session_mem_recv.
 *
 * Limits: SETTINGS_MAX_CONCURRENT_STREAMS (http2_options, default 100; more: REFUSED_STREAM), the
 * header list (SETTINGS_MAX_HEADER_LIST_SIZE and request_limits, as an HTTP/1.1 head: 431), the
 * body (max_body_bytes: 413), client RST_STREAMs per window (rapid reset: GOAWAY
 * ENHANCE_YOUR_CALM and close), a request head not complete within head_timeout (RST_STREAM), an
 * ordinary body or a stream's END_STREAM not sent within write_timeout (the client's window stays
 * closed: RST_STREAM), no stream for idle_timeout (GOAWAY and close), a socket write not taken
 * within write_timeout (close),
 * and nghttp2's own bounds (queued SETTINGS/PING acknowledgements, settings per frame).
 * server::stop() ends the streams with their `retry:` hint, then sends GOAWAY(NO_ERROR) and closes
 * once the streams are done.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9113
 */
#pragma once

#include <nghttp2/nghttp2.h>

#include <array>
#include <cctype>
#include <cstring>
#include <map>

#include "sse/detail/op.hpp"
#include "sse/server/server.hpp"

namespace sse {

namespace detail::h2 {

/// What a stream's transport needs of its connection.
struct stream_owner {
  /// The stream has bytes to send: resume its data provider and flush.
  virtual void resume(std::int32_t id) = 0;

 protected:
  ~stream_owner() = default;
};

/// One HTTP/2 stream: its request while it arrives, then its response (a body, or an SSE stream's
/// write in flight). Shared by the connection (its map) and the stream's transport; touched only on
/// the connection's executor.
struct stream_slot {
  stream_slot(asio::any_io_executor e, stream_owner* o, std::int32_t i) : ex(std::move(e)), owner(o), id(i) {}

  asio::any_io_executor ex;
  stream_owner* owner;  ///< null once the stream or the connection has ended
  std::int32_t id;

  // The request.
  std::vector<std::pair<std::string, std::string>> fields;  // pseudo-header fields included
  std::size_t field_bytes = 0;
  bool head_too_large = false;
  std::string body;
  bool body_too_large = false;
  bool dispatched = false;
  std::chrono::steady_clock::time_point opened = std::chrono::steady_clock::now();
  std::optional<http::request> req;
  std::optional<request_context> ctx;

  // The response: an ordinary body ...
  std::string out;
  std::size_t out_off = 0;
  // ... or an SSE stream's write in flight (views into the stream's buffers, valid until completed).
  bool is_stream = false;
  std::weak_ptr<stream_base> stream;
  std::vector<asio::const_buffer> bufs;
  std::size_t buf_index = 0, buf_off = 0, buf_total = 0;
  std::unique_ptr<detail::pending_op> op;
  bool transport_closed = false;  // the stream closed its transport; how to end is decided by its on_close
  bool end_ok = false;            // graceful end: END_STREAM once the last bytes are out
  /// An ordinary body, or the END_STREAM of a stream that has ended, must leave by then (the
  /// client's window may stay closed): else RST_STREAM, and the slot is freed.
  std::optional<std::chrono::steady_clock::time_point> send_deadline;

  /// Completes the write in flight (posted) with `ec`.
  void complete(std::error_code ec) {
    auto o = std::move(op);
    const std::size_t n = ec ? 0 : buf_total;
    bufs.clear();
    buf_index = buf_off = buf_total = 0;
    if (o) o->complete(ec, n);
  }
};

}  // namespace detail::h2

/// The transport of an SSE stream over one HTTP/2 stream: a write is handed to the connection,
/// which frames it as flow control allows, and completes once all of it is framed. Not readable
/// (the connection sees the peer's RST_STREAM and aborts the stream).
class h2_stream_transport {
 public:
  using executor_type = asio::any_io_executor;

  explicit h2_stream_transport(std::shared_ptr<detail::h2::stream_slot> slot) : slot_(std::move(slot)) {}

  executor_type get_executor() const noexcept { return slot_->ex; }

  template <class ConstBufferSequence, class WriteToken>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
    return asio::async_initiate<WriteToken, void(std::error_code, std::size_t)>(
        [slot = slot_](auto handler, const ConstBufferSequence& b) {
          auto op = detail::make_op(std::move(handler), slot->ex);
          if (!slot->owner || slot->transport_closed) return op->complete(asio::error::connection_reset, 0);
          if (slot->op) return op->complete(asio::error::in_progress, 0);  // Asio's rule broken by the caller
          std::size_t total = 0;
          for (auto it = asio::buffer_sequence_begin(b); it != asio::buffer_sequence_end(b); ++it) {
            const asio::const_buffer cb(*it);
            if (cb.size() == 0) continue;
            slot->bufs.push_back(cb);
            total += cb.size();
          }
          if (total == 0) return op->complete({}, 0);
          slot->buf_total = total;
          slot->op = std::move(op);
          slot->owner->resume(slot->id);
        },
        token, buffers);
  }

  /// The stream is done with the transport. Its write in flight (if any) completes with
  /// operation_aborted; the connection ends the HTTP/2 stream once it knows why (gracefully:
  /// END_STREAM; else RST_STREAM).
  void close(std::error_code& ec) {
    ec = {};
    slot_->transport_closed = true;
    if (slot_->op) slot_->complete(asio::error::operation_aborted);
  }

 private:
  std::shared_ptr<detail::h2::stream_slot> slot_;
};

/// A stream over one HTTP/2 stream of an sse::server connection.
using h2_stream = basic_stream<h2_stream_transport>;

/// One HTTP/2 connection of an sse::server, from the client's preface to its close.
class server::http2_connection final : public server::closable,
                                       public detail::h2::stream_owner,
                                       public std::enable_shared_from_this<server::http2_connection> {
  using socket_type = asio::ip::tcp::socket;
  using slot_ptr = std::shared_ptr<detail::h2::stream_slot>;
  using clock = std::chrono::steady_clock;

 public:
  /// Takes over a connection whose first bytes (`read`, the preface at least) were read as HTTP/1.1
  /// would have, and its slot in open_connections. Runs on the socket's executor.
  static void start(server& srv, socket_type&& sock, std::string&& read) {
    auto c = std::make_shared<http2_connection>(srv, std::move(sock));
    c->begin(std::move(read));
  }

  http2_connection(server& srv, socket_type sock)
      : srv_(srv), state_(srv.state_), socket_(std::move(sock)), timer_(socket_.get_executor()) {}

  ~http2_connection() {
    detach_streams();
    if (session_) nghttp2_session_del(session_);
    if (tracked_) state_->conns.remove(conn_slot_);
    state_->release();
  }

  http2_connection(const http2_connection&) = delete;
  http2_connection& operator=(const http2_connection&) = delete;

  /// server::stop(): the streams are being ended by the hub; say GOAWAY and close once they are.
  void shutdown_if_idle() override {
    asio::post(socket_.get_executor(), [w = weak_from_this()] {
      if (auto s = w.lock()) s->go_away(NGHTTP2_NO_ERROR);
    });
  }

  void shutdown_now() override {
    asio::post(socket_.get_executor(), [w = weak_from_this()] {
      if (auto s = w.lock()) s->close();
    });
  }

  void resume(std::int32_t id) override {
    if (closed_) return;
    nghttp2_session_resume_data(session_, id);  // fails harmlessly when the provider is not deferred
    schedule_flush();
  }

 private:
  // ---- lifecycle ----

  void begin(std::string read) {
    std::error_code ec;
    const auto ep = socket_.remote_endpoint(ec);
    if (!ec) remote_ = fmt::format("{}:{}", ep.address().to_string(), ep.port());
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    conn_slot_ = state_->conns.add(shared_from_this());
    tracked_ = true;
    if (!make_session()) return close();
    srv_.log(log_level::debug, fmt::format("{}: HTTP/2 (h2c, prior knowledge)", remote_));
    idle_since_ = clock::now();
    if (!feed(read)) return;
    flush();
    wait_read();
    rearm();
  }

  bool make_session() {
    nghttp2_session_callbacks* cbs = nullptr;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return false;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &on_stream_close);
    nghttp2_option* opt = nullptr;
    if (nghttp2_option_new(&opt) != 0) {
      nghttp2_session_callbacks_del(cbs);
      return false;
    }
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    const int rv = nghttp2_session_server_new2(&session_, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0) {
      session_ = nullptr;
      return false;
    }
    const auto& h2 = srv_.opts_.http2;
    const std::array<nghttp2_settings_entry, 2> iv{{
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, h2.max_concurrent_streams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
         static_cast<std::uint32_t>(std::min<std::size_t>(srv_.opts_.request_limits.max_head_bytes, UINT32_MAX))},
    }};
    return nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv.data(), iv.size()) == 0;
  }

  /// Ends everything now: the socket, the streams (aborted), the timer.
  void close() {
    if (closed_) return;
    closed_ = true;
    ++timer_gen_;
    timer_.cancel();
    std::error_code ignored;
    if (socket_.is_open()) {
      socket_.shutdown(socket_type::shutdown_both, ignored);
      socket_.close(ignored);
    }
    detach_streams();
  }

  void detach_streams() {
    auto slots = std::move(slots_);
    slots_.clear();
    for (auto& [id, slot] : slots) {
      slot->owner = nullptr;
      if (slot->op) slot->complete(asio::error::connection_reset);
      if (auto st = slot->stream.lock()) st->abort();
    }
  }

  /// GOAWAY with `code` (once), then close when the streams are done (NO_ERROR) or at once when
  /// the output is written (an error).
  void go_away(std::uint32_t code) {
    if (closed_ || going_away_) return;
    going_away_ = true;
    if (code == NGHTTP2_NO_ERROR)
      nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_), code,
                            nullptr, 0);
    else
      nghttp2_session_terminate_session(session_, code);
    flush();
  }

  // ---- timer: one deadline at a time, the earliest of those that apply ----

  void rearm() {
    if (closed_) return;
    std::optional<clock::time_point> next;
    auto consider = [&](clock::time_point t) {
      if (!next || t < *next) next = t;
    };
    if (writing_) consider(write_started_ + srv_.opts_.write_timeout);
    for (const auto& [id, slot] : slots_) {
      if (!slot->dispatched) consider(slot->opened + srv_.opts_.head_timeout);
      if (slot->send_deadline) consider(*slot->send_deadline);
    }
    if (slots_.empty() && !going_away_) consider(idle_since_ + srv_.opts_.idle_timeout);
    if (!next) {
      if (armed_) {
        armed_.reset();
        ++timer_gen_;
        timer_.cancel();
      }
      return;
    }
    if (armed_ && *armed_ == *next) return;
    armed_ = next;
    const std::uint64_t gen = ++timer_gen_;
    timer_.expires_at(*next);
    timer_.async_wait([w = weak_from_this(), gen](std::error_code ec) {
      auto s = w.lock();
      if (!s || ec || gen != s->timer_gen_ || s->closed_) return;
      s->armed_.reset();
      s->on_timer();
    });
  }

  void on_timer() {
    const auto now = clock::now();
    if (writing_ && now >= write_started_ + srv_.opts_.write_timeout) {
      state_->http.http_timeouts.fetch_add(1, std::memory_order_relaxed);
      srv_.log(log_level::debug, fmt::format("{}: HTTP/2 output not taken within {} ms: closing", remote_,
                                             srv_.opts_.write_timeout.count()));
      return close();
    }
    if (slots_.empty() && !going_away_ && now >= idle_since_ + srv_.opts_.idle_timeout) {
      state_->http.http_timeouts.fetch_add(1, std::memory_order_relaxed);
      go_away(NGHTTP2_NO_ERROR);
      return rearm();
    }
    for (const auto& [id, slot] : slots_) {
      if (!slot->dispatched && now >= slot->opened + srv_.opts_.head_timeout) {
        state_->http.http_timeouts.fetch_add(1, std::memory_order_relaxed);
        slot->dispatched = true;  // never answered now
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
      }
      if (slot->send_deadline && now >= *slot->send_deadline) {
        state_->http.http_timeouts.fetch_add(1, std::memory_order_relaxed);
        slot->send_deadline.reset();
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
      }
    }
    flush();
    rearm();
  }

  // ---- input ----

  void wait_read() {
    if (closed_) return;
    socket_.async_wait(socket_type::wait_read, [s = shared_from_this()](std::error_code ec) {
      if (ec) return s->close();
      s->read_ready();
    });
  }

  void read_ready() {
    if (closed_) return;
    thread_local std::array<char, 16 * 1024> scratch;
    std::error_code ec;
    if (!socket_.non_blocking()) socket_.non_blocking(true, ec);
    const std::size_t n = ec ? 0 : socket_.read_some(asio::buffer(scratch), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return wait_read();
    if (ec) return close();  // the peer closed (or reset): nothing more to say
    if (!feed(std::string_view(scratch.data(), n))) return;
    flush();
    rearm();
    wait_read();
  }

  /// Feeds bytes to nghttp2; false (and closed) when the session cannot go on.
  bool feed(std::string_view bytes) {
    if (bytes.empty()) return true;
    const auto rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    if (rv < 0) {
      srv_.log(log_level::debug, fmt::format("{}: HTTP/2: {}: closing", remote_, nghttp2_strerror(static_cast<int>(rv))));
      if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC || rv == NGHTTP2_ERR_FLOODED) {
        close();
        return false;
      }
      go_away(NGHTTP2_PROTOCOL_ERROR);
      return !closed_;
    }
    return !closed_;
  }

  // ---- output ----

  void schedule_flush() {
    if (flush_posted_ || writing_ || closed_) return;
    flush_posted_ = true;
    asio::post(socket_.get_executor(), [s = shared_from_this()] {
      s->flush_posted_ = false;
      s->flush();
    });
  }

  /// Takes frames from nghttp2 (at most max_output_bytes and one frame) and writes them.
  void flush() {
    if (closed_ || writing_) return;
    const std::size_t bound = srv_.opts_.http2.max_output_bytes;
    while (out_.size() < bound) {
      const std::uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        srv_.log(log_level::debug, fmt::format("{}: HTTP/2 send: {}", remote_, nghttp2_strerror(static_cast<int>(n))));
        return close();
      }
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (out_.empty()) {
      if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) close();
      return;
    }
    writing_ = true;
    write_started_ = clock::now();
    rearm();
    asio::async_write(socket_, asio::buffer(out_), [s = shared_from_this()](std::error_code ec, std::size_t) {
      s->writing_ = false;
      s->out_.clear();
      if (ec) return s->close();
      s->flush();
      s->rearm();
    });
  }

  // ---- nghttp2 callbacks (on the connection's executor, inside mem_recv or mem_send) ----

  static http2_connection& self(void* user) { return *static_cast<http2_connection*>(user); }

  detail::h2::stream_slot* slot_of(std::int32_t id) {
    auto it = slots_.find(id);
    return it == slots_.end() ? nullptr : it->second.get();
  }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& c = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    const std::int32_t id = frame->hd.stream_id;
    c.slots_[id] = std::make_shared<detail::h2::stream_slot>(c.socket_.get_executor(), &c, id);
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    auto& c = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers: ignored
    auto* slot = c.slot_of(frame->hd.stream_id);
    if (!slot || slot->head_too_large) return 0;
    slot->field_bytes += namelen + valuelen + 4;  // as "name: value\r\n" in an HTTP/1.1 head
    if (slot->field_bytes > c.srv_.opts_.request_limits.max_head_bytes ||
        slot->fields.size() >= c.srv_.opts_.request_limits.max_headers + 4) {
      slot->head_too_large = true;
      slot->fields.clear();
      return 0;
    }
    slot->fields.emplace_back(std::string(reinterpret_cast<const char*>(name), namelen),
                              std::string(reinterpret_cast<const char*>(value), valuelen));
    return 0;
  }

  static int on_data_chunk(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t len,
                           void* user) {
    auto& c = self(user);
    auto* slot = c.slot_of(id);
    if (!slot || slot->body_too_large || slot->dispatched) return 0;
    if (slot->body.size() + len > c.srv_.opts_.max_body_bytes) {
      slot->body_too_large = true;
      slot->body.clear();
      return 0;
    }
    slot->body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& c = self(user);
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
      case NGHTTP2_DATA:
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
          if (auto it = c.slots_.find(frame->hd.stream_id); it != c.slots_.end() && !it->second->dispatched) {
            auto slot = it->second;  // kept: the request may end the stream
            c.dispatch(slot);
          }
        return 0;
      case NGHTTP2_RST_STREAM: c.count_reset(); return 0;
      default: return 0;
    }
  }

  static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t, void* user) {
    auto& c = self(user);
    auto it = c.slots_.find(id);
    if (it == c.slots_.end()) return 0;
    auto slot = std::move(it->second);
    c.slots_.erase(it);
    if (c.slots_.empty()) c.idle_since_ = clock::now();
    slot->owner = nullptr;
    if (slot->op) slot->complete(asio::error::connection_reset);
    if (auto st = slot->stream.lock()) st->abort();  // a client's RST_STREAM frees the stream at once
    return 0;
  }

  /// A RST_STREAM from the client: more than max_client_resets within reset_window ends the
  /// connection (rapid reset).
  void count_reset() {
    const auto& h2 = srv_.opts_.http2;
    const auto now = clock::now();
    if (now - reset_window_start_ > h2.reset_window) {
      reset_window_start_ = now;
      resets_ = 0;
    }
    if (++resets_ > h2.max_client_resets && !going_away_) {
      srv_.log(log_level::warn, fmt::format("{}: HTTP/2: more than {} streams reset by the client within {} ms: "
                                            "closing (rapid reset)",
                                            remote_, h2.max_client_resets, h2.reset_window.count()));
      go_away(NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }

  // ---- requests: the same answers as server::connection (HTTP/1.1) ----

  /// The request as an HTTP/1.1 head, checked by the same parser: method, path, the fields, the
  /// authority as Host.
  std::error_code parse_request(detail::h2::stream_slot& slot) {
    std::string method, path, authority, head;
    bool host = false;
    std::string fields;
    for (const auto& [name, value] : slot.fields) {
      if (name == ":method") method = value;
      else if (name == ":path") path = value;
      else if (name == ":authority") authority = value;
      else if (!name.empty() && name[0] == ':') continue;  // :scheme
      else {
        if (name == "host") host = true;
        fields += name;
        fields += ": ";
        fields += value;
        fields += "\r\n";
      }
    }
    if (method.empty() || path.empty()) return http::errc::invalid_request_line;
    head = method + " " + path + " HTTP/1.1\r\n";
    if (!host) head += "host: " + authority + "\r\n";
    head += fields;
    head += "\r\n";
    http::request_parser parser(srv_.opts_.request_limits);
    std::error_code ec;
    parser.feed(head, ec);
    if (ec) return ec;
    if (!parser.done()) return http::errc::invalid_request_line;
    slot.req = std::move(parser.get());
    slot.req->version_major = 2;
    slot.req->version_minor = 0;
    std::vector<std::pair<std::string, std::string>>().swap(slot.fields);  // in req now
    return {};
  }

  void dispatch(const slot_ptr& slot) {
    slot->dispatched = true;
    state_->http.http_requests_total.fetch_add(1, std::memory_order_relaxed);
    if (slot->head_too_large) return respond(*slot, response::text(431, "request header fields too large"), {});
    if (slot->body_too_large)
      return respond(*slot, response::text(413, fmt::format("request body larger than {} bytes", srv_.opts_.max_body_bytes)), {});
    if (const auto ec = parse_request(*slot)) return respond(*slot, response::text(http::status_for(ec), ec.message()), {});
    const http::request& req = *slot->req;
    request_context& ctx = slot->ctx.emplace(request_context{req, slot->body, {}, remote_});
    const std::string origin = srv_.cors_origin(req);
    if (!srv_.host_allowed(req))
      return respond(*slot, response::text(421, "this server does not answer for host '" +
                                                    log_escape(req.header("Host").value_or(""), 100) + "'"), {});
    if (req.method == "OPTIONS" && req.header("Origin") && req.header("Access-Control-Request-Method")) {
      if (origin.empty()) return respond(*slot, response::text(403, "origin not allowed"), origin);
      response r{204, "", {}, {}};
      r.headers = {{"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                   {"Access-Control-Allow-Headers", srv_.cors_allow_headers()},
                   {"Access-Control-Max-Age", "600"}};
      return respond(*slot, std::move(r), origin);
    }
    bool handled = false;
    response built = invoke<response>(req, [&] { return srv_.builtin(req, handled, ctx); }, "auth hook");
    if (handled) return respond(*slot, std::move(built), origin);
    auto found = srv_.router_.find(req, ctx.params);
    if (auto* r = std::get_if<const sse::route*>(&found); r && (*r)->auth)
      if (auto refusal = invoke<std::optional<response>>(req, [&] { return (*r)->auth(ctx); }, "auth hook"))
        return respond(*slot, std::move(*refusal), origin);
    if (auto* refusal = std::get_if<response>(&found)) return respond(*slot, std::move(*refusal), origin);
    const sse::route& route = *std::get<const sse::route*>(found);
    if (route.async_handle) {
      auto answered = std::make_shared<std::atomic<bool>>(false);
      auto respond_later = [w = weak_from_this(), ex = socket_.get_executor(), slot, origin, answered,
                            what = log_escape(req.target)](response r) {
        if (answered->exchange(true)) return;  // one answer per request (see server::connection)
        asio::dispatch(ex, [w, slot, origin, r = std::move(r)]() mutable {
          auto s = w.lock();
          if (!s || s->closed_ || !slot->owner) return;  // the stream or the connection has ended
          s->respond(*slot, std::move(r), origin);
          s->flush();
        });
      };
      auto failed = invoke<std::optional<response>>(req, [&] {
        route.async_handle(ctx, std::move(respond_later));
        return std::optional<response>{};
      });
      if (failed && !answered->exchange(true)) respond(*slot, std::move(*failed), origin);
      return;
    }
    if (route.handle) return respond(*slot, invoke<response>(req, [&] { return route.handle(ctx); }), origin);
    auto decision = invoke<std::variant<subscription, response>>(req, [&] { return route.subscribe(ctx); });
    if (auto* refusal = std::get_if<response>(&decision)) return respond(*slot, std::move(*refusal), origin);
    subscribe(slot, std::move(std::get<subscription>(decision)), origin);
  }

  template <class Decision, class Call>
  Decision invoke(const http::request& req, Call&& call, std::string_view who = "handler") const {
    try {
      return call();
    } catch (const std::exception& e) {
      srv_.log(log_level::error, fmt::format("{} {}: {} threw: {}", req.method, log_escape(req.target), who,
                                             log_escape(e.what(), 500)));
      return Decision(response::text(500, "internal error"));
    }
  }

  void count_status(int status) {
    if (status >= 500) state_->http.http_server_errors.fetch_add(1, std::memory_order_relaxed);
    else if (status >= 400) state_->http.http_client_errors.fetch_add(1, std::memory_order_relaxed);
  }

  /// HTTP/2 field names are lower case; connection-specific fields are not allowed (RFC 9113 8.2.2).
  static std::optional<std::string> field_name(std::string_view name) {
    std::string out;
    for (char ch : name) {
      const auto u = static_cast<unsigned char>(ch);
      if (u <= 0x20 || u >= 0x7f || ch == ':') return std::nullopt;
      out.push_back(static_cast<char>(std::tolower(u)));
    }
    if (out.empty() || out == "connection" || out == "keep-alive" || out == "proxy-connection" ||
        out == "transfer-encoding" || out == "upgrade" || out == "content-length")
      return out.empty() ? std::nullopt : std::optional<std::string>(std::string());
    return out;
  }

  static bool field_value_ok(std::string_view v) {
    for (char ch : v)
      if (ch == '\r' || ch == '\n' || ch == '\0') return false;
    return true;
  }

  /// Submits the response to a request: its head, and its body (an ordinary one) or the data
  /// provider of an SSE stream (`stream`). A status 0 (response::drop()) resets the stream.
  void respond(detail::h2::stream_slot& slot, response r, const std::string& origin, bool stream = false) {
    if (r.status == 0) {
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, slot.id, NGHTTP2_INTERNAL_ERROR);
      return;
    }
    count_status(r.status);
    std::vector<std::pair<std::string, std::string>> fields;
    bool bad = r.status < 100 || r.status > 999 || !field_value_ok(r.content_type);
    if (!r.content_type.empty()) fields.emplace_back("content-type", r.content_type);
    for (const auto& [k, v] : r.headers) {
      auto name = field_name(k);
      if (!name || !field_value_ok(v)) {
        bad = true;
        break;
      }
      if (!name->empty()) fields.emplace_back(std::move(*name), v);
    }
    if (bad) {
      srv_.log(log_level::error, "bad response from handler: invalid header field");
      r = response::text(500, "internal error: invalid response header");
      fields = {{"content-type", r.content_type}};
    }
    if (!origin.empty()) {
      fields.emplace_back("access-control-allow-origin", origin);
      if (origin != "*") fields.emplace_back("vary", "Origin");
    }
    const bool head_only = slot.req && slot.req->method == "HEAD";
    if (!stream && r.status != 204 && r.status != 304) fields.emplace_back("content-length", std::to_string(r.body.size()));
    const std::string status = std::to_string(r.status);
    std::vector<nghttp2_nv> nv;
    nv.reserve(fields.size() + 1);
    auto add = [&](const std::string& n, const std::string& v) {
      nv.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                    NGHTTP2_NV_FLAG_NONE});
    };
    const std::string status_name = ":status";
    add(status_name, status);
    for (const auto& [n, v] : fields) add(n, v);
    nghttp2_data_provider prd{};
    prd.source.ptr = &slot;
    prd.read_callback = &read_body;
    slot.is_stream = stream;
    if (!stream) slot.out = head_only ? std::string() : std::move(r.body);
    const bool with_body = stream || !slot.out.empty();
    if (!stream && with_body) slot.send_deadline = clock::now() + srv_.opts_.write_timeout;
    if (nghttp2_submit_response(session_, slot.id, nv.data(), nv.size(), with_body ? &prd : nullptr) != 0)
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, slot.id, NGHTTP2_INTERNAL_ERROR);
  }

  /// The data provider of every response: an ordinary body, or an SSE stream's write in flight.
  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length, std::uint32_t* flags,
                           nghttp2_data_source* source, void*) {
    auto& slot = *static_cast<detail::h2::stream_slot*>(source->ptr);
    if (!slot.is_stream) {
      const std::size_t n = std::min(length, slot.out.size() - slot.out_off);
      std::memcpy(buf, slot.out.data() + slot.out_off, n);
      slot.out_off += n;
      if (slot.out_off == slot.out.size()) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        std::string().swap(slot.out);
        slot.send_deadline.reset();
      }
      return static_cast<ssize_t>(n);
    }
    std::size_t n = 0;
    while (n < length && slot.buf_index < slot.bufs.size()) {
      const auto& b = slot.bufs[slot.buf_index];
      const std::size_t take = std::min(length - n, b.size() - slot.buf_off);
      std::memcpy(buf + n, static_cast<const char*>(b.data()) + slot.buf_off, take);
      n += take;
      slot.buf_off += take;
      if (slot.buf_off == b.size()) {
        ++slot.buf_index;
        slot.buf_off = 0;
      }
    }
    if (slot.op && slot.buf_index == slot.bufs.size()) slot.complete({});  // all of the write is framed
    if (n > 0) return static_cast<ssize_t>(n);
    if (slot.end_ok) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      slot.send_deadline.reset();
      return 0;
    }
    return NGHTTP2_ERR_DEFERRED;
  }

  // ---- SSE streams ----

  /// The options of this connection's streams: the server's, with no head (the HEADERS frame is
  /// the head) and no framing (DATA frames are).
  std::shared_ptr<const stream_options> stream_opts() {
    if (!stream_opts_) {
      stream_options so = srv_.opts_.stream;
      so.head.clear();
      so.shared_head.reset();
      so.body_framing = framing::close_delimited;
      so.watch_peer_close = false;
      stream_opts_ = std::make_shared<const stream_options>(std::move(so));
    }
    return stream_opts_;
  }

  void subscribe(const slot_ptr& slot, subscription sub, const std::string& origin) {
    const http::request& req = *slot->req;
    if (!is_valid_topic(sub.topic, srv_.opts_.hub.max_topic_bytes))
      return respond(*slot, response::text(400, "invalid topic name"), origin);
    response head{200, "text/event-stream; charset=utf-8", {}, {{"Cache-Control", "no-cache, no-store, no-transform"},
                                                                 {"X-Accel-Buffering", "no"}}};
    if (req.method == "HEAD") return respond(*slot, std::move(head), origin);
    if (state_->stopping.load()) {
      response r = response::text(503, "server shutting down, retry later");
      r.headers.emplace_back("Retry-After", "1");
      return respond(*slot, std::move(r), origin);
    }
    const std::string last = sub.last_event_id ? *sub.last_event_id : req.last_event_id().value_or("");
    try {
      srv_.hub_->open_topic(sub.topic, topic_role::subscriber);
    } catch (const hub_error& e) {
      srv_.log(log_level::warn, fmt::format("subscribe to '{}' refused: {}", sub.topic, e.what()));
      response r = response::text(503, e.what());
      r.headers.emplace_back("Retry-After", "1");
      return respond(*slot, std::move(r), origin);
    }
    auto stream = h2_stream::create_sharing(h2_stream_transport(slot), stream_opts());
    slot->stream = stream;
    respond(*slot, std::move(head), origin, /*stream=*/true);
    const std::uint32_t reg = state_->streams.add(stream);
    // How the HTTP/2 stream ends follows how the sse stream did: gracefully, END_STREAM after its
    // last bytes; otherwise (slow consumer, write timeout, abort) RST_STREAM(CANCEL) at once.
    stream->on_close([st = state_, reg, w = weak_from_this(), slot](std::error_code ec) {
      st->streams.remove(reg);
      auto s = w.lock();
      if (!s || s->closed_ || !slot->owner) return;
      if (ec) {
        slot->owner = nullptr;
        nghttp2_submit_rst_stream(s->session_, NGHTTP2_FLAG_NONE, slot->id, NGHTTP2_CANCEL);
      } else {
        slot->end_ok = true;
        slot->send_deadline = clock::now() + s->srv_.opts_.write_timeout;
        nghttp2_session_resume_data(s->session_, slot->id);
        s->rearm();
      }
      s->schedule_flush();
    });
    srv_.log(log_level::debug, fmt::format("{} stream {} subscribed to '{}' (Last-Event-ID '{}')", remote_, slot->id,
                                           sub.topic, log_escape(last, 100)));
    try {
      srv_.hub_->subscribe(stream, sub.topic, last, {sub.close_after_replay, sub.close_retry});
    } catch (const std::exception& e) {
      srv_.log(log_level::warn, fmt::format("subscribe to '{}' failed: {}", sub.topic, e.what()));
      stream->abort();
    }
    // The request is answered: a long-lived stream keeps none of it.
    slot->ctx.reset();
    slot->req.reset();
    std::string().swap(slot->body);
  }

  server& srv_;
  std::shared_ptr<shared_state> state_;
  socket_type socket_;
  asio::steady_timer timer_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, slot_ptr> slots_;  // open streams, at most max_concurrent_streams (nghttp2 refuses more)
  std::shared_ptr<const stream_options> stream_opts_;
  std::string out_;  // the socket write in flight
  std::string remote_;
  clock::time_point write_started_{};
  clock::time_point idle_since_{};
  clock::time_point reset_window_start_{};
  std::optional<clock::time_point> armed_;
  std::uint64_t timer_gen_ = 0;
  std::uint32_t resets_ = 0;
  std::uint32_t conn_slot_ = 0;
  bool tracked_ = false;
  bool writing_ = false;
  bool flush_posted_ = false;
  bool going_away_ = false;
  bool closed_ = false;
};

/// http2_options with HTTP/2 on: `server_options::http2 = sse::h2c();` (or with limits:
/// `sse::h2c({.max_concurrent_streams = 50})`). Needs the sse::http2 target (libnghttp2).
inline http2_options h2c(http2_options o = {}) {
  o.h2c = &server::http2_connection::start;
  return o;
}

}  // namespace sse

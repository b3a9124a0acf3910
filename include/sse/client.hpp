/**
 * @file client.hpp
 * @brief sse::client, a reconnecting EventSource for C++ services (Asio; TCP, Unix sockets, and TLS
 *        through sse/client_tls.hpp).
 *
 * Follows the EventSource processing model and goes beyond it where browsers give up:
 * - sends `GET` with `Accept: text/event-stream`, `Cache-Control: no-cache`, the application's
 *   headers and, on reconnect, `Last-Event-ID` (optionally also a `lastEventId` query parameter);
 * - 200 with `text/event-stream` opens the stream; 204 stops for good; 301/302/303/307/308 are
 *   followed up to `max_redirects` (credentials are dropped on a cross-origin redirect); another
 *   content type, 4xx and other 5xx are fatal; 502, 503 and 504 are retried;
 * - after a stream that delivered data ends or breaks, it waits the reconnection time (`retry:` from
 *   the server, else `initial_retry`) and reconnects; failures before any data (refused, reset,
 *   timeouts, 502/503/504, a malformed response) back off exponentially with full jitter:
 *   `delay = uniform(0, min(backoff_max, backoff_base * 2^n))` for the n-th consecutive failure
 *   (n from 0). A `Retry-After` on 502/503/504 replaces that delay, capped at `backoff_max`: in
 *   seconds, or as an HTTP-date in any of the three forms of RFC 9110 (IMF-fixdate, RFC 850,
 *   asctime), counted from the response's `Date` field when it has a valid one (so a skewed client
 *   clock does not matter), else from the client's clock; a date in the past means at once, and a
 *   value that does not parse is ignored as if absent;
 * - these decisions (with the counters of failures and redirects) are sse::reconnect_policy, a
 *   sans-io state machine in sse/reconnect.hpp; the code here only performs what it decides;
 * - every wait has a deadline: connect (resolve, connect, TLS handshake), response head, and an idle
 *   watchdog that reconnects when nothing at all arrived for `idle_timeout`;
 * - chunked, Content-Length and close-delimited bodies; events split at any byte; parser limits.
 *
 * Threads: the client lives on a strand of the executor it is given; every callback runs there,
 * one at a time. `close()` (and the destructor) may be called from any thread. The other members
 * (setters, `start()`, the queries) must be called before `start()` or from the client's own
 * callbacks. The library starts no threads. Network errors never throw: they are reported through
 * `on_retrying` or `on_closed` as an `sse::client_error` with a readable message.
 * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#the-eventsource-interface
 */
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "sse/backoff.hpp"
#include "sse/event.hpp"
#include "sse/http/response_parser.hpp"
#include "sse/parser.hpp"
#include "sse/reconnect.hpp"
#include "sse/url.hpp"
#include "sse/version.hpp"

namespace sse {

/// A byte stream the client talks HTTP over. Implementations: TCP and Unix sockets here, TLS in
/// sse/client_tls.hpp; tests may provide their own. Completion handlers run on the executor the
/// connection was made with. Operations on a closed connection complete with an error.
class client_connection {
 public:
  using connect_handler = std::function<void(std::error_code)>;
  using write_handler = std::function<void(std::error_code)>;
  /// Receives the bytes read (valid only during the call); at most one read is in flight.
  using read_handler = std::function<void(std::error_code, std::string_view)>;

  virtual ~client_connection() = default;
  /// Resolves `u`, connects, and (for TLS) handshakes.
  virtual void async_connect(const url& u, connect_handler handler) = 0;
  /// Writes all of `data`.
  virtual void async_write(std::string data, write_handler handler) = 0;
  /// Reads some bytes.
  virtual void async_read(read_handler handler) = 0;
  /// Closes at once; pending operations complete with an error.
  virtual void close() noexcept = 0;
};

/// Makes a connection for a URL on the given executor.
using connection_factory =
    std::function<std::shared_ptr<client_connection>(const asio::any_io_executor&, const url&)>;

struct client_options {
  /// Extra request headers, e.g. {"Authorization", "Bearer ..."}. Names must be tokens and values
  /// must not contain CR, LF or NUL (the constructor throws std::invalid_argument otherwise).
  std::vector<std::pair<std::string, std::string>> headers{};
  /// The Last-Event-ID to resume from on the first connection ("" for none).
  std::string last_event_id{};
  /// Also send the id as a `lastEventId` query parameter (for servers behind proxies that drop headers).
  bool send_last_event_id_query = false;
  /// The reconnection time until the server sends `retry:` (the spec's default is UA-defined).
  std::chrono::milliseconds initial_retry{3000};
  /// Backoff after failures: the n-th consecutive failure waits uniform(0, min(max, base * 2^n))
  /// (sse::backoff_policy with full jitter). `backoff_max` also caps the wait a 502/503/504's
  /// Retry-After asks for.
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{30000};
  /// Reconnect when nothing at all arrived for this long once open (0 disables the watchdog).
  std::chrono::milliseconds idle_timeout{45000};
  /// Deadline for resolving, connecting and the TLS handshake.
  std::chrono::milliseconds connect_timeout{10000};
  /// Deadline for the response head after connecting.
  std::chrono::milliseconds response_timeout{10000};
  /// Redirects followed in a row before failing with too_many_redirects.
  unsigned max_redirects = 5;
  /// Consecutive failed attempts before giving up with retry_limit (0: never give up).
  unsigned max_retries = 0;
  /// Limits of the event-stream parser (line length, event size).
  sse::parser_limits parser_limits{};
  /// Limits of the response-head parser.
  http::response_limits response_limits{};
  /// Bytes asked for per read.
  std::size_t read_buffer_bytes = 16 * 1024;
  /// Transport for https URLs, e.g. sse::https_connections() from sse/client_tls.hpp.
  connection_factory https{};
  /// Overrides the connection for every URL (tests, custom sockets). Empty: TCP, Unix, `https`.
  connection_factory connection{};

  /// The backoff the options describe.
  backoff_policy backoff() const noexcept { return {backoff_base, backoff_max, backoff_jitter::full}; }
  /// What sse::reconnect_policy needs of the options.
  reconnect_options reconnect() const noexcept { return {backoff(), max_redirects, max_retries}; }
};

/// What the client is doing.
enum class client_state {
  idle,        ///< not started
  connecting,  ///< connecting or waiting for the response head
  open,        ///< receiving events
  waiting,     ///< waiting to reconnect
  closed,      ///< stopped for good
};

namespace detail {

/// Shared read/write plumbing of the socket connections.
template <class Socket>
class socket_connection : public client_connection,
                         public std::enable_shared_from_this<socket_connection<Socket>> {
 public:
  explicit socket_connection(const asio::any_io_executor& ex, std::size_t read_buffer_bytes = 16 * 1024)
      : socket_(ex), in_(std::max<std::size_t>(read_buffer_bytes, 512)) {}

  void async_write(std::string data, write_handler handler) override {
    out_ = std::move(data);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = this->shared_from_this(), handler = std::move(handler)](std::error_code ec,
                                                                                      std::size_t) {
                        handler(ec);
                      });
  }
  void async_read(read_handler handler) override {
    socket_.async_read_some(asio::buffer(in_),
                            [self = this->shared_from_this(), handler = std::move(handler)](std::error_code ec,
                                                                                           std::size_t n) {
                              handler(ec, std::string_view(self->in_.data(), n));
                            });
  }
  void close() noexcept override {
    std::error_code ignored;
    socket_.shutdown(Socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
 protected:
  Socket socket_;
  std::string out_;
  std::vector<char> in_;
};

class tcp_connection final : public socket_connection<asio::ip::tcp::socket> {
 public:
  explicit tcp_connection(const asio::any_io_executor& ex, std::size_t read_buffer_bytes = 16 * 1024)
      : socket_connection(ex, read_buffer_bytes), resolver_(ex) {}

  void async_connect(const url& u, connect_handler handler) override {
    auto self = std::static_pointer_cast<tcp_connection>(shared_from_this());
    resolver_.async_resolve(
        u.host, std::to_string(u.port),
        [self, handler = std::move(handler)](std::error_code ec, asio::ip::tcp::resolver::results_type results) {
          if (ec) return handler(ec);
          asio::async_connect(self->socket_, results,
                              [self, handler](std::error_code ec2, const asio::ip::tcp::endpoint&) {
                                if (!ec2) {
                                  std::error_code ignored;
                                  self->socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
                                }
                                handler(ec2);
                              });
        });
  }
  void close() noexcept override {
    resolver_.cancel();
    socket_connection::close();
  }

 private:
  asio::ip::tcp::resolver resolver_;
};

class unix_connection final : public socket_connection<asio::local::stream_protocol::socket> {
 public:
  using socket_connection::socket_connection;

  void async_connect(const url& u, connect_handler handler) override {
    socket_.async_connect(asio::local::stream_protocol::endpoint(u.socket_path),
                          [self = shared_from_this(), handler = std::move(handler)](std::error_code ec) {
                            handler(ec);
                          });
  }
};

inline bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (const char c : s)
    if (!http::detail::is_tchar(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace detail

/// The default connections: TCP for http, a Unix socket for unix URLs, `https` (if set) for https.
/// Returns nullptr for https when `https` is empty.
inline std::shared_ptr<client_connection> make_default_connection(const asio::any_io_executor& ex, const url& u,
                                                                const connection_factory& https = {},
                                                                std::size_t read_buffer_bytes = 16 * 1024) {
  if (u.is_unix()) return std::make_shared<detail::unix_connection>(ex, read_buffer_bytes);
  if (u.is_tls()) return https ? https(ex, u) : nullptr;
  return std::make_shared<detail::tcp_connection>(ex, read_buffer_bytes);
}

/// A reconnecting EventSource. See the file comment for the behaviour and the threading rules.
class client {
 public:
  using executor_type = asio::strand<asio::any_io_executor>;
  using connecting_handler = std::function<void(const url& target, unsigned attempt)>;
  using open_handler = std::function<void(const http::response_head& head)>;
  using event_handler = std::function<void(const received_event& ev)>;
  using retrying_handler = std::function<void(const client_error& why, std::chrono::milliseconds delay)>;
  using closed_handler = std::function<void(const client_error& why)>;

  /// Throws std::invalid_argument for an invalid header in `options`.
  client(const asio::any_io_executor& ex, url target, client_options options = {})
      : impl_(std::make_shared<impl>(ex, std::move(target), std::move(options))) {}
  /// Throws std::invalid_argument for an invalid URL or header.
  client(const asio::any_io_executor& ex, std::string_view target, client_options options = {})
      : client(ex, parse_url(target), std::move(options)) {}
  client(asio::io_context& io, std::string_view target, client_options options = {})
      : client(io.get_executor(), target, std::move(options)) {}
  client(asio::io_context& io, url target, client_options options = {})
      : client(io.get_executor(), std::move(target), std::move(options)) {}

  client(const client&) = delete;
  client& operator=(const client&) = delete;
  /// Closes the client without any further callback.
  ~client() {
    impl_->silenced_ = true;
    close();
  }

  /// Called when a connection attempt starts (attempt counts consecutive failures, from 0).
  client& on_connecting(connecting_handler h) { impl_->on_connecting_ = std::move(h); return *this; }
  /// Called when a 200 text/event-stream response opened the stream.
  client& on_open(open_handler h) { impl_->on_open_ = std::move(h); return *this; }
  /// Called for each event. The views are valid during the call only.
  client& on_event(event_handler h) { impl_->on_event_ = std::move(h); return *this; }
  /// Called when the connection failed or ended and the client waits `delay` before reconnecting.
  client& on_retrying(retrying_handler h) { impl_->on_retrying_ = std::move(h); return *this; }
  /// Called once when the client stops for good: close(), 204, or a fatal error.
  client& on_closed(closed_handler h) { impl_->on_closed_ = std::move(h); return *this; }

  /// Starts connecting (on the client's strand). Call once.
  void start() {
    asio::post(impl_->strand_, [self = impl_] { self->connect(); });
  }
  /// Stops for good: from any thread. No on_event starts after close() returns; on_closed follows
  /// with client_errc::closed (unless the client stopped before).
  void close() {
    impl_->closing_ = true;
    asio::post(impl_->strand_, [self = impl_] {
      self->finish({make_error_code(client_errc::closed), 0, "closed by the application"});
    });
  }

  /// The strand every callback runs on.
  const executor_type& get_executor() const noexcept { return impl_->strand_; }
  /// The current state (any thread).
  client_state state() const noexcept { return impl_->state_.load(); }
  /// The URL given at construction (reconnects go there, not to a redirect's target).
  const url& target() const noexcept { return impl_->policy_.origin(); }
  /// The Last-Event-ID that the next connection sends (from the client's strand).
  const std::string& last_event_id() const noexcept { return impl_->parser_.last_event_id(); }
  /// The reconnection time now in effect: the server's `retry:`, else initial_retry.
  std::chrono::milliseconds reconnection_time() const noexcept { return impl_->reconnection_time(); }

 private:
  struct impl : std::enable_shared_from_this<impl> {
    impl(const asio::any_io_executor& ex, url target, client_options options)
        : strand_(asio::make_strand(ex)),
          options_(std::move(options)),
          policy_(std::move(target), options_.reconnect()),
          parser_(options_.parser_limits),
          head_parser_(options_.response_limits),
          deadline_(strand_),
          retry_timer_(strand_),
          rng_(std::random_device{}()) {
      for (const auto& [name, value] : options_.headers) {
        if (!detail::is_token(name)) throw std::invalid_argument("invalid header name '" + name + "'");
        if (sse::detail::has_line_break_or_nul(value))
          throw std::invalid_argument("header '" + name + "' has a value with CR, LF or NUL");
      }
      if (detail::has_line_break_or_nul(options_.last_event_id))
        throw std::invalid_argument("last_event_id contains CR, LF or NUL");
      if (!options_.last_event_id.empty()) parser_.set_last_event_id(options_.last_event_id);
      headers_ = options_.headers;
    }

    std::chrono::milliseconds reconnection_time() const noexcept {
      return parser_.retry().value_or(options_.initial_retry);
    }

    /// The URL of the current attempt: the origin or a redirect's target.
    const url& current() const noexcept { return policy_.target(); }

    bool stale(std::uint64_t id) const noexcept { return id != conn_id_ || closed_; }

    // --- connection lifecycle (all on the strand) ---

    void connect() {
      if (closed_) return;
      if (closing_) return finish({make_error_code(client_errc::closed), 0, "closed by the application"});
      const std::uint64_t id = ++conn_id_;
      state_ = client_state::connecting;
      head_parser_.reset();
      chunked_.reset();
      head_done_ = false;
      got_body_ = false;
      conn_ = options_.connection ? options_.connection(strand_, current())
                                      : make_default_connection(strand_, current(), options_.https,
                                                               options_.read_buffer_bytes);
      if (!conn_) {
        return finish({make_error_code(client_errc::tls_unavailable), 0,
                       "cannot connect to " + current().to_string() +
                           ": https needs a TLS connection (sse/client_tls.hpp, client_options::https)"});
      }
      notify_connecting();
      if (stale(id)) return;
      arm_deadline(id, options_.connect_timeout, client_errc::connect_timeout);
      conn_->async_connect(current(), [self = shared_from_this(), id](std::error_code ec) {
        self->on_connected(id, ec);
      });
    }

    void on_connected(std::uint64_t id, std::error_code ec) {
      if (stale(id)) return;
      if (ec) return fail(id, {ec, 0, "cannot connect to " + current().to_string() + ": " + ec.message()});
      arm_deadline(id, options_.response_timeout, client_errc::response_timeout);
      conn_->async_write(build_request(), [self = shared_from_this(), id](std::error_code wec) {
        if (self->stale(id)) return;
        if (wec)
          return self->fail(id, {wec, 0, "cannot send the request to " + self->current().to_string() + ": " +
                                             wec.message()});
      });
      read(id);
    }

    std::string build_request() const {
      const std::string& last_id = parser_.last_event_id();
      std::string target = current().target;
      if (options_.send_last_event_id_query && !last_id.empty())
        target = with_query_parameter(target, "lastEventId", last_id);
      std::string req = "GET " + target + " HTTP/1.1\r\nHost: " + current().authority() + "\r\n";
      auto has = [&](std::string_view name) {
        return std::any_of(headers_.begin(), headers_.end(),
                           [&](const auto& h) { return http::iequals(h.first, name); });
      };
      if (!has("Accept")) req += "Accept: text/event-stream\r\n";
      if (!has("Cache-Control")) req += "Cache-Control: no-cache\r\n";
      if (!has("User-Agent")) req += "User-Agent: sse-client/" SSE_VERSION_STRING "\r\n";
      if (!last_id.empty() && !has("Last-Event-ID")) req += "Last-Event-ID: " + last_id + "\r\n";
      for (const auto& [name, value] : headers_) req += name + ": " + value + "\r\n";
      req += "\r\n";
      return req;
    }

    void read(std::uint64_t id) {
      conn_->async_read([self = shared_from_this(), id](std::error_code ec, std::string_view bytes) {
        self->on_read(id, ec, bytes);
      });
    }

    void on_read(std::uint64_t id, std::error_code ec, std::string_view bytes) {
      if (stale(id)) return;
      last_activity_ = std::chrono::steady_clock::now();
      if (!bytes.empty() && !process(id, bytes)) return;
      if (stale(id)) return;
      if (ec) return on_read_error(id, ec);
      read(id);
    }

    void on_read_error(std::uint64_t id, std::error_code ec) {
      const bool eof = ec == asio::error::eof;
      if (eof && head_done_ && head_parser_.head().framing == http::body_framing::close_delimited)
        return fail(id, {make_error_code(client_errc::stream_ended), 0,
                         "the server ended the stream at " + current().to_string()});
      if (eof)
        return fail(id, {make_error_code(client_errc::connection_lost), 0,
                         std::string("the connection to ") + current().to_string() + " closed " +
                             (head_done_ ? "in the middle of the body" : "before the response head")});
      fail(id, {ec, 0, "reading from " + current().to_string() + " failed: " + ec.message()});
    }

    // Returns false when the connection was torn down.
    bool process(std::uint64_t id, std::string_view bytes) {
      if (!head_done_) {
        std::error_code ec;
        const std::size_t used = head_parser_.feed(bytes, ec);
        if (ec) {
          fail(id, {ec, 0, "invalid response head from " + current().to_string() + ": " + ec.message()});
          return false;
        }
        if (!head_parser_.done()) return true;
        bytes.remove_prefix(used);
        head_done_ = true;
        if (!on_head(id)) return false;
      }
      if (bytes.empty()) return true;
      got_body_ = true;
      const auto& head = head_parser_.head();
      switch (head.framing) {
        case http::body_framing::chunked: {
          std::error_code ec;
          std::error_code perr;
          chunked_.feed(
              bytes, [&](std::string_view data) { if (!perr) perr = feed(data); }, ec);
          if (perr) return parse_failed(id, perr);
          if (stale(id)) return false;
          if (ec) {
            fail(id, {ec, 0, "invalid chunked body from " + current().to_string() + ": " + ec.message()});
            return false;
          }
          if (chunked_.done()) return end_of_body(id);
          return true;
        }
        case http::body_framing::content_length: {
          const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size()));
          remaining_ -= n;
          if (const auto perr = feed(bytes.substr(0, n))) return parse_failed(id, perr);
          if (stale(id)) return false;
          if (remaining_ == 0) return end_of_body(id);
          return true;
        }
        case http::body_framing::close_delimited:
        case http::body_framing::none: {
          if (const auto perr = feed(bytes)) return parse_failed(id, perr);
          return !stale(id);
        }
      }
      return true;
    }

    std::error_code feed(std::string_view data) {
      return parser_.feed(data, [this](const received_event& ev) {
        if (!closing_ && !silenced_ && on_event_) on_event_(ev);
      });
    }

    bool parse_failed(std::uint64_t id, std::error_code ec) {
      if (!stale(id))
        finish({ec, 0, "the event stream from " + current().to_string() + " exceeds a limit: " + ec.message()});
      return false;
    }

    bool end_of_body(std::uint64_t id) {
      fail(id, {make_error_code(client_errc::stream_ended), 0, "the server ended the stream at " +
                                                                    current().to_string()});
      return false;
    }

    // Performs what the policy decides about the response head. Returns false when the connection
    // was torn down.
    bool on_head(std::uint64_t id) {
      const auto& head = head_parser_.head();
      reconnect_decision d = policy_.on_response(head, std::chrono::system_clock::now(), rng_());
      switch (d.action) {
        case reconnect_action::open:
          state_ = client_state::open;
          if (head.framing == http::body_framing::content_length) {
            remaining_ = head.content_length;
            if (remaining_ == 0) return end_of_body(id);
          }
          if (options_.idle_timeout.count() > 0) {
            arm_deadline(id, options_.idle_timeout, client_errc::idle_timeout);
          } else {
            deadline_.cancel();
          }
          if (on_open_ && !silenced_) on_open_(head);
          return !stale(id);
        case reconnect_action::redirect:
          if (d.drop_credentials) {
            std::erase_if(headers_, [](const auto& h) {
              return http::iequals(h.first, "Authorization") || http::iequals(h.first, "Cookie") ||
                     http::iequals(h.first, "Proxy-Authorization");
            });
          }
          teardown();
          asio::post(strand_, [self = shared_from_this()] { self->connect(); });
          return false;
        case reconnect_action::retry:
          retry(id, std::move(d));
          return false;
        case reconnect_action::stop:
          finish(std::move(d.error));
          return false;
      }
      return false;
    }

    // --- timers ---

    void arm_deadline(std::uint64_t id, std::chrono::milliseconds d, client_errc why) {
      deadline_why_ = why;
      deadline_duration_ = d;
      deadline_.expires_after(d);
      deadline_.async_wait([self = shared_from_this(), id](std::error_code ec) { self->on_deadline(id, ec); });
    }

    void on_deadline(std::uint64_t id, std::error_code ec) {
      if (ec == asio::error::operation_aborted || stale(id)) return;
      const auto now = std::chrono::steady_clock::now();
      if (deadline_.expiry() > now) return;  // re-armed after this wait had already completed
      if (deadline_why_ == client_errc::idle_timeout) {
        const auto due = last_activity_ + deadline_duration_;
        if (due > now) {
          deadline_.expires_at(due);
          deadline_.async_wait([self = shared_from_this(), id](std::error_code e) { self->on_deadline(id, e); });
          return;
        }
      }
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_duration_).count();
      std::string what = deadline_why_ == client_errc::connect_timeout    ? "connecting to "
                         : deadline_why_ == client_errc::response_timeout ? "waiting for the response head from "
                                                                          : "idle stream from ";
      fail(id, {make_error_code(deadline_why_), 0,
                what + current().to_string() + ": nothing for " + std::to_string(ms) + " ms"});
    }

    // --- endings ---

    void teardown() {
      ++conn_id_;
      deadline_.cancel();
      if (conn_) conn_->close();
      conn_.reset();
      parser_.finish();
    }

    /// The attempt or the stream ended: the policy decides between a wait and the end.
    void fail(std::uint64_t id, client_error why) {
      if (stale(id)) return;
      reconnect_decision d = policy_.on_ended(std::move(why), got_body_, reconnection_time(), rng_());
      if (d.action == reconnect_action::retry) return retry(id, std::move(d));
      if (closing_) return finish({make_error_code(client_errc::closed), 0, "closed by the application"});
      finish(std::move(d.error));
    }

    /// Performs a retry decision: wait, then reconnect to the origin with the original headers.
    void retry(std::uint64_t id, reconnect_decision d) {
      if (stale(id)) return;
      teardown();
      headers_ = options_.headers;
      if (closing_) return finish({make_error_code(client_errc::closed), 0, "closed by the application"});
      state_ = client_state::waiting;
      if (on_retrying_ && !silenced_) on_retrying_(d.error, d.delay);
      if (closed_) return;
      const std::uint64_t wait_id = conn_id_;
      retry_timer_.expires_after(d.delay);
      retry_timer_.async_wait([self = shared_from_this(), wait_id](std::error_code ec) {
        if (ec || self->stale(wait_id)) return;
        self->connect();
      });
    }

    /// Stops for good.
    void finish(client_error why) {
      if (closed_) return;
      teardown();
      closed_ = true;
      retry_timer_.cancel();
      state_ = client_state::closed;
      // Release the callbacks: they may hold resources (or the client's owner) alive.
      auto on_closed = std::move(on_closed_);
      on_connecting_ = nullptr;
      on_open_ = nullptr;
      on_event_ = nullptr;
      on_retrying_ = nullptr;
      on_closed_ = nullptr;
      if (on_closed && !silenced_) on_closed(why);
    }

    void notify_connecting() {
      if (on_connecting_ && !silenced_) on_connecting_(current(), policy_.failures());
    }

    executor_type strand_;
    client_options options_;
    reconnect_policy policy_;
    std::vector<std::pair<std::string, std::string>> headers_;
    sse::parser parser_;
    http::response_parser head_parser_;
    http::chunked_decoder chunked_;
    std::shared_ptr<client_connection> conn_;
    asio::steady_timer deadline_;
    asio::steady_timer retry_timer_;
    std::mt19937_64 rng_;
    std::chrono::steady_clock::time_point last_activity_{};
    std::chrono::steady_clock::duration deadline_duration_{};
    client_errc deadline_why_ = client_errc::connect_timeout;
    std::uint64_t conn_id_ = 0;
    std::uint64_t remaining_ = 0;
    bool head_done_ = false;
    bool got_body_ = false;
    bool closed_ = false;
    std::atomic<bool> closing_{false};
    std::atomic<bool> silenced_{false};
    std::atomic<client_state> state_{client_state::idle};

    connecting_handler on_connecting_;
    open_handler on_open_;
    event_handler on_event_;
    retrying_handler on_retrying_;
    closed_handler on_closed_;
  };

  std::shared_ptr<impl> impl_;
};

}  // namespace sse

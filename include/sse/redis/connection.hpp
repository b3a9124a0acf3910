/**
 * @file connection.hpp
 * @brief sse::redis::connection: one hiredis asynchronous connection driven by Asio's reactor.
 *
 * hiredis does the protocol (command formatting, the RESP reader, the callback queue); this class
 * is its event-loop adapter: the context's socket is wrapped in an `asio::posix::stream_descriptor`
 * whose `async_wait` (read / write readiness) carries out hiredis' addRead/delRead/addWrite/
 * delWrite/cleanup requests, so no executor thread ever blocks on Redis. On top of that:
 *  - connect with a timeout (hiredis 0.14 has none for asynchronous connects); host names are
 *    resolved with Asio's asynchronous resolver, never by a blocking getaddrinfo on the executor;
 *  - a handshake from the URL: `AUTH [user] password`, `SELECT db`, `CLIENT SETNAME`, `CLIENT ID`;
 *  - reconnection after any failure, until stop(), with sse::backoff_policy (the client's backoff:
 *    the n-th consecutive failure waits uniform(0, min(reconnect_max, reconnect_initial * 2^n)));
 *  - commands with completion handlers that always run on the connection's strand (posted, never
 *    inline); a command that gets no reply within its timeout drops the connection, so a hung
 *    Redis is noticed as surely as a closed one;
 *  - clear error codes (sse::redis::errc) and counters (sse::redis::stats).
 *
 * Threads: every member may be called from any thread; work is dispatched to a strand over the
 * executor given to create(). The object stays alive while it has work; call stop() to end it.
 *
 * Replies are delivered in command order. Pub/sub (SUBSCRIBE, MONITOR) is not supported on this
 * class: it assumes one reply per command.
 */
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <fmt/format.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "sse/backoff.hpp"
#include "sse/logger.hpp"
#include "sse/redis/config.hpp"
#include "sse/redis/error.hpp"
#include "sse/redis/reply.hpp"

namespace sse::redis {

/// Counters of one or more connections (relaxed atomics; share one between connections).
struct stats {
  std::atomic<std::int64_t> connections_up{0};      ///< gauge: connections past their handshake
  std::atomic<std::uint64_t> connects_total{0};     ///< handshakes completed
  std::atomic<std::uint64_t> reconnects_total{0};   ///< handshakes completed after a failure or a loss
  std::atomic<std::uint64_t> errors_total{0};       ///< connection failures, losses, timeouts, AUTH refusals
  std::atomic<std::uint64_t> commands_total{0};     ///< commands sent
  std::atomic<std::uint64_t> command_errors_total{0};  ///< commands that failed (any reason)
};

struct connection_options {
  config server = {};
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(2);  ///< TCP + handshake
  std::chrono::milliseconds command_timeout = std::chrono::seconds(5);  ///< default per command
  std::chrono::milliseconds reconnect_initial = std::chrono::milliseconds(100);  ///< first backoff ceiling
  std::chrono::milliseconds reconnect_max = std::chrono::seconds(5);             ///< backoff cap
  std::string name = {};      ///< CLIENT SETNAME (letters, digits, '-', '_'); also in log lines
  stats* counters = nullptr;  ///< or nullptr
  logger on_log = {};

  /// The reconnect backoff the options describe (full jitter, sse/backoff.hpp).
  backoff_policy backoff() const noexcept { return {reconnect_initial, reconnect_max, backoff_jitter::full}; }
};

/// Where a connection is in its life.
enum class connection_state { idle, connecting, up, waiting, stopped };

class connection : public std::enable_shared_from_this<connection> {
  struct private_tag {};

 public:
  /// Completion of a command: the error (errc::server_error for an error reply, whose text is in
  /// the reply) and the reply. Runs on the connection's strand.
  using handler = std::function<void(std::error_code, reply)>;
  /// Called (posted, on the strand) when the connection comes up (`up`, empty code) or goes down
  /// after having been up (`!up`, the reason).
  using state_handler = std::function<void(bool up, std::error_code)>;

  static std::shared_ptr<connection> create(const asio::any_io_executor& ex, connection_options opts) {
    return std::make_shared<connection>(private_tag{}, ex, std::move(opts));
  }

  connection(private_tag, const asio::any_io_executor& ex, connection_options opts)
      : ex_(asio::make_strand(ex)), opts_(std::move(opts)), fd_(ex_), connect_timer_(ex_), backoff_timer_(ex_),
        watchdog_(ex_), resolver_(ex_), rng_(std::random_device{}()) {}

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Frees the hiredis context if stop() did not run (the io_context was destroyed first).
  ~connection() {
    dying_ = true;
    if (ac_) {
      redisAsyncContext* ac = ac_;
      ac_ = nullptr;
      release_fd();
      redisAsyncFree(ac);
    }
    if (up_.exchange(false) && opts_.counters) opts_.counters->connections_up.fetch_sub(1, std::memory_order_relaxed);
  }

  /// The strand every handler of this connection runs on.
  const asio::any_io_executor& get_executor() const noexcept { return ex_; }
  const connection_options& options() const noexcept { return opts_; }

  /// Sets the up/down callback. Call before start().
  void on_state(state_handler h) { on_state_ = std::move(h); }

  /// Starts connecting (and reconnecting after failures, until stop()). Any thread.
  void start() {
    asio::dispatch(ex_, [self = shared_from_this()] {
      if (self->st_ != connection_state::idle) return;
      self->connect_attempt();
    });
  }

  /// Closes the connection for good; pending commands fail with errc::closed. Any thread.
  void stop() {
    asio::dispatch(ex_, [self = shared_from_this()] { self->do_stop(); });
  }

  /// True while connected and past the handshake.
  bool is_up() const noexcept { return up_.load(std::memory_order_acquire); }
  /// The `CLIENT ID` of the current connection (0 before the first handshake).
  std::int64_t client_id() const noexcept { return client_id_.load(std::memory_order_relaxed); }
  /// Why the connection last went down or failed (empty when it never did).
  std::error_code last_error() const {
    std::lock_guard lk(err_mu_);
    return last_error_;
  }

  /// Sends one command (argument vector, binary-safe). `timeout` 0 = options().command_timeout.
  /// Fails at once (posted) with errc::not_connected while the connection is down. Any thread.
  void async_command(std::vector<std::string> args, handler h,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    asio::dispatch(ex_, [self = shared_from_this(), args = std::move(args), h = std::move(h), timeout]() mutable {
      self->send(args, std::move(h), timeout);
    });
  }

 private:
  struct pending {
    handler h;
    std::chrono::steady_clock::time_point deadline;
    bool internal = false;  ///< handshake: runs inside the hiredis callback, not posted
    std::uint64_t gen = 0;
  };

  // ---------- hiredis event hooks (called by hiredis, on the strand) ----------

  static connection* self_of(void* p) noexcept { return static_cast<connection*>(p); }
  static void hook_add_read(void* p) { self_of(p)->add_read(); }
  static void hook_del_read(void* p) { self_of(p)->want_read_ = false; }
  static void hook_add_write(void* p) { self_of(p)->add_write(); }
  static void hook_del_write(void* p) { self_of(p)->want_write_ = false; }
  static void hook_cleanup(void* p) {
    connection* self = self_of(p);
    self->want_read_ = self->want_write_ = false;
    self->release_fd();
  }

  static void on_connect_cb(const redisAsyncContext* ac, int status) {
    connection* self = self_of(ac->data);
    if (!self || self->dying_ || ac != self->ac_) return;
    if (status == REDIS_OK) return self->handshake();
    // hiredis frees the context right after this callback returns.
    self->forget_context();
    self->went_down(errc::connect_failed, ac->errstr ? ac->errstr : "");
  }

  static void on_disconnect_cb(const redisAsyncContext* ac, int /*status*/) {
    connection* self = self_of(ac->data);
    if (!self || self->dying_ || ac != self->ac_) return;  // not ours any more: we dropped it
    self->forget_context();
    self->went_down(errc::connection_lost, ac->errstr ? ac->errstr : "closed by the server");
  }

  static void on_reply_cb(redisAsyncContext* ac, void* r, void* /*privdata*/) {
    connection* self = self_of(ac->data);
    if (!self || self->pending_.empty()) return;
    pending p = std::move(self->pending_.front());
    self->pending_.pop_front();
    if (self->dying_) return;
    std::error_code ec;
    reply rep;
    if (!r) {
      // The context is being freed: by us (drop, the reason is known) or by hiredis (a lost link).
      ec = ac == self->ac_ || !self->drop_reason_ ? std::error_code(errc::connection_lost) : self->drop_reason_;
    } else {
      rep = reply::from(static_cast<const redisReply*>(r));
      if (rep.is_error()) ec = errc::server_error;
    }
    if (ec && self->opts_.counters && !p.internal)
      self->opts_.counters->command_errors_total.fetch_add(1, std::memory_order_relaxed);
    if (p.internal) {
      if (p.gen == self->gen_) p.h(ec, std::move(rep));
      return;
    }
    asio::post(self->ex_, [h = std::move(p.h), ec, rep = std::move(rep)]() mutable { h(ec, std::move(rep)); });
  }

  void add_read() {
    want_read_ = true;
    if (dying_ || reading_ || !fd_.is_open()) return;
    reading_ = true;
    fd_.async_wait(asio::posix::descriptor_base::wait_read,
                   [self = shared_from_this(), g = gen_](std::error_code ec) {
                     if (g != self->gen_) return;
                     self->reading_ = false;
                     if (!ec) self->on_readable(g);
                   });
  }

  // hiredis reads at most 16 KiB per call and Asio's reactor is edge-triggered: when bytes are left
  // in the socket after a read, no new readiness event will come, so read again (posted, fair).
  void on_readable(std::uint64_t g) {
    if (g != gen_ || !ac_ || !want_read_) return;
    redisAsyncHandleRead(ac_);
    if (g != gen_ || !ac_ || !want_read_ || !fd_.is_open()) return;
    asio::posix::descriptor_base::bytes_readable avail(true);
    std::error_code ec;
    fd_.io_control(avail, ec);
    if (!ec && avail.get() > 0)
      asio::post(ex_, [self = shared_from_this(), g] { self->on_readable(g); });
  }

  void add_write() {
    want_write_ = true;
    if (dying_ || !ac_ || !fd_.is_open()) return;
    if ((ac_->c.flags & REDIS_CONNECTED) && !in_flush_) {
      // Connected: the socket is almost always writable, so write on the next turn of the
      // strand (commands issued meanwhile go out in the same write) instead of a reactor round.
      if (flush_posted_) return;
      flush_posted_ = true;
      asio::post(ex_, [self = shared_from_this(), g = gen_] {
        if (g != self->gen_) return;
        self->flush_posted_ = false;
        if (!self->want_write_ || !self->ac_) return;
        self->in_flush_ = true;
        redisAsyncHandleWrite(self->ac_);
        self->in_flush_ = false;
      });
      return;
    }
    if (writing_) return;  // connecting, or the socket buffer was full: wait for writability
    writing_ = true;
    fd_.async_wait(asio::posix::descriptor_base::wait_write,
                   [self = shared_from_this(), g = gen_](std::error_code ec) {
                     if (g != self->gen_) return;
                     self->writing_ = false;
                     if (ec || !self->ac_ || !self->want_write_) return;
                     self->in_flush_ = true;
                     redisAsyncHandleWrite(self->ac_);
                     self->in_flush_ = false;
                   });
  }

  /// Stops watching the socket (hiredis closes it) and makes every pending handler stale.
  void release_fd() {
    ++gen_;
    reading_ = writing_ = flush_posted_ = false;
    if (fd_.is_open()) {
      std::error_code ignored;
      fd_.cancel(ignored);
      (void)fd_.release();
    }
  }

  /// The current context is being freed by hiredis: forget it.
  void forget_context() {
    ac_ = nullptr;
    release_fd();
  }

  // ---------- connection life ----------

  void connect_attempt() {
    if (stopping_) return;
    st_ = connection_state::connecting;
    const std::uint64_t attempt = ++attempt_;
    connect_timer_.expires_after(opts_.connect_timeout);
    connect_timer_.async_wait([self = shared_from_this(), attempt](std::error_code ec) {
      if (ec || attempt != self->attempt_ || self->st_ != connection_state::connecting) return;
      self->fail_attempt(errc::connect_timeout, "no answer within " + std::to_string(self->opts_.connect_timeout.count()) + " ms");
    });
    std::error_code ec;
    const auto addr = asio::ip::make_address(opts_.server.host, ec);
    if (!ec) return do_connect(addr.to_string());
    resolver_.async_resolve(opts_.server.host, std::to_string(opts_.server.port),
                            [self = shared_from_this(), attempt](std::error_code ec,
                                                                 const asio::ip::tcp::resolver::results_type& rs) {
                              if (attempt != self->attempt_ || self->st_ != connection_state::connecting) return;
                              if (ec || rs.empty())
                                return self->fail_attempt(errc::resolve_failed, ec ? ec.message() : "no address");
                              self->do_connect(rs.begin()->endpoint().address().to_string());
                            });
  }

  void do_connect(const std::string& ip) {
    redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), opts_.server.port);
    if (!ac) return fail_attempt(errc::connect_failed, "out of memory");
    if (ac->err) {
      const std::string why = ac->errstr ? ac->errstr : "";
      redisAsyncFree(ac);
      return fail_attempt(errc::connect_failed, why);
    }
    std::error_code ec;
    fd_.assign(ac->c.fd, ec);
    if (ec) {
      redisAsyncFree(ac);
      return fail_attempt(errc::connect_failed, ec.message());
    }
    ac_ = ac;
    ++gen_;
    ac->data = this;
    ac->ev.data = this;
    ac->ev.addRead = &hook_add_read;
    ac->ev.delRead = &hook_del_read;
    ac->ev.addWrite = &hook_add_write;
    ac->ev.delWrite = &hook_del_write;
    ac->ev.cleanup = &hook_cleanup;
    redisEnableKeepAlive(&ac->c);
    redisAsyncSetDisconnectCallback(ac, &on_disconnect_cb);
    redisAsyncSetConnectCallback(ac, &on_connect_cb);  // waits for writability: the connect result
  }

  /// Sends the handshake, pipelined; the connection is up when CLIENT ID answers.
  void handshake() {
    const config& c = opts_.server;
    const auto fail = [this](errc code, const char* what) {
      return [this, code, what](std::error_code ec, reply r) {
        if (!ec) return;
        drop(code, fmt::format("{} refused: {}", what, r.str.empty() ? ec.message() : r.str));
      };
    };
    if (!c.password.empty()) {
      std::vector<std::string> auth{"AUTH"};
      if (!c.username.empty()) auth.push_back(c.username);
      auth.push_back(c.password);
      send_internal(auth, fail(errc::auth_failed, "AUTH"));
    }
    if (c.db != 0) send_internal({"SELECT", std::to_string(c.db)}, fail(errc::select_failed, "SELECT"));
    if (!opts_.name.empty()) send_internal({"CLIENT", "SETNAME", opts_.name}, [](std::error_code, reply) {});
    send_internal({"CLIENT", "ID"}, [this](std::error_code ec, reply r) {
      if (ec) return drop(errc::connect_failed, "CLIENT ID: " + (r.str.empty() ? ec.message() : r.str));
      client_id_.store(r.integer, std::memory_order_relaxed);
      came_up();
    });
  }

  void came_up() {
    connect_timer_.cancel();
    st_ = connection_state::up;
    failures_ = 0;
    up_.store(true, std::memory_order_release);
    if (auto* c = opts_.counters) {
      c->connections_up.fetch_add(1, std::memory_order_relaxed);
      c->connects_total.fetch_add(1, std::memory_order_relaxed);
      if (failed_before_) c->reconnects_total.fetch_add(1, std::memory_order_relaxed);
    }
    ::sse::detail::log_to(opts_.on_log, failed_before_ ? log_level::info : log_level::debug,
                          "redis{}: connected to {}{}", label(), to_display_url(opts_.server),
                          failed_before_ ? " again" : "");
    failed_before_ = false;
    first_failure_ = true;
    if (on_state_) asio::post(ex_, [self = shared_from_this()] {
        if (self->on_state_) self->on_state_(true, {});
      });
  }

  /// An attempt failed before any context existed, or the connect timer fired.
  void fail_attempt(errc why, const std::string& detail) {
    resolver_.cancel();
    if (ac_) return drop(why, detail);
    went_down(why, detail);
  }

  /// Frees the current context (pending commands fail with `why`) and schedules a reconnect.
  /// Safe inside a hiredis callback: hiredis then defers the free until the callback returns.
  void drop(errc why, const std::string& detail) {
    if (!ac_) return;
    redisAsyncContext* ac = ac_;
    ac_ = nullptr;
    drop_reason_ = why;
    release_fd();
    went_down(why, detail);
    redisAsyncFree(ac);
  }

  /// Bookkeeping once the current context is gone (or never came): state, counters, log, callback,
  /// then a reconnect after the backoff.
  void went_down(std::error_code why, const std::string& detail) {
    const bool was_up = st_ == connection_state::up;
    st_ = stopping_ ? connection_state::stopped : connection_state::waiting;
    connect_timer_.cancel();
    if (up_.exchange(false, std::memory_order_acq_rel) && opts_.counters)
      opts_.counters->connections_up.fetch_sub(1, std::memory_order_relaxed);
    {
      std::lock_guard lk(err_mu_);
      last_error_ = why;
    }
    if (stopping_) return;
    failed_before_ = true;
    if (opts_.counters) opts_.counters->errors_total.fetch_add(1, std::memory_order_relaxed);
    const auto delay = next_backoff();
    // The first failure of a streak is a warning; the retries that follow are debug lines.
    ::sse::detail::log_to(opts_.on_log, first_failure_ ? log_level::warn : log_level::debug,
                          "redis{}: {}: {}{}{}; reconnecting in {} ms", label(), to_display_url(opts_.server),
                          why.message(), detail.empty() ? "" : ": ", detail, delay.count());
    first_failure_ = false;
    if (was_up && on_state_) asio::post(ex_, [self = shared_from_this(), why] {
        if (self->on_state_) self->on_state_(false, why);
      });
    backoff_timer_.expires_after(delay);
    backoff_timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (ec || self->stopping_ || self->st_ != connection_state::waiting) return;
      self->connect_attempt();
    });
  }

  std::chrono::milliseconds next_backoff() {
    // Full jitter, so that many instances do not reconnect in lockstep (sse/backoff.hpp says why).
    const auto delay = opts_.backoff().delay(failures_, rng_());
    if (failures_ < 64) ++failures_;  // the ceiling reaches reconnect_max long before
    return delay;
  }

  void do_stop() {
    if (stopping_) return;
    stopping_ = true;
    connect_timer_.cancel();
    backoff_timer_.cancel();
    watchdog_.cancel();
    resolver_.cancel();
    const bool was_up = st_ == connection_state::up;
    if (ac_) {
      redisAsyncContext* ac = ac_;
      ac_ = nullptr;
      drop_reason_ = errc::closed;
      release_fd();
      redisAsyncFree(ac);
    }
    went_down(errc::closed, {});
    st_ = connection_state::stopped;
    if (was_up && on_state_) on_state_(false, errc::closed);
    on_state_ = nullptr;
  }

  // ---------- commands ----------

  void send(const std::vector<std::string>& args, handler h, std::chrono::milliseconds timeout) {
    if (opts_.counters) opts_.counters->commands_total.fetch_add(1, std::memory_order_relaxed);
    const auto fail_now = [&](errc e) {
      if (opts_.counters) opts_.counters->command_errors_total.fetch_add(1, std::memory_order_relaxed);
      asio::post(ex_, [h = std::move(h), e]() mutable { h(e, reply{}); });
    };
    if (stopping_) return fail_now(errc::closed);
    if (!ac_ || st_ != connection_state::up) return fail_now(errc::not_connected);
    if (!write_command(args)) return fail_now(errc::connection_lost);
    if (timeout.count() <= 0) timeout = opts_.command_timeout;
    pending_.push_back(pending{std::move(h), std::chrono::steady_clock::now() + timeout, false, gen_});
    arm_watchdog(pending_.back().deadline);
  }

  void send_internal(const std::vector<std::string>& args, handler h) {
    if (!write_command(args)) return;
    pending_.push_back(pending{std::move(h), std::chrono::steady_clock::now() + opts_.connect_timeout, true, gen_});
  }

  bool write_command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    return redisAsyncCommandArgv(ac_, &on_reply_cb, nullptr, static_cast<int>(argv.size()), argv.data(),
                                 lens.data()) == REDIS_OK;
  }

  void arm_watchdog(std::chrono::steady_clock::time_point deadline) {
    if (watchdog_armed_ && watchdog_at_ <= deadline) return;
    watchdog_armed_ = true;
    watchdog_at_ = deadline;
    watchdog_.expires_at(deadline);
    watchdog_.async_wait([self = shared_from_this(), deadline](std::error_code ec) {
      if (ec || deadline != self->watchdog_at_) return;
      self->watchdog_armed_ = false;
      self->check_deadlines();
    });
  }

  void check_deadlines() {
    if (pending_.empty() || !ac_) return;
    const auto now = std::chrono::steady_clock::now();
    auto next = std::chrono::steady_clock::time_point::max();
    for (const auto& p : pending_) {
      if (p.internal) continue;
      if (p.deadline <= now)
        return drop(errc::command_timeout, "a reply is overdue; dropping the connection");
      next = std::min(next, p.deadline);
    }
    if (next != std::chrono::steady_clock::time_point::max()) arm_watchdog(next);
  }

  std::string label() const { return opts_.name.empty() ? std::string() : " (" + opts_.name + ")"; }

  asio::any_io_executor ex_;
  connection_options opts_;
  asio::posix::stream_descriptor fd_;
  asio::steady_timer connect_timer_, backoff_timer_, watchdog_;
  asio::ip::tcp::resolver resolver_;
  state_handler on_state_;

  // Strand-only state.
  redisAsyncContext* ac_ = nullptr;
  std::uint64_t gen_ = 0;      // bumped whenever the socket is released: stale handlers see it
  std::uint64_t attempt_ = 0;  // bumped per connect attempt
  connection_state st_ = connection_state::idle;
  std::deque<pending> pending_;
  std::error_code drop_reason_;
  unsigned failures_ = 0;       // consecutive failures since the connection was last up
  std::chrono::steady_clock::time_point watchdog_at_{};
  std::mt19937_64 rng_;
  bool want_read_ = false, want_write_ = false, reading_ = false, writing_ = false;
  bool flush_posted_ = false, in_flush_ = false;
  bool stopping_ = false, dying_ = false, failed_before_ = false, first_failure_ = true;
  bool watchdog_armed_ = false;

  // Any thread.
  std::atomic<bool> up_{false};
  std::atomic<std::int64_t> client_id_{0};
  mutable std::mutex err_mu_;
  std::error_code last_error_;
};

}  // namespace sse::redis

/**
 * @file stream.hpp
 * @brief sse::basic_stream<Transport>: one client connection writing an SSE response.
 *
 * Wire order: the response head (bytes given in the options, written as is), then the body: an
 * initial comment (flushed at once so proxies and browsers see the stream open), an optional
 * `retry:` hint, an optional padding comment, the replay (from the log), then live events.
 * The body is framed as HTTP/1.1 chunks (one chunk per gathered write, `0\r\n\r\n` on a graceful
 * end) or close-delimited (HTTP/1.0).
 *
 * Writes: at most one in flight; everything queued meanwhile goes out in ONE gathered write
 * (scatter/gather over the shared buffers, payloads never copied). The live queue is bounded in
 * bytes (queued + in flight). When an event would pass the bound, the overflow policy decides:
 *  - `disconnect` (default): close the connection; the client resumes with Last-Event-ID.
 *  - `drop`: discard the queued backlog (not the write in flight), and write, before the next live
 *    event, the marker
 *        event: gap
 *        data: {"skipped":N,"first":"<id>","last":"<id>"}
 *    (no `id:` line; `first`/`last` are the first and last skipped ids, left out when the skipped
 *    events had none). Consecutive drops before the marker is written merge into one marker.
 * Replay is pulled from its list as writes complete (at most max_replay_batch_bytes per write), so
 * it is bounded by the log it came from and not counted in the live queue's bound.
 *
 * Every one of these decisions is made by sse::stream_writer (stream_writer.hpp), a sans-io state
 * machine tested by tables without sockets; this header only performs them: it dispatches calls to
 * the executor, starts the gathered writes the writer plans, closes the transport, updates metrics
 * and logs.
 *
 * Threads: a stream lives on its transport's executor, which must not run handlers concurrently (an
 * io_context run by one thread, or a strand). Every public member may be called from any thread:
 * calls are dispatched to that executor. A publisher never waits for a slow client.
 *
 * Timeouts: a write in flight longer than `write_timeout` aborts the stream. The check is done by the
 * executor's sse::keepalive_scheduler tick (one timer per executor, not one per connection); without
 * a scheduler call `check_timeout()` yourself.
 */
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/dispatch.hpp>
#include <asio/error.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include "sse/encoder.hpp"
#include "sse/event.hpp"
#include "sse/logger.hpp"
#include "sse/metrics.hpp"
#include "sse/shared_event.hpp"
#include "sse/stream_writer.hpp"
#include "sse/transport.hpp"

namespace sse {

/// Per-connection configuration. A stream keeps its options by a shared pointer: many streams
/// created from one `std::shared_ptr<const stream_options>` (basic_stream::create_sharing, as
/// sse::server does) share one copy, so an idle stream does not carry its own.
struct stream_options {
  std::string head = {};                                  ///< response head bytes, written first, unframed
  /// The same, shared by many streams (one immutable buffer); takes precedence over `head`. A stream
  /// holds its head apart from its options and releases it once it has been written; a stream
  /// created from options by value takes it out of them (its options().head and shared_head are
  /// empty).
  std::shared_ptr<const std::string> shared_head = {};
  framing body_framing = framing::chunked;                ///< framing of everything after the head
  std::optional<std::string> initial_comment = std::string("ok");  ///< `: ok`, flushed at once; nullopt = none
  std::optional<std::chrono::milliseconds> retry = {};    ///< `retry:` hint after the initial comment
  std::size_t padding = 0;                                ///< padding comment of this many bytes (0 = none)
  std::size_t max_queued_bytes = std::size_t{1} << 20;    ///< live queue bound (queued + in flight)
  overflow_policy on_overflow = overflow_policy::disconnect;
  std::size_t max_replay_batch_bytes = std::size_t{256} << 10;  ///< replay bytes per gathered write
  std::chrono::milliseconds write_timeout = std::chrono::seconds(30);  ///< checked on keepalive ticks
  bool watch_peer_close = true;                           ///< read to notice the peer closing (readable transports)
  sse::metrics* metrics = nullptr;                        ///< counters to update, or nullptr
  logger on_log = {};                                     ///< logging hook, or empty
};

namespace detail {

/// The writer's buffer list (std::string_view) seen as an Asio ConstBufferSequence, without copying
/// the list: the write operation keeps this (two pointers and an offset) and walks the views. The
/// first `skip` bytes are left out (the part an immediate write already sent).
class writer_buffers {
 public:
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = asio::const_buffer;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = asio::const_buffer;

    const_iterator() = default;
    const_iterator(const std::string_view* p, std::size_t skip) noexcept : p_(p), skip_(skip) {}
    asio::const_buffer operator*() const noexcept { return asio::const_buffer(p_->data() + skip_, p_->size() - skip_); }
    const_iterator& operator++() noexcept {
      ++p_;
      skip_ = 0;
      return *this;
    }
    const_iterator operator++(int) noexcept {
      const_iterator t = *this;
      ++*this;
      return t;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) noexcept { return a.p_ == b.p_; }

   private:
    const std::string_view* p_ = nullptr;
    std::size_t skip_ = 0;
  };
  using value_type = asio::const_buffer;

  /// The views of `b` after their first `skip` bytes (less than their total).
  explicit writer_buffers(std::span<const std::string_view> b, std::size_t skip = 0) noexcept : b_(b) {
    while (!b_.empty() && skip >= b_.front().size()) {
      skip -= b_.front().size();
      b_ = b_.subspan(1);
    }
    skip_ = skip;
  }
  const_iterator begin() const noexcept { return const_iterator(b_.data(), skip_); }
  const_iterator end() const noexcept { return const_iterator(b_.data() + b_.size(), 0); }

 private:
  std::span<const std::string_view> b_;
  std::size_t skip_ = 0;
};

inline stream_writer_options writer_options_of(const stream_options& o) {
  return {.body_framing = o.body_framing,
          .initial_comment = o.initial_comment,
          .retry = o.retry,
          .padding = o.padding,
          .max_queued_bytes = o.max_queued_bytes,
          .on_overflow = o.on_overflow,
          .max_replay_batch_bytes = o.max_replay_batch_bytes,
          .write_timeout = o.write_timeout};
}

}  // namespace detail

/// The transport-independent part of a stream; hubs and keepalive schedulers hold streams by it.
/// Its decisions are sse::stream_writer's; this class dispatches calls to the executor, performs
/// the writes, closes the transport, updates metrics and logs.
class stream_base : public std::enable_shared_from_this<stream_base> {
 public:
  using clock = std::chrono::steady_clock;

  stream_base(const stream_base&) = delete;
  stream_base& operator=(const stream_base&) = delete;
  virtual ~stream_base() = default;

  /// The transport's executor (the stream keeps no copy of its own).
  virtual asio::any_io_executor get_executor() const noexcept = 0;
  const stream_options& options() const noexcept { return *opts_; }

  /// True from start() until the stream closes (also false while closing gracefully).
  bool is_open() const noexcept { return writer_.state() == phase::open; }
  /// True once the stream has closed for good (gracefully or not).
  bool is_closed() const noexcept { return writer_.state() == phase::closed; }

  /// Writes the head and the preamble (initial comment, retry, padding). Idempotent.
  void start() {
    asio::dispatch(get_executor(), [self = shared_from_this()] { self->do_start(); });
  }

  /// Queues a shared encoded event (live). Never blocks; applies the overflow policy.
  void send(shared_event ev) {
    if (!ev) return;
    asio::dispatch(get_executor(), [self = shared_from_this(), ev = std::move(ev)]() mutable {
      self->enqueue(std::move(ev), item_kind::event);
    });
  }

  /// Queues a shared encoded event (live) directly, like send(), without dispatching: for fan-out
  /// loops (sse::hub) that already run on this stream's executor. Call ONLY on the stream's executor.
  void deliver_local(const shared_event& ev) {
    if (ev) enqueue(ev, item_kind::event);
  }

  /// Encodes and queues one event; throws sse::invalid_event on a bad type or id.
  void send(const event& ev) { send(make_shared_event(ev)); }

  /// Queues a comment (`: text`), counted in the queue bound like an event.
  void send_comment(std::string_view text) {
    asio::dispatch(get_executor(), [self = shared_from_this(), ev = make_shared_event(encode_comment(text))]() mutable {
      self->enqueue(std::move(ev), item_kind::comment);
    });
  }

  /// Appends events to replay; they are written after the preamble and before any live event.
  void replay(std::vector<shared_event> events) {
    asio::dispatch(get_executor(), [self = shared_from_this(), evs = std::move(events)]() mutable {
      if (self->writer_.replay(std::move(evs))) self->maybe_write();
    });
  }

  /// Graceful close: writes what is queued, an optional final `retry:` hint and (chunked) the last
  /// chunk, then closes the transport. Bounded by write_timeout like every write.
  void close(std::optional<std::chrono::milliseconds> retry = std::nullopt) {
    asio::dispatch(get_executor(), [self = shared_from_this(), retry] { self->do_close(retry); });
  }

  /// Abortive close: drops the queue and closes the transport now.
  void abort() {
    asio::dispatch(get_executor(), [self = shared_from_this()] { self->abort_with(stream_errc::aborted); });
  }

  /// Registers `f(reason)` (any callable taking a std::error_code) to run, posted on the stream's
  /// executor, once the stream has closed; reason is empty after a graceful close. Runs at once
  /// (posted) if the stream is already closed. Listeners run in the order they were registered. Each
  /// is one allocation holding the callable.
  template <class F>
  void on_close(F f) {
    auto l = std::make_unique<close_listener_of<F>>(std::move(f));
    asio::dispatch(get_executor(), [self = shared_from_this(), l = std::move(l)]() mutable {
      if (self->writer_.state() == phase::closed) {
        asio::post(self->get_executor(), [l = std::move(l), ec = self->close_reason_] { l->run_all(ec); });
        return;
      }
      std::unique_ptr<close_listener>* tail = &self->close_listeners_;
      while (*tail) tail = &(*tail)->next;
      *tail = std::move(l);
    });
  }

  /// Counters, readable from any thread.
  stream_stats stats() const noexcept { return writer_.stats(); }

  // --- For schedulers; call on the stream's executor. ---

  /// True when the stream is open, nothing is queued or in flight, and nothing was written for `idle`.
  bool needs_ping(clock::time_point now, clock::duration idle) const noexcept { return writer_.needs_ping(now, idle); }

  /// Queues a keepalive ping (shared by every stream pinged on the same tick).
  void send_ping(shared_event ping) { enqueue(std::move(ping), item_kind::ping); }

  /// Aborts the stream (stream_errc::write_timeout) when a write has been in flight longer than the
  /// write_timeout option; returns true if it did.
  bool check_timeout(clock::time_point now) {
    if (!writer_.write_timed_out(now)) return false;
    if (opts_->metrics) metrics::add(opts_->metrics->write_timeouts);
    detail::log_to(opts_->on_log, log_level::info, "sse stream: write timed out after {} ms, closing",
                   std::chrono::duration_cast<std::chrono::milliseconds>(now - writer_.write_started()).count());
    abort_with(stream_errc::write_timeout);
    return true;
  }

 protected:
  /// `opts` shared with other streams (never changed); `head` the response head (empty: none).
  stream_base(std::shared_ptr<const stream_options> opts, std::shared_ptr<const std::string> head)
      : opts_(std::move(opts)), head_(std::move(head)),
        writer_(detail::writer_options_of(*opts_), clock::now()) {}

  /// Options by value: the head taken out of them (see stream_options::shared_head).
  static std::pair<std::shared_ptr<const stream_options>, std::shared_ptr<const std::string>> own(stream_options o) {
    std::shared_ptr<const std::string> head = std::move(o.shared_head);
    if (!head && !o.head.empty()) head = std::make_shared<const std::string>(std::move(o.head));
    o.head.clear();
    o.shared_head.reset();
    return {std::make_shared<const stream_options>(std::move(o)), std::move(head)};
  }

  /// Shared options: the head is theirs (kept by them, referenced by the stream until written).
  static std::shared_ptr<const std::string> head_of(const stream_options& o) {
    if (o.shared_head) return o.shared_head;
    if (o.head.empty()) return nullptr;
    return std::make_shared<const std::string>(o.head);
  }

  /// Starts one gathered write of `bufs` (valid until write_done); the derived class calls write_done.
  virtual void do_write(std::span<const std::string_view> bufs) = 0;
  /// Closes the transport (which cancels its pending operations).
  virtual void close_transport() noexcept = 0;
  /// Starts watching for the peer to close, if the transport can read.
  virtual void start_watch() {}

  void write_done(std::error_code ec, std::size_t n) {
    const clock::time_point now = clock::now();  // the one clock read of this write cycle
    const auto out = writer_.write_done(ec, n, now);
    if (opts_->metrics) metrics::add(opts_->metrics->bytes_written, n);
    if (out.head_written) head_.reset();  // never needed again
    switch (out.next) {
      case stream_writer::after_write::ignored: return;
      case stream_writer::after_write::failed:
        if (opts_->metrics) metrics::add(opts_->metrics->write_errors);
        detail::log_to(opts_->on_log, log_level::debug, "sse stream: write failed: {}", ec.message());
        shut(ec);
        return;
      case stream_writer::after_write::finish:
        count_delivered(out);
        shut({});
        return;
      case stream_writer::after_write::next:
        count_delivered(out);
        maybe_write(now);
        return;
    }
  }

  /// The watch read completed: any error (EOF included) means the peer is gone.
  void read_done(std::error_code ec) {
    if (!ec || is_closed()) return;
    detail::log_to(opts_->on_log, log_level::debug, "sse stream: peer closed: {}", ec.message());
    abort_with(ec);
  }

 private:
  using phase = stream_writer::phase;
  using item_kind = stream_writer::item_kind;

  std::string_view head_bytes() const noexcept { return head_ ? std::string_view(*head_) : std::string_view(); }

  void count_delivered(const stream_writer::write_outcome& out) {
    if (!opts_->metrics) return;
    if (out.events) metrics::add(opts_->metrics->events_delivered, out.events);
    if (out.pings) metrics::add(opts_->metrics->pings_sent, out.pings);
  }

  void do_start() {
    const clock::time_point now = clock::now();
    if (!writer_.start(now, head_bytes())) return;
    if (opts_->metrics) {
      metrics::add(opts_->metrics->connections_open);
      metrics::add(opts_->metrics->connections_total);
    }
    start_watch();
    maybe_write(now);
  }

  void do_close(std::optional<std::chrono::milliseconds> retry) {
    switch (writer_.close(retry)) {
      case stream_writer::close_action::ignored: return;
      case stream_writer::close_action::closed:  // never started: nothing on the wire to finish
        shut({});
        return;
      case stream_writer::close_action::finishing:
        maybe_write();
        return;
    }
  }

  void abort_with(std::error_code ec) {
    if (writer_.abort() == phase::closed) return;
    shut(ec);  // the write in flight (if any) completes with an error; its buffers live until then
  }

  /// The writer has closed: close the transport and tell the listeners (one posted call, in order).
  void shut(std::error_code ec) {
    close_transport();
    close_reason_ = ec;
    if (writer_.started() && opts_->metrics) metrics::add(opts_->metrics->connections_open, std::int64_t{-1});
    detail::log_to(opts_->on_log, log_level::debug, "sse stream: closed ({}), {} bytes written",
                   ec ? ec.message() : std::string("graceful"), writer_.stats().bytes_written);
    if (close_listeners_)
      asio::post(get_executor(), [l = std::move(close_listeners_), ec] { l->run_all(ec); });
  }

  void enqueue(shared_event ev, item_kind k) {
    if (!ev) return;
    const std::size_t size = ev->bytes.size();
    const auto v = writer_.enqueue(std::move(ev), k);
    if (v.dropped && opts_->metrics) metrics::add(opts_->metrics->events_dropped, v.dropped);
    switch (v.status) {
      case stream_writer::enqueue_status::ignored: return;
      case stream_writer::enqueue_status::queued:
        maybe_write();
        return;
      case stream_writer::enqueue_status::dropped:  // into the pending gap marker, written now when
        maybe_write();                               // nothing is in flight (else after that write)
        return;
      case stream_writer::enqueue_status::overflow:
        if (opts_->metrics) metrics::add(opts_->metrics->slow_consumer_disconnects);
        detail::log_to(opts_->on_log, log_level::info,
                       "sse stream: slow consumer, {} bytes queued + {} would pass the bound of {}, closing",
                       v.queued_before, size, opts_->max_queued_bytes);
        shut(stream_errc::slow_consumer);
        return;
      case stream_writer::enqueue_status::gap_overflow:
        if (opts_->metrics) metrics::add(opts_->metrics->slow_consumer_disconnects);
        shut(stream_errc::slow_consumer);
        return;
    }
  }

  /// Starts the next gathered write if the writer has one. `now`: the current time if the caller
  /// has just read it (else read here, only when a write can start).
  void maybe_write(clock::time_point now = {}) {
    if (!writer_.can_write()) return;
    if (now == clock::time_point{}) now = clock::now();
    const auto plan = writer_.next_write(now);
    switch (plan.action) {
      case stream_writer::write_action::none: return;
      case stream_writer::write_action::finish:  // close-delimited and nothing left: done
        shut({});
        return;
      case stream_writer::write_action::write:
        if (plan.gap && opts_->metrics) metrics::add(opts_->metrics->gaps);
        do_write(plan.buffers);
        return;
    }
  }

  /// A close listener: one node of a singly linked list, the callable inline.
  struct close_listener {
    std::unique_ptr<close_listener> next;
    virtual ~close_listener() = default;
    virtual void run(std::error_code ec) = 0;
    /// Runs this listener and the ones after it, in order.
    void run_all(std::error_code ec) {
      for (close_listener* l = this; l; l = l->next.get()) l->run(ec);
    }
  };
  template <class F>
  struct close_listener_of final : close_listener {
    explicit close_listener_of(F fn) : f(std::move(fn)) {}
    void run(std::error_code ec) override { f(ec); }
    F f;
  };

  std::shared_ptr<const stream_options> opts_;  ///< never null; often shared by many streams
  std::shared_ptr<const std::string> head_;     ///< the response head until written (then null)
  stream_writer writer_;  ///< every decision; called only on the executor (its state and counters are readable anywhere)

  std::error_code close_reason_;
  std::unique_ptr<close_listener> close_listeners_;
};

/// One client connection over `Transport`. Always owned by a std::shared_ptr (use create()).
template <transport Transport>
class basic_stream final : public stream_base {
  struct private_tag {
    explicit private_tag() = default;
  };

 public:
  using transport_type = Transport;
  using executor_type = typename Transport::executor_type;

  /// Creates a stream over a connected transport; call start() (or hub::subscribe) to begin.
  static std::shared_ptr<basic_stream> create(Transport t, stream_options opts = {}) {
    auto [o, head] = own(std::move(opts));
    return std::make_shared<basic_stream>(private_tag{}, std::move(t), std::move(o), std::move(head));
  }

  /// The same with options shared by many streams (not null; never changed afterwards): an idle
  /// stream then carries no copy of them. Their head (usually `shared_head`) is written first.
  static std::shared_ptr<basic_stream> create_sharing(Transport t, std::shared_ptr<const stream_options> opts) {
    auto head = head_of(*opts);
    return std::make_shared<basic_stream>(private_tag{}, std::move(t), std::move(opts), std::move(head));
  }

  basic_stream(private_tag, Transport t, std::shared_ptr<const stream_options> opts, std::shared_ptr<const std::string> head)
      : stream_base(std::move(opts), std::move(head)), transport_(std::move(t)) {}

  /// The transport's executor, from any thread (Asio's accessor is not const, but only reads).
  asio::any_io_executor get_executor() const noexcept override {
    return asio::any_io_executor(const_cast<Transport&>(transport_).get_executor());
  }

  /// The transport; touch it only on the stream's executor.
  Transport& transport() noexcept { return transport_; }
  const Transport& transport() const noexcept { return transport_; }

 private:
  std::shared_ptr<basic_stream> self() { return std::static_pointer_cast<basic_stream>(shared_from_this()); }

  void do_write(std::span<const std::string_view> bufs) override {
    std::size_t done = 0;
    if constexpr (immediate_transport<Transport>) {
      // Most writes fit in the socket's buffer: written now, as an epoll server does, with no
      // operation allocated and no completion to run (a fan-out to 10 000 streams used to hold
      // 10 000 of them at once, about 400 B each); what does not fit is written asynchronously.
      std::error_code ec;
      done = transport_.write_now(detail::writer_buffers(bufs), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
      std::size_t total = 0;
      for (const auto b : bufs) total += b.size();
      if (ec || done == total) return write_done(ec, done);  // the stream's executor, as an async completion
    }
    // The writer's views as a buffer sequence: the write operation copies two pointers and an
    // offset, never the list (no allocation per write). `bufs` stays untouched until write_done.
    asio::async_write(transport_, detail::writer_buffers(bufs, done),
                      [self = self(), done](std::error_code ec, std::size_t n) { self->write_done(ec, done + n); });
  }

  void close_transport() noexcept override {
    std::error_code ec;
    transport_.close(ec);
  }

  void start_watch() override {
    if constexpr (readable_transport<Transport>) {
      if (options().watch_peer_close) read_loop();
    }
  }

  void read_loop() {
    if constexpr (waitable_transport<Transport>) {
      // No buffer while waiting; once readable, what the client sent is read and discarded.
      transport_.async_wait_readable([self = self()](std::error_code ec) {
        if (!ec) {
          std::array<char, 256> discard;
          // At most 4 KiB a wake-up: a client that keeps sending does not hold the thread; the wait
          // again wakes at once while bytes are left.
          for (int i = 0; i < 16 && !ec && !self->is_closed(); ++i) self->transport_.read_now(asio::buffer(discard), ec);
          if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
        }
        if (ec) {
          self->read_done(ec);
        } else if (!self->is_closed()) {
          self->read_loop();
        }
      });
    } else if constexpr (readable_transport<Transport>) {
      transport_.async_read_some(std::array<asio::mutable_buffer, 1>{asio::buffer(read_buf_)},
                                 [self = self()](std::error_code ec, std::size_t) {
                                   if (ec) {
                                     self->read_done(ec);
                                   } else if (!self->is_closed()) {
                                     self->read_loop();  // discard what the client sends
                                   }
                                 });
    }
  }

  struct no_buffer {};
  Transport transport_;
  /// Discard buffer of a transport that cannot wait without one: the read only notices the peer
  /// closing.
  [[no_unique_address]] std::conditional_t<waitable_transport<Transport>, no_buffer, std::array<char, 32>> read_buf_{};
};

}  // namespace sse

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
 * Threads: a stream lives on its transport's executor, which must not run handlers concurrently (an
 * io_context run by one thread, or a strand). Every public member may be called from any thread:
 * calls are dispatched to that executor. A publisher never waits for a slow client.
 *
 * Timeouts: a write in flight longer than `write_timeout` aborts the stream. The check is done by the
 * executor's sse::keepalive_scheduler tick (one timer per executor, not one per connection); without
 * a scheduler call `check_timeout()` yourself.
 */
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include "sse/error_category.hpp"
#include "sse/shared_event.hpp"
#include "sse/detail/chunk.hpp"
#include "sse/detail/json.hpp"
#include "sse/logger.hpp"
#include "sse/encoder.hpp"
#include "sse/event.hpp"
#include "sse/metrics.hpp"
#include "sse/transport.hpp"

namespace sse {

/// Why a stream closed (besides transport errors, which are reported as they are).
enum class stream_errc {
  slow_consumer = 1,  ///< the write queue would have passed its bound (disconnect policy)
  write_timeout,      ///< a write stayed in flight longer than write_timeout
  aborted,            ///< the application called abort()
};

}  // namespace sse

template <>
struct std::is_error_code_enum<sse::stream_errc> : std::true_type {};

namespace sse {

namespace detail {
struct stream_category_impl {
  static constexpr const char* name = "sse.stream";
  static std::string message(int ev) {
    switch (static_cast<stream_errc>(ev)) {
      case stream_errc::slow_consumer: return "slow consumer: write queue bound exceeded";
      case stream_errc::write_timeout: return "write timed out";
      case stream_errc::aborted: return "stream aborted by the application";
    }
    return "unknown sse.stream error";
  }
};
}  // namespace detail

inline const std::error_category& stream_category() noexcept {
  return sse::error_category_for<detail::stream_category_impl>();
}

inline std::error_code make_error_code(stream_errc e) noexcept { return {static_cast<int>(e), stream_category()}; }

/// How the body is delimited.
enum class framing {
  chunked,          ///< HTTP/1.1 `Transfer-Encoding: chunked`
  close_delimited,  ///< HTTP/1.0: the body ends when the connection closes
};

/// What to do when an event would push the live queue past max_queued_bytes.
enum class overflow_policy {
  disconnect,  ///< close the connection (the client resumes with Last-Event-ID)
  drop,        ///< discard the backlog and write an `event: gap` marker, then live events
};

/// Per-connection configuration.
struct stream_options {
  std::string head = {};                                  ///< response head bytes, written first, unframed
  /// The same, shared by many streams (one immutable buffer); takes precedence over `head`. Either
  /// is released by the stream once it has been written (options().head is then empty).
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

/// A snapshot of one stream's counters.
struct stream_stats {
  std::uint64_t bytes_written = 0;        ///< all bytes, head and framing included
  std::uint64_t writes = 0;               ///< completed gathered writes
  std::uint64_t events_sent = 0;          ///< events written (live and replayed)
  std::uint64_t pings_sent = 0;           ///< keepalive pings written
  std::uint64_t events_dropped = 0;       ///< events discarded by the drop policy
  std::uint64_t gaps = 0;                 ///< gap markers written
  std::size_t queued_bytes = 0;           ///< live bytes queued or in flight now
  std::size_t max_queued_bytes_seen = 0;  ///< high-water mark of queued_bytes
  std::chrono::steady_clock::time_point last_write = {};  ///< completion of the last write (or start)
};

/// The transport-independent part of a stream; hubs and keepalive schedulers hold streams by it.
class stream_base : public std::enable_shared_from_this<stream_base> {
 public:
  using clock = std::chrono::steady_clock;

  stream_base(const stream_base&) = delete;
  stream_base& operator=(const stream_base&) = delete;
  virtual ~stream_base() = default;

  const asio::any_io_executor& get_executor() const noexcept { return ex_; }
  const stream_options& options() const noexcept { return opts_; }

  /// True from start() until the stream closes (also false while closing gracefully).
  bool is_open() const noexcept { return state_.load(std::memory_order_acquire) == state::open; }
  /// True once the stream has closed for good (gracefully or not).
  bool is_closed() const noexcept { return state_.load(std::memory_order_acquire) == state::closed; }

  /// Writes the head and the preamble (initial comment, retry, padding). Idempotent.
  void start() {
    asio::dispatch(ex_, [self = shared_from_this()] { self->do_start(); });
  }

  /// Queues a shared encoded event (live). Never blocks; applies the overflow policy.
  void send(shared_event ev) {
    if (!ev) return;
    asio::dispatch(ex_, [self = shared_from_this(), ev = std::move(ev)]() mutable {
      self->enqueue(item{std::move(ev), kind::event, true});
    });
  }

  /// Queues a shared encoded event (live) directly, like send(), without dispatching: for fan-out
  /// loops (sse::hub) that already run on this stream's executor. Call ONLY on the stream's executor.
  void deliver_local(const shared_event& ev) {
    if (ev) enqueue(item{ev, kind::event, true});
  }

  /// Encodes and queues one event; throws sse::invalid_event on a bad type or id.
  void send(const event& ev) { send(make_shared_event(ev)); }

  /// Queues a comment (`: text`), counted in the queue bound like an event.
  void send_comment(std::string_view text) {
    asio::dispatch(ex_, [self = shared_from_this(), ev = make_shared_event(encode_comment(text))]() mutable {
      self->enqueue(item{std::move(ev), kind::comment, true});
    });
  }

  /// Appends events to replay; they are written after the preamble and before any live event.
  void replay(std::vector<shared_event> events) {
    asio::dispatch(ex_, [self = shared_from_this(), evs = std::move(events)]() mutable {
      self->do_replay(std::move(evs));
    });
  }

  /// Graceful close: writes what is queued, an optional final `retry:` hint and (chunked) the last
  /// chunk, then closes the transport. Bounded by write_timeout like every write.
  void close(std::optional<std::chrono::milliseconds> retry = std::nullopt) {
    asio::dispatch(ex_, [self = shared_from_this(), retry] { self->do_close(retry); });
  }

  /// Abortive close: drops the queue and closes the transport now.
  void abort() {
    asio::dispatch(ex_, [self = shared_from_this()] { self->abort_with(stream_errc::aborted); });
  }

  /// Registers `f(reason)` to run (posted, on the stream's executor) once the stream has closed;
  /// reason is empty after a graceful close. Runs at once (posted) if the stream is already closed.
  void on_close(std::function<void(std::error_code)> f) {
    asio::dispatch(ex_, [self = shared_from_this(), f = std::move(f)]() mutable {
      if (self->state_.load(std::memory_order_relaxed) == state::closed)
        asio::post(self->ex_, [f = std::move(f), ec = self->close_reason_] { f(ec); });
      else
        self->close_listeners_.push_back(std::move(f));
    });
  }

  /// Counters, readable from any thread.
  stream_stats stats() const noexcept {
    stream_stats s;
    s.bytes_written = bytes_written_.load(std::memory_order_relaxed);
    s.writes = writes_.load(std::memory_order_relaxed);
    s.events_sent = events_sent_.load(std::memory_order_relaxed);
    s.pings_sent = pings_sent_.load(std::memory_order_relaxed);
    s.events_dropped = events_dropped_.load(std::memory_order_relaxed);
    s.gaps = gaps_.load(std::memory_order_relaxed);
    s.queued_bytes = queued_.load(std::memory_order_relaxed);
    s.max_queued_bytes_seen = max_queued_seen_.load(std::memory_order_relaxed);
    s.last_write = clock::time_point(clock::duration(last_write_.load(std::memory_order_relaxed)));
    return s;
  }

  // --- For schedulers; call on the stream's executor. ---

  /// True when the stream is open, nothing is queued or in flight, and nothing was written for `idle`.
  bool needs_ping(clock::time_point now, clock::duration idle) const noexcept {
    return state_.load(std::memory_order_relaxed) == state::open && !in_flight_ && queue_.empty() &&
           replay_.empty() && !gap_pending_ && now - stats().last_write >= idle;
  }

  /// Queues a keepalive ping (shared by every stream pinged on the same tick).
  void send_ping(shared_event ping) { enqueue(item{std::move(ping), kind::ping, true}); }

  /// Aborts the stream (stream_errc::write_timeout) when a write has been in flight longer than the
  /// write_timeout option; returns true if it did.
  bool check_timeout(clock::time_point now) {
    if (!in_flight_ || is_closed() || now - write_started_ < opts_.write_timeout) return false;
    if (opts_.metrics) metrics::add(opts_.metrics->write_timeouts);
    detail::log_to(opts_.on_log, log_level::info, "sse stream: write timed out after {} ms, closing",
                   std::chrono::duration_cast<std::chrono::milliseconds>(now - write_started_).count());
    abort_with(stream_errc::write_timeout);
    return true;
  }

 protected:
  stream_base(asio::any_io_executor ex, stream_options opts) : ex_(std::move(ex)), opts_(std::move(opts)) {
    last_write_.store(clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  }

  /// Starts one gathered write of `bufs` (valid until write_done); the derived class calls write_done.
  virtual void do_write(const std::vector<asio::const_buffer>& bufs) = 0;
  /// Closes the transport (which cancels its pending operations).
  virtual void close_transport() noexcept = 0;
  /// Starts watching for the peer to close, if the transport can read.
  virtual void start_watch() {}

  void write_done(std::error_code ec, std::size_t n) {
    in_flight_ = false;
    bump(bytes_written_, n);
    if (opts_.metrics) metrics::add(opts_.metrics->bytes_written, n);
    if (head_in_flight_) {  // written (or failed): the head is never needed again
      head_in_flight_ = false;
      opts_.shared_head.reset();
      std::string().swap(opts_.head);
      // The first write's vectors are small and idle streams may stay idle: give them back.
      std::vector<asio::const_buffer>().swap(bufs_);
      release_inflight_after_ = true;  // once its items were counted below
    }
    if (state_.load(std::memory_order_relaxed) == state::closed) {
      inflight_.clear();
      return;
    }
    if (ec) {
      inflight_.clear();
      if (opts_.metrics) metrics::add(opts_.metrics->write_errors);
      detail::log_to(opts_.on_log, log_level::debug, "sse stream: write failed: {}", ec.message());
      abort_with(ec);
      return;
    }
    bump(writes_, std::uint64_t{1});
    const clock::time_point now = clock::now();  // the one clock read of this write cycle
    last_write_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    std::uint64_t events = 0, pings = 0;
    for (const auto& it : inflight_) {
      if (it.k == kind::event) ++events;
      else if (it.k == kind::ping) ++pings;
    }
    if (events) bump(events_sent_, events);
    if (pings) bump(pings_sent_, pings);
    if (opts_.metrics) {
      if (events) metrics::add(opts_.metrics->events_delivered, events);
      if (pings) metrics::add(opts_.metrics->pings_sent, pings);
    }
    if (inflight_live_bytes_) bump_down(queued_, inflight_live_bytes_);
    inflight_live_bytes_ = 0;
    inflight_.clear();
    if (release_inflight_after_) {
      release_inflight_after_ = false;
      std::vector<item>().swap(inflight_);
    }
    if (final_sent_) {
      state_.store(state::closed, std::memory_order_release);
      close_transport();
      finish({}, true);
      return;
    }
    maybe_write(now);
  }

  /// The watch read completed: any error (EOF included) means the peer is gone.
  void read_done(std::error_code ec) {
    if (!ec || is_closed()) return;
    detail::log_to(opts_.on_log, log_level::debug, "sse stream: peer closed: {}", ec.message());
    abort_with(ec);
  }

 private:
  enum class state : unsigned char { idle, open, closing, closed };
  enum class kind : unsigned char { event, ping, comment, control };
  struct item {
    shared_event ev;
    kind k;
    bool counted;  ///< counted in the live queue bound
  };
  /// State of the drop policy's pending gap marker; allocated only once something was dropped.
  struct gap_state {
    std::uint64_t skipped = 0;
    std::string first, last, text;
  };

  /// Counters have one writer (this executor) and readers anywhere: no locked read-modify-write.
  template <class T, class U>
  static void bump(std::atomic<T>& a, U n) noexcept {
    a.store(a.load(std::memory_order_relaxed) + static_cast<T>(n), std::memory_order_relaxed);
  }
  template <class T, class U>
  static void bump_down(std::atomic<T>& a, U n) noexcept {
    a.store(a.load(std::memory_order_relaxed) - static_cast<T>(n), std::memory_order_relaxed);
  }

  const std::string& head_bytes() const noexcept { return opts_.shared_head ? *opts_.shared_head : opts_.head; }

  void do_start() {
    if (state_.load(std::memory_order_relaxed) != state::idle) return;
    state_.store(state::open, std::memory_order_release);
    last_write_.store(clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    if (opts_.metrics) {
      metrics::add(opts_.metrics->connections_open);
      metrics::add(opts_.metrics->connections_total);
    }
    std::string pre;
    if (opts_.initial_comment) encode_comment_to(pre, *opts_.initial_comment);
    if (opts_.retry) (void)encode_retry_to(pre, *opts_.retry);
    if (opts_.padding > 0) encode_padding_to(pre, opts_.padding);
    if (!pre.empty()) preamble_ = make_shared_event(std::move(pre));
    head_pending_ = !head_bytes().empty();
    start_watch();
    maybe_write();
  }

  void do_replay(std::vector<shared_event> evs) {
    const auto st = state_.load(std::memory_order_relaxed);
    if (st == state::closed || st == state::closing) return;
    for (auto& e : evs)
      if (e) replay_.push_back(std::move(e));
    maybe_write();
  }

  void do_close(std::optional<std::chrono::milliseconds> retry) {
    const auto st = state_.load(std::memory_order_relaxed);
    if (st == state::closing || st == state::closed) return;
    if (st == state::idle) {  // never started: nothing on the wire to finish
      state_.store(state::closed, std::memory_order_release);
      queue_.clear();
      replay_.clear();
      close_transport();
      finish({}, false);
      return;
    }
    state_.store(state::closing, std::memory_order_release);
    if (retry && retry->count() >= 0) {
      std::string s;
      (void)encode_retry_to(s, *retry);
      queue_.push_back(item{make_shared_event(std::move(s)), kind::control, false});
    }
    maybe_write();
  }

  void abort_with(std::error_code ec) {
    const auto st = state_.load(std::memory_order_relaxed);
    if (st == state::closed) return;
    state_.store(state::closed, std::memory_order_release);
    queue_.clear();
    replay_.clear();
    replay_pos_ = 0;
    preamble_.reset();
    gap_pending_ = false;
    gap_.reset();
    queued_.store(0, std::memory_order_relaxed);
    close_transport();  // the write in flight (if any) completes with an error; inflight_ lives until then
    finish(ec, st != state::idle);
  }

  void finish(std::error_code ec, bool was_started) {
    close_reason_ = ec;
    if (was_started && opts_.metrics) metrics::add(opts_.metrics->connections_open, std::int64_t{-1});
    detail::log_to(opts_.on_log, log_level::debug, "sse stream: closed ({}), {} bytes written",
                   ec ? ec.message() : std::string("graceful"), bytes_written_.load(std::memory_order_relaxed));
    auto listeners = std::move(close_listeners_);
    close_listeners_.clear();
    for (auto& f : listeners) asio::post(ex_, [f = std::move(f), ec] { f(ec); });
  }

  void add_queued(std::size_t n) {
    const std::size_t now = queued_.load(std::memory_order_relaxed) + n;
    queued_.store(now, std::memory_order_relaxed);
    if (now > max_queued_seen_.load(std::memory_order_relaxed)) max_queued_seen_.store(now, std::memory_order_relaxed);
  }

  void enqueue(item it) {
    const auto st = state_.load(std::memory_order_relaxed);
    if (st == state::closing || st == state::closed) return;
    const std::size_t size = it.ev->bytes.size();
    const std::size_t bound = opts_.max_queued_bytes;
    if (queued_.load(std::memory_order_relaxed) + size > bound) {
      if (opts_.on_overflow == overflow_policy::disconnect) {
        if (opts_.metrics) metrics::add(opts_.metrics->slow_consumer_disconnects);
        detail::log_to(opts_.on_log, log_level::info,
                       "sse stream: slow consumer, {} bytes queued + {} would pass the bound of {}, closing",
                       queued_.load(std::memory_order_relaxed), size, bound);
        abort_with(stream_errc::slow_consumer);
        return;
      }
      drop_backlog();
      if (queued_.load(std::memory_order_relaxed) + size > bound) {  // still no room: skip this one too
        if (it.k == kind::event) note_skipped(*it.ev);
        rebuild_gap();
        if (queued_.load(std::memory_order_relaxed) > bound) {  // not even the marker fits
          if (opts_.metrics) metrics::add(opts_.metrics->slow_consumer_disconnects);
          abort_with(stream_errc::slow_consumer);
        }
        return;
      }
    }
    add_queued(size);
    queue_.push_back(std::move(it));
    maybe_write();
  }

  void drop_backlog() {
    for (const auto& it : queue_) {
      if (it.counted) bump_down(queued_, it.ev->bytes.size());
      if (it.k == kind::event) note_skipped(*it.ev);
    }
    queue_.clear();
    rebuild_gap();
  }

  void note_skipped(const encoded_event& ev) {
    if (!gap_) gap_ = std::make_unique<gap_state>();
    ++gap_->skipped;
    bump(events_dropped_, std::uint64_t{1});
    if (opts_.metrics) metrics::add(opts_.metrics->events_dropped);
    if (!ev.id.empty()) {
      if (gap_->first.empty()) gap_->first = ev.id;
      gap_->last = ev.id;
    }
  }

  /// (Re)builds the pending gap marker from the skipped counters; its bytes count in the bound.
  void rebuild_gap() {
    if (!gap_ || gap_->skipped == 0) return;
    bump_down(queued_, gap_->text.size());
    std::string data = "{\"skipped\":" + std::to_string(gap_->skipped);
    if (!gap_->first.empty()) {
      data.append(",\"first\":");
      detail::json_string_to(data, gap_->first);
      data.append(",\"last\":");
      detail::json_string_to(data, gap_->last);
    }
    data.push_back('}');
    gap_->text = encode(event{.type = "gap", .data = std::move(data)});
    add_queued(gap_->text.size());
    gap_pending_ = true;
  }

  void take(shared_event ev, kind k, bool counted, std::size_t& body) {
    body += ev->bytes.size();
    bufs_.push_back(asio::buffer(ev->bytes));
    if (counted) inflight_live_bytes_ += ev->bytes.size();
    inflight_.push_back(item{std::move(ev), k, counted});
  }

  /// Starts the next gathered write if none is in flight and something is due. `now`: the current
  /// time if the caller has just read it (else read here, only when a write starts).
  void maybe_write(clock::time_point now = {}) {
    const auto st = state_.load(std::memory_order_relaxed);
    if (in_flight_ || st == state::idle || st == state::closed) return;
    bufs_.clear();
    inflight_.clear();
    inflight_live_bytes_ = 0;
    if (head_pending_) {
      bufs_.push_back(asio::buffer(head_bytes()));
      head_pending_ = false;
      head_in_flight_ = true;
    }
    const bool chunked = opts_.body_framing == framing::chunked;
    const std::size_t chunk_slot = bufs_.size();
    if (chunked) bufs_.emplace_back();  // the chunk header, filled in below
    std::size_t body = 0;
    if (preamble_) take(std::move(preamble_), kind::comment, false, body);
    preamble_.reset();
    std::size_t replayed = 0;
    while (replay_pos_ < replay_.size() &&
           (replayed == 0 || replayed + replay_[replay_pos_]->bytes.size() <= opts_.max_replay_batch_bytes)) {
      replayed += replay_[replay_pos_]->bytes.size();
      take(std::move(replay_[replay_pos_++]), kind::event, false, body);
    }
    if (replay_pos_ == replay_.size()) {
      replay_.clear();
      replay_pos_ = 0;
      if (gap_pending_) {
        bump(gaps_, std::uint64_t{1});
        if (opts_.metrics) metrics::add(opts_.metrics->gaps);
        take(make_shared_event(std::move(gap_->text)), kind::control, true, body);
        gap_.reset();
        gap_pending_ = false;
      }
      for (item& it : queue_) take(std::move(it.ev), it.k, it.counted, body);
      queue_.clear();  // keeps its capacity for the next batch
    }
    if (chunked) {
      if (body > 0) {
        const std::size_t n = detail::chunk_header(chunk_head_, body);
        bufs_[chunk_slot] = asio::buffer(chunk_head_, n);
        bufs_.push_back(asio::buffer(detail::crlf));
      }
    }
    if (st == state::closing && replay_.empty() && queue_.empty()) {
      if (chunked) bufs_.push_back(asio::buffer(detail::last_chunk));
      final_sent_ = true;
    }
    if (asio::buffer_size(bufs_) == 0) {
      bufs_.clear();
      if (final_sent_) {  // close-delimited and nothing left: done
        state_.store(state::closed, std::memory_order_release);
        close_transport();
        finish({}, true);
      }
      return;
    }
    in_flight_ = true;
    write_started_ = now == clock::time_point{} ? clock::now() : now;
    do_write(bufs_);
  }

  asio::any_io_executor ex_;
  stream_options opts_;
  std::atomic<state> state_{state::idle};

  bool head_pending_ = false;
  bool head_in_flight_ = false;
  bool release_inflight_after_ = false;
  bool in_flight_ = false;
  bool final_sent_ = false;
  shared_event preamble_;
  std::vector<shared_event> replay_;
  std::size_t replay_pos_ = 0;
  std::vector<item> queue_;  ///< live FIFO; always drained whole, so no head index; no allocation while empty
  std::vector<item> inflight_;
  std::size_t inflight_live_bytes_ = 0;
  std::vector<asio::const_buffer> bufs_;
  char chunk_head_[detail::chunk_header_max] = {};
  clock::time_point write_started_{};

  bool gap_pending_ = false;
  std::unique_ptr<gap_state> gap_;

  std::error_code close_reason_;
  std::vector<std::function<void(std::error_code)>> close_listeners_;

  std::atomic<std::uint64_t> bytes_written_{0}, writes_{0}, events_sent_{0}, pings_sent_{0}, events_dropped_{0},
      gaps_{0};
  std::atomic<std::size_t> queued_{0}, max_queued_seen_{0};
  std::atomic<clock::rep> last_write_{0};
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
    return std::make_shared<basic_stream>(private_tag{}, std::move(t), std::move(opts));
  }

  basic_stream(private_tag, Transport t, stream_options opts)
      : stream_base(asio::any_io_executor(t.get_executor()), std::move(opts)), transport_(std::move(t)) {}

  /// The transport; touch it only on the stream's executor.
  Transport& transport() noexcept { return transport_; }
  const Transport& transport() const noexcept { return transport_; }

 private:
  std::shared_ptr<basic_stream> self() { return std::static_pointer_cast<basic_stream>(shared_from_this()); }

  void do_write(const std::vector<asio::const_buffer>& bufs) override {
    // A span, not the vector: the write operation keeps a copy of its buffer sequence, and copying
    // a vector would allocate on every write. `bufs` stays untouched until write_done.
    asio::async_write(transport_, std::span<const asio::const_buffer>(bufs.data(), bufs.size()),
                      [self = self()](std::error_code ec, std::size_t n) { self->write_done(ec, n); });
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
    if constexpr (readable_transport<Transport>) {
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

  Transport transport_;
  char read_buf_[32] = {};  ///< discard buffer: the read only notices the peer closing
};

}  // namespace sse

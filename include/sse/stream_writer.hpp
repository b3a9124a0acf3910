/**
 * @file stream_writer.hpp
 * @brief sse::stream_writer, the decisions of one SSE response writer as a sans-io state machine:
 *        what to write next and in which buffers, what the live queue's bound and the overflow
 *        policy make of a new item, when a keepalive ping is due and when a write has timed out.
 *        Also the stream's error codes (sse::stream_errc), its options that concern the writer
 *        (framing, overflow policy) and its counters (sse::stream_stats).
 *
 * sse::basic_stream (stream.hpp) only performs what the writer decides: it dispatches calls to its
 * executor, starts the gathered write of the buffers next_write() returns, feeds the completion back
 * to write_done(), closes the transport, updates metrics and logs. The writer sees no socket, no
 * executor and no clock: every time is a parameter, so each decision is a deterministic function of
 * the calls made (tested by tables in tests/core/test_stream_writer.cpp).
 *
 * Wire order: the response head (bytes given to start(), written as is), then the body: an initial
 * comment, an optional `retry:` hint, an optional padding comment (together: the preamble, in the
 * first write), the replay, then live items. The body is framed as HTTP/1.1 chunks (one chunk per
 * write, `0\r\n\r\n` after a graceful close) or close-delimited (HTTP/1.0).
 *
 * Writes: at most one in flight; everything queued meanwhile goes out in ONE gathered write (the
 * buffers are views of the shared encoded events, payloads never copied). The live queue is bounded
 * in bytes (queued + in flight, the pending gap marker included). When an item would pass the bound:
 *  - `disconnect`: the writer closes (verdict `overflow`, stream_errc::slow_consumer);
 *  - `drop`: the queued backlog (not the write in flight) is discarded and, before the next live
 *    item, the marker
 *        event: gap
 *        data: {"skipped":N,"first":"<id>","last":"<id>"}
 *    is written (no `id:` line; `first`/`last` are the first and last skipped ids, left out when the
 *    skipped events had none). Drops before the marker is written merge into one marker. If the item
 *    still does not fit, it is skipped too (verdict `dropped`); if not even the marker fits, the
 *    writer closes (verdict `gap_overflow`, stream_errc::slow_consumer).
 * Replay is taken from its list as writes complete (at most max_replay_batch_bytes per write, at least
 * one event), and is not counted in the live bound (the log it came from bounds it).
 *
 * Standard library, the core and the shared event type only (no Asio, no fmt): part of the stream
 * layer, checked by tests/core/test_sans_io.cpp.
 */
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "sse/detail/chunk.hpp"
#include "sse/detail/inline_vector.hpp"
#include "sse/detail/json.hpp"
#include "sse/encoder.hpp"
#include "sse/error_category.hpp"
#include "sse/event.hpp"
#include "sse/shared_event.hpp"

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

/// The part of sse::stream_options the writer decides with.
struct stream_writer_options {
  framing body_framing = framing::chunked;                          ///< framing after the head
  std::optional<std::string> initial_comment = std::string("ok");   ///< `: ok` in the first write; nullopt = none
  std::optional<std::chrono::milliseconds> retry = {};              ///< `retry:` hint after the initial comment
  std::size_t padding = 0;                                          ///< padding comment of this many bytes (0 = none)
  std::size_t max_queued_bytes = std::size_t{1} << 20;              ///< live queue bound (queued + in flight)
  overflow_policy on_overflow = overflow_policy::disconnect;
  std::size_t max_replay_batch_bytes = std::size_t{256} << 10;      ///< replay bytes per gathered write
  std::chrono::milliseconds write_timeout = std::chrono::seconds(30);  ///< longest time a write may stay in flight
};

/// The writer of one SSE response, without I/O. One caller at a time (the stream's executor);
/// state() and stats() may also be read from other threads (atomics with one writer).
class stream_writer {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  /// Where the stream is: not started, writing, finishing after close(), done.
  enum class phase : unsigned char { idle, open, closing, closed };
  /// What a queued item is (counted differently in the stats and by the drop policy).
  enum class item_kind : unsigned char { event, ping, comment, control };

  /// What enqueue() made of an item.
  enum class enqueue_status : unsigned char {
    queued,        ///< queued (backlog may have been dropped first: see `dropped`); call next_write()
    dropped,       ///< skipped into the pending gap marker (drop policy)
    overflow,      ///< disconnect policy: the writer closed; report stream_errc::slow_consumer
    gap_overflow,  ///< drop policy, but not even the gap marker fits: the writer closed (slow_consumer)
    ignored,       ///< the writer is closing or closed
  };
  struct enqueue_verdict {
    enqueue_status status = enqueue_status::ignored;
    std::uint64_t dropped = 0;      ///< events newly skipped by the drop policy (this one included)
    std::size_t queued_before = 0;  ///< live bytes queued before this item (for the overflow's log line)
    friend bool operator==(const enqueue_verdict&, const enqueue_verdict&) = default;
  };

  /// What close() decided.
  enum class close_action : unsigned char {
    ignored,    ///< already closing or closed
    closed,     ///< never started: closed at once, nothing on the wire to finish
    finishing,  ///< the rest (queue, final `retry:`, last chunk) follows: call next_write()
  };

  /// What next_write() decided.
  enum class write_action : unsigned char {
    none,    ///< nothing to write now (or a write is in flight, or not started, or closed)
    write,   ///< start one gathered write of `buffers`; report its completion to write_done()
    finish,  ///< graceful end with nothing left to write (close-delimited): close the transport
  };
  struct write_plan {
    write_action action = write_action::none;
    /// The buffers, in order; valid (and unchanged) until write_done().
    std::span<const std::string_view> buffers = {};
    bool gap = false;  ///< the write carries a gap marker (stats().gaps counted it)
    std::size_t size() const noexcept {
      std::size_t n = 0;
      for (const auto b : buffers) n += b.size();
      return n;
    }
  };

  /// What write_done() decided.
  enum class after_write : unsigned char {
    next,     ///< call next_write() (there may be nothing to write)
    finish,   ///< the final write is done: close the transport (graceful end)
    failed,   ///< the write failed: the writer closed; report the error
    ignored,  ///< the writer had closed meanwhile (abort): nothing to do
  };
  struct write_outcome {
    after_write next = after_write::ignored;
    bool head_written = false;  ///< that write carried the head: its bytes are no longer needed
    std::uint64_t events = 0;   ///< events completed by this write
    std::uint64_t pings = 0;    ///< pings completed by this write
    friend bool operator==(const write_outcome&, const write_outcome&) = default;
  };

  /// What a keepalive tick finds.
  enum class tick_action : unsigned char {
    none,
    ping,           ///< idle long enough: enqueue a ping
    write_timeout,  ///< a write is in flight for longer than write_timeout: abort (stream_errc::write_timeout)
  };

  /// `now`: the creation time (counts as the last write until start()). The writer keeps the
  /// limits and the encoded preamble, not the options.
  explicit stream_writer(const stream_writer_options& opts = {}, time_point now = {})
      : max_queued_bytes_(opts.max_queued_bytes),
        max_replay_batch_bytes_(opts.max_replay_batch_bytes),
        write_timeout_(opts.write_timeout),
        framing_(opts.body_framing),
        on_overflow_(opts.on_overflow) {
    c_.last_write.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    std::string pre;
    if (opts.initial_comment) encode_comment_to(pre, *opts.initial_comment);
    if (opts.retry) (void)encode_retry_to(pre, *opts.retry);
    if (opts.padding > 0) encode_padding_to(pre, opts.padding);
    if (!pre.empty()) act().preamble = make_shared_event(std::move(pre));
  }

  stream_writer(const stream_writer&) = delete;  // the buffers point into it
  stream_writer& operator=(const stream_writer&) = delete;

  /// The phase; may be read from any thread (the counters too: stats()).
  phase state() const noexcept { return state_.load(std::memory_order_acquire); }
  /// True once start() has run (the stream wrote, or was about to write, its head).
  bool started() const noexcept { return started_; }
  /// True while a write is in flight.
  bool is_writing() const noexcept { return in_flight_; }
  /// True when next_write() could start a write (none in flight, started, not closed).
  bool can_write() const noexcept { return !in_flight_ && (st() == phase::open || st() == phase::closing); }
  /// True when the drop policy has a gap marker waiting to be written.
  bool gap_pending() const noexcept { return gap_pending_; }
  /// When the write in flight started.
  time_point write_started() const noexcept { return write_started_; }
  /// A snapshot of the counters; may be taken from any thread (relaxed atomics with one writer).
  stream_stats stats() const noexcept {
    stream_stats s;
    s.bytes_written = c_.bytes_written.load(std::memory_order_relaxed);
    s.writes = c_.writes.load(std::memory_order_relaxed);
    s.events_sent = c_.events_sent.load(std::memory_order_relaxed);
    s.pings_sent = c_.pings_sent.load(std::memory_order_relaxed);
    s.events_dropped = c_.events_dropped.load(std::memory_order_relaxed);
    s.gaps = c_.gaps.load(std::memory_order_relaxed);
    s.queued_bytes = queued();
    s.max_queued_bytes_seen = c_.max_queued.load(std::memory_order_relaxed);
    s.last_write = last_write();
    return s;
  }

  /// Starts the stream: `head` (unframed; kept as a view, valid until the write_done() that reports
  /// head_written, or until the writer is closed) then the preamble. False if already started.
  bool start(time_point now, std::string_view head = {}) {
    if (st() != phase::idle) return false;
    set_state(phase::open);
    started_ = true;
    c_.last_write.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    if (!head.empty()) {
      act().head = head;
      head_pending_ = true;
    }
    return true;
  }

  /// Queues a live item (counted in the bound) and applies the overflow policy. Items queued before
  /// start() wait for it.
  enqueue_verdict enqueue(shared_event ev, item_kind k = item_kind::event) {
    if (!ev || st() == phase::closing || st() == phase::closed) return {};
    enqueue_verdict v;
    v.queued_before = queued();
    const std::size_t size = ev->bytes.size();
    const std::size_t bound = max_queued_bytes_;
    if (queued() + size > bound) {
      if (on_overflow_ == overflow_policy::disconnect) {
        close_now();
        v.status = enqueue_status::overflow;
        return v;
      }
      v.dropped = drop_backlog();
      if (queued() + size > bound) {  // still no room: skip this one too
        if (k == item_kind::event) {
          note_skipped(*ev);
          ++v.dropped;
        }
        rebuild_gap();
        if (queued() > bound) {  // not even the marker fits
          close_now();
          v.status = enqueue_status::gap_overflow;
          return v;
        }
        v.status = enqueue_status::dropped;
        return v;
      }
    }
    add_queued(size);
    act().queue.push_back(item{std::move(ev), k, true});
    v.status = enqueue_status::queued;
    return v;
  }

  /// Appends events to replay (after the preamble, before any live item). False (ignored) when
  /// closing or closed.
  bool replay(std::vector<shared_event> evs) {
    if (st() == phase::closing || st() == phase::closed) return false;
    for (auto& e : evs)
      if (e) act().replay.push_back(std::move(e));
    return true;
  }

  /// Graceful close: what is queued, then `retry: <ms>` (when given and not negative), then (chunked)
  /// the last chunk.
  close_action close(std::optional<std::chrono::milliseconds> retry = std::nullopt) {
    if (st() == phase::closing || st() == phase::closed) return close_action::ignored;
    if (st() == phase::idle) {
      set_state(phase::closed);
      a_.reset();  // never started: nothing in flight
      return close_action::closed;
    }
    set_state(phase::closing);
    if (retry && retry->count() >= 0) {
      std::string s;
      (void)encode_retry_to(s, *retry);
      act().queue.push_back(item{make_shared_event(std::move(s)), item_kind::control, false});
    }
    return close_action::finishing;
  }

  /// Abortive close: drops everything not yet written (the write in flight keeps its buffers until
  /// write_done()). Returns the phase before (closed: it was already closed, nothing done).
  phase abort() noexcept {
    const phase before = st();
    if (before != phase::closed) close_now();
    return before;
  }

  /// The next gathered write, if one can start now: at most one write is in flight. `now` is
  /// remembered as its start (for the write timeout).
  write_plan next_write(time_point now) {
    if (!can_write()) return {};
    if (!a_ && st() == phase::open && !gap_pending_) return {};  // idle: nothing to write, nothing held
    active& a = act();
    a.bufs.clear();
    a.inflight.clear();
    a.inflight_live_bytes = 0;
    if (head_pending_) {
      a.bufs.push_back(a.head);
      head_pending_ = false;
      head_in_flight_ = true;
    }
    const bool chunked = framing_ == framing::chunked;
    const std::size_t chunk_slot = a.bufs.size();
    if (chunked) a.bufs.emplace_back();  // the chunk header, filled in below
    std::size_t body = 0;
    if (a.preamble) take(std::move(a.preamble), item_kind::comment, false, body);
    a.preamble.reset();
    std::size_t replayed = 0;
    while (a.replay_pos < a.replay.size() &&
           (replayed == 0 || replayed + a.replay[a.replay_pos]->bytes.size() <= max_replay_batch_bytes_)) {
      replayed += a.replay[a.replay_pos]->bytes.size();
      take(std::move(a.replay[a.replay_pos++]), item_kind::event, false, body);
    }
    bool gap = false;
    if (a.replay_pos == a.replay.size()) {
      a.replay.clear();
      a.replay_pos = 0;
      if (gap_pending_) {
        bump(c_.gaps, 1);
        gap = true;
        take(make_shared_event(std::move(gap_->text)), item_kind::control, true, body);
        gap_.reset();
        gap_pending_ = false;
      }
      for (item& it : a.queue) take(std::move(it.ev), it.k, it.counted, body);
      a.queue.clear();  // keeps its capacity for the next batch
    }
    if (chunked) {
      if (body > 0) {
        const std::size_t n = detail::chunk_header(a.chunk_head, body);
        a.bufs[chunk_slot] = std::string_view(a.chunk_head, n);
        a.bufs.push_back(detail::crlf);
      } else {
        a.bufs.erase(chunk_slot);
      }
    }
    if (st() == phase::closing && a.replay.empty() && a.queue.empty()) {
      if (chunked) a.bufs.push_back(detail::last_chunk);
      final_sent_ = true;
    }
    if (a.bufs.empty()) {
      if (final_sent_) {  // close-delimited and nothing left: done
        set_state(phase::closed);
        a_.reset();
        return {write_action::finish, {}, false};
      }
      return {};
    }
    in_flight_ = true;
    write_started_ = now;
    return {write_action::write, std::span<const std::string_view>(a.bufs.data(), a.bufs.size()), gap};
  }

  /// The write in flight completed: `n` bytes were written (all of them unless `ec`). `now`: the
  /// completion time (the last write, for keepalive).
  write_outcome write_done(std::error_code ec, std::size_t n, time_point now) {
    write_outcome out;
    in_flight_ = false;
    bump(c_.bytes_written, n);
    if (head_in_flight_) {  // written (or failed): the head is never needed again
      head_in_flight_ = false;
      out.head_written = true;
    }
    if (st() == phase::closed) {
      a_.reset();  // nothing more is written: the write's buffers go too
      out.next = after_write::ignored;
      return out;
    }
    if (ec) {
      close_now();
      a_.reset();
      out.next = after_write::failed;
      return out;
    }
    bump(c_.writes, 1);
    c_.last_write.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    if (a_) {
      for (const auto& it : a_->inflight) {
        if (it.k == item_kind::event) ++out.events;
        else if (it.k == item_kind::ping) ++out.pings;
      }
      sub_queued(a_->inflight_live_bytes);
      if (a_->queue.empty() && a_->replay.empty()) {
        // Drained: an idle stream holds none of this (most streams of a large fan-out are idle most
        // of the time); a busy one (a backlog when its write completes) keeps it for the next write.
        a_.reset();
      } else {
        a_->head = {};
        a_->bufs.clear();
        a_->inflight.clear();
        a_->inflight_live_bytes = 0;
      }
    }
    if (out.events) bump(c_.events_sent, out.events);
    if (out.pings) bump(c_.pings_sent, out.pings);
    if (final_sent_) {
      set_state(phase::closed);
      a_.reset();
      out.next = after_write::finish;
      return out;
    }
    out.next = after_write::next;
    return out;
  }

  /// True when the stream is open, nothing is queued, in flight or pending (replay, gap marker),
  /// and nothing was written for `idle`.
  bool needs_ping(time_point now, clock::duration idle) const noexcept {
    return st() == phase::open && !in_flight_ && (!a_ || (a_->queue.empty() && a_->replay.empty())) &&
           !gap_pending_ && now - last_write() >= idle;
  }

  /// Bytes the writer holds now for writing (its lists of queued, replayed and in-flight items and
  /// buffers, not the events they point to): 0 once a write has completed with nothing queued, so
  /// that an idle stream holds none; a busy one keeps them between writes.
  std::size_t buffer_bytes() const noexcept {
    if (!a_) return 0;
    return sizeof(active) + a_->bufs.heap_capacity() * sizeof(std::string_view) +
           (a_->queue.heap_capacity() + a_->inflight.heap_capacity()) * sizeof(item) +
           a_->replay.capacity() * sizeof(shared_event);
  }

  /// True when a write has been in flight for write_timeout or longer.
  bool write_timed_out(time_point now) const noexcept {
    return in_flight_ && st() != phase::closed && now - write_started_ >= write_timeout_;
  }

  /// A keepalive tick: the write timeout first, then the ping.
  tick_action tick(time_point now, clock::duration idle) const noexcept {
    if (write_timed_out(now)) return tick_action::write_timeout;
    if (needs_ping(now, idle)) return tick_action::ping;
    return tick_action::none;
  }

 private:
  struct item {
    shared_event ev;
    item_kind k;
    bool counted;  ///< counted in the live queue bound
  };
  /// What the writer holds only while it has something to write: allocated by the first item (or by
  /// the preamble), given back when a write completes with nothing left. The lists of a write hold
  /// their first elements in place: a write of one event to an idle stream allocates this and
  /// nothing else.
  struct active {
    std::string_view head;  ///< the response head until its write completes
    shared_event preamble;
    std::vector<shared_event> replay;
    std::size_t replay_pos = 0;
    detail::inline_vector<item, 2> queue;  ///< live FIFO; always drained whole, so no head index
    detail::inline_vector<item, 2> inflight;
    std::size_t inflight_live_bytes = 0;
    detail::inline_vector<std::string_view, 4> bufs;  ///< chunk header, events, CRLF (and the last chunk)
    char chunk_head[detail::chunk_header_max] = {};
  };
  active& act() {
    if (!a_) a_ = std::make_unique<active>();
    return *a_;
  }

  /// State of the drop policy's pending gap marker; allocated only once something was dropped.
  struct gap_state {
    std::uint64_t skipped = 0;
    std::string first, last, text;
  };

  phase st() const noexcept { return state_.load(std::memory_order_relaxed); }
  void set_state(phase p) noexcept { state_.store(p, std::memory_order_release); }
  std::size_t queued() const noexcept { return c_.queued.load(std::memory_order_relaxed); }
  time_point last_write() const noexcept {
    return time_point(clock::duration(c_.last_write.load(std::memory_order_relaxed)));
  }
  void sub_queued(std::size_t n) noexcept { c_.queued.store(queued() - n, std::memory_order_relaxed); }
  /// One writer: a load and a store, no locked read-modify-write.
  template <class T, class U>
  static void bump(std::atomic<T>& a, U n) noexcept {
    a.store(a.load(std::memory_order_relaxed) + static_cast<T>(n), std::memory_order_relaxed);
  }

  void close_now() noexcept {
    set_state(phase::closed);
    if (in_flight_) {  // the write in flight keeps its buffers until write_done()
      a_->queue.clear();
      a_->replay.clear();
      a_->replay_pos = 0;
      a_->preamble.reset();
    } else {
      a_.reset();
    }
    gap_pending_ = false;
    gap_.reset();
    c_.queued.store(0, std::memory_order_relaxed);
  }

  void add_queued(std::size_t n) noexcept {
    const std::size_t q = queued() + n;
    c_.queued.store(q, std::memory_order_relaxed);
    if (q > c_.max_queued.load(std::memory_order_relaxed)) c_.max_queued.store(q, std::memory_order_relaxed);
  }

  /// Discards the queued backlog; returns the number of events skipped.
  std::uint64_t drop_backlog() {
    std::uint64_t n = 0;
    if (a_) {
      for (const auto& it : a_->queue) {
        if (it.counted) sub_queued(it.ev->bytes.size());
        if (it.k == item_kind::event) {
          note_skipped(*it.ev);
          ++n;
        }
      }
      a_->queue.clear();
    }
    rebuild_gap();
    return n;
  }

  void note_skipped(const encoded_event& ev) {
    if (!gap_) gap_ = std::make_unique<gap_state>();
    ++gap_->skipped;
    bump(c_.events_dropped, 1);
    if (!ev.id.empty()) {
      if (gap_->first.empty()) gap_->first = ev.id;
      gap_->last = ev.id;
    }
  }

  /// (Re)builds the pending gap marker from the skipped counters; its bytes count in the bound.
  void rebuild_gap() {
    if (!gap_ || gap_->skipped == 0) return;
    sub_queued(gap_->text.size());
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

  void take(shared_event ev, item_kind k, bool counted, std::size_t& body) {
    body += ev->bytes.size();
    if (!ev->bytes.empty()) a_->bufs.push_back(ev->bytes);  // no empty buffer: an empty plan is no write
    if (counted) a_->inflight_live_bytes += ev->bytes.size();
    a_->inflight.push_back(item{std::move(ev), k, counted});
  }

  std::size_t max_queued_bytes_;
  std::size_t max_replay_batch_bytes_;
  std::chrono::milliseconds write_timeout_;
  framing framing_;
  overflow_policy on_overflow_;
  std::atomic<phase> state_{phase::idle};
  bool started_ = false;
  bool head_pending_ = false;
  bool head_in_flight_ = false;
  bool in_flight_ = false;
  bool final_sent_ = false;
  bool gap_pending_ = false;
  std::unique_ptr<active> a_;  ///< null while there is nothing to write (an idle stream holds none of it)
  time_point write_started_{};
  std::unique_ptr<gap_state> gap_;
  /// The counters, readable from other threads: one writer (this machine's caller), relaxed.
  struct counters {
    std::atomic<std::uint64_t> bytes_written{0}, writes{0}, events_sent{0}, pings_sent{0}, events_dropped{0}, gaps{0};
    std::atomic<std::size_t> queued{0}, max_queued{0};
    std::atomic<clock::rep> last_write{0};
  } c_;
};

}  // namespace sse

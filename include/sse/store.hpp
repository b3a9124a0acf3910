/**
 * @file store.hpp
 * @brief sse::event_store: the optional durable log behind sse::hub (replay across restarts,
 *        history for later reading). The core never depends on an implementation; sse::sqlite
 *        (include/sse/sqlite/event_store.hpp) is one.
 *
 * Contract the hub relies on (an implementation must keep it):
 *  - open_topic(topic, proposed_epoch) returns the topic's epoch and its head (the last sequence
 *    number appended, 0 when none). A topic the store has never seen gets `proposed_epoch`, which
 *    the store keeps from then on, so ids `<epoch>-<seq>` stay stable across restarts.
 *  - append() is called under the topic's mutex, in sequence order, with consecutive sequence
 *    numbers. It must not do I/O on the caller's thread for long: queue and batch. When it cannot
 *    accept (queue full beyond a bounded wait, store closed, I/O failed), it reports an error and the
 *    hub does not publish the event (the publisher gets the error).
 *  - load() and open_topic() read their own writes: an event accepted by append() is visible to them
 *    at once, written to disk or still queued.
 *  - An id, once handed out, never names another event, across crashes too: a store that may lose
 *    accepted events in a crash must make open_topic() return a head past every number it may have
 *    accepted (sse::sqlite reserves a gap), so a resume from a lost id is not contiguous with what
 *    it stores and the hub answers `event: reset`.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sse/error_category.hpp"
#include "sse/shared_event.hpp"

namespace sse {

/// One event as a store keeps it: its place in the topic, its fields, and its exact wire bytes.
struct stored_event {
  std::uint64_t seq = 0;  ///< 1, 2, ... within the topic
  std::string id = {};    ///< `<epoch>-<seq>`
  std::string type = {};  ///< the `event:` field ("" = message)
  std::string data = {};  ///< the payload as published
  shared_event wire = {}; ///< the encoded bytes, exactly as streamed (id line included)
  std::int64_t time_ms = 0;  ///< Unix time in milliseconds when appended (set by the store if 0)
};

/// Sequence numbers of a topic that no event will ever have (a store reserved them after a crash:
/// some may have been sent before it and were never written). A resume from inside one cannot be
/// continued (reset); a replay may step over one.
struct store_gap {
  std::uint64_t first = 0, last = 0;
};

/// What a store knows of a topic.
struct store_topic {
  std::string epoch = {};  ///< the topic's epoch
  std::uint64_t head = 0;  ///< the last sequence number appended (0 = none)
};

/// Errors a store reports besides its own I/O errors.
enum class store_errc {
  queue_full = 1,  ///< the write queue stayed full for the whole bounded wait
  closed,          ///< the store is shut down
  sequence,        ///< an append out of order (not head + 1)
  failed,          ///< a write failed earlier; the store refuses further appends
};

}  // namespace sse

template <>
struct std::is_error_code_enum<sse::store_errc> : std::true_type {};

namespace sse {

namespace detail {
struct store_category_impl {
  static constexpr const char* name = "sse.store";
  static std::string message(int ev) {
    switch (static_cast<store_errc>(ev)) {
      case store_errc::queue_full: return "event store: write queue full";
      case store_errc::closed: return "event store: closed";
      case store_errc::sequence: return "event store: append out of sequence";
      case store_errc::failed: return "event store: an earlier write failed";
    }
    return "unknown sse.store error";
  }
};
}  // namespace detail

inline const std::error_category& store_category() noexcept {
  return sse::error_category_for<detail::store_category_impl>();
}

inline std::error_code make_error_code(store_errc e) noexcept { return {static_cast<int>(e), store_category()}; }

/// A durable event log shared by topics. Every member may be called from any thread.
class event_store {
 public:
  virtual ~event_store() = default;

  /// The topic's epoch and head; records `proposed_epoch` for a topic it has never seen.
  virtual store_topic open_topic(std::string_view topic, std::string_view proposed_epoch, std::error_code& ec) = 0;

  /// Accepts one event (seq = head + 1) for writing. Bounded: never blocks longer than the
  /// implementation's documented wait.
  virtual void append(std::string_view topic, stored_event ev, std::error_code& ec) = 0;

  /// Events of `topic` with seq > after_seq, oldest first, at most `limit`.
  virtual std::vector<stored_event> load(std::string_view topic, std::uint64_t after_seq, std::size_t limit,
                                         std::error_code& ec) = 0;

  /// The reserved gaps of `topic`, oldest first (none by default).
  virtual std::vector<store_gap> gaps(std::string_view topic, std::error_code& ec) {
    (void)topic;
    ec = {};
    return {};
  }

  /// The write error in force while the store cannot write (appends then fail with it at once),
  /// empty while healthy. A server answers /healthz with 503 and this reason while it is set.
  virtual std::error_code status() const noexcept { return {}; }

  /// The store's metrics in Prometheus text format (appended to /metrics), or "".
  virtual std::string prometheus() const { return {}; }
};

}  // namespace sse

/**
 * @file broker.hpp
 * @brief sse::broker: the optional shared log behind sse::hub when several instances serve the
 *        same topics (sse::redis::broker is one). The core never depends on an implementation.
 *
 * A broker is a source of ids and history, never a second hub: sse::hub keeps the only subscriber
 * registry, fan-out, seal and close. With hub_options::broker set:
 *  - publish(): the broker appends the event to the shared log, which assigns its id (the same on
 *    every instance), and completes with that id or an error. It does not deliver: every instance,
 *    the publishing one included, delivers what it reads back from the shared log, so all instances
 *    deliver the same events in the same order with the same ids.
 *  - seal(): appends an end-of-topic marker to the shared log (never sent to clients).
 *  - watch() / unwatch(): the hub holds a topic here (subscribers, or recently used): the broker
 *    fixes the topic's position (its newest entry), reports it through broker_context::positioned,
 *    and from then on feeds every entry after it, in log order, to broker_context::entries (a seal
 *    marker last: nothing after it is fed). When the shared log lost entries the broker had not
 *    read (it restarted without persistence, or trimmed past the position), broker_context::lost.
 *    The hub keeps what it was fed in the topic's in-memory log (its mirror) and fans it out.
 *  - read(): the history query, for a resume the mirror cannot answer: the entries after an id
 *    (or a reset with the newest retained ones), answered once the topic is positioned when it is
 *    watched, so that the answer and the mirror overlap (the hub joins them without gap or
 *    duplicate).
 * Every callback of broker_context runs on one thread at a time, in order (the broker's I/O).
 */
#pragma once

#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>

#include "sse/event.hpp"
#include "sse/log.hpp"
#include "sse/logger.hpp"
#include "sse/metrics.hpp"
#include "sse/shared_event.hpp"

namespace sse {

namespace detail {
/// True when the calling thread is running `ex` now (inside one of its handlers, or inside
/// io_context::run() of its context), for the executor types Asio hands out for an io_context:
/// its executor (work-tracked or not) and strands over them. False for any other executor type
/// (unknown: it cannot be asked).
inline bool running_in_this_thread(const asio::any_io_executor& ex) noexcept {
  using plain = asio::io_context::executor_type;
  using tracked = decltype(asio::prefer(std::declval<plain>(), asio::execution::outstanding_work.tracked));
  if (!ex) return false;
  if (const auto* e = ex.target<plain>()) return e->running_in_this_thread();
  if (const auto* e = ex.target<tracked>()) return e->running_in_this_thread();
  if (const auto* e = ex.target<asio::strand<plain>>()) return e->running_in_this_thread();
  if (const auto* e = ex.target<asio::strand<asio::any_io_executor>>()) return e->running_in_this_thread();
  return false;
}
}  // namespace detail

/// How a subscription ends (see hub::subscribe).
struct subscribe_options {
  /// End the stream gracefully once its replay is written (a finished topic): no live events follow.
  bool close_after_replay = false;
  std::optional<std::chrono::milliseconds> close_retry = {};  ///< `retry:` hint written last, if any
};

/// A position in a shared log, ordered as the log orders its entries (Redis: `<ms>-<seq>`).
struct log_position {
  std::uint64_t major = 0;
  std::uint64_t minor = 0;
  friend auto operator<=>(const log_position&, const log_position&) = default;
  friend bool operator==(const log_position&, const log_position&) = default;
};

/// One entry of a shared log.
struct broker_entry {
  log_position pos;
  std::string id;        ///< the shared log's id: the event's id on the wire
  shared_event event;    ///< encoded with that id; nullptr for the seal marker
  std::optional<std::chrono::milliseconds> seal_retry = {};  ///< the seal's `retry:` hint
};

/// The answer of broker::read: what a client that last saw `after` should get.
struct broker_history {
  resume_status status = resume_status::replay;  ///< replay, or reset (the id is gone or unknown, or too many)
  reset_reason reason = reset_reason::none;
  std::string oldest_id = {};          ///< on reset: the oldest id retained ("" when none)
  std::vector<broker_entry> entries;   ///< in log order; a seal marker, if any, is last
  /// The newest entry these entries reach: the log's newest when answered (or `after` itself when
  /// nothing follows it).
  log_position upto = {};
  std::string upto_id = {};            ///< upto's id ("" when the log is empty)
};

/// What a broker gets from the hub it is attached to. The callbacks run on the broker's I/O, one at
/// a time, in order.
struct broker_context {
  std::vector<asio::any_io_executor> shards;  ///< the hub's executors
  sse::metrics* metrics = nullptr;
  logger on_log = {};
  /// A watched topic is read from `pos` (its newest entry when watched; "" id: the log was empty)
  /// on; `seal` is that newest entry when it is a seal marker.
  std::function<void(std::string_view topic, log_position pos, std::string id, std::optional<broker_entry> seal)> positioned;
  /// Entries of a watched topic after its position, in log order, each exactly once.
  std::function<void(std::string_view topic, std::vector<broker_entry>)> entries;
  /// A watched topic's log lost entries this instance had not read: its streams may have a gap.
  std::function<void(std::string_view topic)> lost;
};

class broker {
 public:
  using publish_handler = std::function<void(std::error_code, std::string id)>;
  using seal_handler = std::function<void(std::error_code)>;
  using read_handler = std::function<void(std::error_code, broker_history)>;

  virtual ~broker() = default;

  /// Called once by the hub's constructor.
  virtual void attach(broker_context ctx) = 0;
  /// Called by the hub's stop() / destructor: no more callbacks, stop I/O. Idempotent.
  virtual void detach() = 0;

  /// Appends `ev` (type and data; its id is unset) to `topic`'s shared log. `done` runs once, on a
  /// thread of the broker, with the assigned id or an error. Any thread.
  virtual void publish(std::string_view topic, const event& ev, publish_handler done) = 0;

  /// Ends `topic` for good on every instance (an end marker in the shared log). `done` runs once,
  /// on a thread of the broker. Any thread.
  virtual void seal(std::string_view topic, std::optional<std::chrono::milliseconds> retry, seal_handler done) = 0;

  /// Starts (counted: once per call) / stops reading `topic` live for the hub (see the file comment).
  /// Any thread.
  virtual void watch(std::string_view topic) = 0;
  virtual void unwatch(std::string_view topic) = 0;

  /// The history after `after` (an id of this log; "" = none: only `upto`, the newest entry, and
  /// whether it is a seal). `done` runs once, on a thread of the broker; when Redis (or whatever
  /// the log is) is unreachable the read waits for it (bounded by its own timeouts per attempt).
  /// Any thread.
  virtual void read(std::string_view topic, std::string_view after, read_handler done) = 0;

  /// The position an id names, when it is an id of this log (nullopt: not one).
  virtual std::optional<log_position> parse_id(std::string_view id) const = 0;

  /// True when the calling thread runs the broker's own I/O executor now (when it has one besides
  /// the hub's shards): a blocking wait for the broker there could never end. The hub refuses
  /// blocking calls then (hub_errc::would_block).
  virtual bool running_in_io_thread() const noexcept { return false; }

  /// True when `ec` (from publish) means "the shared log is unreachable now: retry later" (503).
  virtual bool is_unavailable(const std::error_code& ec) const = 0;

  /// The broker's metrics in the Prometheus text format ("" = none).
  virtual std::string prometheus() const { return {}; }
};

}  // namespace sse

/**
 * @file broker.hpp
 * @brief sse::broker: the optional shared log behind sse::hub when several instances serve the
 *        same topics (sse::redis::broker is one). The core never depends on an implementation.
 *
 * With hub_options::broker set, the hub hands publish and subscribe to the broker:
 *  - publish(): the broker appends the event to the shared log, which assigns its id (the same on
 *    every instance), and completes with that id or an error. It does not deliver locally: every
 *    instance, the publishing one included, delivers what it reads back from the shared log, so all
 *    instances deliver the same events in the same order with the same ids.
 *  - subscribe(): runs on the stream's shard; the broker replays what the stream missed after its
 *    Last-Event-ID, then live events, with no gap and no duplicate at the boundary, and starts it.
 *  - seal(): appends an end-of-topic marker to the shared log; every instance closes the topic's
 *    streams when it reads it (after the events before it), and later subscribers get their replay
 *    and are closed. The marker is never sent to clients.
 *  - close_all(): closes every stream it holds (server shutdown).
 *  - detach(): the hub is going away; the broker stops posting to the shards and stops its I/O.
 */
#pragma once

#include <chrono>
#include <cstddef>
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

#include "sse/logger.hpp"
#include "sse/event.hpp"
#include "sse/metrics.hpp"

namespace sse {

class stream_base;

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

/// What a broker gets from the hub it is attached to.
struct broker_context {
  std::vector<asio::any_io_executor> shards;  ///< the hub's executors; a stream lives on one of them
  sse::metrics* metrics = nullptr;
  logger on_log = {};
};

class broker {
 public:
  using publish_handler = std::function<void(std::error_code, std::string id)>;

  virtual ~broker() = default;

  /// Called once by the hub's constructor.
  virtual void attach(broker_context ctx) = 0;
  /// Called by the hub's destructor: stop posting to the shards, stop I/O. Idempotent.
  virtual void detach() = 0;

  /// Appends `ev` (type and data; its id is unset) to `topic`'s shared log. `done` runs once, on a
  /// thread of the broker, with the assigned id or an error. Any thread.
  virtual void publish(std::string_view topic, const event& ev, publish_handler done) = 0;

  /// Takes over `s` (not started yet) for `topic` from `last_event_id` ("" = live only): replay,
  /// then live events; the broker starts the stream. Called on the stream's executor, shards[shard].
  virtual void subscribe(std::shared_ptr<stream_base> s, std::string_view topic, std::string_view last_event_id,
                         std::size_t shard, subscribe_options opts) = 0;

  using seal_handler = std::function<void(std::error_code)>;
  /// Ends `topic` for good on every instance (see the file comment): its streams are closed, with an
  /// optional `retry:` hint, once they have every event published before the seal. `done` runs once,
  /// on a thread of the broker. Any thread.
  virtual void seal(std::string_view topic, std::optional<std::chrono::milliseconds> retry, seal_handler done) = 0;

  /// Closes every stream the broker holds, gracefully, with an optional `retry:` hint. Any thread.
  virtual void close_all(std::optional<std::chrono::milliseconds> retry) = 0;

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

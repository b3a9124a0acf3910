/**
 * @file topic.hpp
 * @brief The hub's per-topic state (sse::detail::topic_state: its log, its subscribers per shard,
 *        the shards' inboxes, the mirror of a shared log) and the idle-topic timer. Internal to
 *        sse::hub (see sse/hub.hpp for how they are used and locked).
 */
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/steady_timer.hpp>

#include "sse/broker.hpp"
#include "sse/log.hpp"
#include "sse/shared_event.hpp"
#include "sse/stream.hpp"

namespace sse {

namespace detail {

struct subscriber {
  std::shared_ptr<stream_base> stream;
  std::uint64_t next_seq = 0;
  std::uint32_t slot = 0;  ///< stable handle: shard_subscribers::where_[slot] is its index
};

/// One shard's subscribers of a topic: a dense vector (walked per event) with O(1) removal by a
/// stable slot (swap with the last). Walk order across streams is not kept; each stream's own
/// delivery order is (every event is one walk, in publish order).
class shard_subscribers {
 public:
  std::uint32_t add(std::shared_ptr<stream_base> s, std::uint64_t next_seq) {
    std::uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<std::uint32_t>(where_.size());
      where_.push_back(0);
    }
    where_[slot] = static_cast<std::uint32_t>(subs_.size());
    subs_.push_back(subscriber{std::move(s), next_seq, slot});
    return slot;
  }
  void remove(std::uint32_t slot) {
    const std::uint32_t i = where_[slot];
    if (i + 1 != subs_.size()) {
      subs_[i] = std::move(subs_.back());
      where_[subs_[i].slot] = i;
    }
    subs_.pop_back();
    free_.push_back(slot);
  }
  std::size_t size() const noexcept { return subs_.size(); }
  auto begin() noexcept { return subs_.begin(); }
  auto end() noexcept { return subs_.end(); }

 private:
  std::vector<subscriber> subs_;
  std::vector<std::uint32_t> where_;  // slot -> index in subs_
  std::vector<std::uint32_t> free_;   // slots to reuse
};

/// What a shard's inbox holds: an event in seq order, or (after the events before it) the topic's
/// seal (close its streams) or an in-band reset (the shared log lost entries: see sse/broker.hpp).
struct inbox_item {
  enum kind_t : std::uint8_t { event, seal, reset };
  std::uint64_t seq = 0;
  shared_event ev = {};
  kind_t kind = event;
};

/// A resume a topic's mirror of its shared log cannot answer yet (hub_options::broker): retried on
/// its shard once the mirror is positioned and has been fed up to `upto`.
struct mirror_waiter {
  std::optional<log_position> upto;  ///< nullopt: once positioned
  std::size_t shard = 0;
  std::function<void()> retry;
};

struct topic_state {
  topic_state(std::string n, const log_options& lo, std::size_t shards, std::uint64_t head = 0)
      : name(std::move(n)), log(lo), counts(shards, 0), inbox(shards), drain_posted(shards, 0), local(shards) {
    if (head != 0) log.restore_head(head);
  }
  const std::string name;
  std::mutex mu;
  event_log log;                      // guarded by mu
  std::vector<std::size_t> counts;    // guarded by mu: subscribers per shard
  bool erased = false;                // guarded by mu
  /// Only subscribers made it exist (see hub_options::max_subscribed_topics). Changed with both the
  /// stripe's mutex and mu held; read under either.
  bool subscribed_only = false;
  /// log.oldest_seq() (max when the log was dropped), for the history FIFO's stale-entry check
  /// without taking mu. Written under mu.
  std::atomic<std::uint64_t> oldest_live{1};
  bool evicted = false;               // guarded by mu: dropped for idleness; users look it up again
  std::chrono::steady_clock::time_point last_used = std::chrono::steady_clock::now();  // guarded by mu
  bool sealed = false;                // guarded by mu
  std::optional<std::chrono::milliseconds> seal_retry;  // guarded by mu
  // With a broker the log mirrors the topic's shared log from `cover` on (guarded by mu): every
  // entry after it was fed, and got a seq from cover_seq on (the log's own ids are unused: entries
  // keep the shared log's).
  bool positioned = false;
  bool cover_named = false;           // `cover` is an entry a client may resume from (not after a loss)
  log_position cover = {};
  std::uint64_t cover_seq = 1;
  log_position last = {};             // the newest entry fed (or the position)
  std::string last_id = {};           // its id ("" = none)
  std::vector<mirror_waiter> waiters;
  // local[i] is touched only on shard i's executor (and registration also holds mu).
  // Events on their way to shard i, in seq order (pushed under mu); one drain task posted at a time.
  // A mailbox, not one post per event: Asio runs a post made from inside one of its handlers after
  // posts made meanwhile from other threads, so posting per event could deliver seq n+1 before n
  // on a shard when two threads publish to a topic (n would then be skipped as "in its replay").
  std::vector<std::vector<inbox_item>> inbox;  // guarded by mu
  std::vector<char> drain_posted;              // guarded by mu
  std::vector<shard_subscribers> local;
};

}  // namespace detail

namespace detail {
/// The timer that drops idle topics (hub_options::idle_topic_ttl): one per hub, on its first shard.
class topic_reaper : public std::enable_shared_from_this<topic_reaper> {
 public:
  topic_reaper(asio::any_io_executor ex, std::chrono::milliseconds period, std::function<void()> sweep)
      : timer_(std::move(ex)), period_(period), sweep_(std::move(sweep)) {}
  void start() {
    asio::dispatch(timer_.get_executor(), [self = shared_from_this()] { self->arm(); });
  }
  void stop() {
    asio::dispatch(timer_.get_executor(), [self = shared_from_this()] {
      self->stopped_ = true;
      self->timer_.cancel();
    });
  }

 private:
  void arm() {
    if (stopped_) return;
    timer_.expires_after(period_);
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (ec || self->stopped_) return;
      self->sweep_();
      self->arm();
    });
  }
  asio::steady_timer timer_;
  std::chrono::milliseconds period_;
  std::function<void()> sweep_;
  bool stopped_ = false;
};
}  // namespace detail

}  // namespace sse

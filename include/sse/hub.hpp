/**
 * @file hub.hpp
 * @brief sse::hub: topics, each with a bounded log, fanned out to streams sharded per executor.
 *
 * publish(topic, event), from any thread: under the topic's mutex (the only lock on the path; topic
 * lookup uses a striped map, no global lock) the hub assigns the next sequence number, encodes the
 * event ONCE with `id: <epoch>-<seq>` into one shared immutable buffer, appends it to the log and
 * appends it to the topic's inbox for each shard (executor) that has subscribers of that topic,
 * posting one drain task to a shard whose inbox was empty. Each shard delivers its inbox in seq order
 * to its local subscribers on its own executor; a publisher never waits for a client.
 *
 * subscribe(stream, topic, last_event_id) runs on the stream's shard: under the topic mutex it takes
 * the log's answer for the id (entries up to head H) and registers the stream with next_seq = H+1; a
 * live event reaches a subscriber only if its seq >= next_seq. So an event published during the
 * replay arrives exactly once: either in the replay or live, never both, never neither.
 * For an unknown or too-old id the stream first gets the in-band `event: reset` (see
 * sse::make_reset_event), then everything retained, then live events.
 *
 * With a durable store (hub_options::store, see sse/store.hpp) a topic created by the hub takes its
 * epoch and head from the store, so ids continue `<epoch>-<head+1>` after a restart; publish()
 * hands every event to the store (which queues and batches it off the hot path) before it is
 * appended to the log; and a Last-Event-ID older than the in-memory log (always the case after a
 * restart) is replayed from the store instead of getting a reset: stored events up to the log's
 * oldest entry, then the log's entries, then live events, with the same exact boundary as above.
 * When the store cannot give the whole range (more than store_replay_limit events, or a hole), the
 * subscriber gets the usual reset instead, never a silent gap.
 *
 * With a broker (hub_options::broker, see sse/broker.hpp: several instances sharing topics, e.g.
 * through Redis) the shared log assigns ids and holds the history, and the hub stays the only fan-out:
 * publish and seal go to the broker (async_publish; the id comes from the shared log); each topic
 * held here (subscribed to, or used within idle_topic_ttl, 30 s when 0) is watched: the broker feeds
 * its entries in log order into the topic's log, which mirrors the shared log, and out through the
 * same inboxes as a publish without a broker (a seal marker closes the streams after the events
 * before it). A Last-Event-ID the mirror holds is answered from it; an older one is read from the
 * shared log (broker::read) and joined to the mirror where the answer ends, so a resume is exact
 * (no gap, no duplicate) whatever arrives meanwhile. since(), last_id() and is_sealed() answer from
 * the mirror, or read the shared log for a topic not held here.
 *
 * Limits nobody can exhaust for others: a topic that only subscribers made exist (nothing published
 * to it) takes no publisher's slot (hub_options::max_topics) but one of the smaller
 * hub_options::max_subscribed_topics, becomes an ordinary topic at its first publish and is dropped
 * with its last subscriber. All topics' logs together retain at most hub_options::max_history_bytes
 * (64 MiB by default): past it the oldest events across topics are trimmed (a FIFO of (topic, seq)
 * behind its own short mutex, never held with another lock nor while fanning out), and a client
 * resuming from a trimmed id gets the usual `event: reset` (or its replay from the store).
 *
 * Blocking calls that wait for a broker (publish, seal) fail with hub_errc::would_block on a hub
 * executor (or the broker's), where they could never return. async_publish and async_seal are Asio
 * asynchronous operations taking a completion token (a callback, asio::use_future,
 * asio::use_awaitable, asio::experimental::deferred, ...): the handler runs through its associated
 * executor (by default one of the hub's: the caller's when it runs one), never inline, and the hub
 * keeps work on that executor until it has run.
 *
 * Shards are executors, each run by one thread (N threads each running an io_context), or a single
 * user io_context. A stream must live on one of the hub's executors (create its socket on
 * `hub.next_executor()` or `hub.shard(i)`).
 */
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "sse/broker.hpp"
#include "sse/hub/completion.hpp"
#include "sse/hub/mirror.hpp"
#include "sse/hub/options.hpp"
#include "sse/hub/topic.hpp"
#include "sse/error_category.hpp"
#include "sse/shared_event.hpp"
#include "sse/logger.hpp"
#include "sse/encoder.hpp"
#include "sse/event.hpp"
#include "sse/keepalive.hpp"
#include "sse/log.hpp"
#include "sse/metrics.hpp"
#include "sse/store.hpp"
#include "sse/stream.hpp"

namespace sse {

class hub {
  static constexpr std::size_t stripes = 64;

  struct core {
    std::vector<asio::any_io_executor> shards;
    hub_options opts;
    std::vector<std::shared_ptr<keepalive_scheduler>> keepalives;
    struct stripe {
      std::mutex mu;
      std::unordered_map<std::string, std::shared_ptr<detail::topic_state>> topics;
    };
    std::array<stripe, stripes> map;
    std::atomic<std::size_t> topic_count{0};       // published topics (max_topics)
    std::atomic<std::size_t> subscribed_count{0};  // subscribed-only topics (max_subscribed_topics)
    std::size_t max_subscribed = 1;
    detail::log_throttle refused_topic_log, refused_subscribed_log;  // one warning a second each
    std::atomic<std::size_t> round_robin{0};
    std::shared_ptr<detail::topic_reaper> reaper;
    // The global history budget (hub_options::max_history_bytes): every appended entry, in append
    // order. An entry whose event is no longer in its topic's log (evicted by the log's own bounds,
    // topic dropped) is stale: skipped when popped, removed in bulk when they outnumber the live.
    struct history_entry {
      std::weak_ptr<detail::topic_state> topic;
      std::uint64_t seq = 0;
    };
    std::mutex history_mu;  // history; never held with another mutex
    std::deque<history_entry> history;
    std::atomic<std::int64_t> history_bytes{0};   // retained in all logs
    std::atomic<std::int64_t> history_events{0};  // entries retained in all logs
    std::mutex trim_mu;  // one trimming thread at a time (see trim_history)
  };

 public:
  /// A hub over the given shard executors (at least one). Creates no threads.
  explicit hub(std::vector<asio::any_io_executor> shards, hub_options opts = {}) : core_(std::make_shared<core>()) {
    if (shards.empty()) throw std::invalid_argument("sse::hub: needs at least one executor");
    core_->shards = std::move(shards);
    core_->opts = std::move(opts);
    core_->max_subscribed = core_->opts.max_subscribed_topics.value_or(std::max<std::size_t>(1, core_->opts.max_topics / 10));
    if (core_->opts.keepalive)
      for (const auto& ex : core_->shards)
        core_->keepalives.push_back(keepalive_scheduler::create(ex, *core_->opts.keepalive, core_->opts.on_log));
    if (const auto& b = core_->opts.broker) {
      std::weak_ptr<core> w = core_;
      broker_context bc{core_->shards, core_->opts.metrics, core_->opts.on_log, {}, {}, {}};
      bc.positioned = [w](std::string_view topic, log_position pos, std::string id, std::optional<broker_entry> seal) {
        if (auto c = w.lock()) mirror_positioned(*c, topic, pos, std::move(id), std::move(seal));
      };
      bc.entries = [w](std::string_view topic, std::vector<broker_entry> es) {
        if (auto c = w.lock()) mirror_feed(*c, topic, std::move(es));
      };
      bc.lost = [w](std::string_view topic) {
        if (auto c = w.lock()) mirror_lost(*c, topic);
      };
      b->attach(std::move(bc));
    }
    if (const auto ttl = idle_ttl(*core_); ttl.count() > 0 && core_->opts.idle_topic_timer) {
      const auto period = std::clamp(ttl / 4, std::chrono::milliseconds(1), std::chrono::milliseconds(1000));
      std::weak_ptr<core> w = core_;
      core_->reaper = std::make_shared<detail::topic_reaper>(core_->shards.front(), period, [w] {
        if (auto c = w.lock()) evict_idle(*c, std::chrono::steady_clock::now());
      });
      core_->reaper->start();
    }
  }

  /// A hub with one shard: the user's io_context.
  explicit hub(asio::io_context& ioc, hub_options opts = {})
      : hub(std::vector<asio::any_io_executor>{ioc.get_executor()}, std::move(opts)) {}

  hub(const hub&) = delete;
  hub& operator=(const hub&) = delete;

  /// stop(). Streams stay open; call close_all() first for a clean shutdown.
  ~hub() { stop(); }

  /// Stops the hub's own background work: the keepalive timers, the idle-topic reaper, and the
  /// broker's connections (detached). Streams stay open (close_all() ends them) and the executors
  /// can then run out of work. Idempotent; any thread. An owner that must let its executors finish
  /// before the hub is destroyed (sse::server) calls it first.
  void stop() {
    if (const auto& b = core_->opts.broker) b->detach();
    for (auto& k : core_->keepalives) k->stop();
    if (core_->reaper) core_->reaper->stop();
    // Resumes waiting for the mirror would never go on now: let go of them (they hold their topic).
    for (auto& st : core_->map) {
      std::lock_guard lk(st.mu);
      for (auto& [name, t] : st.topics) {
        std::lock_guard tl(t->mu);
        t->waiters.clear();
      }
    }
  }

  std::size_t shard_count() const noexcept { return core_->shards.size(); }
  const asio::any_io_executor& shard(std::size_t i) const { return core_->shards.at(i); }
  /// Shards in turn, for an accept loop spreading connections.
  const asio::any_io_executor& next_executor() noexcept {
    return core_->shards[core_->round_robin.fetch_add(1, std::memory_order_relaxed) % core_->shards.size()];
  }
  /// The keepalive scheduler of shard i (nullptr when keepalive is off).
  std::shared_ptr<keepalive_scheduler> keepalive(std::size_t i) const {
    return core_->keepalives.empty() ? nullptr : core_->keepalives.at(i);
  }
  const hub_options& options() const noexcept { return core_->opts; }

  /// Publishes `ev` (its id must be unset) to `topic`, creating the topic if needed. Any thread.
  /// Returns the assigned id. Throws hub_argument_error / sse::invalid_event on bad arguments and
  /// hub_error when the topic limit is reached, the topic is sealed, or the store refuses the event
  /// (then nothing is published and the id is not used). With a store, this may wait for the
  /// store's bounded enqueue wait (sse::sqlite: 100 ms by default) when its queue is full.
  std::string publish(std::string_view topic, event ev) {
    std::error_code ec;
    std::string id = publish(topic, std::move(ev), ec);
    if (ec) throw_for(ec);
    return id;
  }

  /// As above, reporting errors through `ec` (returns "" then). With a broker this waits for the
  /// shared log's answer (bounded by the broker's timeouts); on one of the hub's executors (or the
  /// broker's) it fails at once with hub_errc::would_block instead, since the broker's I/O may need
  /// this very thread: use async_publish there.
  std::string publish(std::string_view topic, event ev, std::error_code& ec) {
    ec = check_publish(topic, ev);
    if (ec) return {};
    if (core_->opts.broker) {
      if (blocking_would_deadlock()) {
        ec = hub_errc::would_block;
        detail::log_to(core_->opts.on_log, log_level::error,
                       "sse hub: topic '{}': blocking publish refused on a hub executor (use async_publish)",
                       log_escape(topic));
        return {};
      }
      auto p = std::make_shared<std::promise<std::pair<std::error_code, std::string>>>();
      auto f = p->get_future();
      publish_to_broker(topic, ev, [p](std::error_code e, std::string id) { p->set_value({e, std::move(id)}); });
      auto [e, id] = f.get();
      ec = e;
      return id;
    }
    auto t = find_or_create(topic, topic_role::publisher, ec);
    if (ec) return {};
    std::string id;
    {
      std::unique_lock lk(t->mu);
      while (t->evicted) {  // dropped for idleness between the lookup and the lock: look it up again
        lk.unlock();
        t = find_or_create(topic, topic_role::publisher, ec);
        if (ec) return {};
        lk = std::unique_lock(t->mu);
      }
      if (core_->opts.idle_topic_ttl.count() > 0) t->last_used = std::chrono::steady_clock::now();
      if (t->sealed) {
        ec = hub_errc::topic_sealed;
        return {};
      }
      const std::uint64_t seq = t->log.next_seq();
      id = t->log.make_id(seq);
      ev.id = id;
      auto enc = make_shared_event(encode(ev), id);
      if (const auto& store = core_->opts.store) {
        // Queued by the store (bounded wait at most); refused = not published at all.
        store->append(topic, stored_event{seq, id, std::move(ev.type), std::move(ev.data), enc, 0}, ec);
        if (ec) {
          detail::log_to(core_->opts.on_log, log_level::warn, "sse hub: topic '{}': the store refused event {}: {}",
                         log_escape(topic), id, ec.message());
          return {};
        }
      }
      append_to_log(*core_, t, seq, enc);
      to_inboxes(*core_, t, {seq, std::move(enc), detail::inbox_item::event});
    }
    if (auto* m = core_->opts.metrics) metrics::add(m->events_published);
    trim_history(*core_);
    return id;
  }

  using publish_handler = std::function<void(std::error_code, std::string id)>;

  /// Publishes like publish(), as an Asio asynchronous operation: completes with
  /// `void(std::error_code, std::string id)` (the id is "" on error). `token` is any completion
  /// token: a callback, asio::use_future, asio::use_awaitable, asio::experimental::deferred, or one
  /// bound with asio::bind_executor. The handler runs through its associated executor (by default
  /// one of the hub's: the initiating thread's when it runs one, else the next in turn), never
  /// inline (never before the initiation returns); the hub keeps work on that executor until then.
  /// The associated allocator is not used.
  ///
  /// The operation starts when it is initiated: at once for a callback or asio::use_future, at
  /// co_await for asio::use_awaitable, when invoked for a deferred operation (the topic and the
  /// event are copied; the hub must outlive the initiation). Without a broker the event is
  /// published there, synchronously, and the handler is posted; with one the event goes to the
  /// shared log and the handler is dispatched to its executor once the shared log has answered (the
  /// broker's errors: see broker::is_unavailable), or posted when it fails at once. Any thread,
  /// never blocks on the broker (the form to use on the hub's executors).
  template <ASIO_COMPLETION_TOKEN_FOR(void(std::error_code, std::string)) CompletionToken>
  auto async_publish(std::string_view topic, event ev, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code, std::string)>(initiate_publish{this}, token,
                                                                                     std::string(topic), std::move(ev));
  }

  /// Subscribes `s` to `topic` from `last_event_id` ("" = live only), creating the topic if needed
  /// (as a subscribed-only topic: see hub_options::max_subscribed_topics), and starts the stream.
  /// Runs on the stream's shard. Any thread. With opts.close_after_replay the stream ends once its
  /// replay is written (with a broker: once the shared log has answered). Throws hub_argument_error
  /// (bad topic, foreign executor) or hub_error (hub_errc::too_many_subscribed_topics; or
  /// too_many_topics when the store knows events of it).
  void subscribe(std::shared_ptr<stream_base> s, std::string_view topic, std::string_view last_event_id = {},
                 subscribe_options opts = {}) {
    if (!s) throw std::invalid_argument("sse::hub::subscribe: null stream");
    std::error_code ec;
    subscribe(std::move(s), topic, last_event_id, opts, ec);
    if (ec) throw_for(ec);
  }

  /// The same, reporting what the throwing form throws as `ec` (hub_errc::invalid_topic,
  /// foreign_executor, too_many_subscribed_topics, too_many_topics, or the store's error); the
  /// stream is then not started (close or answer it yourself).
  void subscribe(std::shared_ptr<stream_base> s, std::string_view topic, std::string_view last_event_id,
                 subscribe_options opts, std::error_code& ec) {
    ec = {};
    if (!s) {
      ec = std::make_error_code(std::errc::invalid_argument);
      return;
    }
    if (!is_valid_topic(topic, core_->opts.max_topic_bytes)) {
      ec = hub_errc::invalid_topic;
      return;
    }
    std::size_t shard = core_->shards.size();
    for (std::size_t i = 0; i < core_->shards.size(); ++i)
      if (core_->shards[i] == s->get_executor()) shard = i;
    if (shard == core_->shards.size()) {
      ec = hub_errc::foreign_executor;
      return;
    }
    auto t = find_or_create(topic, topic_role::subscriber, ec);
    if (ec) return;
    asio::dispatch(core_->shards[shard], [c = core_, t = std::move(t), s = std::move(s), shard,
                                          last = std::string(last_event_id), opts]() mutable {
      do_subscribe(c, std::move(t), std::move(s), shard, last, opts);
    });
  }

  /// What the log answers for `last_event_id` on `topic` (for a polling endpoint). Any thread.
  /// nullopt when the topic does not exist.
  ///
  /// With a broker the answer comes from the topic's mirror when this instance holds the topic and
  /// the mirror can give it, else from the shared log (a blocking read, at most 5 s: hub_error with
  /// std::errc::timed_out, or the broker's error; hub_errc::would_block on a hub executor); a topic
  /// the shared log has no entries of answers as an empty one (never nullopt). The entries' `seq`
  /// is 0 then (ids are the shared log's). async_since() never blocks.
  std::optional<resume_result> since(std::string_view topic, std::string_view last_event_id) const {
    if (core_->opts.broker) {
      if (auto r = mirror_since(topic, last_event_id)) return r;
      return from_shared_log(read_shared_log(topic, last_event_id), last_event_id);
    }
    auto t = find(topic);
    if (!t) return std::nullopt;
    std::lock_guard lk(t->mu);
    t->last_used = std::chrono::steady_clock::now();
    return t->log.since(last_event_id);
  }

  /// since() as an Asio asynchronous operation completing with `void(std::error_code,
  /// resume_result)`: the token, the handler's executor and the never-inline rule are as for
  /// async_publish. Without a broker the answer is taken at the initiation (hub_errc::no_such_topic
  /// when the topic does not exist); with one, from the topic's mirror when it can answer, else once
  /// the shared log has (its errors). hub_errc::invalid_topic for a bad name. Any thread, never
  /// blocks (the form to use on a hub executor with a broker).
  template <ASIO_COMPLETION_TOKEN_FOR(void(std::error_code, resume_result)) CompletionToken>
  auto async_since(std::string_view topic, std::string_view last_event_id, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code, resume_result)>(
        initiate_since{this}, token, std::string(topic), std::string(last_event_id));
  }

  /// The id of the last event published on `topic` ("" when none or no such topic). With a broker:
  /// the newest entry of its shared log (from the mirror, or a blocking read as for since()), which
  /// is the seal marker's id once the topic is sealed (a resume from it replays nothing).
  std::string last_id(std::string_view topic) const {
    auto t = find(topic);
    if (core_->opts.broker) {
      if (t) {
        std::lock_guard lk(t->mu);
        if (t->positioned) return t->last_id;
      }
      return read_shared_log(topic, {}).upto_id;
    }
    if (!t) return {};
    std::lock_guard lk(t->mu);
    return t->log.head() == 0 ? std::string() : t->log.make_id(t->log.head());
  }

  /// The epoch of `topic`'s log ("" when no such topic, or with a broker: ids are the shared
  /// log's); `<epoch>-0` resumes from the very start.
  std::string epoch(std::string_view topic) const {
    if (core_->opts.broker) return {};
    auto t = find(topic);
    if (!t) return {};
    std::lock_guard lk(t->mu);
    return t->log.epoch();
  }

  /// Creates `topic` if needed (from the store when there is one) and returns its epoch; an id
  /// `<epoch>-0` then resumes from the very first event. Throws like publish().
  /// As topic_role::publisher (the default) the topic counts against max_topics from now on (a
  /// subscribed-only topic becomes an ordinary one). As topic_role::subscriber (a server checking
  /// that a subscription can be served, before answering) a new topic is subscribed-only (see
  /// hub_options::max_subscribed_topics; it throws hub_error with too_many_subscribed_topics past
  /// that bound); it is dropped again once it has had subscribers and the last one left, or when the
  /// subscription that follows finds its stream closed.
  std::string open_topic(std::string_view topic, topic_role role = topic_role::publisher) {
    if (!is_valid_topic(topic, core_->opts.max_topic_bytes)) throw_for(hub_errc::invalid_topic);
    std::error_code ec;
    auto t = find_or_create(topic, role, ec);
    if (ec) throw_for(ec);
    if (core_->opts.broker) return {};  // held here: read live from the shared log (ids are its own)
    std::lock_guard lk(t->mu);
    return t->log.epoch();
  }

  /// Topics that exist, of both kinds (published and subscribed-only).
  std::size_t topic_count() const noexcept {
    return core_->topic_count.load(std::memory_order_relaxed) + core_->subscribed_count.load(std::memory_order_relaxed);
  }
  /// Of those, the topics that exist only because of subscribers (hub_options::max_subscribed_topics).
  std::size_t subscribed_only_topic_count() const noexcept {
    return core_->subscribed_count.load(std::memory_order_relaxed);
  }
  /// Encoded bytes retained in all topics' logs (hub_options::max_history_bytes).
  std::size_t history_bytes() const noexcept {
    return static_cast<std::size_t>(std::max<std::int64_t>(0, core_->history_bytes.load(std::memory_order_relaxed)));
  }

  /// Drops every topic idle for hub_options::idle_topic_ttl as of `now` (see there); the hub's
  /// timer calls it, tests may too. Returns how many were dropped. Any thread.
  std::size_t evict_idle(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) {
    return evict_idle(*core_, now);
  }

  /// Removes a topic (its log is dropped; its subscribers are closed gracefully). Any thread.
  bool erase_topic(std::string_view topic, std::optional<std::chrono::milliseconds> retry = std::nullopt) {
    auto& st = stripe_of(topic);
    std::shared_ptr<detail::topic_state> t;
    {
      std::lock_guard lk(st.mu);
      auto it = st.topics.find(std::string(topic));
      if (it == st.topics.end()) return false;
      t = std::move(it->second);
      st.topics.erase(it);
      std::lock_guard tl(t->mu);
      t->erased = true;
      forget(*core_, *t);
    }
    close_topic(t, retry);
    return true;
  }

  /// Ends a topic for good (a finished job, a closed ticket): its subscribers get what is queued and
  /// are closed gracefully (with an optional final `retry:` hint); later subscribers get their
  /// replay and are closed the same way; publish() fails with hub_errc::topic_sealed. The topic and
  /// its log stay. Returns false when there is no such topic. Any thread.
  /// With a broker the seal goes through the shared log, so every instance ends the topic's streams
  /// after the events published before it; this waits for the shared log's answer and throws
  /// hub_error when it fails (prefer async_seal on an executor). It returns true then.
  bool seal(std::string_view topic, std::optional<std::chrono::milliseconds> retry = std::nullopt) {
    if (core_->opts.broker) {
      if (!is_valid_topic(topic, core_->opts.max_topic_bytes)) throw_for(hub_errc::invalid_topic);
      if (blocking_would_deadlock()) {
        detail::log_to(core_->opts.on_log, log_level::error,
                       "sse hub: topic '{}': blocking seal refused on a hub executor (use async_seal)", log_escape(topic));
        throw hub_error(hub_errc::would_block);
      }
      auto p = std::make_shared<std::promise<std::error_code>>();
      auto f = p->get_future();
      core_->opts.broker->seal(topic, retry, [p](std::error_code e) { p->set_value(e); });
      if (const auto ec = f.get()) throw hub_error(ec);
      return true;
    }
    auto t = find(topic);
    if (!t) return false;
    if (is_subscribed_only(*t)) {  // a publisher's act: the topic becomes an ordinary one, kept sealed
      std::error_code ec;
      t = find_or_create(topic, topic_role::publisher, ec);
      if (ec) throw_for(ec);
    }
    {
      std::lock_guard lk(t->mu);
      t->sealed = true;
      t->seal_retry = retry;
      // Through the inboxes: each stream ends after the events published before the seal.
      to_inboxes(*core_, t, {t->log.next_seq(), nullptr, detail::inbox_item::seal});
    }
    return true;
  }

  /// seal() as an Asio asynchronous operation completing with `void(std::error_code)`: the token,
  /// the handler's executor, the never-inline rule and when it starts are as for async_publish.
  /// Without a broker the seal is done at the initiation and the handler is posted, with no error
  /// also when there is no such topic; with one it completes once the shared log has answered (the
  /// errors: see broker::is_unavailable). hub_errc::invalid_topic for a bad name. Any thread, never
  /// blocks.
  template <ASIO_COMPLETION_TOKEN_FOR(void(std::error_code)) CompletionToken>
  auto async_seal(std::string_view topic, std::optional<std::chrono::milliseconds> retry, CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code)>(initiate_seal{this}, token, std::string(topic),
                                                                        retry);
  }

  /// True when `topic` exists and is sealed. With a broker: when its shared log ends with the seal
  /// marker (from the mirror, or a blocking read as for since()).
  bool is_sealed(std::string_view topic) const {
    auto t = find(topic);
    if (core_->opts.broker) {
      if (t) {
        std::lock_guard lk(t->mu);
        if (t->positioned) return t->sealed;
      }
      const broker_history h = read_shared_log(topic, {});
      return !h.entries.empty() && !h.entries.back().event;
    }
    if (!t) return false;
    std::lock_guard lk(t->mu);
    return t->sealed;
  }

  /// Closes every subscribed stream gracefully (with an optional final `retry:` hint). Any thread.
  void close_all(std::optional<std::chrono::milliseconds> retry = std::nullopt) {
    for (auto& st : core_->map) {
      std::vector<std::shared_ptr<detail::topic_state>> ts;
      {
        std::lock_guard lk(st.mu);
        for (auto& [name, t] : st.topics) ts.push_back(t);
      }
      for (auto& t : ts) close_topic(t, retry);
    }
  }

 private:
  /// hub_options::idle_topic_ttl; with a broker 0 means 30 s (a topic held here is read live from
  /// the shared log: it goes some time after its last use, never "never").
  static std::chrono::milliseconds idle_ttl(const core& c) {
    const auto ttl = c.opts.idle_topic_ttl;
    return ttl.count() <= 0 && c.opts.broker ? std::chrono::milliseconds(30000) : ttl;
  }

  /// A blocking read of the shared log (since() and friends on a topic not held here), bounded.
  broker_history read_shared_log(std::string_view topic, std::string_view after) const {
    if (blocking_would_deadlock()) throw hub_error(hub_errc::would_block);
    auto p = std::make_shared<std::promise<std::pair<std::error_code, broker_history>>>();
    auto f = p->get_future();
    core_->opts.broker->read(topic, after, [p](std::error_code ec, broker_history h) { p->set_value({ec, std::move(h)}); });
    if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready) throw hub_error(std::make_error_code(std::errc::timed_out));
    auto [ec, h] = f.get();
    if (ec) throw hub_error(ec);
    return h;
  }

  static std::size_t evict_idle(core& c, std::chrono::steady_clock::time_point now) {
    const auto ttl = idle_ttl(c);
    if (ttl.count() <= 0) return 0;
    std::size_t n = 0;
    for (auto& st : c.map) {
      std::lock_guard lk(st.mu);  // lock order: stripe, then topic
      for (auto it = st.topics.begin(); it != st.topics.end();) {
        detail::topic_state& t = *it->second;
        bool idle = false;
        {
          std::lock_guard tl(t.mu);
          // A subscribed-only topic without subscribers (its subscription never came) goes at once.
          idle = (t.subscribed_only || now - t.last_used >= ttl) && t.waiters.empty();
          for (const auto k : t.counts) idle = idle && k == 0;
          if (idle) {
            t.evicted = true;
            forget(c, t);
          }
        }
        if (!idle) {
          ++it;
          continue;
        }
        it = st.topics.erase(it);
        ++n;
      }
    }
    if (n > 0)
      detail::log_to(c.opts.on_log, log_level::debug, "sse hub: dropped {} idle topics ({} left)", n,
                     c.topic_count.load(std::memory_order_relaxed) + c.subscribed_count.load(std::memory_order_relaxed));
    return n;
  }

  /// `t` leaves the hub (erased, dropped for idleness, or its last subscriber left): uncounts it and
  /// drops its log from the history budget. The stripe's mutex and t.mu are held.
  static void forget(core& c, detail::topic_state& t) {
    if (const auto& b = c.opts.broker) {
      b->unwatch(t.name);
      wake(c, detail::take_waiters(t, true));  // they find the topic gone and look again
    }
    (t.subscribed_only ? c.subscribed_count : c.topic_count).fetch_sub(1, std::memory_order_relaxed);
    if (auto* m = c.opts.metrics) {
      metrics::add(m->topics, std::int64_t{-1});
      if (t.subscribed_only) metrics::add(m->subscribed_only_topics, std::int64_t{-1});
    }
    const auto bytes = static_cast<std::int64_t>(t.log.bytes());
    const auto events = static_cast<std::int64_t>(t.log.clear());
    t.oldest_live.store(UINT64_MAX, std::memory_order_relaxed);
    account_history(c, -bytes, -events);
  }

  static void account_history(core& c, std::int64_t bytes, std::int64_t events) {
    if (bytes != 0) {
      c.history_bytes.fetch_add(bytes, std::memory_order_relaxed);
      if (auto* m = c.opts.metrics) metrics::add(m->history_bytes, bytes);
    }
    if (events != 0) c.history_events.fetch_add(events, std::memory_order_relaxed);
  }

  /// Appends an entry to t's log (t->mu held) and to the history FIFO when there is a budget.
  static void append_to_log(core& c, const std::shared_ptr<detail::topic_state>& t, std::uint64_t seq, shared_event enc) {
    const auto bytes = static_cast<std::int64_t>(t->log.bytes());
    const auto events = static_cast<std::int64_t>(t->log.size());
    t->log.append(seq, std::move(enc));
    t->oldest_live.store(t->log.oldest_seq(), std::memory_order_relaxed);
    account_history(c, static_cast<std::int64_t>(t->log.bytes()) - bytes, static_cast<std::int64_t>(t->log.size()) - events);
    if (c.opts.max_history_bytes == 0) return;
    std::lock_guard lk(c.history_mu);
    c.history.push_back({t, seq});
    // Stale entries (evicted by a log's own bounds, dropped topics) are removed in bulk once they
    // outnumber the live ones: amortised O(1) per publish, and the FIFO stays O(retained events).
    const auto live = static_cast<std::size_t>(std::max<std::int64_t>(0, c.history_events.load(std::memory_order_relaxed)));
    if (c.history.size() > 2 * live + 1024)
      std::erase_if(c.history, [](const core::history_entry& e) {
        const auto t = e.topic.lock();
        return !t || e.seq < t->oldest_live.load(std::memory_order_relaxed);
      });
  }

  /// Trims the oldest retained events, across topics, until the logs hold at most
  /// max_history_bytes. No lock is held while another is taken: the FIFO's mutex to pop one entry,
  /// then that topic's mutex to trim its log through it. One thread trims at a time; a publisher
  /// that finds another one trimming leaves it to that one, which looks again after it stops.
  static void trim_history(core& c) {
    const auto budget = static_cast<std::int64_t>(c.opts.max_history_bytes);
    if (budget == 0) return;
    while (c.history_bytes.load() > budget) {
      std::unique_lock trimming(c.trim_mu, std::try_to_lock);
      if (!trimming.owns_lock()) return;
      while (c.history_bytes.load() > budget) {
        core::history_entry e;
        {
          std::lock_guard lk(c.history_mu);
          if (c.history.empty()) break;
          e = std::move(c.history.front());
          c.history.pop_front();
        }
        const auto t = e.topic.lock();
        if (!t) continue;
        std::lock_guard tl(t->mu);
        const auto bytes = static_cast<std::int64_t>(t->log.bytes());
        const auto n = t->log.trim_through(e.seq);
        if (n == 0) continue;  // stale: already gone from the log
        t->oldest_live.store(t->evicted || t->erased ? UINT64_MAX : t->log.oldest_seq(), std::memory_order_relaxed);
        account_history(c, static_cast<std::int64_t>(t->log.bytes()) - bytes, -static_cast<std::int64_t>(n));
        if (auto* m = c.opts.metrics) metrics::add(m->history_trimmed_events, n);
      }
    }
  }

  /// The executor an async operation's handler defaults to: the caller's when it runs one of the
  /// hub's executors, else the next in turn.
  asio::any_io_executor completion_executor() const noexcept {
    for (const auto& ex : core_->shards)
      if (detail::running_in_this_thread(ex)) return ex;
    return core_->shards[core_->round_robin.fetch_add(1, std::memory_order_relaxed) % core_->shards.size()];
  }

  /// The broker path of async_publish / async_seal: `start(done)` hands `done` to the broker, which
  /// may call it before start returns (then the completion is posted) or later from its own thread
  /// (then dispatched to the handler's executor). A `done` the broker drops uncalled destroys the
  /// handler, releasing its work.
  template <class Handler, class Start>
  static void complete_through_broker(detail::hub_completion<Handler> c, Start&& start) {
    struct pending {
      explicit pending(detail::hub_completion<Handler> c) : completion(std::move(c)) {}
      detail::hub_completion<Handler> completion;
      std::atomic<bool> returned{false};
    };
    auto p = std::make_shared<pending>(std::move(c));
    std::forward<Start>(start)([p](auto... args) {
      if (p->returned.load(std::memory_order_acquire)) std::move(p->completion).dispatch(std::move(args)...);
      else std::move(p->completion).post(std::move(args)...);
    });
    p->returned.store(true, std::memory_order_release);
  }

  struct initiate_publish {
    hub* self;
    template <class Handler>
    void operator()(Handler&& handler, std::string topic, event ev) const {
      detail::hub_completion<std::decay_t<Handler>> done(std::forward<Handler>(handler), self->completion_executor());
      if (!self->core_->opts.broker) {
        std::error_code ec;
        std::string id = self->publish(topic, std::move(ev), ec);
        return std::move(done).post(ec, std::move(id));
      }
      if (const auto ec = self->check_publish(topic, ev)) return std::move(done).post(ec, std::string());
      complete_through_broker(std::move(done), [&](auto report) {
        self->publish_to_broker(topic, ev, [report = std::move(report)](std::error_code ec, std::string id) mutable {
          report(ec, std::move(id));
        });
      });
    }
  };

  struct initiate_seal {
    hub* self;
    template <class Handler>
    void operator()(Handler&& handler, std::string topic, std::optional<std::chrono::milliseconds> retry) const {
      detail::hub_completion<std::decay_t<Handler>> done(std::forward<Handler>(handler), self->completion_executor());
      if (!is_valid_topic(topic, self->core_->opts.max_topic_bytes)) return std::move(done).post(make_error_code(hub_errc::invalid_topic));
      if (const auto& b = self->core_->opts.broker) {
        return complete_through_broker(std::move(done), [&](auto report) {
          b->seal(topic, retry, [report = std::move(report)](std::error_code ec) mutable { report(ec); });
        });
      }
      std::error_code ec;
      try {
        self->seal(topic, retry);
      } catch (const hub_error& e) {
        ec = e.code();
      }
      std::move(done).post(ec);
    }
  };

  struct initiate_since {
    hub* self;
    template <class Handler>
    void operator()(Handler&& handler, std::string topic, std::string last) const {
      detail::hub_completion<std::decay_t<Handler>> done(std::forward<Handler>(handler), self->completion_executor());
      if (!is_valid_topic(topic, self->core_->opts.max_topic_bytes))
        return std::move(done).post(make_error_code(hub_errc::invalid_topic), resume_result{});
      if (!self->core_->opts.broker) {
        auto r = self->since(topic, last);
        if (!r) return std::move(done).post(make_error_code(hub_errc::no_such_topic), resume_result{});
        return std::move(done).post(std::error_code{}, std::move(*r));
      }
      if (auto r = self->mirror_since(topic, last)) return std::move(done).post(std::error_code{}, std::move(*r));
      complete_through_broker(std::move(done), [&](auto report) {
        self->core_->opts.broker->read(topic, last, [report = std::move(report), last](std::error_code ec, broker_history h) mutable {
          report(ec, ec ? resume_result{} : from_shared_log(h, last));
        });
      });
    }
  };

  /// With a broker: the answer of `topic`'s mirror, when this instance holds it and the mirror can give it.
  std::optional<resume_result> mirror_since(std::string_view topic, std::string_view last) const {
    auto t = find(topic);
    if (!t) return std::nullopt;
    std::lock_guard lk(t->mu);
    t->last_used = std::chrono::steady_clock::now();
    resume_result r;
    bool sealed = false;
    std::optional<std::chrono::milliseconds> retry;
    if (detail::mirror_resume(*core_->opts.broker, *t, std::string(last), nullptr, r, sealed, retry) == detail::mirror_step::ready)
      return r;
    return std::nullopt;
  }

  /// The shared log's answer as since() gives it (entries' seq 0: their ids are the shared log's).
  static resume_result from_shared_log(const broker_history& h, std::string_view last) {
    resume_result r;
    if (last.empty()) return r;
    r.status = h.status;
    r.reason = h.reason;
    r.oldest_id = h.oldest_id;
    for (const auto& e : h.entries)
      if (e.event) r.entries.push_back(log_entry{0, e.event});
    return r;
  }

  /// True when a blocking wait for the broker here could never end: the caller runs one of the
  /// hub's executors (the broker's I/O runs on the first by default) or the broker's own.
  bool blocking_would_deadlock() const noexcept {
    for (const auto& ex : core_->shards)
      if (detail::running_in_this_thread(ex)) return true;
    return core_->opts.broker && core_->opts.broker->running_in_io_thread();
  }

  bool is_subscribed_only(detail::topic_state& t) const {
    std::lock_guard lk(t.mu);
    return t.subscribed_only;
  }

  /// A subscribed-only topic whose last subscriber left (or whose subscription found its stream
  /// closed) is dropped at once, unless a subscriber or a publish came meanwhile.
  static void drop_if_unused(core& c, const std::shared_ptr<detail::topic_state>& t) {
    auto& st = c.map[std::hash<std::string_view>{}(t->name) % stripes];
    {
      std::lock_guard lk(st.mu);
      auto it = st.topics.find(t->name);
      if (it == st.topics.end() || it->second != t) return;
      std::lock_guard tl(t->mu);
      if (!t->subscribed_only || t->erased || t->evicted) return;
      for (const auto k : t->counts)
        if (k != 0) return;
      t->evicted = true;  // a subscription on its way opens the topic again
      forget(c, *t);
      st.topics.erase(it);
    }
    detail::log_to(c.opts.on_log, log_level::debug, "sse hub: topic '{}': dropped with its last subscriber (nothing was published)",
                   log_escape(t->name));
  }

  /// Why `ev` cannot be published to `topic` (bad topic, an id set, a field with CR/LF/NUL), or none.
  std::error_code check_publish(std::string_view topic, const event& ev) const {
    if (!is_valid_topic(topic, core_->opts.max_topic_bytes)) return hub_errc::invalid_topic;
    if (ev.id) return hub_errc::id_not_allowed;
    return validate(ev);
  }

  /// A checked event to the broker; counts it as published once the shared log has taken it.
  void publish_to_broker(std::string_view topic, const event& ev, publish_handler done) {
    core_->opts.broker->publish(topic, ev, [m = core_->opts.metrics, done = std::move(done)](std::error_code ec, std::string id) {
      if (!ec && m) metrics::add(m->events_published);
      done(ec, std::move(id));
    });
  }

  [[noreturn]] static void throw_for(std::error_code ec) {
    if (ec.category() == hub_category()) {
      if (ec == hub_errc::too_many_topics || ec == hub_errc::topic_sealed || ec == hub_errc::too_many_subscribed_topics ||
          ec == hub_errc::would_block)
        throw hub_error(ec);
      throw hub_argument_error(ec);
    }
    if (ec.category() == error_category()) throw invalid_event(ec);
    throw hub_error(ec);  // the store's errors: a resource problem, not an argument error
  }

  core::stripe& stripe_of(std::string_view topic) const {
    return core_->map[std::hash<std::string_view>{}(topic) % stripes];
  }

  std::size_t shard_of(const asio::any_io_executor& ex) const {
    for (std::size_t i = 0; i < core_->shards.size(); ++i)
      if (core_->shards[i] == ex) return i;
    throw_for(hub_errc::foreign_executor);
  }

  std::shared_ptr<detail::topic_state> find(std::string_view topic) const {
    auto& st = stripe_of(topic);
    std::lock_guard lk(st.mu);
    auto it = st.topics.find(std::string(topic));
    return it == st.topics.end() ? nullptr : it->second;
  }

  std::shared_ptr<detail::topic_state> find_or_create(std::string_view topic, topic_role role, std::error_code& ec) {
    return find_or_create_in(*core_, topic, role, ec);
  }

  /// Takes one slot of `role`'s kind; false (with ec and a log line) when its bound is reached.
  static bool take_slot(core& c, topic_role role, std::string_view topic, std::error_code& ec) {
    const bool sub = role == topic_role::subscriber;
    auto& count = sub ? c.subscribed_count : c.topic_count;
    const std::size_t bound = sub ? c.max_subscribed : c.opts.max_topics;
    if (count.fetch_add(1, std::memory_order_relaxed) < bound) return true;
    count.fetch_sub(1, std::memory_order_relaxed);
    ec = sub ? hub_errc::too_many_subscribed_topics : hub_errc::too_many_topics;
    if (auto* m = c.opts.metrics) metrics::add(m->topics_refused);
    // A client can ask for many new topics at once (a batch, a reconnect storm): one line a second.
    if (const auto v = (sub ? c.refused_subscribed_log : c.refused_topic_log).admit(std::chrono::steady_clock::now()); v.log)
      detail::log_to(c.opts.on_log, log_level::warn, "sse hub: {} limit {} reached, refusing '{}'{}",
                     sub ? "subscribed-only topic" : "topic", bound, log_escape(topic), detail::held_back_note(v.held_back));
    return false;
  }

  /// The topic, created if needed: as a publisher's (counted against max_topics; a subscribed-only
  /// topic found is promoted to one), or for a subscriber (a new topic is subscribed-only unless the
  /// store knows events of it).
  static std::shared_ptr<detail::topic_state> find_or_create_in(core& c, std::string_view topic, topic_role role,
                                                             std::error_code& ec) {
    auto& st = c.map[std::hash<std::string_view>{}(topic) % stripes];
    std::lock_guard lk(st.mu);
    auto it = st.topics.find(std::string(topic));
    if (it != st.topics.end()) {
      auto& t = it->second;
      if (role == topic_role::publisher && t->subscribed_only) {  // its first publish: an ordinary topic now
        if (!take_slot(c, topic_role::publisher, topic, ec)) return nullptr;
        {
          std::lock_guard tl(t->mu);
          t->subscribed_only = false;
        }
        c.subscribed_count.fetch_sub(1, std::memory_order_relaxed);
        if (auto* m = c.opts.metrics) metrics::add(m->subscribed_only_topics, std::int64_t{-1});
      }
      return t;
    }
    // With a broker every topic held here mirrors a shared log that publishers write to directly:
    // it counts as a publisher's (a subscriber cannot take a publisher's slot: they do not need one).
    if (c.opts.broker) role = topic_role::publisher;
    if (!take_slot(c, role, topic, ec)) return nullptr;
    topic_role kind = role;
    log_options lo = c.opts.history;
    std::uint64_t head = 0;
    if (const auto& store = c.opts.broker ? nullptr : c.opts.store) {
      const std::string proposed = lo.epoch.empty() ? make_epoch() : lo.epoch;
      store_topic stored = store->open_topic(topic, proposed, ec);
      if (!ec && (stored.epoch.empty() || detail::has_line_break_or_nul(stored.epoch))) ec = store_errc::failed;
      if (ec) {
        (kind == topic_role::subscriber ? c.subscribed_count : c.topic_count).fetch_sub(1, std::memory_order_relaxed);
        detail::log_to(c.opts.on_log, log_level::error, "sse hub: topic '{}': the store cannot open it: {}",
                       log_escape(topic), ec.message());
        return nullptr;
      }
      if (kind == topic_role::subscriber && stored.head != 0) {  // events were published to it: an ordinary topic
        c.subscribed_count.fetch_sub(1, std::memory_order_relaxed);
        if (!take_slot(c, topic_role::publisher, topic, ec)) return nullptr;
        kind = topic_role::publisher;
      }
      lo.epoch = std::move(stored.epoch);
      head = stored.head;
    }
    auto t = std::make_shared<detail::topic_state>(std::string(topic), lo, c.shards.size(), head);
    t->subscribed_only = kind == topic_role::subscriber;
    t->oldest_live.store(t->log.oldest_seq(), std::memory_order_relaxed);
    if (auto* m = c.opts.metrics) {
      metrics::add(m->topics);
      if (t->subscribed_only) metrics::add(m->subscribed_only_topics);
    }
    st.topics.emplace(t->name, t);
    if (const auto& b = c.opts.broker) b->watch(t->name);  // positions it, then feeds it (see mirror_feed)
    return t;
  }

  void close_topic(const std::shared_ptr<detail::topic_state>& t, std::optional<std::chrono::milliseconds> retry) {
    for (std::size_t i = 0; i < core_->shards.size(); ++i)
      asio::dispatch(core_->shards[i], [t, i, retry] {
        for (auto& sub : t->local[i]) sub.stream->close(retry);
      });
  }

  /// Hands `item` to every shard with subscribers of `t` (t->mu held), posting a drain where none is.
  static void to_inboxes(core& c, const std::shared_ptr<detail::topic_state>& t, detail::inbox_item item) {
    for (std::size_t i = 0; i < t->counts.size(); ++i) {
      if (t->counts[i] == 0) continue;
      t->inbox[i].push_back(item);
      if (t->drain_posted[i]) continue;  // the posted drain has not taken the inbox yet: it will take this too
      t->drain_posted[i] = 1;
      asio::post(c.shards[i], [t, i] { drain(*t, i); });
    }
  }

  /// On shard i: delivers what publish() (or the broker's feed) put in the topic's inbox for it,
  /// in seq order; a seal closes the shard's streams after the events before it.
  static void drain(detail::topic_state& t, std::size_t i) {
    std::vector<detail::inbox_item> batch;
    std::optional<std::chrono::milliseconds> seal_retry;
    {
      std::lock_guard lk(t.mu);
      batch.swap(t.inbox[i]);
      t.drain_posted[i] = 0;
      seal_retry = t.seal_retry;  // a seal is for good: the value its marker stands for
    }
    const bool multi = t.counts.size() > 1;
    for (auto& [seq, enc, kind] : batch) {
      if (kind != detail::inbox_item::event) {
        for (auto& sub : t.local[i]) {
          if (kind == detail::inbox_item::seal) sub.stream->close(seal_retry);
          else sub.stream->deliver_local(enc);  // a reset: the shared log lost entries
        }
        continue;
      }
      // With several shards, each takes its own reference count on the event (an aliasing pointer
      // to it), so the per-subscriber copies below never bounce one counter's cache line between
      // the shards' threads.
      const shared_event local = multi ? shared_event(std::make_shared<shared_event>(enc), enc.get()) : enc;
      for (auto& sub : t.local[i]) {
        if (seq < sub.next_seq) continue;  // already in its replay
        sub.next_seq = seq + 1;
        sub.stream->deliver_local(local);  // this is the stream's executor: no dispatch needed
      }
    }
  }

  // ---------- with a broker: each held topic's log mirrors its shared log (see sse/hub/mirror.hpp) ----------

  static void wake(core& c, std::vector<detail::mirror_waiter> ws) {
    for (auto& w : ws) asio::post(c.shards[w.shard], std::move(w.retry));
  }

  static std::shared_ptr<detail::topic_state> find_in(core& c, std::string_view topic) {
    auto& st = c.map[std::hash<std::string_view>{}(topic) % stripes];
    std::lock_guard lk(st.mu);
    auto it = st.topics.find(std::string(topic));
    return it == st.topics.end() ? nullptr : it->second;
  }

  /// broker_context::positioned: the mirror starts at `pos` (its first position only).
  static void mirror_positioned(core& c, std::string_view topic, log_position pos, std::string id,
                                std::optional<broker_entry> seal) {
    auto t = find_in(c, topic);
    if (!t) return;
    std::vector<detail::mirror_waiter> ws;
    {
      std::lock_guard lk(t->mu);
      if (t->positioned || t->evicted || t->erased) return;
      t->positioned = true;
      t->cover_named = true;
      t->cover = t->last = pos;
      t->last_id = std::move(id);
      t->cover_seq = t->log.next_seq();
      if (seal) {
        t->sealed = true;
        t->seal_retry = seal->seal_retry;
      }
      ws = detail::take_waiters(*t, false);
    }
    wake(c, std::move(ws));
  }

  /// broker_context::entries: into the mirror and out to the streams, like publish() without a broker.
  static void mirror_feed(core& c, std::string_view topic, std::vector<broker_entry> es) {
    auto t = find_in(c, topic);
    if (!t) return;
    std::vector<detail::mirror_waiter> ws;
    std::size_t fed = 0;
    {
      std::lock_guard lk(t->mu);
      if (!t->positioned || t->evicted || t->erased) return;  // a mirror positioned later starts after these
      for (auto& e : es) {
        if (e.pos <= t->last) continue;  // before its position: not its to mirror
        if (t->sealed) break;            // nothing after the seal is delivered
        t->last = e.pos;
        t->last_id = e.id;
        if (!e.event) {
          t->sealed = true;
          t->seal_retry = e.seal_retry;
          to_inboxes(c, t, {t->log.next_seq(), nullptr, detail::inbox_item::seal});
          break;
        }
        const std::uint64_t seq = t->log.next_seq();
        append_to_log(c, t, seq, e.event);
        to_inboxes(c, t, {seq, std::move(e.event), detail::inbox_item::event});
        ++fed;
      }
      ws = detail::take_waiters(*t, t->sealed);
    }
    wake(c, std::move(ws));
    if (fed > 0) trim_history(c);
  }

  /// broker_context::lost: the shared log lost entries after what was fed. The mirror starts over
  /// from its newest entry, and its streams get `event: reset` (too-old) in order.
  static void mirror_lost(core& c, std::string_view topic) {
    auto t = find_in(c, topic);
    if (!t) return;
    std::vector<detail::mirror_waiter> ws;
    {
      std::lock_guard lk(t->mu);
      if (!t->positioned || t->evicted || t->erased) return;
      const auto bytes = static_cast<std::int64_t>(t->log.bytes());
      const auto events = static_cast<std::int64_t>(t->log.clear());
      t->oldest_live.store(t->log.oldest_seq(), std::memory_order_relaxed);
      account_history(c, -bytes, -events);
      t->cover = t->last;  // entries after it are fed from now on; ids up to it: the shared log decides
      t->cover_named = false;
      t->cover_seq = t->log.next_seq();
      resume_result r;
      r.status = resume_status::reset;
      r.reason = reset_reason::too_old;
      to_inboxes(c, t, {0, make_reset_event(r), detail::inbox_item::reset});
      if (auto* m = c.opts.metrics) metrics::add(m->resets);
      ws = detail::take_waiters(*t, true);
    }
    wake(c, std::move(ws));
  }

  /// Registers `s` on its shard (runs there) with the replay its Last-Event-ID asks for. With a
  /// broker the topic's mirror answers when it can; otherwise the shared log's answer (`hist`,
  /// from broker::read) is joined to it, once the mirror has been fed as far as that answer goes.
  /// `round` counts the asynchronous steps taken (the stream is started and pinged from the first).
  static void do_subscribe(const std::shared_ptr<core>& c, std::shared_ptr<detail::topic_state> t,
                           std::shared_ptr<stream_base> s, std::size_t shard, const std::string& last,
                           const subscribe_options& opts, std::shared_ptr<const broker_history> hist = nullptr,
                           int round = 0) {
    if (s->is_closed()) return drop_if_unused(*c, t);
    resume_result r;
    std::uint32_t slot = 0;
    bool sealed = false;
    std::optional<std::chrono::milliseconds> seal_retry;
    {
      std::unique_lock lk(t->mu);
      while (t->evicted) {  // dropped meanwhile (idle, or its last subscriber left): opened again
        lk.unlock();
        std::error_code ec;
        const std::string name = t->name;
        t = find_or_create_in(*c, name, topic_role::subscriber, ec);
        if (ec) {
          detail::log_to(c->opts.on_log, log_level::warn, "sse hub: subscription to '{}' dropped: {}",
                         log_escape(name), ec.message());
          s->abort();
          return;
        }
        lk = std::unique_lock(t->mu);
      }
      t->last_used = std::chrono::steady_clock::now();
      if (t->erased) {
        lk.unlock();
        s->close();
        return;
      }
      if (c->opts.broker) {
        const auto step = detail::mirror_resume(*c->opts.broker, *t, last, hist.get(), r, sealed, seal_retry, /*waited=*/round > 0);
        if (step != detail::mirror_step::ready) {
          std::weak_ptr<core> wc = c;
          auto again = [wc, t, s, shard, last, opts, round](std::shared_ptr<const broker_history> h) {
            if (auto c = wc.lock()) do_subscribe(c, t, s, shard, last, opts, std::move(h), round + 1);
          };
          if (step == detail::mirror_step::wait)
            t->waiters.push_back({hist ? std::optional(hist->upto) : std::nullopt, shard, [again, hist] { again(hist); }});
          lk.unlock();
          if (round == 0) {
            // The head is written once the subscription is in place (a client that has it gets
            // every event published after), or after a second when the shared log is slow or
            // unreachable, so that a proxy sees the response start; pings from now on.
            if (!c->keepalives.empty()) c->keepalives[shard]->add(s);
            auto timer = std::make_shared<asio::steady_timer>(c->shards[shard], std::chrono::seconds(1));
            timer->async_wait([timer, ws = std::weak_ptr<stream_base>(s)](std::error_code e) {
              if (auto st = ws.lock(); st && !e && !st->is_closed()) st->start();
            });
            s->on_close([wt = std::weak_ptr<asio::steady_timer>(timer)](std::error_code) {
              if (auto t = wt.lock()) t->cancel();  // lets the executor run out of work at shutdown
            });
          }
          if (round >= 10) {
            detail::log_to(c->opts.on_log, log_level::warn,
                           "sse hub: topic '{}': cannot join the shared log's history to what was read live; "
                           "the client resumes", log_escape(t->name));
            return s->abort();
          }
          if (step == detail::mirror_step::read)
            c->opts.broker->read(t->name, last, [wc, shard, s, again](std::error_code ec, broker_history h) {
              auto c = wc.lock();
              if (!c) return;
              if (ec) {
                detail::log_to(c->opts.on_log, log_level::warn, "sse hub: a resume could not read the shared log: {}",
                               ec.message());
                return s->abort();
              }
              asio::post(c->shards[shard], [again, h = std::make_shared<const broker_history>(std::move(h))] { again(h); });
            });
          return;
        }
        sealed = sealed || t->sealed;
        if (!seal_retry) seal_retry = t->seal_retry;
      } else {
        r = t->log.since(last);
        sealed = t->sealed;
        seal_retry = t->seal_retry;
      }
      t->counts[shard] += 1;
      slot = t->local[shard].add(s, r.head + 1);
    }
    std::size_t from_store = 0;
    if (c->opts.store && !c->opts.broker && r.status == resume_status::reset && r.reason == reset_reason::too_old)
      from_store = replay_from_store(*c, *t, last, r);
    std::vector<shared_event> rep;
    rep.reserve(r.entries.size() + 1);
    if (r.status == resume_status::reset) rep.push_back(make_reset_event(r));
    for (auto& e : r.entries) rep.push_back(std::move(e.event));
    if (auto* m = c->opts.metrics) {
      if (r.status == resume_status::reset) metrics::add(m->resets);
      if (r.status != resume_status::live) metrics::add(m->replays);
      metrics::add(m->replayed_events, r.entries.size() + from_store);
    }
    if (r.status == resume_status::reset)
      detail::log_to(c->opts.on_log, log_level::info,
                     "sse hub: topic '{}': Last-Event-ID '{}' is {}, resetting with {} retained events",
                     log_escape(t->name), log_escape(last), to_string(r.reason), r.entries.size());
    s->start();
    if (from_store > 0)
      detail::log_to(c->opts.on_log, log_level::debug,
                     "sse hub: topic '{}': Last-Event-ID '{}' resumed with {} stored + {} retained events",
                     log_escape(t->name), log_escape(last), from_store, r.entries.size() - from_store);
    if (!rep.empty()) s->replay(std::move(rep));
    if (sealed) s->close(seal_retry);  // after the replay: the stream ends once it is written
    else if (opts.close_after_replay) s->close(opts.close_retry);
    std::weak_ptr<detail::topic_state> wt = t;
    std::weak_ptr<core> wc = c;
    // Held by every subscribed stream until it closes: kept small (two weak pointers, two 32-bit
    // indexes: 40 bytes).
    const auto shard32 = static_cast<std::uint32_t>(shard);
    s->on_close([wt, wc, shard32, slot](std::error_code) {  // runs once, on the shard: O(1)
      const std::size_t shard = shard32;
      auto t = wt.lock();
      if (!t) return;
      bool unused = false;
      {
        std::lock_guard lk(t->mu);
        t->local[shard].remove(slot);
        t->counts[shard] -= 1;
        t->last_used = std::chrono::steady_clock::now();
        unused = t->subscribed_only && t->counts[shard] == 0;
      }
      if (unused)
        if (auto c = wc.lock()) drop_if_unused(*c, t);  // checks every shard's count, under both locks
    });
    if (round == 0 && !c->keepalives.empty()) c->keepalives[shard]->add(std::move(s));  // else added already
  }

  /// Turns a too-old reset into a replay when the store holds every event between the client's id
  /// and the log's oldest entry: prepends them to r.entries. Returns how many came from the store
  /// (0 = r unchanged). Runs outside the topic mutex: those events are older than anything the log
  /// holds, so they were handed to the store before the subscriber was registered.
  static std::size_t replay_from_store(const core& c, const detail::topic_state& t, const std::string& last,
                                       resume_result& r) {
    const auto after = t.log.parse_id(last);  // the epoch is immutable: no lock needed
    if (!after) return 0;
    const std::uint64_t oldest = r.entries.empty() ? r.head + 1 : r.entries.front().seq;
    if (oldest <= *after + 1) return 0;
    std::error_code ec;
    // Numbers in a reserved gap (a crash, see sse/store.hpp) never name an event: a replay steps over
    // them, and a resume from inside one cannot be continued (reset).
    const auto gaps = c.opts.store->gaps(t.name, ec);
    if (ec) return 0;
    std::uint64_t skipped = 0;
    for (const auto& g : gaps) {
      if (g.first <= *after && *after < g.last) return 0;  // its last number is followed by the next event
      if (g.first > *after && g.last < oldest) skipped += g.last - g.first + 1;
    }
    const std::uint64_t need = oldest - 1 - *after - skipped;
    if (need > c.opts.store_replay_limit) {
      detail::log_to(c.opts.on_log, log_level::info,
                     "sse hub: topic '{}': {} events to replay from the store is above the limit of {}", log_escape(t.name), need,
                     c.opts.store_replay_limit);
      return 0;
    }
    auto stored = c.opts.store->load(t.name, *after, static_cast<std::size_t>(need), ec);
    bool whole = !ec && stored.size() == need;
    std::uint64_t expect = *after + 1;
    for (std::size_t i = 0; whole && i < stored.size(); ++i, ++expect) {
      for (const auto& g : gaps)
        if (g.first == expect) expect = g.last + 1;
      whole = stored[i].seq == expect && stored[i].wire != nullptr;
    }
    if (!whole) {
      detail::log_to(c.opts.on_log, log_level::warn,
                     "sse hub: topic '{}': the store could not replay events {}..{} ({}), resetting", log_escape(t.name),
                     *after + 1, oldest - 1, ec ? ec.message() : std::string("incomplete"));
      return 0;
    }
    std::vector<log_entry> entries;
    entries.reserve(stored.size() + r.entries.size());
    for (auto& e : stored) entries.push_back(log_entry{e.seq, std::move(e.wire)});
    for (auto& e : r.entries) entries.push_back(std::move(e));
    r.entries = std::move(entries);
    r.status = resume_status::replay;
    r.reason = reset_reason::none;
    r.lost.reset();
    r.oldest_id.clear();
    return static_cast<std::size_t>(need);
  }

  std::shared_ptr<core> core_;
};

}  // namespace sse

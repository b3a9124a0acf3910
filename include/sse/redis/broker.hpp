/**
 * @file broker.hpp
 * @brief sse::redis::broker: several sse::hub instances sharing topics through Redis Streams.
 *
 * Design (see also sse/broker.hpp):
 *  - The shared log: one Redis Stream per topic, key `<prefix><topic>`. publish = `XADD key
 *    MAXLEN ~ N * [t type] d data`: Redis assigns the id (`<ms>-<seq>`), the same on every
 *    instance, and that id goes unchanged to clients. The publishing instance does not deliver
 *    locally; it reads its own entries back like every other instance, so every instance delivers
 *    the same events in the same order.
 *  - Live delivery: one reader connection per instance issues `XREAD BLOCK 2000 COUNT 512 STREAMS
 *    k1..kn p1..pn` over the topics it has subscribers for, from the last id it delivered of each
 *    (its position), and fans each batch out to the shards like sse::hub does. A topic is added by
 *    `CLIENT UNBLOCK`ing the reader, which then re-issues XREAD with it. Positions are explicit, so a
 *    reader that reconnects misses nothing that is still in the stream. (Chosen over PUBLISH /
 *    SUBSCRIBE: same latency in our measurement, see tests/redis/test_redis_latency.cpp, and
 *    pub/sub loses what is published while a subscriber is disconnected.)
 *  - A topic's position is fixed when it is first watched (`XREVRANGE key + - COUNT 1`).
 *  - seal(topic): `XADD key * x seal [r <retry-ms>]`, an end marker. It is never sent to clients:
 *    an instance that reads it closes the topic's streams after the entries before it (with the
 *    retry hint, if any); a subscriber whose replay reaches it gets the replay and is closed; a
 *    publish through an instance that has read it fails with hub_errc::topic_sealed (publishes
 *    through instances that have not are stored after the marker and never delivered).
 *  - Last-Event-ID `0-0` (never a real entry id) means "from the start": every entry Redis retains
 *    is replayed (a reset when there are more than replay_limit).
 *  - Subscribe with Last-Event-ID L: the stream is registered (under the topic's mutex, as in
 *    sse::hub) in "catching up" state, where live entries are kept aside; then `XRANGE key L +
 *    COUNT limit+1` on the command connection. If L is the first entry, the rest is replayed;
 *    otherwise L was trimmed (or never existed): an `event: reset` (reason too-old or unknown-id)
 *    and what Redis retains. Then the entries kept aside, skipping any id <= the last one replayed,
 *    and from then on only ids greater than the last one sent: no gap, no duplicate. The stream's
 *    head is written when its catch-up is done (one round trip), or at once when Redis is down.
 *  - Redis down: publish fails at once with sse::redis::errc::not_connected (the server answers 503
 *    with that reason). Open streams stay open (the hub keeps pinging them). Both connections
 *    reconnect with backoff; catch-ups wait and are redone; the reader resumes from its positions.
 *    When a position is no longer in the stream after a reconnect (Redis restarted without
 *    persistence, or trimmed past it), live streams of that topic get `event: reset` (reason
 *    too-old), since entries may have been lost, then the live entries.
 *  - Metrics: sse_redis_up, sse_redis_errors_total, sse_redis_reconnects_total, and more (see
 *    prometheus()).
 *
 * A topic leaves the reader's XREAD once it has had no subscriber here for idle_topic_ttl (a later
 * subscriber watches it again from its newest entry; a resume still replays from the stream), so the
 * reader's work follows the topics in use, not every topic ever seen. Only an event's type and data
 * are shared (not its comment or retry fields).
 */
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <fmt/format.h>

#include "sse/broker.hpp"
#include "sse/shared_event.hpp"
#include "sse/encoder.hpp"
#include "sse/hub.hpp"
#include "sse/log.hpp"
#include "sse/redis/connection.hpp"
#include "sse/redis/streams.hpp"
#include "sse/stream.hpp"

namespace sse::redis {

struct broker_options {
  config server = {};                 ///< where Redis is (parse_url("redis://..."))
  std::string prefix = "sse:";        ///< stream key = prefix + topic
  std::size_t max_len = 1000;         ///< `MAXLEN ~ max_len` per stream (at least this many kept)
  std::size_t replay_limit = 10000;   ///< most entries replayed to one subscriber; above: reset
  std::size_t max_pending = 10000;    ///< live entries kept aside per catching-up stream; above: closed
  std::chrono::milliseconds block = std::chrono::milliseconds(2000);  ///< XREAD BLOCK
  std::size_t read_count = 512;       ///< XREAD COUNT
  /// A topic without subscribers on this instance for this long stops being read (see above).
  std::chrono::milliseconds idle_topic_ttl = std::chrono::seconds(30);
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(2);
  std::chrono::milliseconds command_timeout = std::chrono::seconds(3);
  std::chrono::milliseconds reconnect_initial = std::chrono::milliseconds(100);
  std::chrono::milliseconds reconnect_max = std::chrono::seconds(2);
  std::optional<asio::any_io_executor> executor = {};  ///< for Redis I/O; default: the hub's first shard
  /// Run the Redis I/O on a thread of the broker's own (an io_context created by attach(), stopped
  /// and joined by detach()) instead of the hub's first shard, so that a blocking hub::publish or
  /// hub::seal from a thread that is not the hub's never waits for a shard to be free. Ignored when
  /// `executor` is set. (Blocking calls on a hub executor fail either way: hub_errc::would_block.)
  bool own_thread = false;
  logger on_log = {};                 ///< default: the hub's
};

/// Counters of the broker (besides its connections' sse::redis::stats).
struct broker_stats {
  std::atomic<std::uint64_t> publish_errors{0};   ///< publishes refused (Redis down, error reply)
  std::atomic<std::uint64_t> entries_read{0};     ///< entries read by the reader (live)
  std::atomic<std::uint64_t> catchups{0};         ///< subscriptions that replayed from a stream
  std::atomic<std::uint64_t> replayed{0};         ///< entries replayed to subscribers
  std::atomic<std::uint64_t> resets{0};           ///< reset events sent (id unknown / trimmed / data lost)
  std::atomic<std::uint64_t> read_errors{0};      ///< XREAD failures
};

class broker final : public sse::broker, public std::enable_shared_from_this<broker> {
  struct private_tag {};

 public:
  static std::shared_ptr<broker> create(broker_options opts) {
    return std::make_shared<broker>(private_tag{}, std::move(opts));
  }
  broker(private_tag, broker_options opts) : opts_(std::move(opts)) {}
  ~broker() override { detach(); }

  const broker_options& options() const noexcept { return opts_; }
  const stats& connection_stats() const noexcept { return conn_stats_; }
  const broker_stats& counters() const noexcept { return stats_; }
  /// True when both connections (commands, reader) are up.
  bool is_up() const noexcept {
    std::lock_guard lk(mu_);
    return cmd_ && reader_ && cmd_->is_up() && reader_->is_up();
  }

  /// Topics this instance reads now (see idle_topic_ttl).
  std::size_t watched_topics() const {
    std::lock_guard lk(mu_);
    return topics_.size();
  }

  // ---------- sse::broker ----------

  void attach(broker_context ctx) override {
    std::lock_guard lk(mu_);
    if (attached_) throw std::logic_error("sse::redis::broker: already attached to a hub");
    attached_ = true;
    ctx_ = std::move(ctx);
    if (!opts_.on_log) opts_.on_log = ctx_.on_log;
    if (!opts_.executor && opts_.own_thread) {
      runner_ = std::make_shared<io_runner>();
      runner_->thread = std::thread([r = runner_] { r->ioc.run(); });
    }
    const asio::any_io_executor ex =
        opts_.executor ? *opts_.executor : runner_ ? asio::any_io_executor(runner_->ioc.get_executor()) : ctx_.shards.front();
    strand_ = asio::make_strand(ex);
    retry_timer_.emplace(strand_);
    unblock_timer_.emplace(strand_);
    auto make = [&](const char* name) {
      connection_options o;
      o.server = opts_.server;
      o.connect_timeout = opts_.connect_timeout;
      o.command_timeout = opts_.command_timeout;
      o.reconnect_initial = opts_.reconnect_initial;
      o.reconnect_max = opts_.reconnect_max;
      o.name = name;
      o.counters = &conn_stats_;
      o.on_log = opts_.on_log;
      // Nested in the broker's strand: their handlers and the broker's never run concurrently.
      return connection::create(strand_, std::move(o));
    };
    cmd_ = make("sse-cmd");
    reader_ = make("sse-reader");
    std::weak_ptr<broker> w = weak_from_this();
    // on_state runs on the connection's strand, nested in the broker's.
    cmd_->on_state([w](bool up, std::error_code) {
      if (auto b = w.lock(); b && up) b->on_cmd_up();
    });
    reader_->on_state([w](bool up, std::error_code) {
      if (auto b = w.lock(); b && up) b->on_reader_up();
    });
    cmd_->start();
    reader_->start();
  }

  /// Stops both connections and, on the strand, lets go of every I/O object (timers, strand,
  /// connections), so that the hub's executors run out of work and nothing of them outlives them.
  /// With own_thread, then stops and joins the broker's thread.
  void detach() override {
    std::shared_ptr<io_runner> runner;  // first: its io_context outlives the I/O objects below
    std::shared_ptr<connection> c, r;
    asio::any_io_executor strand;
    {
      std::lock_guard lk(mu_);
      if (detached_) return;
      detached_ = true;
      c = cmd_;
      r = reader_;
      strand = strand_;
      runner = std::move(runner_);
    }
    if (c) c->stop();
    if (r) r->stop();
    if (strand)
      asio::post(strand, [self = shared_from_this()] {
        std::lock_guard lk(self->mu_);
        self->retry_timer_.reset();
        self->unblock_timer_.reset();
        self->cmd_.reset();
        self->reader_.reset();
        self->waiting_.clear();
        for (auto& [k, t] : self->topics_) t->after_position.clear();
        self->strand_ = asio::any_io_executor();
      });
    if (!runner) return;
    strand = {};
    c.reset();
    r.reset();
    runner->finish();
  }

  void publish(std::string_view topic, const event& ev, publish_handler done) override {
    std::vector<std::pair<std::string, std::string>> fields;
    if (!ev.type.empty()) fields.emplace_back("t", ev.type);
    fields.emplace_back("d", ev.data);
    append(topic, fields, /*refuse_if_sealed=*/true, std::move(done));
  }

  void subscribe(std::shared_ptr<stream_base> s, std::string_view topic, std::string_view last_event_id,
                 std::size_t shard, subscribe_options opts) override {
    auto t = topic_of(topic);  // counts this subscriber in t->subscribers
    const std::uint64_t id = next_sub_id_.fetch_add(1, std::memory_order_relaxed);
    const bool live_now = last_event_id.empty() && t->positioned.load(std::memory_order_acquire);
    if (live_now && (opts.close_after_replay || t->sealed.load(std::memory_order_acquire))) {
      t->unsubscribed();
      s->start();  // nothing to replay, and nothing live will come
      s->close(opts.close_after_replay ? opts.close_retry : t->seal_retry());
      return;
    }
    const auto cmd = command_connection();
    const bool start_now = live_now || !cmd || !cmd->is_up();
    {
      std::lock_guard lk(t->mu);
      t->counts[shard] += 1;
      t->local[shard].push_back(sub{s, id, live_now, start_now, opts, {}, {}});
    }
    if (start_now) s->start();
    std::weak_ptr<topic_state> wt = t;
    s->on_close([wt, shard, id](std::error_code) {
      auto t = wt.lock();
      if (!t) return;
      std::lock_guard lk(t->mu);
      auto& v = t->local[shard];
      for (std::size_t i = 0; i < v.size(); ++i)
        if (v[i].id == id) {
          v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
          t->counts[shard] -= 1;
          t->unsubscribed();
          break;
        }
    });
    if (live_now) return;
    post_to_strand([self = shared_from_this(), t, shard, id, last = std::string(last_event_id)] {
      self->catch_up(t, shard, id, last);
    });
  }

  void close_all(std::optional<std::chrono::milliseconds> retry) override {
    std::vector<std::shared_ptr<topic_state>> ts;
    {
      std::lock_guard lk(mu_);
      for (auto& [k, t] : topics_) ts.push_back(t);
    }
    for (auto& t : ts)
      for (std::size_t i = 0; i < ctx_.shards.size(); ++i)
        post_to_shard(i, [t, i, retry] {
          for (auto& s : t->local[i]) s.s->close(retry);
        });
  }

  void seal(std::string_view topic, std::optional<std::chrono::milliseconds> retry, seal_handler done) override {
    std::vector<std::pair<std::string, std::string>> fields{{"x", "seal"}};
    if (retry) fields.emplace_back("r", std::to_string(retry->count()));
    append(topic, fields, /*refuse_if_sealed=*/false, [done = std::move(done)](std::error_code ec, std::string) { done(ec); });
  }

  bool is_unavailable(const std::error_code& ec) const override { return sse::redis::is_unavailable(ec); }

  /// True in a handler of the broker's strand, or on its own executor (broker_options::executor)
  /// when it has one: a blocking hub call there would wait for itself (see hub_errc::would_block).
  bool running_in_io_thread() const noexcept override {
    std::lock_guard lk(mu_);
    return sse::detail::running_in_this_thread(strand_) ||
           (opts_.executor && sse::detail::running_in_this_thread(*opts_.executor)) ||
           (runner_ && runner_->ioc.get_executor().running_in_this_thread());
  }

  std::string prometheus() const override {
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, auto v) {
      out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, v);
    };
    metric("sse_redis_up", "gauge", "1 when both Redis connections (commands, reader) are up.", is_up() ? 1 : 0);
    metric("sse_redis_connections_up", "gauge", "Redis connections past their handshake.",
           conn_stats_.connections_up.load(std::memory_order_relaxed));
    metric("sse_redis_errors_total", "counter", "Redis connection failures, losses and timeouts.",
           conn_stats_.errors_total.load(std::memory_order_relaxed));
    metric("sse_redis_reconnects_total", "counter", "Redis connections made again after a failure.",
           conn_stats_.reconnects_total.load(std::memory_order_relaxed));
    metric("sse_redis_commands_total", "counter", "Redis commands sent.",
           conn_stats_.commands_total.load(std::memory_order_relaxed));
    metric("sse_redis_command_errors_total", "counter", "Redis commands that failed.",
           conn_stats_.command_errors_total.load(std::memory_order_relaxed));
    metric("sse_redis_publish_errors_total", "counter", "Publishes refused because Redis failed (503).",
           stats_.publish_errors.load(std::memory_order_relaxed));
    metric("sse_redis_entries_read_total", "counter", "Stream entries read for live delivery.",
           stats_.entries_read.load(std::memory_order_relaxed));
    metric("sse_redis_catchups_total", "counter", "Subscriptions that replayed from a Redis stream.",
           stats_.catchups.load(std::memory_order_relaxed));
    metric("sse_redis_replayed_total", "counter", "Entries replayed from Redis streams.",
           stats_.replayed.load(std::memory_order_relaxed));
    metric("sse_redis_resets_total", "counter", "Reset events sent (id unknown or trimmed, or data lost in Redis).",
           stats_.resets.load(std::memory_order_relaxed));
    metric("sse_redis_read_errors_total", "counter", "XREAD calls that failed.",
           stats_.read_errors.load(std::memory_order_relaxed));
    metric("sse_redis_topics", "gauge", "Topics this instance reads from Redis (those with subscribers, or recently).",
           watched_topics());
    return out;
  }

 private:
  struct pending_entry {
    stream_id id;
    shared_event ev;  // nullptr: the seal marker
    std::optional<std::chrono::milliseconds> retry = {};  // the seal's retry hint
  };
  struct sub {
    std::shared_ptr<stream_base> s;
    std::uint64_t id = 0;
    bool live = false;     // false while catching up: live entries go to `pending`
    bool started = false;  // s->start() called
    subscribe_options opts = {};
    std::optional<stream_id> last = {};  // only ids above are sent
    std::vector<pending_entry> pending = {};
  };
  /// What a catch-up sends: the events, the last id they cover, and whether a seal ends them.
  struct replay_batch {
    std::vector<shared_event> events;
    std::optional<stream_id> upto;
    bool sealed = false;
    std::optional<std::chrono::milliseconds> seal_retry;
  };
  struct topic_state {
    topic_state(std::string n, std::string k, std::size_t shards) : name(std::move(n)), key(std::move(k)), counts(shards, 0), local(shards) {}
    const std::string name, key;
    std::mutex mu;
    std::vector<std::size_t> counts;          // guarded by mu
    std::vector<std::vector<sub>> local;      // local[i]: shard i only (changes also hold mu)
    std::atomic<bool> positioned{false};      // the reader watches it from `position`
    std::atomic<bool> sealed{false};          // this instance has read its seal marker
    std::atomic<std::size_t> subscribers{0};  // here, counted from topic_of() (under the broker's mu_)
    std::atomic<std::int64_t> idle_since{0};  // steady-clock ns when subscribers last fell to 0
    void unsubscribed() {
      if (subscribers.fetch_sub(1, std::memory_order_acq_rel) == 1)
        idle_since.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    }
    std::atomic<std::int64_t> seal_retry_ms{-1};
    std::optional<std::chrono::milliseconds> seal_retry() const {
      const auto v = seal_retry_ms.load(std::memory_order_relaxed);
      return v < 0 ? std::nullopt : std::optional(std::chrono::milliseconds(v));
    }
    // Strand only:
    bool positioning = false;
    std::string position = "0-0";
    std::vector<std::function<void()>> after_position;
  };

  std::string key_of(std::string_view topic) const { return opts_.prefix + std::string(topic); }

  /// The topic's state, created if needed, with one more subscriber counted (under mu_, so that
  /// read_loop() never drops a topic someone is subscribing to).
  std::shared_ptr<topic_state> topic_of(std::string_view topic) {
    std::lock_guard lk(mu_);
    auto it = topics_.find(std::string(topic));
    if (it == topics_.end()) {
      auto t = std::make_shared<topic_state>(std::string(topic), key_of(topic), ctx_.shards.size());
      by_key_.emplace(t->key, t);
      it = topics_.emplace(t->name, t).first;
    }
    it->second->subscribers.fetch_add(1, std::memory_order_acq_rel);
    return it->second;
  }


  std::shared_ptr<connection> command_connection() const {
    std::lock_guard lk(mu_);
    return detached_ ? nullptr : cmd_;
  }

  template <class F>
  void post_to_strand(F&& f) {
    std::lock_guard lk(mu_);
    if (detached_ || !strand_) return;
    asio::post(strand_, std::forward<F>(f));
  }

  template <class F>
  void post_to_shard(std::size_t i, F&& f) {
    std::lock_guard lk(mu_);
    if (detached_) return;
    asio::post(ctx_.shards[i], std::forward<F>(f));
  }

  /// XADD of an event or the seal marker to `topic`'s stream; refused at once when the broker is
  /// detached, or (refuse_if_sealed) when this instance has read the topic's seal.
  void append(std::string_view topic, const std::vector<std::pair<std::string, std::string>>& fields,
              bool refuse_if_sealed, publish_handler done) {
    std::shared_ptr<connection> cmd;
    bool sealed = false;
    {
      std::lock_guard lk(mu_);
      if (!detached_) cmd = cmd_;
      if (refuse_if_sealed)
        if (auto it = topics_.find(std::string(topic)); it != topics_.end())
          sealed = it->second->sealed.load(std::memory_order_acquire);
    }
    if (sealed) return done(hub_errc::topic_sealed, {});
    if (!cmd) return done(errc::closed, {});
    async_xadd(*cmd, key_of(topic), fields, {.maxlen = opts_.max_len},
               [self = shared_from_this(), done = std::move(done)](std::error_code ec, std::string id) {
                 if (ec) self->stats_.publish_errors.fetch_add(1, std::memory_order_relaxed);
                 done(ec, std::move(id));
               });
  }

  /// `e` is the seal marker of `t`: later subscribers here are closed after their replay.
  static void mark_sealed(topic_state& t, const stream_entry& e) {
    const auto retry = retry_of(e);
    t.seal_retry_ms.store(retry ? retry->count() : -1, std::memory_order_relaxed);
    t.sealed.store(true, std::memory_order_release);
  }

  static bool is_seal(const stream_entry& e) {
    const auto* x = e.field("x");
    return x && *x == "seal" && !e.field("d");
  }
  static std::optional<std::chrono::milliseconds> retry_of(const stream_entry& e) {
    const auto* r = e.field("r");
    if (!r) return std::nullopt;
    return parse_retry(*r);
  }

  /// Appends entries [from, end) to `out`, stopping at a seal marker.
  static void append_replay(replay_batch& out, const std::vector<stream_entry>& es, std::size_t from) {
    for (std::size_t i = from; i < es.size() && !out.sealed; ++i) {
      const auto id = stream_id::parse(es[i].id);
      if (!id) continue;
      out.upto = id;
      if (is_seal(es[i])) {
        out.sealed = true;
        out.seal_retry = retry_of(es[i]);
      } else {
        out.events.push_back(encode_entry(es[i]));
      }
    }
  }

  static shared_event encode_entry(const stream_entry& e) {
    event ev;
    if (const auto* t = e.field("t")) ev.type = *t;
    if (const auto* d = e.field("d")) ev.data = *d;
    ev.id = e.id;
    std::string bytes;
    if (encode_to(bytes, ev)) {  // a foreign entry with a bad type or id: keep its data only
      bytes.clear();
      ev.type.clear();
      ev.id.reset();
      (void)encode_to(bytes, ev);
    }
    return make_shared_event(std::move(bytes), e.id);
  }

  void log(log_level level, const std::string& msg) const {
    if (opts_.on_log) opts_.on_log(level, msg);
  }

  // ---------- positions and catch-up (strand) ----------

  void ensure_positioned(const std::shared_ptr<topic_state>& t, std::function<void()> then) {
    if (detached_) return;
    if (t->positioned.load(std::memory_order_relaxed)) return then();
    t->after_position.push_back(std::move(then));
    if (t->positioning) return;
    t->positioning = true;
    async_xrevrange(*cmd_, t->key, "+", "-", 1, [self = shared_from_this(), t](std::error_code ec, std::vector<stream_entry> es) {
      t->positioning = false;
      if (self->detached_) return;
      if (ec) {
        self->log(log_level::debug, fmt::format("sse redis: topic '{}': cannot read its position: {}", log_escape(t->name), ec.message()));
        return self->start_waiting(t);  // redone when the command connection is back
      }
      t->position = es.empty() ? "0-0" : es.front().id;
      if (!es.empty() && is_seal(es.front())) mark_sealed(*t, es.front());  // sealed before this instance watched it
      t->positioned.store(true, std::memory_order_release);
      self->kick_reader();
      auto then = std::move(t->after_position);
      t->after_position.clear();
      for (auto& f : then) f();
    });
  }

  /// Redis is unreachable: let the streams of `t` that wait for a catch-up write their head.
  void start_waiting(const std::shared_ptr<topic_state>& t) {
    for (std::size_t i = 0; i < ctx_.shards.size(); ++i)
      post_to_shard(i, [t, i] {
        for (auto& s : t->local[i])
          if (!s.started) {
            s.started = true;
            s.s->start();
          }
      });
  }

  void catch_up(const std::shared_ptr<topic_state>& t, std::size_t shard, std::uint64_t sub_id, const std::string& last) {
    if (detached_) return;
    ensure_positioned(t, [self = shared_from_this(), t, shard, sub_id, last] {
      if (last.empty()) {
        replay_batch rb;
        rb.sealed = t->sealed.load(std::memory_order_acquire);
        rb.seal_retry = t->seal_retry();
        return self->finish(t, shard, sub_id, std::move(rb));
      }
      const auto lid = stream_id::parse(last);
      if (!lid) return self->reset_replay(t, shard, sub_id, reset_reason::unknown_id);
      const bool from_start = *lid == stream_id{};  // 0-0: every entry retained
      const std::size_t limit = self->opts_.replay_limit;
      async_xrange(*self->cmd_, t->key, from_start ? "-" : last, "+", limit + (from_start ? 1 : 2),
                   [self, t, shard, sub_id, last, lid, limit, from_start](std::error_code ec, std::vector<stream_entry> es) {
                     if (ec) return self->retry_later(t, shard, sub_id, last, ec);
                     const std::size_t skip = from_start ? 0 : 1;  // XRANGE from L includes L itself
                     const bool found = from_start || (!es.empty() && es.front().id == last);
                     if (found && es.size() - skip <= limit) {
                       replay_batch rb;
                       rb.upto = lid;
                       append_replay(rb, es, skip);
                       self->stats_.catchups.fetch_add(1, std::memory_order_relaxed);
                       self->stats_.replayed.fetch_add(rb.events.size(), std::memory_order_relaxed);
                       return self->finish(t, shard, sub_id, std::move(rb));
                     }
                     // Too many to replay, or the id is gone (trimmed, or Redis lost it) or never was: reset.
                     const bool older = from_start || (!es.empty() && *lid < *stream_id::parse(es.front().id));
                     self->reset_replay(t, shard, sub_id, older ? reset_reason::too_old : reset_reason::unknown_id);
                   });
    });
  }

  /// Sends `event: reset` and then the newest replay_limit entries retained.
  void reset_replay(const std::shared_ptr<topic_state>& t, std::size_t shard, std::uint64_t sub_id, reset_reason why) {
    if (detached_) return;
    async_xrevrange(*cmd_, t->key, "+", "-", opts_.replay_limit,
                    [self = shared_from_this(), t, shard, sub_id, why](std::error_code ec, std::vector<stream_entry> es) {
                      if (ec) return self->retry_later(t, shard, sub_id, {}, ec);
                      std::reverse(es.begin(), es.end());
                      resume_result r;
                      r.status = resume_status::reset;
                      r.reason = why;
                      if (!es.empty()) r.oldest_id = es.front().id;
                      replay_batch rb;
                      rb.events.push_back(make_reset_event(r));
                      append_replay(rb, es, 0);
                      self->stats_.resets.fetch_add(1, std::memory_order_relaxed);
                      self->stats_.replayed.fetch_add(rb.events.size() - 1, std::memory_order_relaxed);
                      self->log(log_level::info, fmt::format("sse redis: topic '{}': Last-Event-ID is {}, resetting with {} entries",
                                                             log_escape(t->name), to_string(why), rb.events.size() - 1));
                      self->finish(t, shard, sub_id, std::move(rb));
                    });
  }

  void retry_later(const std::shared_ptr<topic_state>& t, std::size_t shard, std::uint64_t sub_id, std::string last,
                   std::error_code ec) {
    if (detached_) return;
    log(log_level::debug, fmt::format("sse redis: topic '{}': catch-up waits for Redis: {}", log_escape(t->name), ec.message()));
    start_waiting(t);
    waiting_.push_back([self = shared_from_this(), t, shard, sub_id, last = std::move(last)] {
      self->catch_up(t, shard, sub_id, last);
    });
  }

  /// On the stream's shard: replay, then what was kept aside (ids above `upto`), then live; or the
  /// end of the stream when the replay reached the seal or the subscription asked to close after it.
  void finish(const std::shared_ptr<topic_state>& t, std::size_t shard, std::uint64_t sub_id, replay_batch rb) {
    post_to_shard(shard, [t, shard, sub_id, rb = std::move(rb)]() mutable {
      std::lock_guard lk(t->mu);
      for (auto& s : t->local[shard]) {
        if (s.id != sub_id) continue;
        if (!s.started) {
          s.started = true;
          s.s->start();
        }
        if (!rb.events.empty()) s.s->replay(std::move(rb.events));
        s.live = true;
        s.last = rb.upto;
        if (rb.sealed) {
          s.s->close(rb.seal_retry);
        } else if (s.opts.close_after_replay) {
          s.s->close(s.opts.close_retry);
        } else {
          for (auto& p : s.pending)
            if (!s.last || *s.last < p.id) {
              s.last = p.id;
              if (!p.ev) {
                s.s->close(p.retry);
                break;
              }
              s.s->send(p.ev);
            }
        }
        s.pending.clear();
        s.pending.shrink_to_fit();
        break;
      }
    });
  }

  void on_cmd_up() {
    if (detached_) return;
    auto w = std::move(waiting_);
    waiting_.clear();
    for (auto& f : w) f();
    // Positions that failed while Redis was down.
    std::vector<std::shared_ptr<topic_state>> ts;
    {
      std::lock_guard lk(mu_);
      for (auto& [k, t] : topics_) ts.push_back(t);
    }
    for (auto& t : ts)
      if (!t->positioned.load() && !t->positioning && !t->after_position.empty()) {
        auto then = std::move(t->after_position);
        t->after_position.clear();
        for (auto& f : then) ensure_positioned(t, std::move(f));
      }
    if (reader_blocked_pending_unblock_) kick_reader();
  }

  // ---------- the reader (strand) ----------

  void on_reader_up() {
    if (detached_) return;
    // After a reconnect: is each position still in its stream? If not, entries may be lost.
    std::vector<std::shared_ptr<topic_state>> ts;
    {
      std::lock_guard lk(mu_);
      for (auto& [k, t] : topics_)
        if (t->positioned.load() && t->position != "0-0") ts.push_back(t);
    }
    if (ts.empty() || !ever_read_) {
      ever_read_ = true;
      return read_loop();
    }
    checking_ = true;
    auto left = std::make_shared<std::size_t>(ts.size());
    for (auto& t : ts)
      async_xrange(*reader_, t->key, t->position, t->position, 1,
                   [self = shared_from_this(), t, left, pos = t->position](std::error_code ec, std::vector<stream_entry> es) {
                     if (!ec && es.empty() && t->position == pos) self->continuity_lost(t);
                     if (--*left == 0) {
                       self->checking_ = false;
                       self->read_loop();
                     }
                   });
  }

  void continuity_lost(const std::shared_ptr<topic_state>& t) {
    log(log_level::warn, fmt::format("sse redis: topic '{}': entry {} is no longer in Redis (restarted or trimmed); "
                                     "sending reset to its streams", log_escape(t->name), t->position));
    resume_result r;
    r.status = resume_status::reset;
    r.reason = reset_reason::too_old;
    auto ev = make_reset_event(r);
    for (std::size_t i = 0; i < ctx_.shards.size(); ++i)
      post_to_shard(i, [self = shared_from_this(), t, i, ev] {
        for (auto& s : t->local[i])
          if (s.live) {
            s.s->send(ev);
            self->stats_.resets.fetch_add(1, std::memory_order_relaxed);
          }
      });
  }

  void kick_reader() {
    if (detached_) return;
    if (!xread_in_flight_) return read_loop();
    // Interrupt the blocked XREAD so that it is issued again with the new stream.
    reader_blocked_pending_unblock_ = true;
    const std::uint64_t gen = xread_gen_;
    cmd_->async_command({"CLIENT", "UNBLOCK", std::to_string(reader_->client_id())},
                        [self = shared_from_this(), gen](std::error_code ec, reply r) {
                          if (ec || r.integer == 1 || self->detached_ || !self->xread_in_flight_ ||
                              gen != self->xread_gen_)
                            return;
                          // The XREAD had not reached Redis yet: try again shortly.
                          self->unblock_timer_->expires_after(std::chrono::milliseconds(2));
                          self->unblock_timer_->async_wait([self, gen](std::error_code ec) {
                            if (!ec && self->xread_in_flight_ && gen == self->xread_gen_) self->kick_reader();
                          });
                        });
  }

  void read_loop() {
    if (detached_ || xread_in_flight_ || checking_ || !reader_->is_up()) return;
    // The positioned topics, in one pass that also stops reading those without a subscriber here
    // for idle_topic_ttl.
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    const auto ttl = std::chrono::duration_cast<std::chrono::steady_clock::duration>(opts_.idle_topic_ttl).count();
    std::vector<std::pair<std::string, std::string>> keys;
    {
      std::lock_guard lk(mu_);
      for (auto it = topics_.begin(); it != topics_.end();) {
        const auto& t = it->second;
        if (t->subscribers.load(std::memory_order_acquire) == 0 && !t->positioning && t->after_position.empty() &&
            now - t->idle_since.load(std::memory_order_relaxed) >= ttl) {
          by_key_.erase(t->key);
          it = topics_.erase(it);
          continue;
        }
        if (t->positioned.load()) keys.emplace_back(t->key, t->position);
        ++it;
      }
    }
    if (keys.empty()) return;
    xread_in_flight_ = true;
    reader_blocked_pending_unblock_ = false;
    const std::uint64_t gen = ++xread_gen_;
    async_xread(*reader_, keys, opts_.block, opts_.read_count,
                [self = shared_from_this(), gen](std::error_code ec, xread_result res) {
                  if (gen != self->xread_gen_ || self->detached_) return;
                  self->xread_in_flight_ = false;
                  if (ec) {
                    self->stats_.read_errors.fetch_add(1, std::memory_order_relaxed);
                    if (self->detached_ || !self->reader_->is_up()) return;  // on_reader_up() restarts the loop
                    self->retry_timer_->expires_after(std::chrono::milliseconds(100));
                    self->retry_timer_->async_wait([self](std::error_code e) {
                      if (!e) self->read_loop();
                    });
                    return;
                  }
                  for (auto& [key, entries] : res) self->deliver(key, entries);
                  self->read_loop();
                });
  }

  void deliver(const std::string& key, const std::vector<stream_entry>& entries) {
    std::shared_ptr<topic_state> t;
    {
      std::lock_guard lk(mu_);
      auto it = by_key_.find(key);
      if (it == by_key_.end()) return;
      t = it->second;
    }
    if (entries.empty()) return;
    auto batch = std::make_shared<std::vector<pending_entry>>();
    batch->reserve(entries.size());
    for (const auto& e : entries) {
      const auto id = stream_id::parse(e.id);
      if (!id) continue;
      if (is_seal(e)) {
        mark_sealed(*t, e);
        batch->push_back({*id, nullptr, retry_of(e)});
      } else {
        batch->push_back({*id, encode_entry(e), std::nullopt});
      }
    }
    t->position = entries.back().id;
    stats_.entries_read.fetch_add(entries.size(), std::memory_order_relaxed);
    std::lock_guard lk(t->mu);
    for (std::size_t i = 0; i < t->counts.size(); ++i) {
      if (t->counts[i] == 0) continue;
      post_to_shard(i, [t, i, batch, max = opts_.max_pending] {
        for (auto& s : t->local[i]) {
          if (!s.live) {
            if (s.pending.size() + batch->size() > max) {
              s.s->abort();  // the client resumes with its Last-Event-ID
              continue;
            }
            s.pending.insert(s.pending.end(), batch->begin(), batch->end());
            continue;
          }
          for (const auto& e : *batch) {
            if (s.last && !(*s.last < e.id)) continue;  // already sent (replay or earlier)
            s.last = e.id;
            if (!e.ev) {  // the seal: the stream ends after what it has queued
              s.s->close(e.retry);
              break;
            }
            s.s->send(e.ev);
          }
        }
      });
    }
  }

  /// The broker's own I/O thread (broker_options::own_thread): shared with the thread itself, so
  /// that the io_context outlives its run() even when the last reference goes on that thread.
  struct io_runner {
    asio::io_context ioc{1};
    asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(ioc);
    std::thread thread;
    /// Lets run() return once the work posted so far is done (the strand's clean-up), and joins.
    void finish() {
      work.reset();
      if (!thread.joinable()) return;
      if (thread.get_id() == std::this_thread::get_id()) return thread.detach();
      thread.join();
    }
  };

  broker_options opts_;
  broker_context ctx_;
  std::shared_ptr<io_runner> runner_;  // guarded by mu_
  stats conn_stats_;
  broker_stats stats_;
  asio::any_io_executor strand_;
  std::optional<asio::steady_timer> retry_timer_, unblock_timer_;
  std::shared_ptr<connection> cmd_, reader_;
  std::atomic<std::uint64_t> next_sub_id_{1};

  mutable std::mutex mu_;  // topics_, by_key_, attached_/detached_, posting to shards
  std::unordered_map<std::string, std::shared_ptr<topic_state>> topics_, by_key_;
  bool attached_ = false;
  std::atomic<bool> detached_{false};

  // Strand only.
  std::vector<std::function<void()>> waiting_;
  bool xread_in_flight_ = false, checking_ = false, ever_read_ = false, reader_blocked_pending_unblock_ = false;
  std::uint64_t xread_gen_ = 0;
};

}  // namespace sse::redis

/**
 * @file broker.hpp
 * @brief sse::redis::broker: several sse::hub instances sharing topics through Redis Streams.
 *
 * Design (see also sse/broker.hpp): the broker is a source of ids and history; sse::hub keeps the
 * subscribers, fans out, seals and closes.
 *  - The shared log: one Redis Stream per topic, key `<prefix><topic>`. publish = `XADD key
 *    MAXLEN ~ N * [t type] d data`: Redis assigns the id (`<ms>-<seq>`), the same on every
 *    instance, and that id goes unchanged to clients. The publishing instance does not deliver
 *    locally; it reads its own entries back like every other instance, so every instance delivers
 *    the same events in the same order.
 *  - Live feed: reader connections (broker_options::readers, default 4; a topic is read by the
 *    reader its name hashes to) each issue `XREAD BLOCK 2000 COUNT 512 STREAMS k1..kn p1..pn` over
 *    their share of the topics the hub watches (those it holds: subscribers, or recently used),
 *    from the last id read of each (its position), and hand each batch to the hub
 *    (broker_context::entries), which keeps it in the topic's in-memory log and fans it out. A topic
 *    is added by `CLIENT UNBLOCK`ing its reader, which then re-issues XREAD with it. Positions are
 *    explicit, so a reader that reconnects misses nothing that is still in the stream. Several
 *    readers, because one XREAD names every key it reads: with thousands of topics each call costs
 *    Redis and this instance time in proportion to them, and one reader delivers no faster than one
 *    such call after another (see benchmarks/README.md, many topics). (Chosen over
 *    PUBLISH / SUBSCRIBE: same latency in our measurement, see benchmarks/redis-latency, and pub/sub
 *    loses what is published while a subscriber is disconnected.)
 *  - A topic's position is fixed when it is first watched (`XREVRANGE key + - COUNT 1`) and
 *    reported to the hub (broker_context::positioned).
 *  - seal(topic): `XADD key * x seal [r <retry-ms>]`, an end marker. It is never sent to clients:
 *    the hub closes the topic's streams when it is fed the marker (after the entries before it); a
 *    read whose entries reach it ends with it; nothing after it is fed; a publish through an
 *    instance that has read it fails with hub_errc::topic_sealed (publishes through instances that
 *    have not are stored after the marker and never delivered).
 *  - read(topic, L), the history for a resume the hub's mirror cannot answer: `XRANGE key L + COUNT
 *    limit+2` on the command connection. If L is there, the entries after it; otherwise L was
 *    trimmed (or never existed): a reset (reason too-old or unknown-id) with the newest replay_limit
 *    entries Redis retains (`XREVRANGE`). Last-Event-ID `0-0` (never a real entry id) means "from the
 *    start": every entry retained (a reset when there are more than replay_limit). For a watched
 *    topic the read runs once the topic is positioned, so its answer reaches at least the position
 *    and the hub can join it to what it was fed.
 *  - Redis down: publish fails at once with sse::redis::errc::not_connected (the server answers 503
 *    with that reason). Open streams stay open (the hub keeps pinging them). Every connection
 *    reconnects with backoff; reads wait and are redone; each reader resumes from its positions.
 *    When a position is no longer in the stream after a reconnect (Redis restarted without
 *    persistence, or trimmed past it), the hub is told (broker_context::lost): its live streams of
 *    that topic get `event: reset` (reason too-old), since entries may have been lost.
 *  - Metrics: sse_redis_up, sse_redis_errors_total, sse_redis_reconnects_total, and more (see
 *    prometheus()).
 *
 * A topic leaves the reader's XREAD once the hub no longer watches it (the hub drops a topic after
 * hub_options::idle_topic_ttl without subscribers), so the reader's work follows the topics in use,
 * not every topic ever seen. Only an event's type and data are shared (not its comment or retry
 * fields).
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
  std::size_t replay_limit = 10000;   ///< most entries one read answers with; above: reset
  std::chrono::milliseconds block = std::chrono::milliseconds(2000);  ///< XREAD BLOCK
  /// Reader connections: each topic is read by one (by a hash of its name), each reader issues its
  /// own XREAD BLOCK over its topics (Redis spends about 1 us per key named in one XREAD). More
  /// readers: shorter XREAD calls when thousands of topics are watched (16 readers, 2000 topics:
  /// p50 delivery 0.1-0.2x of one reader's), at one Redis connection each (a reader without topics
  /// issues no XREAD). But when redis-server's CPU is the limit, every XREAD has a fixed cost and
  /// fewer readers deliver more (8000 topics: 16 readers published 0.3-0.65x of one reader's
  /// rate). See benchmarks/README.md, many topics through Redis. 1..64.
  std::size_t readers = 4;
  std::size_t read_count = 512;       ///< XREAD COUNT
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
  std::atomic<std::uint64_t> reads{0};            ///< history reads answered (resumes the hub's mirror could not answer)
  std::atomic<std::uint64_t> replayed{0};         ///< entries those reads answered with
  std::atomic<std::uint64_t> resets{0};           ///< reads answered with a reset, and positions lost in Redis
  std::atomic<std::uint64_t> read_errors{0};      ///< XREAD failures
  std::atomic<std::uint64_t> xreads{0};           ///< XREAD calls answered (entries or none)
};

class broker final : public sse::broker, public std::enable_shared_from_this<broker> {
  struct private_tag {};

 public:
  static std::shared_ptr<broker> create(broker_options opts) {
    return std::make_shared<broker>(private_tag{}, std::move(opts));
  }
  broker(private_tag, broker_options opts) : opts_(std::move(opts)) {
    if (opts_.readers < 1 || opts_.readers > 64)
      throw std::invalid_argument("sse::redis::broker_options::readers: 1 to 64");
    for (std::size_t i = 0; i < opts_.readers; ++i) readers_.push_back(std::make_unique<reader_state>(i));
  }
  ~broker() override { detach(); }

  const broker_options& options() const noexcept { return opts_; }
  const stats& connection_stats() const noexcept { return conn_stats_; }
  const broker_stats& counters() const noexcept { return stats_; }
  /// True when every connection (commands, readers) is up.
  bool is_up() const noexcept {
    std::lock_guard lk(mu_);
    if (!cmd_ || !cmd_->is_up()) return false;
    for (const auto& r : readers_)
      if (!r->conn || !r->conn->is_up()) return false;
    return true;
  }

  /// Topics the hub watches now, per reader connection (their sum is watched_topics()).
  std::vector<std::size_t> watched_topics_per_reader() const {
    std::lock_guard lk(mu_);
    std::vector<std::size_t> out(readers_.size(), 0);
    for (const auto& [k, t] : topics_) out[t->reader] += t->watchers > 0 ? 1 : 0;
    return out;
  }
  /// XREAD calls answered, per reader connection.
  std::vector<std::uint64_t> xreads_per_reader() const {
    std::vector<std::uint64_t> out;
    for (const auto& r : readers_) out.push_back(r->xreads.load(std::memory_order_relaxed));
    return out;
  }

  /// Topics the hub watches now (each is read live while it is watched).
  std::size_t watched_topics() const {
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (const auto& [k, t] : topics_) n += t->watchers > 0 ? 1 : 0;
    return n;
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
    auto make = [&](std::string name) {
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
    std::weak_ptr<broker> w = weak_from_this();
    // on_state runs on the connection's strand, nested in the broker's.
    cmd_->on_state([w](bool up, std::error_code) {
      if (auto b = w.lock(); b && up) b->on_cmd_up();
    });
    for (auto& r : readers_) {
      r->retry_timer.emplace(strand_);
      r->unblock_timer.emplace(strand_);
      r->conn = make(readers_.size() == 1 ? std::string("sse-reader") : fmt::format("sse-reader-{}", r->index));
      r->conn->on_state([w, i = r->index](bool up, std::error_code) {
        if (auto b = w.lock(); b && up) b->on_reader_up(*b->readers_[i]);
      });
    }
    cmd_->start();
    for (auto& r : readers_) r->conn->start();
  }

  /// Stops every connection and, on the strand, lets go of every I/O object (timers, strand,
  /// connections), so that the hub's executors run out of work and nothing of them outlives them.
  /// With own_thread, then stops and joins the broker's thread. No callback reaches the hub after.
  void detach() override {
    std::shared_ptr<io_runner> runner;  // first: its io_context outlives the I/O objects below
    std::shared_ptr<connection> c;
    std::vector<std::shared_ptr<connection>> rs;
    asio::any_io_executor strand;
    {
      std::lock_guard lk(mu_);
      if (detached_) return;
      detached_ = true;
      c = cmd_;
      for (auto& r : readers_) rs.push_back(r->conn);
      strand = strand_;
      runner = std::move(runner_);
    }
    if (c) c->stop();
    for (auto& r : rs)
      if (r) r->stop();
    if (strand)
      asio::post(strand, [self = shared_from_this()] {
        std::lock_guard lk(self->mu_);
        self->cmd_.reset();
        for (auto& r : self->readers_) {
          r->retry_timer.reset();
          r->unblock_timer.reset();
          r->conn.reset();
        }
        self->waiting_.clear();  // reads waiting for Redis: their handlers go unanswered (the hub is stopping)
        for (auto& [k, t] : self->topics_) t->after_position.clear();
        self->strand_ = asio::any_io_executor();
      });
    if (!runner) return;
    strand = {};
    c.reset();
    rs.clear();
    runner->finish();
  }

  void publish(std::string_view topic, const event& ev, publish_handler done) override {
    std::vector<std::pair<std::string, std::string>> fields;
    if (!ev.type.empty()) fields.emplace_back("t", ev.type);
    fields.emplace_back("d", ev.data);
    append(topic, fields, /*refuse_if_sealed=*/true, std::move(done));
  }

  void seal(std::string_view topic, std::optional<std::chrono::milliseconds> retry, seal_handler done) override {
    std::vector<std::pair<std::string, std::string>> fields{{"x", "seal"}};
    if (retry) fields.emplace_back("r", std::to_string(retry->count()));
    append(topic, fields, /*refuse_if_sealed=*/false, [done = std::move(done)](std::error_code ec, std::string) { done(ec); });
  }

  void watch(std::string_view topic) override {
    std::shared_ptr<topic_state> t;
    {
      std::lock_guard lk(mu_);
      if (detached_) return;
      auto it = topics_.find(std::string(topic));
      if (it == topics_.end()) {
        auto n = std::make_shared<topic_state>(std::string(topic), key_of(topic), reader_of(topic));
        by_key_.emplace(n->key, n);
        readers_[n->reader]->topics.emplace(n->key, n);
        it = topics_.emplace(n->name, n).first;
      }
      t = it->second;
      t->watchers += 1;
    }
    post_to_strand([self = shared_from_this(), t] {
      if (t->positioned) return self->report_position(*t);
      self->ensure_positioned(t, {});  // reports it when done
    });
  }

  void unwatch(std::string_view topic) override {
    std::lock_guard lk(mu_);
    if (auto it = topics_.find(std::string(topic)); it != topics_.end() && it->second->watchers > 0)
      it->second->watchers -= 1;  // the reader lets it go at its next XREAD
  }

  void read(std::string_view topic, std::string_view after, read_handler done) override {
    std::shared_ptr<topic_state> t;
    {
      std::lock_guard lk(mu_);
      if (auto it = topics_.find(std::string(topic)); it != topics_.end() && it->second->watchers > 0) t = it->second;
    }
    auto q = std::make_shared<query>(query{std::string(topic), key_of(topic), std::string(after), std::move(done)});
    if (!post_to_strand([self = shared_from_this(), t, q] {
          if (!t) return self->run_read(q);
          self->ensure_positioned(t, [self, q] { self->run_read(q); });
        }))
      q->done(errc::closed, {});
  }

  std::optional<log_position> parse_id(std::string_view id) const override {
    const auto s = stream_id::parse(id);
    if (!s) return std::nullopt;
    return log_position{s->ms, s->seq};
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
    metric("sse_redis_up", "gauge", "1 when every Redis connection (commands, readers) is up.", is_up() ? 1 : 0);
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
    metric("sse_redis_reads_total", "counter", "History reads from Redis (resumes the in-memory log could not answer).",
           stats_.reads.load(std::memory_order_relaxed));
    metric("sse_redis_replayed_total", "counter", "Entries those history reads answered with.",
           stats_.replayed.load(std::memory_order_relaxed));
    metric("sse_redis_resets_total", "counter", "History reads answered with a reset, and read positions lost in Redis.",
           stats_.resets.load(std::memory_order_relaxed));
    metric("sse_redis_read_errors_total", "counter", "XREAD calls that failed.",
           stats_.read_errors.load(std::memory_order_relaxed));
    metric("sse_redis_topics", "gauge", "Topics this instance reads from Redis (those the hub holds).", watched_topics());
    metric("sse_redis_readers", "gauge", "Reader connections (XREAD BLOCK), each over its share of the topics.",
           readers_.size());
    metric("sse_redis_xreads_total", "counter", "XREAD calls answered (with entries or none).",
           stats_.xreads.load(std::memory_order_relaxed));
    // Per reader: the topics it reads and its XREAD calls (their sums are the two figures above).
    const auto per_topics = watched_topics_per_reader();
    out += "# HELP sse_redis_reader_topics Topics each reader connection reads.\n# TYPE sse_redis_reader_topics gauge\n";
    for (std::size_t i = 0; i < per_topics.size(); ++i)
      out += fmt::format("sse_redis_reader_topics{{reader=\"{}\"}} {}\n", i, per_topics[i]);
    out += "# HELP sse_redis_reader_xreads_total XREAD calls answered, per reader connection.\n"
           "# TYPE sse_redis_reader_xreads_total counter\n";
    for (const auto& r : readers_)
      out += fmt::format("sse_redis_reader_xreads_total{{reader=\"{}\"}} {}\n", r->index, r->xreads.load(std::memory_order_relaxed));
    return out;
  }

 private:
  struct topic_state {
    topic_state(std::string n, std::string k, std::size_t r) : name(std::move(n)), key(std::move(k)), reader(r) {}
    const std::string name, key;
    const std::size_t reader;  // index in readers_
    std::size_t watchers = 0;  // guarded by the broker's mu_
    std::atomic<bool> sealed{false};  // `seal` is set (read by publish on any thread)
    // Strand only:
    bool positioned = false;
    bool positioning = false;
    bool unpositioned_waiting = false;  // positioning failed: redone when the command connection is back
    std::string position = "0-0";
    std::optional<broker_entry> seal;  // this instance has read its seal marker
    std::vector<std::function<void()>> after_position;
  };
  /// One history read in progress (redone after Redis comes back).
  struct query {
    std::string topic, key, after;
    read_handler done;
  };

  std::string key_of(std::string_view topic) const { return opts_.prefix + std::string(topic); }
  /// The reader of a topic: FNV-1a of its name (stable across runs and builds), modulo the readers.
  std::size_t reader_of(std::string_view topic) const noexcept {
    std::uint64_t h = 14695981039346656037ull;
    for (const unsigned char ch : topic) h = (h ^ ch) * 1099511628211ull;
    return static_cast<std::size_t>(h % readers_.size());
  }

  std::shared_ptr<connection> command_connection() const {
    std::lock_guard lk(mu_);
    return detached_ ? nullptr : cmd_;
  }

  template <class F>
  bool post_to_strand(F&& f) {
    std::lock_guard lk(mu_);
    if (detached_ || !strand_) return false;
    asio::post(strand_, std::forward<F>(f));
    return true;
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

  static bool is_seal(const stream_entry& e) {
    const auto* x = e.field("x");
    return x && *x == "seal" && !e.field("d");
  }
  static std::optional<std::chrono::milliseconds> retry_of(const stream_entry& e) {
    const auto* r = e.field("r");
    if (!r) return std::nullopt;
    return parse_retry(*r);
  }

  /// The entry as the hub takes it (nullopt: its id is not a stream id).
  static std::optional<broker_entry> to_entry(const stream_entry& e) {
    const auto id = stream_id::parse(e.id);
    if (!id) return std::nullopt;
    broker_entry b{log_position{id->ms, id->seq}, e.id, nullptr, std::nullopt};
    if (is_seal(e)) b.seal_retry = retry_of(e);
    else b.event = encode_entry(e);
    return b;
  }

  /// Appends entries [from, end) to `out`, ending with a seal marker if one comes.
  static void append_entries(broker_history& out, const std::vector<stream_entry>& es, std::size_t from) {
    for (std::size_t i = from; i < es.size(); ++i) {
      auto b = to_entry(es[i]);
      if (!b) continue;
      out.upto = b->pos;
      out.upto_id = b->id;
      const bool seal = !b->event;
      out.entries.push_back(std::move(*b));
      if (seal) break;
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

  // ---------- positions and reads (strand) ----------

  void report_position(const topic_state& t) {
    if (detached_ || !ctx_.positioned) return;
    const auto id = stream_id::parse(t.position).value_or(stream_id{});
    ctx_.positioned(t.name, log_position{id.ms, id.seq}, t.position == "0-0" ? std::string() : t.position, t.seal);
  }

  void ensure_positioned(const std::shared_ptr<topic_state>& t, std::function<void()> then) {
    if (detached_) return;
    if (t->positioned) {
      if (then) then();
      return;
    }
    if (then) t->after_position.push_back(std::move(then));
    if (t->positioning) return;
    t->positioning = true;
    async_xrevrange(*cmd_, t->key, "+", "-", 1, [self = shared_from_this(), t](std::error_code ec, std::vector<stream_entry> es) {
      t->positioning = false;
      if (self->detached_) return;
      if (ec) {
        self->log(log_level::debug, fmt::format("sse redis: topic '{}': cannot read its position: {}", log_escape(t->name), ec.message()));
        t->unpositioned_waiting = true;
        return;  // redone when the command connection is back (on_cmd_up)
      }
      t->position = es.empty() ? "0-0" : es.front().id;
      if (!es.empty() && is_seal(es.front())) t->seal = to_entry(es.front());  // sealed before this instance watched it
      if (t->seal) t->sealed.store(true, std::memory_order_release);
      t->positioned = true;
      self->report_position(*t);
      self->kick_reader(*self->readers_[t->reader]);
      auto then = std::move(t->after_position);
      t->after_position.clear();
      for (auto& f : then) f();
    });
  }

  /// The history read itself (the topic is positioned when watched).
  void run_read(const std::shared_ptr<query>& q) {
    if (detached_) return q->done(errc::closed, {});
    if (q->after.empty()) {
      return async_xrevrange(*cmd_, q->key, "+", "-", 1, [self = shared_from_this(), q](std::error_code ec, std::vector<stream_entry> es) {
        if (ec) return self->read_failed(q, ec);
        broker_history h;
        h.status = resume_status::live;
        if (!es.empty()) append_entries(h, es, 0);
        if (!h.entries.empty() && h.entries.back().event) h.entries.clear();  // only a seal is of interest
        q->done({}, std::move(h));
      });
    }
    const auto lid = stream_id::parse(q->after);
    if (!lid) return read_reset(q, reset_reason::unknown_id);
    const bool from_start = *lid == stream_id{};  // 0-0: every entry retained
    const std::size_t limit = opts_.replay_limit;
    async_xrange(*cmd_, q->key, from_start ? "-" : q->after, "+", limit + (from_start ? 1 : 2),
                 [self = shared_from_this(), q, lid, limit, from_start](std::error_code ec, std::vector<stream_entry> es) {
                   if (ec) return self->read_failed(q, ec);
                   const std::size_t skip = from_start ? 0 : 1;  // XRANGE from L includes L itself
                   const bool found = from_start || (!es.empty() && es.front().id == q->after);
                   if (found && es.size() - skip <= limit) {
                     broker_history h;
                     h.upto = log_position{lid->ms, lid->seq};
                     h.upto_id = from_start ? std::string() : q->after;
                     append_entries(h, es, skip);
                     self->stats_.reads.fetch_add(1, std::memory_order_relaxed);
                     self->stats_.replayed.fetch_add(h.entries.size(), std::memory_order_relaxed);
                     return q->done({}, std::move(h));
                   }
                   // Too many to replay, or the id is gone (trimmed, or Redis lost it) or never was: reset.
                   const bool older = from_start || (!es.empty() && *lid < *stream_id::parse(es.front().id));
                   self->read_reset(q, older ? reset_reason::too_old : reset_reason::unknown_id);
                 });
  }

  /// A reset: the newest replay_limit entries retained.
  void read_reset(const std::shared_ptr<query>& q, reset_reason why) {
    async_xrevrange(*cmd_, q->key, "+", "-", opts_.replay_limit,
                    [self = shared_from_this(), q, why](std::error_code ec, std::vector<stream_entry> es) {
                      if (ec) return self->read_failed(q, ec);
                      std::reverse(es.begin(), es.end());
                      broker_history h;
                      h.status = resume_status::reset;
                      h.reason = why;
                      if (!es.empty()) h.oldest_id = es.front().id;
                      append_entries(h, es, 0);
                      self->stats_.reads.fetch_add(1, std::memory_order_relaxed);
                      self->stats_.resets.fetch_add(1, std::memory_order_relaxed);
                      self->stats_.replayed.fetch_add(h.entries.size(), std::memory_order_relaxed);
                      self->log(log_level::info, fmt::format("sse redis: topic '{}': Last-Event-ID '{}' is {}, resetting with {} entries",
                                                             log_escape(q->topic), log_escape(q->after, 60), to_string(why),
                                                             h.entries.size()));
                      q->done({}, std::move(h));
                    });
  }

  /// Redis unreachable: the read waits for the command connection and is redone; another error
  /// (an error reply) is the answer.
  void read_failed(const std::shared_ptr<query>& q, std::error_code ec) {
    if (detached_) return q->done(errc::closed, {});
    if (!sse::redis::is_unavailable(ec)) return q->done(ec, {});
    log(log_level::debug, fmt::format("sse redis: topic '{}': read waits for Redis: {}", log_escape(q->topic), ec.message()));
    auto redo = [self = shared_from_this(), q] { self->read(q->topic, q->after, std::move(q->done)); };
    if (cmd_->is_up()) return asio::post(strand_, std::move(redo));  // back already
    waiting_.push_back(std::move(redo));
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
      if (!t->positioned && !t->positioning && t->unpositioned_waiting) {
        t->unpositioned_waiting = false;
        ensure_positioned(t, {});
      }
    for (auto& r : readers_)
      if (r->pending_unblock) kick_reader(*r);
  }

  // ---------- the readers (strand) ----------

  /// One reader connection and the topics it reads (those whose name hashes to it).
  struct reader_state {
    explicit reader_state(std::size_t i) : index(i) {}
    const std::size_t index;
    std::shared_ptr<connection> conn;
    std::unordered_map<std::string, std::shared_ptr<topic_state>> topics;  // by key; guarded by the broker's mu_
    std::atomic<std::uint64_t> xreads{0};
    // Strand only.
    std::optional<asio::steady_timer> retry_timer, unblock_timer;
    bool xread_in_flight = false, checking = false, ever_read = false, pending_unblock = false;
    std::uint64_t gen = 0;
  };

  void on_reader_up(reader_state& r) {
    if (detached_ || !r.conn) return;
    // After a reconnect: is each position still in its stream? If not, entries may be lost.
    std::vector<std::shared_ptr<topic_state>> ts;
    {
      std::lock_guard lk(mu_);
      for (auto& [k, t] : r.topics)
        if (t->positioned && t->position != "0-0") ts.push_back(t);
    }
    if (ts.empty() || !r.ever_read) {
      r.ever_read = true;
      return read_loop(r);
    }
    r.checking = true;
    auto left = std::make_shared<std::size_t>(ts.size());
    for (auto& t : ts)
      async_xrange(*r.conn, t->key, t->position, t->position, 1,
                   [self = shared_from_this(), &r, t, left, pos = t->position](std::error_code ec, std::vector<stream_entry> es) {
                     if (!ec && es.empty() && t->position == pos) self->continuity_lost(t);
                     if (--*left == 0) {
                       r.checking = false;
                       self->read_loop(r);
                     }
                   });
  }

  void continuity_lost(const std::shared_ptr<topic_state>& t) {
    log(log_level::warn, fmt::format("sse redis: topic '{}': entry {} is no longer in Redis (restarted or trimmed); "
                                     "its streams get a reset", log_escape(t->name), t->position));
    stats_.resets.fetch_add(1, std::memory_order_relaxed);
    if (ctx_.lost) ctx_.lost(t->name);
  }

  void kick_reader(reader_state& r) {
    if (detached_ || !r.conn) return;
    if (!r.xread_in_flight) return read_loop(r);
    // Interrupt the blocked XREAD so that it is issued again with the new stream.
    r.pending_unblock = true;
    const std::uint64_t gen = r.gen;
    cmd_->async_command({"CLIENT", "UNBLOCK", std::to_string(r.conn->client_id())},
                        [self = shared_from_this(), &r, gen](std::error_code ec, reply rep) {
                          if (ec || rep.integer == 1 || self->detached_ || !r.xread_in_flight || gen != r.gen) return;
                          // The XREAD had not reached Redis yet: try again shortly.
                          r.unblock_timer->expires_after(std::chrono::milliseconds(2));
                          r.unblock_timer->async_wait([self, &r, gen](std::error_code ec) {
                            if (!ec && r.xread_in_flight && gen == r.gen) self->kick_reader(r);
                          });
                        });
  }

  void read_loop(reader_state& r) {
    if (detached_ || !r.conn || r.xread_in_flight || r.checking || !r.conn->is_up()) return;
    // The reader's positioned topics, in one pass that also lets go of those the hub no longer watches.
    std::vector<std::pair<std::string, std::string>> keys;
    {
      std::lock_guard lk(mu_);
      keys.reserve(r.topics.size());
      for (auto it = r.topics.begin(); it != r.topics.end();) {
        const auto& t = it->second;
        if (t->watchers == 0 && !t->positioning && t->after_position.empty()) {
          by_key_.erase(t->key);
          topics_.erase(t->name);
          it = r.topics.erase(it);
          continue;
        }
        if (t->positioned) keys.emplace_back(t->key, t->position);
        ++it;
      }
    }
    if (keys.empty()) return;
    r.xread_in_flight = true;
    r.pending_unblock = false;
    const std::uint64_t gen = ++r.gen;
    // The strand clears readers_' connections and timers only after detached_ is set: `r` (owned by
    // readers_, which lives as long as the broker) is safe to use in these handlers.
    auto done = [self = shared_from_this(), &r, gen](std::error_code ec, xread_result res) {
      if (gen != r.gen || self->detached_) return;
      r.xread_in_flight = false;
      if (ec) {
        self->stats_.read_errors.fetch_add(1, std::memory_order_relaxed);
        if (self->detached_ || !r.conn || !r.conn->is_up()) return;  // on_reader_up() restarts the loop
        r.retry_timer->expires_after(std::chrono::milliseconds(100));
        r.retry_timer->async_wait([self, &r](std::error_code e) {
          if (!e) self->read_loop(r);
        });
        return;
      }
      self->stats_.xreads.fetch_add(1, std::memory_order_relaxed);
      r.xreads.fetch_add(1, std::memory_order_relaxed);
      for (auto& [key, entries] : res) self->deliver(key, entries);
      self->read_loop(r);
    };
    async_xread(*r.conn, keys, opts_.block, opts_.read_count, std::move(done));
  }

  /// A batch read live: to the hub, up to and including a seal marker; nothing after one.
  void deliver(const std::string& key, const std::vector<stream_entry>& entries) {
    std::shared_ptr<topic_state> t;
    {
      std::lock_guard lk(mu_);
      auto it = by_key_.find(key);
      if (it == by_key_.end()) return;
      t = it->second;
    }
    if (entries.empty()) return;
    t->position = entries.back().id;
    stats_.entries_read.fetch_add(entries.size(), std::memory_order_relaxed);
    if (t->seal) return;  // entries stored after the marker are never delivered
    std::vector<broker_entry> batch;
    batch.reserve(entries.size());
    for (const auto& e : entries) {
      auto b = to_entry(e);
      if (!b) continue;
      const bool seal = !b->event;
      if (seal) {
        t->seal = b;
        t->sealed.store(true, std::memory_order_release);
      }
      batch.push_back(std::move(*b));
      if (seal) break;
    }
    if (!batch.empty() && ctx_.entries) ctx_.entries(t->name, std::move(batch));
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
  std::shared_ptr<connection> cmd_;
  std::vector<std::unique_ptr<reader_state>> readers_;  // fixed at construction; their contents: see reader_state

  mutable std::mutex mu_;  // topics_, by_key_, watchers, attached_/detached_
  std::unordered_map<std::string, std::shared_ptr<topic_state>> topics_, by_key_;
  bool attached_ = false;
  std::atomic<bool> detached_{false};

  // Strand only.
  std::vector<std::function<void()>> waiting_;
};

}  // namespace sse::redis

// installer::cluster: the installer's backend (backend.hpp) in Redis, so that several instances
// behind a load balancer serve the same jobs (sse-installer --redis URL). Keys, all under the prefix P:
//   P events:job/<id>   the job's events: a Redis Stream written by sse::redis::broker (ids from Redis)
//   P job:<id>          hash: the job record (the fields of job_row, plus the instance running it)
//   P jobs              sorted set: job ids by start time (newest first for /api/jobs)
//   P running-jobs      set: jobs recorded as running
//   P lock:<component>  the job installing <component> (SET NX PX lease): one job per component
//   P lease:<job>       exists while the instance running <job> is alive (renewed every lease/3)
//   P reap:<job>        the instance cleaning up after a job whose owner died (SET NX)
//   P installed:<name>  hash: version, installed_at, job
//
// Calls are synchronous (the HTTP handlers and the job threads wait for Redis, as they wait for
// SQLite in the single-instance mode) and bounded by the connection's command timeout; a failure is
// a backend_unavailable whose message says why, answered as 503. The Redis I/O, the broker's
// included, runs on one thread of the cluster's own, never on the server's executors: a handler
// waiting for Redis cannot block the thread Redis answers on.
#pragma once

#include <unistd.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <fmt/format.h>

#include <sse/redis/broker.hpp>
#include <sse/redis/connection.hpp>
#include <sse/redis/streams.hpp>

#include "backend.hpp"

namespace installer {

struct cluster_options {
  sse::redis::config server = {};
  std::string prefix = "installer:";
  std::chrono::milliseconds lease = std::chrono::seconds(6);           ///< a dead instance's jobs are reaped after this
  std::chrono::milliseconds command_timeout = std::chrono::seconds(2);
  std::size_t max_events_per_job = 100000;  ///< MAXLEN ~ of a job's stream (its whole log)
  sse::logger on_log = {};
};

class cluster final : public job_backend {
 public:
  explicit cluster(cluster_options o) : opts_(std::move(o)), guard_(io_.get_executor()) {
    std::promise<void> ran_out;
    ran_out_ = ran_out.get_future();
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    instance_ = fmt::format("{}-{}", host[0] ? host : "host", ::getpid());
    sse::redis::connection_options co;
    co.server = opts_.server;
    co.command_timeout = opts_.command_timeout;
    co.reconnect_initial = std::chrono::milliseconds(100);
    co.reconnect_max = std::chrono::seconds(2);
    co.name = "installer";
    co.on_log = opts_.on_log;
    conn_ = sse::redis::connection::create(io_.get_executor(), std::move(co));
    conn_->start();
    sse::redis::broker_options bo;
    bo.server = opts_.server;
    bo.prefix = opts_.prefix + "events:";
    bo.max_len = opts_.max_events_per_job;
    bo.replay_limit = opts_.max_events_per_job;
    bo.command_timeout = opts_.command_timeout;
    bo.executor = io_.get_executor();  // bo.on_log unset: the broker logs through the hub's logger
    bo.own_thread = true;  // Redis I/O off the hub's shards: a request may wait for a publish
    broker_ = sse::redis::broker::create(std::move(bo));
    thread_ = std::thread([this, done = std::move(ran_out)]() mutable {
      io_.run();
      done.set_value();
    });
  }

  /// Stops the connection and lets the I/O thread run out of work (bounded: then it is stopped).
  /// The hub using broker() must be gone first (its destructor detaches the broker).
  ~cluster() override {
    conn_->stop();
    guard_.reset();
    if (ran_out_.wait_for(std::chrono::seconds(5)) != std::future_status::ready) io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  bool is_up() const { return conn_->is_up() && broker_->is_up(); }

  // ---- wiring ----
  void configure(sse::hub_options& hub, const sse::logger&) override {
    hub.broker = broker_;  // events go through the shared log; ids come from it
  }
  void attach(sse::hub&) override {}
  std::optional<std::string> instance() const override { return instance_; }
  std::string describe() const override {
    return fmt::format("instance {}: jobs and their logs are shared with the other instances", instance_);
  }

  // ---- event log: a Redis Stream per job (the broker's); ids from Redis ----
  std::string open_topic(const std::string&) override { return {}; }
  std::string start_id(const job_row&) const override { return "0-0"; }
  bool is_event_id(const job_row&, std::string_view id) const override {
    return sse::redis::stream_id::parse(id).has_value();
  }
  std::string example_id(const job_row&) const override { return "1764237600000-0"; }
  log_page read_log(const job_row& j, const std::string& after, std::size_t limit) override {
    log_page page;
    page.after = after;
    page.events = events_after(j.topic, after == "0-0" ? std::string() : after, limit);
    return page;
  }
  /// Redis unreachable (or not answering in time).
  bool is_temporary(std::error_code ec) const override { return broker_->is_unavailable(ec); }
  std::string_view log_name() const override { return "the shared log"; }
  std::optional<std::string> unavailable_reason(const sse::hub_error& e) const override {
    return std::string("the shared event log is unavailable: ") + e.what();
  }

  // ---- one job per component across instances (a lease the owner keeps alive) ----
  std::optional<std::string> claim(const std::string& component, const std::string& job) override {
    {
      std::lock_guard lk(mu_);
      if (auto it = mine_.find(component); it != mine_.end()) return it->second;
    }
    const auto r = call({"SET", key("lock:", component), job, "NX", "PX", ms(opts_.lease)});
    if (r.is_nil()) {
      const auto holder = call({"GET", key("lock:", component)});
      return holder.is_string() ? holder.str : std::string();
    }
    std::lock_guard lk(mu_);
    mine_[component] = job;
    return std::nullopt;
  }

  void release(const std::string& component, const std::string& job) override {
    {
      std::lock_guard lk(mu_);
      if (auto it = mine_.find(component); it != mine_.end() && it->second == job) mine_.erase(it);
    }
    call({"EVAL", "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", "1",
          key("lock:", component), job});
  }

  /// Renews the locks and leases of this instance's running jobs.
  void keep_alive() override {
    std::map<std::string, std::string> running;
    {
      std::lock_guard lk(mu_);
      running = mine_;
    }
    for (const auto& [component, job] : running)
      call({"EVAL",
            "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
            "redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2]) return 1",
            "2", key("lock:", component), key("lease:", job), job, ms(opts_.lease), instance_});
  }

  std::map<std::string, std::string> running(const std::vector<std::string>& components) override {
    std::map<std::string, std::string> out;
    if (components.empty()) return out;
    std::vector<std::string> args{"MGET"};
    for (const auto& c : components) args.push_back(key("lock:", c));
    const auto r = call(std::move(args));
    for (std::size_t i = 0; i < components.size() && i < r.elements.size(); ++i)
      if (r.elements[i].is_string()) out[components[i]] = r.elements[i].str;
    return out;
  }

  void insert(const job_row& j) override {
    std::vector<std::string> args{"HSET", key("job:", j.id)};
    for (auto& [f, v] : fields_of(j)) {
      args.push_back(std::move(f));
      args.push_back(std::move(v));
    }
    call(std::move(args));
    call({"ZADD", key("jobs"), std::to_string(j.started_ms), j.id});
    call({"SET", key("lease:", j.id), instance_, "PX", ms(opts_.lease)});
    call({"SADD", key("running-jobs"), j.id});
  }

  void progress(const job_row& j) override {
    conn_->async_command({"HSET", key("job:", j.id), "lines", std::to_string(j.lines), "last_id", j.last_id},
                         [](std::error_code, sse::redis::reply) {});
  }

  void finish(const job_row& j) override {
    call({"HSET", key("job:", j.id), "state", j.state, "finished", j.finished.value_or(""), "exit_code",
          std::to_string(j.exit_code.value_or(0)), "lines", std::to_string(j.lines), "last_id", j.last_id});
    call({"SREM", key("running-jobs"), j.id});
    call({"DEL", key("lease:", j.id), key("reap:", j.id)});
  }

  std::optional<job_row> get(const std::string& id) override {
    const auto r = call({"HGETALL", key("job:", id)});
    if (!r.is_array() || r.elements.empty()) return std::nullopt;
    std::map<std::string, std::string> f;
    for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) f[r.elements[i].str] = r.elements[i + 1].str;
    job_row j;
    j.id = f["id"];
    j.component = f["component"];
    j.topic = f["topic"];
    j.epoch = f["epoch"];
    j.state = f["state"];
    j.started = f["started"];
    if (!f["finished"].empty()) j.finished = f["finished"];
    if (!f["exit_code"].empty()) j.exit_code = to_int<int>(f["exit_code"]);
    j.lines = to_int<std::uint64_t>(f["lines"]);
    j.last_id = f["last_id"];
    j.started_ms = to_int<std::int64_t>(f["started_ms"]);
    if (j.id != id || j.topic.empty()) throw backend_unavailable(fmt::format("job record {} in Redis is incomplete", id));
    return j;
  }

  std::vector<job_row> newest(std::size_t limit) override {
    const auto r = call({"ZREVRANGE", key("jobs"), "0", std::to_string(limit == 0 ? 0 : limit - 1)});
    std::vector<job_row> out;
    for (const auto& e : r.elements)
      if (auto j = get(e.str)) out.push_back(std::move(*j));
    return out;
  }

  std::chrono::milliseconds sweep_interval() const override { return std::chrono::seconds(2); }
  std::string orphan_line() const override {
    return "interrupted: the instance running this job stopped; nothing more was installed by it";
  }
  std::string orphan_report(const job_row& j, bool) const override {
    return fmt::format("job {} ({}) lost the instance running it: ended as {} with {} lines", j.id, j.component, j.state,
                       j.lines);
  }
  /// Jobs recorded as running whose owner's lease has expired and that this instance has claimed
  /// for cleanup (no other instance gets the same job).
  std::vector<job_row> orphans() override {
    std::vector<job_row> out;
    for (const auto& m : call({"SMEMBERS", key("running-jobs")}).elements) {
      const std::string& job = m.str;
      if (call({"EXISTS", key("lease:", job)}).integer != 0) continue;
      if (call({"SET", key("reap:", job), instance_, "NX", "PX", ms(opts_.lease * 10)}).is_nil()) continue;
      if (call({"SISMEMBER", key("running-jobs"), job}).integer == 0) continue;  // finished meanwhile
      auto j = get(job);
      if (!j || j->state != "running") {
        call({"SREM", key("running-jobs"), job});
        continue;
      }
      out.push_back(std::move(*j));
    }
    return out;
  }

  void mark_installed(const installed_row& r) override {
    call({"HSET", key("installed:", r.name), "version", r.version, "installed_at", r.installed_at, "job", r.job});
  }

  std::optional<installed_row> installed(const std::string& name) override {
    const auto r = call({"HMGET", key("installed:", name), "version", "installed_at", "job"});
    if (r.elements.size() != 3 || !r.elements[0].is_string()) return std::nullopt;
    return installed_row{name, r.elements[0].str, r.elements[1].str, r.elements[2].str};
  }

  /// Up to `limit` events of a job's stream after `after` ("" = from the first).
  std::vector<log_item> events_after(const std::string& topic, const std::string& after, std::size_t limit) {
    std::vector<std::string> args{"XRANGE", opts_.prefix + "events:" + topic,
                                  after.empty() ? std::string("-") : sse::redis::exclusive(after), "+", "COUNT",
                                  std::to_string(limit)};
    const auto r = call(std::move(args));
    std::vector<sse::redis::stream_entry> es;
    if (!sse::redis::detail::parse_entries(r, es)) throw backend_unavailable("Redis: unexpected XRANGE reply");
    std::vector<log_item> out;
    for (auto& e : es) {
      if (!e.field("d")) continue;  // the end marker of a sealed topic
      const auto* t = e.field("t");
      out.push_back({std::move(e.id), t ? *t : std::string(), *e.field("d")});
    }
    return out;
  }

 private:
  template <class... S>
  std::string key(const S&... parts) const {
    std::string k = opts_.prefix;
    (k.append(parts), ...);
    return k;
  }
  static std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()); }

  template <class T>
  static T to_int(const std::string& s) {
    try {
      return static_cast<T>(std::stoll(s));
    } catch (const std::exception&) {
      return T{};
    }
  }

  std::vector<std::pair<std::string, std::string>> fields_of(const job_row& j) const {
    return {{"id", j.id},
            {"component", j.component},
            {"topic", j.topic},
            {"epoch", j.epoch},
            {"state", j.state},
            {"started", j.started},
            {"finished", j.finished.value_or("")},
            {"exit_code", j.exit_code ? std::to_string(*j.exit_code) : std::string()},
            {"lines", std::to_string(j.lines)},
            {"last_id", j.last_id},
            {"started_ms", std::to_string(j.started_ms)},
            {"instance", instance_}};
  }

  /// One command, waited for. Never call it on the cluster's I/O thread.
  sse::redis::reply call(std::vector<std::string> args) {
    auto p = std::make_shared<std::promise<std::pair<std::error_code, sse::redis::reply>>>();
    auto f = p->get_future();
    const std::string name = args.front();
    conn_->async_command(std::move(args), [p](std::error_code ec, sse::redis::reply r) {
      p->set_value({ec, std::move(r)});
    });
    // The connection times every command out itself; this bound only guards against a bug there.
    if (f.wait_for(opts_.command_timeout + std::chrono::seconds(2)) != std::future_status::ready)
      throw backend_unavailable(fmt::format("Redis did not answer {} in time", name));
    auto [ec, r] = f.get();
    if (ec)
      throw backend_unavailable(fmt::format("Redis ({}) failed {}: {}{}", sse::redis::to_display_url(opts_.server), name,
                                           ec.message(), r.is_error() ? ": " + r.str : std::string()));
    return std::move(r);
  }

  cluster_options opts_;
  std::string instance_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::shared_ptr<sse::redis::connection> conn_;
  std::shared_ptr<sse::redis::broker> broker_;
  std::future<void> ran_out_;
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, std::string> mine_;  // guarded by mu_: component -> this instance's job running it
};

}  // namespace installer

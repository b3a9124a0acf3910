// The installer's backend for one instance alone: job records and installed components in
// <data-dir>/installer.db (jobs_db.hpp), every job's events in <data-dir>/events.db (sse::sqlite,
// the hub's durable store), the component locks in memory. Jobs found running at start (the
// previous process died) are the orphans, ended once before the server serves.
#pragma once

#include <chrono>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <sse/hub.hpp>
#include <sse/sqlite/event_store.hpp>

#include "backend.hpp"
#include "jobs_db.hpp"

namespace installer {

/// Parses `<epoch>-<seq>` of the given epoch: strict decimal, no sign, no leading zero.
inline std::optional<std::uint64_t> parse_event_id(std::string_view id, std::string_view epoch) {
  if (id.size() < epoch.size() + 2 || id.substr(0, epoch.size()) != epoch || id[epoch.size()] != '-') return std::nullopt;
  const auto digits = id.substr(epoch.size() + 1);
  if (digits.size() > 19 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');  // 19 digits fit in 64 bits
  }
  // The store keeps sequences as SQLite integers (signed 64-bit) and reads "after v" as from v + 1:
  // a sequence is below INT64_MAX, anything larger is not an id (it would wrap to a negative one).
  if (v >= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return v;
}

class local_backend final : public job_backend {
 public:
  explicit local_backend(std::filesystem::path data_dir) : dir_(std::move(data_dir)) {}

  void configure(sse::hub_options& hub, const sse::logger& log) override {
    store_ = std::make_shared<sse::sqlite::event_store>(
        sse::sqlite::store_options{.path = (dir_ / "events.db").string(), .on_log = log});
    db_ = std::make_unique<jobs_db>((dir_ / "installer.db").string());
    hub.store = store_;
    hub.history.max_events = 200;                   // per job in memory; the store has the rest
    hub.idle_topic_ttl = std::chrono::minutes(10);  // a finished job's topic leaves memory; it opens again from the store
  }
  void attach(sse::hub& hub) override { hub_ = &hub; }
  void close() override {
    if (store_) store_->close();
  }
  std::optional<std::string> instance() const override { return std::nullopt; }
  std::string describe() const override {
    return fmt::format("this instance alone: jobs in {}, their events in {}", (dir_ / "installer.db").string(),
                       (dir_ / "events.db").string());
  }

  // ---- event log: the hub's store; ids <epoch>-<n> ----
  /// Ids continue after the stored head (past a gap reserved after a crash).
  std::string open_topic(const std::string& topic) override { return hub_->open_topic(topic); }
  std::string start_id(const job_row& j) const override { return j.epoch + "-0"; }
  bool is_event_id(const job_row& j, std::string_view id) const override { return parse_event_id(id, j.epoch).has_value(); }
  std::string example_id(const job_row& j) const override { return j.epoch + "-12"; }

  log_page read_log(const job_row& j, const std::string& after_id, std::size_t limit) override {
    log_page page;
    page.after = after_id;
    std::error_code ec;
    std::uint64_t after = parse_event_id(after_id, j.epoch).value_or(0);
    // `after` must name an event the store has: one lost in a crash (inside a reserved gap) or one
    // that never existed cannot be continued from. Then: reset, and the log from the start.
    if (after != 0) {
      const auto at = store_->load(j.topic, after - 1, 1, ec);
      if (!ec && (at.empty() || at.front().seq != after)) page.reset = true, after = 0, page.after = start_id(j);
    }
    auto stored = ec ? std::vector<sse::stored_event>{} : store_->load(j.topic, after, limit, ec);
    if (ec) throw backend_failure("cannot read the job's log: " + ec.message());
    // Events sent before a crash and never written lie between `after` and what follows: say so.
    if (!stored.empty())
      for (const auto& g : store_->gaps(j.topic, ec)) page.gap = page.gap || (g.first > after && g.first <= stored.back().seq);
    for (auto& e : stored) page.events.push_back({std::move(e.id), std::move(e.type), std::move(e.data)});
    return page;
  }

  /// The store cannot write for now (locked, disk full, I/O error) or its queue is full.
  bool is_temporary(std::error_code ec) const override {
    return sse::sqlite::is_transient(ec) || ec == sse::store_errc::queue_full;
  }
  std::string_view log_name() const override { return "the event store"; }
  std::optional<std::string> unavailable_reason(const sse::hub_error& e) const override {
    if (!is_temporary(e.code())) return std::nullopt;
    return std::string("the event store cannot write now: ") + e.code().message();
  }

  // ---- locks: this process's memory ----
  std::optional<std::string> claim(const std::string& component, const std::string& job) override {
    std::lock_guard lk(mu_);
    if (auto it = claims_.find(component); it != claims_.end()) return it->second;
    claims_[component] = job;
    return std::nullopt;
  }
  void release(const std::string& component, const std::string& job) override {
    std::lock_guard lk(mu_);
    if (auto it = claims_.find(component); it != claims_.end() && it->second == job) claims_.erase(it);
  }
  std::map<std::string, std::string> running(const std::vector<std::string>&) override {
    std::lock_guard lk(mu_);
    return claims_;
  }

  // ---- records: installer.db, and this process's jobs in memory ----
  // A running job's lines and last id are only in memory (installer.db gets them at its end), and
  // a request reads the memory copy: it never waits for installer.db while a job retries a write.
  void insert(const job_row& j) override {
    db([&] { db_->insert(j); });
    std::lock_guard lk(mu_);
    live_[j.id] = j;
  }
  void progress(const job_row& j) override {
    std::lock_guard lk(mu_);
    live_[j.id] = j;
  }
  void finish(const job_row& j) override {
    db([&] { db_->finish(j); });
    std::lock_guard lk(mu_);
    live_[j.id] = j;
    ended_.push_back(j.id);
    while (ended_.size() > max_ended_in_memory) {  // installer.db has them
      live_.erase(ended_.front());
      ended_.pop_front();
    }
  }
  std::optional<job_row> get(const std::string& id) override {
    {
      std::lock_guard lk(mu_);
      if (auto it = live_.find(id); it != live_.end()) return it->second;
    }
    return db([&] { return db_->get(id); });
  }
  std::vector<job_row> newest(std::size_t limit) override {
    auto rows = db([&] { return db_->newest(limit); });
    std::lock_guard lk(mu_);
    for (auto& r : rows)
      if (auto it = live_.find(r.id); it != live_.end()) r = it->second;
    return rows;
  }

  // ---- orphans: the jobs a previous process left running, once at start ----
  std::chrono::milliseconds sweep_interval() const override { return std::chrono::milliseconds(0); }
  void keep_alive() override {}
  std::vector<job_row> orphans() override {
    if (swept_) return {};
    swept_ = true;
    return db([&] { return db_->running(); });
  }
  std::string orphan_line() const override {
    return "interrupted by server restart: the server stopped while this job was running";
  }
  std::string orphan_report(const job_row& j, bool had_ended) const override {
    if (had_ended)
      return fmt::format("job {} ({}) had ended ({}) but installer.db did not say so: recorded now", j.id, j.component,
                         j.state);
    return fmt::format("job {} ({}) was interrupted by a server restart: marked failed, its log has {} lines", j.id,
                       j.component, j.lines);
  }

  // ---- installed components ----
  void mark_installed(const installed_row& r) override {
    db([&] { db_->mark_installed(r); });
  }
  std::optional<installed_row> installed(const std::string& name) override {
    return db([&] { return db_->installed(name); });
  }

 private:
  /// installer.db's transient errors (locked, disk full, I/O error) are backend_unavailable.
  template <class F>
  static auto db(F f) -> decltype(f()) {
    try {
      return f();
    } catch (const std::system_error& e) {
      if (!sse::sqlite::is_transient(e.code())) throw;
      throw backend_unavailable(e.what(), "the jobs database cannot write now: " + e.code().message());
    }
  }

  static constexpr std::size_t max_ended_in_memory = 1000;

  std::filesystem::path dir_;
  std::shared_ptr<sse::sqlite::event_store> store_;
  std::unique_ptr<jobs_db> db_;
  sse::hub* hub_ = nullptr;
  bool swept_ = false;
  std::mutex mu_;
  std::map<std::string, std::string> claims_;  // guarded by mu_: component -> job
  std::map<std::string, job_row> live_;        // guarded by mu_: this process's jobs (the ended: the newest 1000)
  std::deque<std::string> ended_;              // guarded by mu_: ended jobs in live_, oldest first
};

}  // namespace installer

// sse-installer: the HTTP API, the jobs, and the wiring of sse::server + sse::sqlite + the daily log.
// See examples/installer/README.md for the API.
#pragma once

#include <sse/server.hpp>
#include <sse/sqlite/event_store.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "catalog.hpp"
#include "daily_log.hpp"
#include "jobs_db.hpp"
#include "process.hpp"
#include "shared_state.hpp"

namespace installer {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct options {
  std::string bind = "127.0.0.1";
  unsigned short port = 8080;
  std::size_t threads = 2;
  fs::path data_dir = "installer-data";
  fs::path catalog_file;
  fs::path web_dir;
  fs::path client_dir;  ///< the browser client package (clients/js), served under /client/ ("" = not served)
  fs::path log_dir;  ///< "" = data_dir
  fs::path install_dir;  ///< where components go ("" = data_dir/installed); share it between instances
  std::chrono::milliseconds ping_interval = 10s;
  sse::ping_form ping_form = sse::ping_form::event;
  std::string token;
  /// Host names answered besides localhost, 127.0.0.1, [::1] and `bind` (others: 421); "*" = any.
  std::vector<std::string> allowed_hosts = {};
  /// Origins (scheme://host[:port]) whose pages may use the API: CORS, and their POSTs are accepted.
  std::vector<std::string> allow_origins = {};
  sse::log_level log_level = sse::log_level::info;
  std::chrono::milliseconds step_delay = 200ms;
  std::size_t max_body_bytes = 16 * 1024;
  bool echo_log = true;  ///< also write log lines to stderr
  /// Several instances as one service (cluster.hpp: Redis): jobs, locks, installed components and
  /// the jobs' events are shared there instead of SQLite. nullptr = this instance alone.
  std::shared_ptr<shared_state> shared = {};
};

// ---- small JSON writers (the data is ours; strings are escaped) ----
inline std::string jstr(std::string_view s) {
  std::string out;
  sse::detail::json_string_to(out, s);
  return out;
}
inline std::string jopt(const std::optional<std::string>& s) { return s ? jstr(*s) : "null"; }
inline std::string jopt(std::optional<std::string_view> s) { return s ? jstr(*s) : "null"; }

inline sse::response json(int status, std::string body) { return sse::response::json(status, std::move(body)); }
inline sse::response json_error(int status, std::string_view msg, std::string extra = {}) {
  return json(status, "{\"error\":" + jstr(msg) + extra + "}");
}

/// Job ids are ours: 1..64 of [A-Za-z0-9_-].
inline bool is_job_id(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (const char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

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

class app {
  struct job {
    std::mutex mu;
    job_row row;  // guarded by mu
    const component* comp = nullptr;
    std::atomic<bool> cancel{false};
    std::atomic<bool> exited{false};
    std::condition_variable cv;
    std::thread thread;
    // What requests see (GET, polling): a copy of `row` taken after each publish and after the end is
    // recorded, so a request never waits for a job that waits for its store.
    std::mutex snap_mu;
    job_row snap;  // guarded by snap_mu
    std::chrono::milliseconds patience{30000};  // how long a publish waits for the store (guarded by mu)
    void snapshot() {
      std::lock_guard lk(snap_mu);
      snap = row;
    }
  };

 public:
  explicit app(options o) : opts_(std::move(o)), shared_(opts_.shared) {
    if (opts_.log_dir.empty()) opts_.log_dir = opts_.data_dir;
    if (opts_.install_dir.empty()) opts_.install_dir = opts_.data_dir / "installed";
    fs::create_directories(opts_.data_dir);
    fs::create_directories(opts_.install_dir);
    log_ = std::make_unique<daily_log>(opts_.log_dir, opts_.log_level, sys_clock_fn{}, opts_.echo_log);
    catalog_ = load_catalog(opts_.catalog_file);
    if (!shared_) {
      store_ = std::make_shared<sse::sqlite::event_store>(sse::sqlite::store_options{
          .path = (opts_.data_dir / "events.db").string(), .on_log = log_->hook()});
      db_ = std::make_unique<jobs_db>((opts_.data_dir / "installer.db").string());
    }

    sse::server_options so;
    so.bind = opts_.bind;
    so.port = opts_.port;
    so.threads = opts_.threads;
    so.max_body_bytes = opts_.max_body_bytes;
    so.allowed_hosts = allowed_hosts(opts_);
    so.allow_origins = opts_.allow_origins;
    so.cors_allow_headers = {"X-Installer-Request"};  // a cross-origin page (--allow-origin) may send the CSRF marker
    so.shutdown_grace = 2s;
    so.hub.keepalive = sse::keepalive_options{.interval = opts_.ping_interval, .form = opts_.ping_form};
    if (shared_) {
      so.hub.broker = shared_->broker();  // events go through the shared log; ids come from it
    } else {
      so.hub.store = store_;
      so.hub.history.max_events = 200;  // per job in memory; the store has the rest
      so.hub.idle_topic_ttl = 10min;  // a finished job's topic leaves memory; it opens again from the store
    }
    so.on_log = log_->hook();
    server_ = std::make_unique<sse::server>(std::move(so));
    log(sse::log_level::info, fmt::format("catalog {}: {} components; data in {}", opts_.catalog_file.string(),
                                          catalog_.components.size(), opts_.data_dir.string()));
    if (shared_)
      log(sse::log_level::info, fmt::format("instance {}: jobs and their logs are shared with the other instances",
                                            shared_->instance()));
    else
      recover();
    add_routes();
  }

  /// Stops everything; the server (and its hub) goes before the shared state it publishes through.
  ~app() {
    shutdown();
    server_.reset();
  }
  app(const app&) = delete;
  app& operator=(const app&) = delete;

  sse::server& server() { return *server_; }
  unsigned short port() const { return server_->port(); }
  daily_log& logfile() { return *log_; }

  void start() {
    server_->start();
    if (shared_) warden_ = std::thread([this] { warden(); });
  }

  /// Blocks until SIGINT/SIGTERM, then stops the server and the jobs.
  void run() {
    server_->run();
    shutdown();
  }

  /// Cancels running jobs (they end as failed: "interrupted: server shutting down"), waits for
  /// them, and writes the store. Idempotent.
  void shutdown() {
    if (shut_.exchange(true)) return;
    std::vector<std::shared_ptr<job>> all;
    {
      std::lock_guard lk(mu_);
      for (auto& [id, j] : jobs_) all.push_back(j);
    }
    for (auto& j : all) {
      j->cancel = true;
      j->cv.notify_all();
    }
    for (auto& j : all)
      if (j->thread.joinable()) j->thread.join();
    {
      std::lock_guard lk(warden_mu_);  // the warden is waiting or will see shut_
    }
    warden_cv_.notify_all();
    if (warden_.joinable()) warden_.join();
    server_->stop(0ms);
    if (store_) store_->close();
    log(sse::log_level::info, "stopped");
  }

 private:
  void log(sse::log_level l, std::string_view msg) { log_->write(l, msg); }

  static std::string now_iso() { return iso_utc(std::chrono::system_clock::now()); }

  std::string new_job_id() {
    static std::atomic<unsigned> counter{0};
    std::random_device rd;
    const auto now = std::chrono::system_clock::now();
    const std::string ts = iso_utc(now);  // 2026-11-27T10:00:00.123Z
    std::string compact;
    for (const char c : ts.substr(0, 19))
      if (c != '-' && c != ':') compact.push_back(c == 'T' ? '-' : c);
    return fmt::format("{}-{:04x}{:02x}", compact, rd() & 0xFFFF, counter.fetch_add(1) & 0xFF);
  }

  // ---- publishing (job mutex held) ----
  std::string emit(job& j, std::string type, std::string data) {
    sse::event ev{.type = std::move(type), .data = std::move(data)};
    std::string id = publish_patiently(j.row.topic, ev, j.patience);
    j.row.last_id = id;
    if (shared_) shared_->progress(j.row);
    j.snapshot();
    return id;
  }
  /// Whether a publish error may go away by itself: the shared log unreachable, or the event store
  /// unable to write for now (locked, disk full, I/O error) or its queue full.
  bool is_temporary(std::error_code ec) const {
    if (shared_) return server_->hub().options().broker->is_unavailable(ec);
    return sse::sqlite::is_transient(ec) || ec == sse::store_errc::queue_full;
  }
  /// While the shared log is unreachable or the event store cannot write, the job waits (its
  /// output waits in its pipe) and retries, up to `patience` (2 s when shutting down); then the
  /// publish error ends the job.
  std::string publish_patiently(const std::string& topic, const sse::event& ev, std::chrono::milliseconds patience = 30s) {
    const auto start = std::chrono::steady_clock::now();
    for (int attempt = 0;; ++attempt) {
      std::error_code ec;
      std::string id = server_->hub().publish(topic, ev, ec);
      if (!ec) {
        if (attempt > 0) log(sse::log_level::info, fmt::format("topic {}: publishing again after {} attempts", topic, attempt));
        return id;
      }
      const auto waited = std::chrono::steady_clock::now() - start;
      if (!is_temporary(ec) || waited > (shut_ ? std::min<std::chrono::milliseconds>(patience, 2s) : patience))
        throw sse::hub_error(ec);
      if (attempt == 0)
        log(sse::log_level::warn, fmt::format("topic {}: {} is unavailable ({}); the job waits for it", topic,
                                              shared_ ? "the shared log" : "the event store", ec.message()));
      std::this_thread::sleep_for(200ms);
    }
  }
  static sse::log_level level_of(std::string_view level) {
    return level == "error" ? sse::log_level::error : level == "warn" ? sse::log_level::warn : sse::log_level::info;
  }
  void emit_log(job& j, std::string_view level, std::string_view line) {
    log(level_of(level), fmt::format("job {} ({}): {}", j.row.id, j.row.component, line));
    j.row.lines += 1;
    emit(j, "log", fmt::format("{{\"seq\":{},\"ts\":{},\"level\":{},\"line\":{}}}", j.row.lines, jstr(now_iso()),
                               jstr(level), jstr(line)));
  }
  void emit_progress(job& j, int percent, std::string_view step) {
    emit(j, "progress", fmt::format("{{\"percent\":{},\"step\":{}}}", percent, jstr(step)));
  }
  void emit_status(job& j) { emit_status(j, j.row.state); }
  void emit_status(job& j, std::string_view state) {
    emit(j, "status", fmt::format("{{\"state\":{},\"component\":{}}}", jstr(state), jstr(j.row.component)));
  }
  /// status + done, the row finished in the database, the topic sealed (streams end after `done`).
  void finish(job& j, bool ok, int exit_code) {
    {
      // Before `done` goes out, so a client that saw it can start the next install (lock order: mu_, then a job's mu).
      std::lock_guard lk(mu_);
      if (auto it = running_.find(j.row.component); it != running_.end() && it->second == j.row.id) running_.erase(it);
    }
    if (shared_) {
      try {
        shared_->release(j.row.component, j.row.id);
      } catch (const shared_state_error& e) {  // the lock then expires with its lease
        log(sse::log_level::warn, fmt::format("job {}: cannot release {}: {}", j.row.id, j.row.component, e.what()));
      }
    }
    std::lock_guard lk(j.mu);
    end_job(j, ok ? "succeeded" : "failed", exit_code);
  }

  /// status + done, the record finished, the topic sealed (streams end after `done`). j.mu held.
  /// The job's state changes only once `done` is published: while the store cannot write, the end
  /// waits for it (until shutdown; a job left `running` is then ended by recover() at the next
  /// start), so the stream, polling, GET, installer.db and events.db never disagree.
  void end_job(job& j, std::string_view state, int exit_code) {
    for (bool status_out = false;;) {
      try {
        if (!status_out) {
          emit_status(j, state);
          status_out = true;
        }
        emit(j, "done", fmt::format("{{\"state\":{},\"exit_code\":{},\"lines\":{}}}", jstr(state), exit_code, j.row.lines));
        break;
      } catch (const sse::hub_error& e) {
        if (shut_ || !is_temporary(e.code())) throw;
      }
    }
    j.row.state = std::string(state);
    j.row.exit_code = exit_code;
    j.row.finished = now_iso();
    if (shared_) {
      shared_->finish(j.row);
    } else {
      for (auto pause = 100ms;; pause = std::min<std::chrono::milliseconds>(pause * 2, 2s)) {
        try {
          db_->finish(j.row);
          break;
        } catch (const std::system_error& e) {
          if (shut_ || !sse::sqlite::is_transient(e.code())) throw;  // recover() finishes it from its `done`
          log(sse::log_level::warn, fmt::format("job {}: cannot record its end in installer.db ({}); retrying",
                                                j.row.id, e.what()));
          std::this_thread::sleep_for(pause);
        }
      }
    }
    j.snapshot();
    server_->hub().seal(j.row.topic);
  }

  bool pause(job& j) {
    if (opts_.step_delay.count() <= 0) return !j.cancel;
    std::mutex m;
    std::unique_lock lk(m);
    j.cv.wait_for(lk, opts_.step_delay, [&] { return j.cancel.load(); });
    return !j.cancel;
  }

  // ---- the job itself, on its own thread ----
  void run_job(const std::shared_ptr<job>& jp) {
    job& j = *jp;
    const component& c = *j.comp;
    const fs::path staging = opts_.install_dir / (".staging-" + j.row.id);
    const fs::path target = opts_.install_dir / c.name;
    bool ok = true;
    int exit_code = 0;
    auto line = [&](std::string_view level, std::string_view text) {
      std::lock_guard lk(j.mu);
      emit_log(j, level, text);
    };
    try {
      std::error_code ec;
      fs::remove_all(staging, ec);
      fs::create_directories(staging);
      const int n = static_cast<int>(c.steps.size());
      line("info", fmt::format("installing {} {} into {}", c.name, c.version, target.string()));
      for (int i = 0; i < n && ok; ++i) {
        const step& s = c.steps[static_cast<std::size_t>(i)];
        {
          std::lock_guard lk(j.mu);
          emit_progress(j, i * 100 / n, s.label);
          emit_log(j, "info", fmt::format("step {}/{}: {}", i + 1, n, s.label));
        }
        if (!pause(j)) break;
        if (s.what == step::kind::copy) {
          ok = copy_step(j, c.payload / s.folder, staging, line);
          if (!ok) exit_code = 1;
        } else {
          std::vector<std::string> argv;
          for (std::string a : s.argv) {
            for (auto [ph, val] : {std::pair<std::string_view, std::string>{"{payload}", fs::absolute(c.payload).string()},
                                   {"{target}", fs::absolute(staging).string()}})
              for (auto p = a.find(ph); p != std::string::npos; p = a.find(ph, p + val.size())) a.replace(p, ph.size(), val);
            argv.push_back(std::move(a));
          }
          const auto r = run_program(
              argv, staging,
              [&](bool from_stderr, std::string text) {
                std::string_view level = "info";
                if (from_stderr) {
                  std::string low = text.substr(0, 5);
                  for (auto& ch : low) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                  level = low.starts_with("error") ? "error" : "warn";
                }
                line(level, text);
                pause(j);
              },
              j.cancel);
          if (j.cancel) break;
          if (!r.error.empty()) line("error", r.error);
          if (r.exit_code != 0) {
            ok = false;
            exit_code = r.exit_code;
            line("error", fmt::format("step {}/{} failed: '{}' exited with code {}", i + 1, n, s.label, r.exit_code));
            log(sse::log_level::warn, fmt::format("job {} ({}): step {}/{} failed with exit code {}", j.row.id, c.name,
                                                  i + 1, n, r.exit_code));
          }
        }
      }
      if (j.cancel) {
        ok = false;
        exit_code = -1;
        line("error", "interrupted: the server is shutting down");
        log(sse::log_level::warn, fmt::format("job {} ({}): interrupted by shutdown", j.row.id, c.name));
      }
      if (ok) {
        fs::remove_all(target, ec);
        fs::rename(staging, target);
        if (shared_)
          shared_->mark_installed({c.name, c.version, now_iso(), j.row.id});
        else
          db_->mark_installed({c.name, c.version, now_iso(), j.row.id});
        line("info", fmt::format("installed {} {} into {}", c.name, c.version, target.string()));
        std::lock_guard lk(j.mu);
        emit_progress(j, 100, "done");
      } else {
        fs::remove_all(staging, ec);
        if (!j.cancel) line("error", fmt::format("installation of {} failed; nothing was installed", c.name));
      }
    } catch (const std::exception& e) {
      ok = false;
      exit_code = exit_code ? exit_code : 1;
      log(sse::log_level::error, fmt::format("job {} ({}): {}", j.row.id, c.name, e.what()));
      try {
        line("error", std::string("internal error: ") + e.what());
        std::error_code ec;
        fs::remove_all(staging, ec);
      } catch (const std::exception&) {
      }
    }
    try {
      finish(j, ok, exit_code);
    } catch (const std::exception& e) {
      log(sse::log_level::error, fmt::format("job {}: cannot record its end: {}", j.row.id, e.what()));
    }
    log(ok ? sse::log_level::info : sse::log_level::warn,
        fmt::format("job {} ({}) finished: {} (exit code {}, {} lines)", j.row.id, c.name, ok ? "succeeded" : "failed",
                    exit_code, j.row.lines));
    j.exited = true;
  }

  template <class Line>
  bool copy_step(job& j, const fs::path& from, const fs::path& to, Line& line) {
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(from); it != fs::recursive_directory_iterator(); ++it)
      if (it->is_regular_file()) files.push_back(it->path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      if (j.cancel) return false;
      const auto rel = fs::relative(f, from);
      std::error_code ec;
      fs::create_directories((to / rel).parent_path(), ec);
      if (!ec) fs::copy_file(f, to / rel, fs::copy_options::overwrite_existing, ec);
      if (ec) {
        line("error", fmt::format("cannot copy {}: {}", rel.string(), ec.message()));
        return false;
      }
      line("info", fmt::format("copied {} ({} bytes)", rel.string(), fs::file_size(f, ec)));
      if (!pause(j)) return false;
    }
    return true;
  }

  /// Jobs left "running" by a previous process: complete their log and mark them failed. (A job
  /// whose `done` is stored, but whose end installer.db could not record, takes its end from it.)
  void recover() {
    for (auto& row : db_->running()) {
      try {
        server_->hub().open_topic(row.topic);  // ids continue after the stored head (past a reserved gap)
        std::error_code ec;
        std::uint64_t lines = 0;
        std::optional<sse::stored_event> done;
        for (const auto& e : store_->load(row.topic, 0, 1000000, ec)) {
          if (e.type == "log") ++lines;
          if (e.type == "done") done = e;
        }
        if (ec) throw std::system_error(ec, "reading its log");
        auto j = std::make_shared<job>();
        j->row = row;
        j->row.lines = lines;
        j->exited = true;
        if (done) {
          std::lock_guard lk(j->mu);
          j->row.state = done->data.find("\"state\":\"succeeded\"") != std::string::npos ? "succeeded" : "failed";
          j->row.last_id = done->id;
          if (const auto p = done->data.find("\"exit_code\":"); p != std::string::npos)
            j->row.exit_code = std::atoi(done->data.c_str() + p + 12);
          j->row.finished = now_iso();
          db_->finish(j->row);
          server_->hub().seal(j->row.topic);
          j->snapshot();
          log(sse::log_level::warn, fmt::format("job {} ({}) had ended ({}) but installer.db did not say so: recorded now",
                                                row.id, row.component, j->row.state));
          std::lock_guard ml(mu_);
          jobs_.emplace(row.id, std::move(j));
          continue;
        }
        {
          std::lock_guard lk(j->mu);
          emit_log(*j, "error", "interrupted by server restart: the server stopped while this job was running");
          j->row.state = "failed";
          j->row.exit_code = -1;
          j->row.finished = now_iso();
          emit_status(*j);
          emit(*j, "done", fmt::format("{{\"state\":\"failed\",\"exit_code\":-1,\"lines\":{}}}", j->row.lines));
          db_->finish(j->row);
          j->snapshot();
          server_->hub().seal(j->row.topic);
        }
        fs::remove_all(opts_.install_dir / (".staging-" + row.id), ec);
        log(sse::log_level::warn, fmt::format("job {} ({}) was interrupted by a server restart: marked failed, its log "
                                              "has {} lines",
                                              row.id, row.component, j->row.lines));
        std::lock_guard lk(mu_);
        jobs_.emplace(row.id, std::move(j));
      } catch (const std::exception& e) {
        log(sse::log_level::error, fmt::format("job {}: cannot recover: {}", row.id, e.what()));
      }
    }
  }

  // ---- several instances (shared mode) ----

  /// On its own thread: keeps this instance's leases alive, and ends the jobs of instances that died
  /// (their lease expired): each such job is ended by exactly one instance, with a log line saying
  /// so, status and done, so that every stream and poller sees a real end.
  void warden() {
    bool failing = false;
    for (;;) {
      std::map<std::string, std::string> mine;
      {
        std::lock_guard lk(mu_);
        mine = running_;
      }
      try {
        shared_->keep_alive(mine);
        for (auto& row : shared_->orphans()) reap(std::move(row));
        if (failing) log(sse::log_level::info, "shared state: reachable again");
        failing = false;
      } catch (const std::exception& e) {
        if (!failing) log(sse::log_level::warn, fmt::format("shared state: {}", e.what()));
        failing = true;
      }
      std::unique_lock lk(warden_mu_);
      if (warden_cv_.wait_for(lk, 2s, [&] { return shut_.load(); })) return;
    }
  }

  void reap(job_row row) {
    auto j = std::make_shared<job>();
    j->row = std::move(row);
    j->exited = true;
    // What the dead instance published: its lines, and maybe its `done` (it died just after).
    std::uint64_t lines = 0;
    std::optional<log_item> done;
    std::string after;
    for (;;) {
      const auto evs = shared_->events_after(j->row.topic, after, 1000);
      for (const auto& e : evs) {
        if (e.type == "log") ++lines;
        if (e.type == "done") done = e;
      }
      if (evs.size() < 1000) break;
      after = evs.back().id;
    }
    std::lock_guard lk(j->mu);
    j->row.lines = lines;
    j->row.finished = now_iso();
    if (done) {
      j->row.state = done->data.find("\"state\":\"succeeded\"") != std::string::npos ? "succeeded" : "failed";
      j->row.last_id = done->id;
      if (const auto p = done->data.find("\"exit_code\":"); p != std::string::npos)
        j->row.exit_code = std::atoi(done->data.c_str() + p + 12);
      shared_->finish(j->row);
      server_->hub().seal(j->row.topic);
    } else {
      emit_log(*j, "error", "interrupted: the instance running this job stopped; nothing more was installed by it");
      end_job(*j, "failed", -1);
    }
    std::error_code ec;
    fs::remove_all(opts_.install_dir / (".staging-" + j->row.id), ec);
    log(sse::log_level::warn, fmt::format("job {} ({}) lost the instance running it: ended as {} with {} lines", j->row.id,
                                          j->row.component, j->row.state, j->row.lines));
  }

  // ---- HTTP ----

  /// Handlers answer 503 (with the reason) while the shared state is unreachable.
  template <class F>
  auto guarded(F f) {
    return [this, f = std::move(f)](const sse::request_context& c) -> decltype(f(c)) {
      try {
        return f(c);
      } catch (const shared_state_error& e) {
        return unavailable(e.what());
      } catch (const sse::hub_error& e) {
        if (!shared_) {
          if (!is_temporary(e.code())) throw;
          return unavailable(std::string("the event store cannot write now: ") + e.code().message());
        }
        return unavailable(std::string("the shared event log is unavailable: ") + e.what());
      } catch (const std::system_error& e) {  // installer.db
        if (shared_ || !sse::sqlite::is_transient(e.code())) throw;
        return unavailable(std::string("the jobs database cannot write now: ") + e.code().message());
      }
    };
  }
  sse::response unavailable(const std::string& why) {
    log(sse::log_level::warn, why);
    auto r = json_error(503, why);
    r.headers.emplace_back("Retry-After", "2");
    return r;
  }
  std::optional<job_row> find_job(const std::string& id) {
    // Shared mode reads the shared record (kept current by emit): a job thread may hold its mutex
    // while it waits for an unreachable Redis, and a request must not wait with it.
    if (shared_) return shared_->get(id);
    {
      std::lock_guard lk(mu_);
      if (auto it = jobs_.find(id); it != jobs_.end()) {
        std::lock_guard jl(it->second->snap_mu);  // not the job's mutex: the job may be waiting for the store
        return it->second->snap;
      }
    }
    return db_->get(id);
  }

  static std::string job_json(const job_row& j) {
    return fmt::format(
        "{{\"id\":{},\"component\":{},\"state\":{},\"started\":{},\"finished\":{},\"exit_code\":{},\"lines\":{},"
        "\"last_id\":{}}}",
        jstr(j.id), jstr(j.component), jstr(j.state), jstr(j.started), jopt(j.finished),
        j.exit_code ? std::to_string(*j.exit_code) : "null", j.lines, jstr(j.last_id));
  }

  /// The Host names this server answers for (server_options::allowed_hosts): the loopback names,
  /// the bound address, and --allowed-host.
  static std::vector<std::string> allowed_hosts(const options& o) {
    std::vector<std::string> h{"localhost", "127.0.0.1", "[::1]"};
    if (!o.bind.empty()) h.push_back(o.bind.find(':') != std::string::npos && o.bind.front() != '[' ? "[" + o.bind + "]" : o.bind);
    h.insert(h.end(), o.allowed_hosts.begin(), o.allowed_hosts.end());
    return h;
  }

  /// `scheme://host[:port]` -> `host:port` with the scheme's default port filled in ("" if malformed).
  static std::string origin_authority(std::string_view origin) {
    std::string_view port = "80";
    if (origin.starts_with("http://")) origin.remove_prefix(7);
    else if (origin.starts_with("https://")) origin.remove_prefix(8), port = "443";
    else return {};
    if (origin.empty() || origin.find_first_of("/?#@ ") != std::string_view::npos) return {};
    return authority_with_port(origin, port);
  }
  /// `host[:port]` (a Host header or an origin's authority) -> lower-case `host:port`.
  static std::string authority_with_port(std::string_view a, std::string_view default_port) {
    std::string out(a);
    for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const auto close = out.rfind(']');
    const auto colon = out.rfind(':');
    if (colon == std::string::npos || (close != std::string::npos && colon < close)) out += ":" + std::string(default_port);
    return out;
  }

  /// Cross-site request forgery: a request that changes something must carry what a form on
  /// another site cannot send, `Content-Type: application/json` or `X-Installer-Request: 1`, and
  /// when it has an Origin, that origin is this server (the Host the request came to) or one of
  /// --allow-origin. nullopt = accepted; otherwise 403 with the reason (and a log line).
  std::optional<sse::response> csrf_refusal(const sse::request_context& ctx) {
    const auto& rq = ctx.request;
    auto refuse = [&](std::string why) -> std::optional<sse::response> {
      log(sse::log_level::warn, fmt::format("refused {} {} from {}: {}", rq.method, sse::log_escape(rq.target, 200),
                                            ctx.remote, why));
      return json_error(403, why);
    };
    std::string_view ctype = rq.header("Content-Type").value_or("");
    ctype = ctype.substr(0, std::min(ctype.find(';'), ctype.size()));
    while (!ctype.empty() && (ctype.back() == ' ' || ctype.back() == '\t')) ctype.remove_suffix(1);
    const bool is_json = sse::http::detail::grammar::iequals(ctype, "application/json");
    const bool has_marker = rq.header("X-Installer-Request") == std::optional<std::string_view>("1");
    if (!is_json && !has_marker)
      return refuse("this request needs the header \"Content-Type: application/json\" or \"X-Installer-Request: 1\" "
                    "(a form on another site can send neither)");
    if (const auto origin = rq.header("Origin")) {
      bool ok = false;
      for (const auto& a : opts_.allow_origins)
        ok = ok || a == "*" || sse::http::detail::grammar::iequals(a, *origin);
      const auto host = rq.header("Host");
      const std::string mine = origin_authority(*origin);
      if (!ok && host && !mine.empty())
        ok = mine == authority_with_port(*host, origin->starts_with("https://") ? "443" : "80");
      if (!ok)
        return refuse(fmt::format("origin '{}' may not change anything here (the page must come from this server, "
                                  "or start the server with --allow-origin)",
                                  sse::log_escape(*origin, 200)));
    }
    return std::nullopt;
  }

  /// The check of every route that changes something: CSRF first, then the token (when set).
  sse::auth_hook write_guard() {
    return [this, token = token_hook()](const sse::request_context& ctx) -> std::optional<sse::response> {
      if (auto r = csrf_refusal(ctx)) return r;
      if (token) return token(ctx);
      return std::nullopt;
    };
  }

  sse::auth_hook token_hook() {
    if (opts_.token.empty()) return {};
    auto check = sse::bearer_token(opts_.token);
    return [check](const sse::request_context& ctx) -> std::optional<sse::response> {
      if (!check(ctx)) return std::nullopt;
      auto r = json_error(401, "a valid bearer token is required (Authorization: Bearer <token>)");
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return r;
    };
  }

  void add_routes() {
    auto& s = *server_;
    // Every route that changes something (any method but GET) goes through write_guard().
    s.route("POST", "/api/components/{name}/install", guarded([this](const sse::request_context& c) { return install(c); }),
            write_guard());
    s.route("GET", "/api/components", guarded([this](const sse::request_context&) { return components(); }));
    s.route("GET", "/api/jobs", guarded([this](const sse::request_context&) { return jobs(); }));
    s.route("GET", "/api/jobs/{id}", guarded([this](const sse::request_context& c) { return job_status(c); }));
    s.route("GET", "/api/jobs/{id}/logs", guarded([this](const sse::request_context& c) { return job_logs(c); }));
    s.sse_route("/api/jobs/{id}/events", guarded([this](const sse::request_context& c) { return job_events(c); }));
    s.route("GET", "/api/diagnostics", [this](const sse::request_context& c) { return diagnostics(c); });
    s.route("GET", "/", [this](const sse::request_context&) { return static_file(opts_.web_dir / "index.html"); });
    s.route("GET", "/static/{file}", [this](const sse::request_context& c) {
      const std::string name(c.param("file"));
      if (!static_name_ok(name)) return json_error(400, "bad file name");
      return static_file(opts_.web_dir / "static" / name);
    });
    // The browser client package's own files (clients/js: sse-client.js, index.mjs), not a copy.
    s.route("GET", "/client/{file}", [this](const sse::request_context& c) {
      const std::string name(c.param("file"));
      if (!static_name_ok(name)) return json_error(400, "bad file name");
      const std::string ext = fs::path(name).extension().string();
      if (opts_.client_dir.empty() || (ext != ".js" && ext != ".mjs")) return json_error(404, "no such file");
      return static_file(opts_.client_dir / name);
    });
  }

  static bool static_name_ok(const std::string& name) {
    return !name.empty() && name.size() <= 128 && name.front() != '.' && name.find("..") == std::string::npos &&
           std::all_of(name.begin(), name.end(), [](char ch) {
             return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '_';
           });
  }

  sse::response install(const sse::request_context& ctx) {
    const std::string name(ctx.param("name"));
    const component* comp = catalog_.find(name);
    if (!comp) return json_error(404, fmt::format("no component named '{}' in the catalog", name));
    std::shared_ptr<job> j;
    {
      std::lock_guard lk(mu_);
      if (shut_) return json_error(503, "the server is shutting down");
      if (auto it = running_.find(name); it != running_.end())
        return json_error(409, fmt::format("component '{}' is being installed by job {}", name, it->second),
                          ",\"job\":" + jstr(it->second));
      // Reap the threads of jobs that have ended.
      for (auto& [id, old] : jobs_)
        if (old->exited && old->thread.joinable()) old->thread.join();
      j = std::make_shared<job>();
      j->comp = comp;
      j->row.id = new_job_id();
      j->row.component = name;
      j->row.topic = "job/" + j->row.id;
      j->row.started = now_iso();
      j->row.started_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      if (shared_) {
        // One job per component across instances: the lock is in the shared state.
        if (auto holder = shared_->claim(name, j->row.id))
          return json_error(409, fmt::format("component '{}' is being installed by job {}", name, *holder),
                            ",\"job\":" + jstr(*holder));
        try {
          // A request runs on a hub executor, where a blocking publish is refused: the first
          // status goes out from a thread of its own (the broker's I/O has its own thread).
          std::exception_ptr failed;
          std::thread([&] {
            try {
              std::lock_guard jl(j->mu);
              emit_status(*j);
              shared_->insert(j->row);
            } catch (...) {
              failed = std::current_exception();
            }
          }).join();
          if (failed) std::rethrow_exception(failed);
        } catch (...) {
          try {
            shared_->release(name, j->row.id);
          } catch (const std::exception&) {  // it expires with its lease
          }
          throw;
        }
      } else {
        j->row.epoch = server_->hub().open_topic(j->row.topic);
        {
          std::lock_guard jl(j->mu);
          j->patience = 0ms;  // a request does not wait for the store: 503 with the reason instead
          emit_status(*j);
          j->patience = 30s;
        }
        db_->insert(j->row);
      }
      running_[name] = j->row.id;
      jobs_[j->row.id] = j;
      j->thread = std::thread([this, j] { run_job(j); });
    }
    log(sse::log_level::info, fmt::format("job {} started: install {} {} (from {})", j->row.id, name, comp->version,
                                          ctx.remote));
    const std::string base = "/api/jobs/" + j->row.id;
    return json(202, fmt::format("{{\"job\":{},\"component\":{},\"events\":{},\"logs\":{},\"status\":{}}}", jstr(j->row.id),
                                 jstr(name), jstr(base + "/events"), jstr(base + "/logs"), jstr(base)));
  }

  sse::response components() {
    std::map<std::string, std::string> running;
    if (shared_) {
      std::vector<std::string> names;
      for (const auto& c : catalog_.components) names.push_back(c.name);
      running = shared_->running(names);
    } else {
      std::lock_guard lk(mu_);
      running = running_;
    }
    std::string out = "{\"components\":[";
    bool first = true;
    for (const auto& c : catalog_.components) {
      auto inst = shared_ ? shared_->installed(c.name) : db_->installed(c.name);
      // Installed = recorded after a successful install AND its folder really is there.
      if (inst && !fs::is_directory(opts_.install_dir / c.name)) inst.reset();
      const auto run = running.find(c.name);
      out += first ? "" : ",";
      first = false;
      out += fmt::format(
          "{{\"name\":{},\"description\":{},\"version\":{},\"installed\":{},\"installed_version\":{},"
          "\"installed_at\":{},\"running_job\":{}}}",
          jstr(c.name), jstr(c.description), jstr(c.version), inst ? "true" : "false",
          inst ? jstr(inst->version) : "null", inst ? jstr(inst->installed_at) : "null",
          run != running.end() ? jstr(run->second) : "null");
    }
    return json(200, out + "]}");
  }

  sse::response jobs() {
    auto rows = shared_ ? shared_->newest(100) : db_->newest(100);
    std::string out = "{\"jobs\":[";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (i) out += ",";
      out += job_json(find_job(rows[i].id).value_or(rows[i]));
    }
    return json(200, out + "]}");
  }

  /// The job named by the route, or an error response.
  std::variant<job_row, sse::response> job_from(const sse::request_context& ctx) {
    const std::string id(ctx.param("id"));
    if (!is_job_id(id)) return json_error(400, "malformed job id (expected 1-64 of A-Z, a-z, 0-9, '-', '_')");
    auto j = find_job(id);
    if (!j) return json_error(404, fmt::format("no job '{}'", id));
    return *j;
  }

  sse::response job_status(const sse::request_context& ctx) {
    auto j = job_from(ctx);
    if (auto* r = std::get_if<sse::response>(&j)) return *r;
    return json(200, job_json(std::get<job_row>(j)));
  }

  sse::response job_logs(const sse::request_context& ctx) {
    auto jv = job_from(ctx);
    if (auto* r = std::get_if<sse::response>(&jv)) return *r;
    const job_row& j = std::get<job_row>(jv);
    std::string after_id = start_id(j);
    if (auto a = ctx.request.query("after"); a && !a->empty()) {
      if (!is_event_id(j, *a))
        return json_error(400, fmt::format("after must be an event id of this job such as '{}', not '{}'",
                                           shared_ ? "1764237600000-0" : j.epoch + "-12", a->substr(0, 80)));
      after_id = *a;
    }
    std::size_t limit = 500;
    if (auto l = ctx.request.query("limit")) {
      std::size_t v = 0;
      bool ok = !l->empty() && l->size() <= 4;
      for (const char ch : *l) ok = ok && ch >= '0' && ch <= '9';
      if (ok) v = std::stoul(*l);
      if (!ok || v < 1 || v > 1000) return json_error(400, "limit must be a number from 1 to 1000");
      limit = v;
    }
    std::vector<log_item> evs;
    bool reset = false, gap = false;
    if (shared_) {
      evs = shared_->events_after(j.topic, after_id == start_id(j) ? std::string() : after_id, limit);
    } else {
      std::error_code ec;
      std::uint64_t after = *parse_event_id(after_id, j.epoch);
      // `after` must name an event the store has: one lost in a crash (inside a reserved gap) or
      // one that never existed cannot be continued from. Then: "reset":true and the log from the start.
      if (after != 0) {
        const auto at = store_->load(j.topic, after - 1, 1, ec);
        if (!ec && (at.empty() || at.front().seq != after)) reset = true, after = 0, after_id = start_id(j);
      }
      auto stored = ec ? std::vector<sse::stored_event>{} : store_->load(j.topic, after, limit, ec);
      if (ec) return json_error(500, "cannot read the job's log: " + ec.message());
      // Events sent before a crash and never written lie between `after` and what follows: say so.
      if (!stored.empty())
        for (const auto& g : store_->gaps(j.topic, ec))
          gap = gap || (g.first > after && g.first <= stored.back().seq);
      for (auto& e : stored) evs.push_back({std::move(e.id), std::move(e.type), std::move(e.data)});
    }
    std::string out = fmt::format("{{\"job\":{},\"state\":{},{}{}\"events\":[", jstr(j.id), jstr(j.state),
                                  reset ? "\"reset\":true," : "", gap ? "\"gap\":true," : "");
    for (std::size_t i = 0; i < evs.size(); ++i) {
      out += fmt::format("{}{{\"id\":{},\"type\":{},\"data\":{}}}", i ? "," : "", jstr(evs[i].id), jstr(evs[i].type),
                         evs[i].data.empty() ? "null" : evs[i].data);
    }
    const std::string last = evs.empty() ? after_id : evs.back().id;
    const bool done = j.state != "running" && last == j.last_id;
    out += fmt::format("],\"last_id\":{},\"done\":{}}}", jstr(last), done ? "true" : "false");
    return json(200, out);
  }

  /// The id that means "before the job's first event" (`<epoch>-0`, or `0-0` in Redis).
  std::string start_id(const job_row& j) const { return shared_ ? shared_->start_id() : j.epoch + "-0"; }
  bool is_event_id(const job_row& j, std::string_view id) const {
    return shared_ ? shared_->is_event_id(id) : parse_event_id(id, j.epoch).has_value();
  }

  std::variant<sse::subscription, sse::response> job_events(const sse::request_context& ctx) {
    auto jv = job_from(ctx);
    if (auto* r = std::get_if<sse::response>(&jv)) return *r;
    const job_row& j = std::get<job_row>(jv);
    sse::subscription sub{j.topic};
    if (auto last = ctx.request.last_event_id()) {
      if (!is_event_id(j, *last))
        return json_error(400, fmt::format("Last-Event-ID '{}' is not an event id of job {}", last->substr(0, 80), j.id));
      // The client has seen `done`: nothing more will ever come. 204 stops an EventSource for good.
      if (j.state != "running" && *last == j.last_id) return sse::response{204, "", {}, {}};
      sub.last_event_id = *last;
    } else {
      sub.last_event_id = start_id(j);  // a job's stream starts at its first event
    }
    sub.close_after_replay = j.state != "running";
    return sub;
  }

  sse::response diagnostics(const sse::request_context& ctx) {
    const auto& rq = ctx.request;
    auto h = [&](std::string_view name) -> std::optional<std::string_view> {
      auto all = rq.find_all(name);
      if (all.empty()) return std::nullopt;
      return all.front();
    };
    auto joined = [&](std::string_view name) -> std::optional<std::string> {
      auto all = rq.find_all(name);
      if (all.empty()) return std::nullopt;
      std::string v;
      for (std::size_t i = 0; i < all.size(); ++i) v += (i ? ", " : "") + std::string(all[i]);
      return v;
    };
    const auto via = joined("Via"), xff = joined("X-Forwarded-For"), fwd = joined("Forwarded");
    const auto proto = h("X-Forwarded-Proto"), real = h("X-Real-IP");
    const bool proxied = via || xff || fwd || proto || real || rq.header("X-Forwarded-Host");
    return json(200, fmt::format(
                         "{{\"http_version\":{},\"remote\":{},\"via\":{},\"x_forwarded_for\":{},\"x_forwarded_proto\":{},"
                         "\"forwarded\":{},\"x_real_ip\":{},\"proxied\":{},\"server_time\":{},\"ping_interval_ms\":{},"
                         "\"ping_form\":{},\"instance\":{}}}",
                         jstr(fmt::format("{}.{}", rq.version_major, rq.version_minor)), jstr(ctx.remote), jopt(via),
                         jopt(xff), jopt(proto), jopt(fwd), jopt(real), proxied ? "true" : "false", jstr(now_iso()),
                         opts_.ping_interval.count(), jstr(opts_.ping_form == sse::ping_form::event ? "event" : "comment"),
                         shared_ ? jstr(shared_->instance()) : "null"));
  }

  static std::string content_type(const fs::path& p) {
    const std::string ext = p.extension().string();
    if (ext == ".html") return "text/html; charset=utf-8";
    if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
    if (ext == ".css") return "text/css; charset=utf-8";
    if (ext == ".json" || ext == ".map") return "application/json";
    if (ext == ".svg") return "image/svg+xml";
    if (ext == ".png") return "image/png";
    if (ext == ".ico") return "image/x-icon";
    if (ext == ".woff2") return "font/woff2";
    if (ext == ".txt") return "text/plain; charset=utf-8";
    return "application/octet-stream";
  }

  sse::response static_file(const fs::path& p) {
    std::error_code ec;
    if (!fs::is_regular_file(fs::symlink_status(p, ec)) || fs::file_size(p, ec) > (8u << 20))
      return json_error(404, "no such file");
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    sse::response r{200, content_type(p), ss.str(), {}};
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return r;
  }

  options opts_;
  std::unique_ptr<daily_log> log_;
  catalog catalog_;
  std::shared_ptr<sse::sqlite::event_store> store_;
  std::unique_ptr<jobs_db> db_;
  std::unique_ptr<sse::server> server_;
  std::shared_ptr<shared_state> shared_;  // shared mode, or nullptr
  std::thread warden_;                    // shared mode: leases and orphaned jobs
  std::mutex warden_mu_;
  std::condition_variable warden_cv_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<job>> jobs_;  // guarded by mu_: this process's jobs
  std::map<std::string, std::string> running_;        // guarded by mu_: component -> running job id
  std::atomic<bool> shut_{false};
};

}  // namespace installer

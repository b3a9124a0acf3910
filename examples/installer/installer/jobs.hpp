// The installer's jobs: starting one (from a request, without blocking its thread), running it on a
// thread of its own (catalog steps, programs' output as events), ending it (status + done, the
// record, the topic sealed), and ending the jobs nobody runs any more (orphans). Storage is the
// backend's (backend.hpp); events go out through the hub.
#pragma once

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <sse/hub.hpp>
#include <sse/logger.hpp>

#include "backend.hpp"
#include "catalog.hpp"
#include "daily_log.hpp"
#include "json.hpp"
#include "process.hpp"

namespace installer {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline std::string now_iso() { return iso_utc(std::chrono::system_clock::now()); }

/// How a request to start a job came out: the job, or why not.
struct start_outcome {
  std::optional<job_row> job = {};
  std::optional<std::string> held_by = {};  ///< the component is being installed by this job (409)
  bool shutting_down = false;               ///< 503
  std::exception_ptr error = {};            ///< the backend or the hub failed

  static start_outcome started(job_row j) { return {std::move(j), {}, false, {}}; }
  static start_outcome busy(std::string holder) { return {{}, std::move(holder), false, {}}; }
  static start_outcome closing() { return {{}, {}, true, {}}; }
  static start_outcome failed(std::exception_ptr e) { return {{}, {}, false, std::move(e)}; }
};

class job_runner {
  struct job {
    std::mutex mu;
    job_row row;  // guarded by mu
    const component* comp = nullptr;
    std::atomic<bool> cancel{false};
    std::atomic<bool> exited{false};
    std::condition_variable cv;
    std::thread thread;
    std::chrono::milliseconds patience{30000};  // how long a publish waits for the store (guarded by mu)
  };

 public:
  job_runner(job_backend& backend, sse::hub& hub, daily_log& log, fs::path install_dir, std::chrono::milliseconds step_delay)
      : backend_(backend), hub_(hub), log_(log), install_dir_(std::move(install_dir)), step_delay_(step_delay),
        life_(std::make_shared<lifeline>(this)), starter_([this] { run_starts(); }) {}
  ~job_runner() {
    shutdown();
    std::lock_guard lk(life_->mu);  // a publish answered from now on finds nobody
    life_->self = nullptr;
  }
  job_runner(const job_runner&) = delete;
  job_runner& operator=(const job_runner&) = delete;

  /// Ends the orphans once now (a backend that sweeps once: before the server serves), or starts
  /// the thread that sweeps periodically.
  void start() {
    if (backend_.sweep_interval().count() <= 0) sweep(false);
    else warden_ = std::thread([this] { warden(); });
  }

  /// Cancels the running jobs (they end as failed: "interrupted: the server is shutting down"),
  /// waits for them and for the starts under way. Idempotent.
  void shutdown() {
    if (shut_.exchange(true)) return;
    {
      std::lock_guard lk(mu_);  // the starter is waiting or will see shut_
    }
    starts_cv_.notify_all();
    if (starter_.joinable()) starter_.join();  // it ends the starts it has (as refused: shutting down)
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
  }

  /// Starts a job installing `c`: takes the component (else held_by), publishes the job's first
  /// status without blocking this thread (the answer comes on one of the hub's executors),
  /// records the job and starts its thread. `done` runs once: inline when the job cannot start
  /// at once, else on the runner's starter thread (or never, when the publish is answered after
  /// the runner is gone).
  void async_start(const component& c, std::function<void(start_outcome)> done) {
    if (shut_) return done(start_outcome::closing());
    auto j = std::make_shared<job>();
    j->comp = &c;
    j->row.id = new_job_id();
    j->row.component = c.name;
    j->row.topic = "job/" + j->row.id;
    j->row.started = now_iso();
    j->row.started_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    try {
      if (auto holder = backend_.claim(c.name, j->row.id)) return done(start_outcome::busy(std::move(*holder)));
    } catch (...) {
      return done(start_outcome::failed(std::current_exception()));
    }
    try {
      j->row.epoch = backend_.open_topic(j->row.topic);
    } catch (...) {
      return give_up(*j, std::current_exception(), done);
    }
    // One attempt: a request does not wait for the store or Redis (503 with the reason instead).
    sse::event ev{.type = "status", .data = status_data(j->row.state, j->row.component)};
    hub_.async_publish(j->row.topic, std::move(ev),
                       [life = life_, j, done = std::move(done)](std::error_code ec, std::string id) mutable {
                         // On a hub executor, where a blocking call (the record in installer.db or
                         // Redis) would hold up streams: the rest goes to the starter thread.
                         std::lock_guard lk(life->mu);
                         if (life->self)
                           life->self->queue_start([self = life->self, j, done = std::move(done), ec, id = std::move(id)] {
                             self->started(j, ec, id, done);
                           });
                       });
  }

  /// Jobs recorded as running by nobody: ended (see end_orphan). `patient`: wait for an
  /// unavailable store or Redis (until shutdown) rather than give up.
  void sweep(bool patient) {
    backend_.keep_alive();
    for (auto& row : backend_.orphans()) {
      const std::string id = row.id;
      try {
        end_orphan(std::move(row), patient);
      } catch (const std::exception& e) {
        log(sse::log_level::error, fmt::format("job {}: cannot recover: {}", id, e.what()));
      }
    }
  }

 private:
  void log(sse::log_level l, std::string_view msg) { log_.write(l, msg); }

  static std::string new_job_id() {
    static std::atomic<unsigned> counter{0};
    std::random_device rd;
    const std::string ts = now_iso();  // 2026-11-27T10:00:00.123Z
    std::string compact;
    for (const char c : ts.substr(0, 19))
      if (c != '-' && c != ':') compact.push_back(c == 'T' ? '-' : c);
    return fmt::format("{}-{:04x}{:02x}", compact, rd() & 0xFFFF, counter.fetch_add(1) & 0xFF);
  }

  void give_up(job& j, std::exception_ptr error, const std::function<void(start_outcome)>& done) {
    try {
      backend_.release(j.row.component, j.row.id);
    } catch (const std::exception&) {  // it expires with its lease
    }
    done(error ? start_outcome::failed(std::move(error)) : start_outcome::closing());
  }

  // ---- the starter thread: the second half of async_start, off the hub's and the broker's threads ----
  struct lifeline {
    explicit lifeline(job_runner* r) : self(r) {}
    std::mutex mu;
    job_runner* self;  // guarded by mu; nullptr once the runner is gone
  };
  void queue_start(std::function<void()> task) {
    {
      std::lock_guard lk(mu_);
      starts_.push_back(std::move(task));  // bounded by the requests waiting for their answer
    }
    starts_cv_.notify_all();
  }
  void run_starts() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lk(mu_);
        starts_cv_.wait(lk, [&] { return shut_ || !starts_.empty(); });
        if (starts_.empty()) return;  // shut down, and nothing left
        task = std::move(starts_.front());
        starts_.pop_front();
      }
      task();
    }
  }

  /// The first status is out (or failed): the record, then the job's thread.
  void started(const std::shared_ptr<job>& j, std::error_code ec, std::string id, const std::function<void(start_outcome)>& done) {
    if (ec) return give_up(*j, std::make_exception_ptr(sse::hub_error(ec)), done);
    if (shut_) return give_up(*j, nullptr, done);
    j->row.last_id = std::move(id);
    try {
      backend_.insert(j->row);
    } catch (...) {
      return give_up(*j, std::current_exception(), done);
    }
    job_row row = j->row;  // the answer's copy: the job's thread owns j->row from its start
    bool launched = false;
    {
      std::lock_guard lk(mu_);
      if (!shut_) {
        // Forget the jobs that have ended (their threads are done).
        for (auto it = jobs_.begin(); it != jobs_.end();)
          if (it->second->exited) {
            if (it->second->thread.joinable()) it->second->thread.join();
            it = jobs_.erase(it);
          } else {
            ++it;
          }
        jobs_[j->row.id] = j;
        j->thread = std::thread([this, j] { run_job(j); });
        launched = true;
      }
    }
    // Shut down meanwhile: the record stays "running"; the next sweep (a restart, another instance) ends it.
    if (!launched) return give_up(*j, nullptr, done);
    done(start_outcome::started(std::move(row)));
  }

  // ---- publishing (the job's mutex held) ----
  std::string emit(job& j, std::string type, std::string data) {
    sse::event ev{.type = std::move(type), .data = std::move(data)};
    std::string id = publish_patiently(j.row.topic, ev, j.patience);
    j.row.last_id = id;
    backend_.progress(j.row);
    return id;
  }
  /// While the store or Redis cannot take events, the job waits (its program's output waits in
  /// its pipe) and retries, up to `patience` (2 s when shutting down); then the error ends the job.
  std::string publish_patiently(const std::string& topic, const sse::event& ev, std::chrono::milliseconds patience) {
    const auto start = std::chrono::steady_clock::now();
    for (int attempt = 0;; ++attempt) {
      std::error_code ec;
      std::string id = hub_.publish(topic, ev, ec);
      if (!ec) {
        if (attempt > 0) log(sse::log_level::info, fmt::format("topic {}: publishing again after {} attempts", topic, attempt));
        return id;
      }
      const auto waited = std::chrono::steady_clock::now() - start;
      if (!backend_.is_temporary(ec) || waited > (shut_ ? std::min<std::chrono::milliseconds>(patience, 2s) : patience))
        throw sse::hub_error(ec);
      if (attempt == 0)
        log(sse::log_level::warn, fmt::format("topic {}: {} is unavailable ({}); the job waits for it", topic,
                                              backend_.log_name(), ec.message()));
      std::this_thread::sleep_for(200ms);
    }
  }
  static sse::log_level level_of(std::string_view level) {
    return level == "error" ? sse::log_level::error : level == "warn" ? sse::log_level::warn : sse::log_level::info;
  }
  void emit_log(job& j, std::string_view level, std::string_view line) {
    // A program's output is untrusted: escaped in the daily log (the event carries it as JSON).
    log(level_of(level), fmt::format("job {} ({}): {}", j.row.id, j.row.component,
                                     sse::log_escape(line, 4096, sse::escape_mode::line)));
    j.row.lines += 1;
    emit(j, "log", log_data(j.row.lines, now_iso(), level, line));
  }
  void emit_progress(job& j, int percent, std::string_view step) { emit(j, "progress", progress_data(percent, step)); }

  /// Gives the component back (before `done` goes out, so a client that saw it can start the
  /// next install), then ends the job.
  void finish(job& j, bool ok, int exit_code) {
    try {
      backend_.release(j.row.component, j.row.id);
    } catch (const backend_unavailable& e) {  // the lock then expires with its lease
      log(sse::log_level::warn, fmt::format("job {}: cannot release {}: {}", j.row.id, j.row.component, e.what()));
    }
    std::lock_guard lk(j.mu);
    end_job(j, ok ? "succeeded" : "failed", exit_code);
  }

  /// status + done, the record finished, the topic sealed (streams end after `done`). j.mu held.
  /// The job's state changes only once `done` is published: while the store cannot write, the end
  /// waits for it (`patient`, until shutdown; a job left `running` is ended by the next sweep), so
  /// the stream, polling, GET and the records never disagree.
  void end_job(job& j, std::string_view state, int exit_code, bool patient = true) {
    for (bool status_out = false;;) {
      try {
        if (!status_out) {
          emit(j, "status", status_data(state, j.row.component));
          status_out = true;
        }
        emit(j, "done", done_data(state, exit_code, j.row.lines));
        break;
      } catch (const sse::hub_error& e) {
        if (!patient || shut_ || !backend_.is_temporary(e.code())) throw;
      }
    }
    j.row.state = std::string(state);
    j.row.exit_code = exit_code;
    j.row.finished = now_iso();
    for (auto pause = 100ms;; pause = std::min<std::chrono::milliseconds>(pause * 2, 2s)) {
      try {
        backend_.finish(j.row);
        break;
      } catch (const backend_unavailable& e) {
        if (!patient || shut_) throw;  // the next sweep finishes it from its `done`
        log(sse::log_level::warn, fmt::format("job {}: cannot record its end ({}); retrying", j.row.id, e.what()));
        std::this_thread::sleep_for(pause);
      }
    }
    hub_.seal(j.row.topic);
  }

  bool pause(job& j) {
    if (step_delay_.count() <= 0) return !j.cancel;
    std::mutex m;
    std::unique_lock lk(m);
    j.cv.wait_for(lk, step_delay_, [&] { return j.cancel.load(); });
    return !j.cancel;
  }

  // ---- the job itself, on its own thread ----
  void run_job(const std::shared_ptr<job>& jp) {
    job& j = *jp;
    const component& c = *j.comp;
    const fs::path staging = install_dir_ / (".staging-" + j.row.id);
    const fs::path target = install_dir_ / c.name;
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
        backend_.mark_installed({c.name, c.version, now_iso(), j.row.id});
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

  // ---- orphans: jobs a previous process or a dead instance left running ----

  /// A job whose runner is gone: if its `done` was published (the runner died just after), its
  /// record takes its end from it; otherwise it gets a last `log` line saying why, `status` failed
  /// and `done` (ids continue after what was stored), so every stream and poller sees a real end.
  void end_orphan(job_row row, bool patient) {
    backend_.open_topic(row.topic);  // the local store: ids continue after the stored head (past a reserved gap)
    auto j = std::make_shared<job>();
    j->row = std::move(row);
    j->exited = true;
    std::uint64_t lines = 0;
    std::optional<log_item> done;
    std::string after = backend_.start_id(j->row);
    for (;;) {
      const auto page = backend_.read_log(j->row, after, 1000);
      for (const auto& e : page.events) {
        if (e.type == "log") ++lines;
        if (e.type == "done") done = e;
      }
      if (page.events.size() < 1000) break;
      after = page.events.back().id;
    }
    std::lock_guard lk(j->mu);
    j->row.lines = lines;
    j->row.finished = now_iso();
    if (done) {
      const auto d = parse_done(done->data);
      j->row.state = d.state;
      j->row.exit_code = d.exit_code;
      j->row.last_id = done->id;
      backend_.finish(j->row);
      hub_.seal(j->row.topic);
    } else {
      emit_log(*j, "error", backend_.orphan_line());
      end_job(*j, "failed", -1, patient);
    }
    std::error_code ec;
    fs::remove_all(install_dir_ / (".staging-" + j->row.id), ec);
    log(sse::log_level::warn, backend_.orphan_report(j->row, done.has_value()));
  }

  /// On its own thread (a backend that sweeps periodically): keeps this instance's claims alive and
  /// ends orphans, until shutdown.
  void warden() {
    bool failing = false;
    for (;;) {
      try {
        sweep(true);
        if (failing) log(sse::log_level::info, "jobs backend: reachable again");
        failing = false;
      } catch (const std::exception& e) {
        if (!failing) log(sse::log_level::warn, fmt::format("jobs backend: {}", e.what()));
        failing = true;
      }
      std::unique_lock lk(warden_mu_);
      if (warden_cv_.wait_for(lk, backend_.sweep_interval(), [&] { return shut_.load(); })) return;
    }
  }

  job_backend& backend_;
  sse::hub& hub_;
  daily_log& log_;
  fs::path install_dir_;
  std::chrono::milliseconds step_delay_;
  std::thread warden_;
  std::mutex warden_mu_;
  std::condition_variable warden_cv_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<job>> jobs_;  // guarded by mu_: the running jobs of this process
  std::deque<std::function<void()>> starts_;          // guarded by mu_: for the starter thread
  std::condition_variable starts_cv_;
  std::atomic<bool> shut_{false};
  std::shared_ptr<lifeline> life_;
  std::thread starter_;  // last: it uses the members above
};

}  // namespace installer

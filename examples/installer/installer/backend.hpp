// Where the installer keeps its jobs: the one interface the app, the job runner and the HTTP
// handlers talk to. Two implementations, chosen once in main.cpp:
//   local_backend.hpp  this instance alone: installer.db (jobs_db.hpp) + events.db (sse::sqlite)
//   cluster.hpp        several instances sharing Redis (--redis): records, locks and event logs there
// The interface has neither Redis nor SQLite in it, so the app builds without hiredis.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <sse/hub.hpp>
#include <sse/logger.hpp>

namespace installer {

/// A job's record: what GET /api/jobs/{id} answers.
struct job_row {
  std::string id, component, topic, epoch;
  std::string state = "running";  ///< running | succeeded | failed
  std::string started;
  std::optional<std::string> finished;
  std::optional<int> exit_code;
  std::uint64_t lines = 0;
  std::string last_id;
  std::int64_t started_ms = 0;
};

/// The last successful install of a component.
struct installed_row {
  std::string name, version, installed_at, job;
};

/// The backend cannot read or write now but may later (Redis unreachable, installer.db locked or
/// its disk full): a request gets 503 with reason() and Retry-After; a job waits and retries.
class backend_unavailable : public std::runtime_error {
 public:
  explicit backend_unavailable(const std::string& what, std::string reason = {})
      : std::runtime_error(what), reason_(reason.empty() ? what : std::move(reason)) {}
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string reason_;
};

/// The backend failed in a way that waiting does not cure (a request gets 500 with the message).
class backend_failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One event of a job's log, as polling returns it.
struct log_item {
  std::string id, type, data;
};

/// A page of a job's log (GET /api/jobs/{id}/logs).
struct log_page {
  std::vector<log_item> events;
  std::string after;   ///< the id the page continues from (the job's start id after a reset)
  bool reset = false;  ///< the requested id names no stored event: the page starts at the job's start
  bool gap = false;    ///< the events step over ids lost in a crash
};

class job_backend {
 public:
  virtual ~job_backend() = default;

  // ---- wiring ----
  /// Before the server exists: where the hub's events go (a durable store, or a broker); `log` is
  /// the daily log.
  virtual void configure(sse::hub_options& hub, const sse::logger& log) = 0;
  /// Once the server exists: its hub.
  virtual void attach(sse::hub& hub) = 0;
  /// After the server has stopped.
  virtual void close() {}
  /// This instance's name among several (/api/diagnostics "instance"), nullopt when alone.
  virtual std::optional<std::string> instance() const = 0;
  /// What the daily log says at start about where jobs are kept.
  virtual std::string describe() const = 0;

  // ---- a job's event log ----
  /// Makes a new job's topic ready for publishing; returns its epoch ("" when the log gives ids).
  virtual std::string open_topic(const std::string& topic) = 0;
  /// The last-event id meaning "before the job's first event".
  virtual std::string start_id(const job_row& j) const = 0;
  /// True when `id` has the form of an event id of job `j`.
  virtual bool is_event_id(const job_row& j, std::string_view id) const = 0;
  /// An example id for error messages.
  virtual std::string example_id(const job_row& j) const = 0;
  /// Up to `limit` events after `after` (an id of `j`, or start_id(j)). Throws backend_unavailable
  /// or backend_failure.
  virtual log_page read_log(const job_row& j, const std::string& after, std::size_t limit) = 0;
  /// Whether a publish error may go away by itself (a job then waits and retries).
  virtual bool is_temporary(std::error_code ec) const = 0;
  /// What a job waits for while publishing fails ("the event store", "the shared log").
  virtual std::string_view log_name() const = 0;
  /// The 503 reason for a publish error a request ran into, or nullopt when it is not one of those.
  virtual std::optional<std::string> unavailable_reason(const sse::hub_error& e) const = 0;

  // ---- one job per component at a time ----
  /// Takes the component for `job`: nullopt when taken, otherwise the job holding it ("" when it
  /// was released meanwhile).
  virtual std::optional<std::string> claim(const std::string& component, const std::string& job) = 0;
  /// Gives the component back if `job` holds it; done before the job's `done` goes out.
  virtual void release(const std::string& component, const std::string& job) = 0;
  /// component -> the job running it, for the given components.
  virtual std::map<std::string, std::string> running(const std::vector<std::string>& components) = 0;

  // ---- job records ----
  virtual void insert(const job_row& j) = 0;
  /// Lines and last id of a running job, after each event (never waits for a remote service).
  virtual void progress(const job_row& j) = 0;
  /// The job's end (state, finished, exit code). Throws backend_unavailable while it cannot.
  virtual void finish(const job_row& j) = 0;
  /// The current record (never waits for a job that waits for its store).
  virtual std::optional<job_row> get(const std::string& id) = 0;
  /// Newest first.
  virtual std::vector<job_row> newest(std::size_t limit) = 0;

  // ---- jobs whose runner is gone (a previous process, or a dead instance) ----
  /// How often orphans() is asked (on a thread of the runner's): 0 = once, before serving.
  virtual std::chrono::milliseconds sweep_interval() const = 0;
  /// Keeps this instance's claims alive (each sweep).
  virtual void keep_alive() = 0;
  /// Jobs recorded as running that nobody runs any more, each handed to one instance only.
  virtual std::vector<job_row> orphans() = 0;
  /// The last `log` line of such a job when it is ended here.
  virtual std::string orphan_line() const = 0;
  /// The daily log's line once such a job has been ended (`had_ended`: its `done` was found).
  virtual std::string orphan_report(const job_row& j, bool had_ended) const = 0;

  // ---- installed components ----
  virtual void mark_installed(const installed_row& r) = 0;
  virtual std::optional<installed_row> installed(const std::string& name) = 0;
};

}  // namespace installer

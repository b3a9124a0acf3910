// What several installer instances share when they run as one service (--redis): the jobs, which
// instance runs which component, what is installed, and the jobs' event logs. The interface has no
// Redis in it, so app.hpp builds without hiredis; cluster.hpp implements it on Redis.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "jobs_db.hpp"

namespace sse {
class broker;
}

namespace installer {

/// The shared state cannot be read or written now (Redis down, timeout): the HTTP answer is 503.
class shared_state_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One event of a job's log, as the polling endpoint returns it.
struct log_item {
  std::string id, type, data;
};

class shared_state {
 public:
  virtual ~shared_state() = default;

  /// A name for this instance in logs and job records.
  virtual const std::string& instance() const = 0;
  /// The broker the hub publishes and subscribes through.
  virtual std::shared_ptr<sse::broker> broker() const = 0;
  /// The last-event id meaning "from a job's first event".
  virtual std::string start_id() const = 0;
  /// True when `id` is an event id of this kind of log.
  virtual bool is_event_id(std::string_view id) const = 0;

  // ---- one job per component at a time, across instances (a lease the owner keeps alive) ----
  /// Takes the component for `job`: nullopt when taken; otherwise the job that holds it ("" when
  /// it was released meanwhile).
  virtual std::optional<std::string> claim(const std::string& component, const std::string& job) = 0;
  /// Gives the component back if `job` still holds it.
  virtual void release(const std::string& component, const std::string& job) = 0;
  /// Keeps the leases of this instance's running jobs (component -> job) alive.
  virtual void keep_alive(const std::map<std::string, std::string>& running) = 0;
  /// component -> job running it, for the given components.
  virtual std::map<std::string, std::string> running(const std::vector<std::string>& components) = 0;

  // ---- jobs ----
  virtual void insert(const job_row& j) = 0;
  /// Lines and last id of a running job (best effort, not waited for).
  virtual void progress(const job_row& j) = 0;
  virtual void finish(const job_row& j) = 0;
  virtual std::optional<job_row> get(const std::string& id) = 0;
  virtual std::vector<job_row> newest(std::size_t limit) = 0;
  /// Jobs recorded as running whose owner's lease has expired and that this instance has
  /// claimed for cleanup (no other instance gets the same job).
  virtual std::vector<job_row> orphans() = 0;

  // ---- installed components ----
  virtual void mark_installed(const installed_row& r) = 0;
  virtual std::optional<installed_row> installed(const std::string& name) = 0;

  // ---- the jobs' event logs (for polling) ----
  /// Up to `limit` events after `after` ("" = from the first).
  virtual std::vector<log_item> events_after(const std::string& topic, const std::string& after, std::size_t limit) = 0;
};

}  // namespace installer

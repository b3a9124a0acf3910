// The installer's own tables (jobs, installed components) in <data-dir>/installer.db, beside the
// event store's file: the local backend's records (local_backend.hpp). One connection, one mutex:
// these writes are rare (a job starts or ends).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sse/sqlite/event_store.hpp"

#include "backend.hpp"

namespace installer {

class jobs_db {
 public:
  explicit jobs_db(const std::string& path) : db_(sse::sqlite::open_database(path, std::chrono::seconds(5))) {
    sse::sqlite::exec(db_.get(), "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    sse::sqlite::exec(db_.get(), R"sql(
CREATE TABLE IF NOT EXISTS jobs(
  id TEXT PRIMARY KEY NOT NULL, component TEXT NOT NULL, topic TEXT NOT NULL, epoch TEXT NOT NULL,
  state TEXT NOT NULL, started TEXT NOT NULL, finished TEXT, exit_code INTEGER,
  lines INTEGER NOT NULL DEFAULT 0, last_id TEXT NOT NULL DEFAULT '', started_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_started ON jobs(started_ms);
CREATE TABLE IF NOT EXISTS installed(
  name TEXT PRIMARY KEY NOT NULL, version TEXT NOT NULL, installed_at TEXT NOT NULL, job TEXT NOT NULL);
)sql");
  }

  void insert(const job_row& j) {
    std::lock_guard lk(mu_);
    auto st = sse::sqlite::prepare(db_.get(),
                                   "INSERT INTO jobs(id, component, topic, epoch, state, started, lines, last_id, started_ms) "
                                   "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    sse::sqlite::bind_text(st.get(), 1, j.id);
    sse::sqlite::bind_text(st.get(), 2, j.component);
    sse::sqlite::bind_text(st.get(), 3, j.topic);
    sse::sqlite::bind_text(st.get(), 4, j.epoch);
    sse::sqlite::bind_text(st.get(), 5, j.state);
    sse::sqlite::bind_text(st.get(), 6, j.started);
    sqlite3_bind_int64(st.get(), 7, static_cast<sqlite3_int64>(j.lines));
    sse::sqlite::bind_text(st.get(), 8, j.last_id);
    sqlite3_bind_int64(st.get(), 9, j.started_ms);
    step_done(st.get());
  }

  void finish(const job_row& j) {
    std::lock_guard lk(mu_);
    auto st = sse::sqlite::prepare(db_.get(),
                                   "UPDATE jobs SET state = ?2, finished = ?3, exit_code = ?4, lines = ?5, last_id = ?6 "
                                   "WHERE id = ?1");
    sse::sqlite::bind_text(st.get(), 1, j.id);
    sse::sqlite::bind_text(st.get(), 2, j.state);
    sse::sqlite::bind_text(st.get(), 3, j.finished.value_or(""));
    sqlite3_bind_int(st.get(), 4, j.exit_code.value_or(0));
    sqlite3_bind_int64(st.get(), 5, static_cast<sqlite3_int64>(j.lines));
    sse::sqlite::bind_text(st.get(), 6, j.last_id);
    step_done(st.get());
  }

  std::optional<job_row> get(const std::string& id) {
    auto rows = query("WHERE id = ?1", id, 1);
    if (rows.empty()) return std::nullopt;
    return rows.front();
  }
  std::vector<job_row> newest(std::size_t limit) { return query("", {}, limit); }
  std::vector<job_row> running() { return query("WHERE state = 'running'", {}, 100000); }

  void mark_installed(const installed_row& r) {
    std::lock_guard lk(mu_);
    auto st = sse::sqlite::prepare(db_.get(),
                                   "INSERT OR REPLACE INTO installed(name, version, installed_at, job) VALUES(?1, ?2, ?3, ?4)");
    sse::sqlite::bind_text(st.get(), 1, r.name);
    sse::sqlite::bind_text(st.get(), 2, r.version);
    sse::sqlite::bind_text(st.get(), 3, r.installed_at);
    sse::sqlite::bind_text(st.get(), 4, r.job);
    step_done(st.get());
  }

  std::optional<installed_row> installed(const std::string& name) {
    std::lock_guard lk(mu_);
    auto st = sse::sqlite::prepare(db_.get(), "SELECT name, version, installed_at, job FROM installed WHERE name = ?1");
    sse::sqlite::bind_text(st.get(), 1, name);
    const int rc = sqlite3_step(st.get());
    if (rc == SQLITE_ROW)
      return installed_row{sse::sqlite::column_text(st.get(), 0), sse::sqlite::column_text(st.get(), 1),
                           sse::sqlite::column_text(st.get(), 2), sse::sqlite::column_text(st.get(), 3)};
    if (rc != SQLITE_DONE) throw std::system_error(sse::sqlite::make_sqlite_error(rc), "installer db");
    return std::nullopt;
  }

 private:
  // A write: SQLITE_BUSY waits up to the busy timeout (5 s) inside SQLite; a transient error (busy,
  // disk full, I/O error) is then tried again with a growing pause for up to `write_patience`, and
  // thrown (std::system_error, sqlite category) if it persists: callers retry or answer 503.
  void step_done(sqlite3_stmt* st) {
    auto pause = std::chrono::milliseconds(50);
    const auto give_up = std::chrono::steady_clock::now() + write_patience;
    for (;;) {
      const int rc = sqlite3_step(st);
      sqlite3_reset(st);
      if (rc == SQLITE_DONE) return;
      const auto ec = sse::sqlite::make_sqlite_error(rc);
      if (!sse::sqlite::is_transient(ec) || std::chrono::steady_clock::now() + pause > give_up)
        throw std::system_error(ec, std::string("installer db: ") + sqlite3_errmsg(db_.get()));
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(1000));
    }
  }
  static constexpr std::chrono::milliseconds write_patience{2000};

  std::vector<job_row> query(const std::string& where, const std::string& arg, std::size_t limit) {
    std::lock_guard lk(mu_);
    auto st = sse::sqlite::prepare(db_.get(),
                                   "SELECT id, component, topic, epoch, state, started, finished, exit_code, lines, "
                                   "last_id, started_ms FROM jobs " +
                                       where + " ORDER BY started_ms DESC, id DESC LIMIT ?2");
    if (!arg.empty()) sse::sqlite::bind_text(st.get(), 1, arg);
    sqlite3_bind_int64(st.get(), 2, static_cast<sqlite3_int64>(limit));
    std::vector<job_row> out;
    int rc;
    while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
      job_row j;
      j.id = sse::sqlite::column_text(st.get(), 0);
      j.component = sse::sqlite::column_text(st.get(), 1);
      j.topic = sse::sqlite::column_text(st.get(), 2);
      j.epoch = sse::sqlite::column_text(st.get(), 3);
      j.state = sse::sqlite::column_text(st.get(), 4);
      j.started = sse::sqlite::column_text(st.get(), 5);
      if (sqlite3_column_type(st.get(), 6) != SQLITE_NULL) j.finished = sse::sqlite::column_text(st.get(), 6);
      if (sqlite3_column_type(st.get(), 7) != SQLITE_NULL) j.exit_code = sqlite3_column_int(st.get(), 7);
      j.lines = static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 8));
      j.last_id = sse::sqlite::column_text(st.get(), 9);
      j.started_ms = sqlite3_column_int64(st.get(), 10);
      out.push_back(std::move(j));
    }
    if (rc != SQLITE_DONE) throw std::system_error(sse::sqlite::make_sqlite_error(rc), "installer db");
    return out;
  }

  std::mutex mu_;
  sse::sqlite::connection db_;
};

}  // namespace installer

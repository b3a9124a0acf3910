/**
 * @file event_store.hpp
 * @brief sse::sqlite::event_store: a durable sse::event_store in one SQLite file (target sse::sqlite).
 *
 * Every topic's events go to table `sse_events(topic, seq, id, type, data, wire, time_ms)` and each
 * topic's epoch to `sse_topics(topic, epoch, created_ms)`, so a hub using this store continues its
 * ids `<epoch>-<seq>` after a restart and replays from disk what its memory no longer holds.
 *
 * Writes never happen on the publisher's thread: append() moves the event into a bounded queue and
 * returns; one writer thread (owned by the store) takes up to `max_batch` queued records at a time
 * and commits them in ONE transaction (WAL mode, synchronous=NORMAL). When the queue holds
 * `max_queue` events, append() waits up to `enqueue_wait` for room and then fails with
 * sse::store_errc::queue_full (the hub then refuses the publish: nothing is published that is not
 * stored).
 *
 * Write errors. A transient one (SQLITE_BUSY/LOCKED beyond the busy timeout, SQLITE_FULL, an I/O
 * error, SQLITE_CANTOPEN, SQLITE_NOMEM) keeps the batch: the writer writes it again after a pause
 * growing from `retry_min` to `retry_max`, for as long as it takes. Meanwhile status() is that error
 * and append()/open_topic() fail at once with it (the publisher gets a clear reason, the queue does
 * not grow); the first successful commit clears it and appends are accepted again. A permanent error
 * (corrupt file, read-only file, ...) stops the writer for good: status() keeps it, appends fail
 * with it, and the log says so.
 *
 * Ids after a crash (the "reserved gap"). Events go to clients once queued, before they are
 * committed, so a killed process may have sent events it never wrote: at most `max_queue +
 * max_batch` records. Table `sse_meta` holds a `clean` marker, cleared durably at open and set
 * durably by close() once everything is written. When open finds it not set, every known topic's
 * head jumps past every number that run can have used: head = max(committed head, earlier gap end)
 * + R, R = max(that run's max_queue + max_batch, this run's), and the skipped range is recorded in
 * `sse_gaps(topic, first_seq, last_seq, time_ms)` in the same durable transaction, before any new
 * id is used. So an id once sent never names another event; a resume from inside the lost range is
 * not contiguous with what is stored (the hub answers `event: reset`), and gaps() lists the ranges.
 *
 * Reads (load, open_topic, last_seq) use their own connection (WAL readers do not wait for the
 * writer) and see their own writes: events still queued or being committed are merged in.
 * A graceful close() (also the destructor) writes everything queued first (retrying a transient
 * error for at most `close_timeout`); a killed process loses at most what was queued and not yet
 * committed (typically a few milliseconds of events), reported as a gap at the next open, never
 * renamed. Guarantees hold against a process crash (SIGKILL, abort); with synchronous=NORMAL a power
 * loss may also lose recently committed events.
 * One process writes a given file at a time.
 */
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "sse/logger.hpp"
#include "sse/error_category.hpp"
#include "sse/store.hpp"

namespace sse::sqlite {

namespace detail {
struct sqlite_category_impl {
  static constexpr const char* name = "sqlite";
  static std::string message(int ev) { return ::sqlite3_errstr(ev); }
};
}  // namespace detail

/// The category of SQLite result codes.
inline const std::error_category& sqlite_category() noexcept {
  return sse::error_category_for<detail::sqlite_category_impl>();
}

inline std::error_code make_sqlite_error(int rc) noexcept { return {rc, sqlite_category()}; }

/// A connection, closed on destruction.
struct connection_deleter {
  void operator()(sqlite3* db) const noexcept { ::sqlite3_close_v2(db); }
};
using connection = std::unique_ptr<sqlite3, connection_deleter>;

/// A prepared statement, finalized on destruction.
struct statement_deleter {
  void operator()(sqlite3_stmt* st) const noexcept { ::sqlite3_finalize(st); }
};
using statement = std::unique_ptr<sqlite3_stmt, statement_deleter>;

/// Opens (creating) `path` in WAL mode with a busy timeout; throws std::system_error.
inline connection open_database(const std::string& path, std::chrono::milliseconds busy_timeout) {
  sqlite3* raw = nullptr;
  const int rc = ::sqlite3_open_v2(path.c_str(), &raw,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  connection db(raw);
  if (rc != SQLITE_OK)
    throw std::system_error(make_sqlite_error(rc), "sqlite: cannot open '" + path + "'" +
                                                      (raw ? std::string(": ") + ::sqlite3_errmsg(raw) : std::string()));
  ::sqlite3_busy_timeout(db.get(), static_cast<int>(busy_timeout.count()));
  ::sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

/// Runs SQL without results; throws std::system_error with SQLite's message.
inline void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  const int rc = ::sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : ::sqlite3_errstr(rc);
    ::sqlite3_free(err);
    throw std::system_error(make_sqlite_error(rc), std::string("sqlite: ") + msg + " in: " + sql);
  }
}

/// Prepares `sql`; throws std::system_error.
inline statement prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* st = nullptr;
  const int rc = ::sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &st,
                                      nullptr);
  if (rc != SQLITE_OK) throw std::system_error(make_sqlite_error(rc), std::string("sqlite: ") + ::sqlite3_errmsg(db));
  return statement(st);
}

inline void bind_text(sqlite3_stmt* st, int i, std::string_view v) {
  ::sqlite3_bind_text(st, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

inline std::string column_text(sqlite3_stmt* st, int i) {
  const auto* p = ::sqlite3_column_blob(st, i);
  const int n = ::sqlite3_column_bytes(st, i);
  return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string();
}

struct store_options {
  std::string path = {};                       ///< the database file (created if missing)
  std::size_t max_queue = 10000;               ///< events accepted and not yet being written, at most
  std::size_t max_batch = 1000;                ///< records per transaction, at most
  std::chrono::milliseconds enqueue_wait = std::chrono::milliseconds(100);  ///< append's wait for room
  std::chrono::milliseconds busy_timeout = std::chrono::seconds(5);
  std::chrono::milliseconds retry_min = std::chrono::milliseconds(50);  ///< first pause after a transient write error
  std::chrono::milliseconds retry_max = std::chrono::seconds(2);        ///< the pause doubles up to this
  std::chrono::milliseconds close_timeout = std::chrono::seconds(5);    ///< close()'s retries, at most
  logger on_log = {};
};

/// A range of sequence numbers of a topic that may have been sent before a crash and were never
/// written: no event will ever have these numbers.
using gap = sse::store_gap;

/// True for the SQLite errors that may go away by themselves (locks, a full disk, I/O errors).
inline bool is_transient(std::error_code ec) noexcept {
  if (ec.category() != sqlite_category()) return false;
  switch (ec.value() & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL: return true;
    default: return false;
  }
}

/// Counters, for tests and metrics.
struct store_stats {
  std::uint64_t accepted = 0;   ///< records accepted (events and new topics)
  std::uint64_t committed = 0;  ///< records committed
  std::uint64_t batches = 0;    ///< transactions committed
  std::size_t queued = 0;       ///< records waiting now
  std::uint64_t errors = 0;     ///< failed write attempts
  std::uint64_t retries = 0;    ///< batches written again after a transient error
  std::uint64_t gaps = 0;       ///< topics given a reserved gap at open (the previous run did not close cleanly)
};

class event_store final : public sse::event_store {
  static constexpr std::string_view schema = R"sql(
CREATE TABLE IF NOT EXISTS sse_topics(
  topic TEXT PRIMARY KEY NOT NULL,
  epoch TEXT NOT NULL,
  created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sse_events(
  topic TEXT NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  wire BLOB NOT NULL,
  time_ms INTEGER NOT NULL,
  PRIMARY KEY(topic, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sse_meta(
  key TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sse_gaps(
  topic TEXT NOT NULL,
  first_seq INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  time_ms INTEGER NOT NULL,
  PRIMARY KEY(topic, first_seq)) WITHOUT ROWID;
)sql";

  struct record {
    std::string topic;
    stored_event ev;        // seq == 0: a new topic row (epoch in ev.id)
  };
  struct topic_state {
    std::string epoch;
    std::uint64_t head = 0;
  };

 public:
  /// Opens or creates the database and starts the writer thread. Throws std::system_error.
  explicit event_store(store_options opts) : opts_(std::move(opts)) {
    if (opts_.path.empty()) throw std::invalid_argument("sse::sqlite::event_store: empty path");
    if (opts_.max_queue == 0) opts_.max_queue = 1;
    if (opts_.max_batch == 0) opts_.max_batch = 1;
    writer_db_ = open_database(opts_.path, opts_.busy_timeout);
    exec(writer_db_.get(), "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    exec(writer_db_.get(), std::string(schema).c_str());
    begin_run();
    insert_topic_ = prepare(writer_db_.get(), "INSERT OR IGNORE INTO sse_topics(topic, epoch, created_ms) VALUES(?1, ?2, ?3)");
    insert_event_ = prepare(writer_db_.get(),
                            "INSERT OR REPLACE INTO sse_events(topic, seq, id, type, data, wire, time_ms) "
                            "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    reader_db_ = open_database(opts_.path, opts_.busy_timeout);
    select_topic_ = prepare(reader_db_.get(), "SELECT epoch FROM sse_topics WHERE topic = ?1");
    select_head_ = prepare(reader_db_.get(),
                           "SELECT max(coalesce((SELECT max(seq) FROM sse_events WHERE topic = ?1), 0), "
                           "coalesce((SELECT max(last_seq) FROM sse_gaps WHERE topic = ?1), 0))");
    select_gaps_ = prepare(reader_db_.get(),
                           "SELECT first_seq, last_seq FROM sse_gaps WHERE topic = ?1 ORDER BY first_seq");
    select_events_ = prepare(reader_db_.get(),
                             "SELECT seq, id, type, data, wire, time_ms FROM sse_events "
                             "WHERE topic = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3");
    select_topics_ = prepare(reader_db_.get(), "SELECT topic FROM sse_topics ORDER BY created_ms, topic");
    writer_running_ = true;
    writer_ = std::thread([this] { run_writer(); });
  }

  ~event_store() override { close(); }
  event_store(const event_store&) = delete;
  event_store& operator=(const event_store&) = delete;

  const store_options& options() const noexcept { return opts_; }

  /// Writes everything queued (a transient error is retried for at most close_timeout), stops the
  /// writer, and when everything was written records a clean shutdown (no gap at the next open).
  /// Later appends fail with store_errc::closed. Idempotent.
  void close() {
    {
      std::lock_guard lk(mu_);
      if (closing_ && !writer_.joinable()) return;
      closing_ = true;
    }
    work_cv_.notify_all();
    space_cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    bool all_written = false;
    {
      std::lock_guard lk(mu_);
      all_written = !failed_ && queue_.empty() && writing_.empty();
    }
    if (!all_written) return;  // the next open reserves a gap
    try {
      exec(writer_db_.get(), "PRAGMA synchronous=FULL; INSERT OR REPLACE INTO sse_meta(key, value) VALUES('clean', 1)");
    } catch (const std::system_error& e) {
      sse::detail::log_to(opts_.on_log, log_level::warn,
                          "sqlite store '{}': cannot record the clean shutdown ({}); the next open reserves a gap",
                          opts_.path, e.what());
    }
  }

  /// Waits until every record accepted so far is committed; false on timeout or after a failed write.
  bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lk(mu_);
    const std::uint64_t target = accepted_;
    done_cv_.wait_for(lk, timeout, [&] { return committed_ >= target || failed_ || !writer_running_; });
    return committed_ >= target;
  }

  store_stats stats() const {
    std::lock_guard lk(mu_);
    return {accepted_, committed_, batches_, queue_.size() + writing_.size(), errors_, retries_, gaps_};
  }

  /// The write error now in force (transient: being retried; or permanent), empty while healthy.
  std::error_code status() const noexcept override {
    std::lock_guard lk(mu_);
    return failed_ ? failed_ : error_;
  }
  std::error_code error() const noexcept { return status(); }

  /// Prometheus text: sse_store_up, write errors and retries, queued records, gaps reserved.
  std::string prometheus() const override {
    const auto s = stats();
    const bool up = !status();
    return fmt::format(
        "# HELP sse_store_up 1 while the event store can write, 0 while it cannot (see /healthz for the reason).\n"
        "# TYPE sse_store_up gauge\nsse_store_up {}\n"
        "# HELP sse_store_write_errors_total Failed write attempts of the event store.\n"
        "# TYPE sse_store_write_errors_total counter\nsse_store_write_errors_total {}\n"
        "# HELP sse_store_write_retries_total Batches written again after a transient error.\n"
        "# TYPE sse_store_write_retries_total counter\nsse_store_write_retries_total {}\n"
        "# HELP sse_store_queued_records Records accepted and not yet committed.\n"
        "# TYPE sse_store_queued_records gauge\nsse_store_queued_records {}\n"
        "# HELP sse_store_committed_records_total Records committed.\n"
        "# TYPE sse_store_committed_records_total counter\nsse_store_committed_records_total {}\n"
        "# HELP sse_store_gaps_reserved Topics whose ids skipped a reserved gap at open (unclean shutdown before).\n"
        "# TYPE sse_store_gaps_reserved gauge\nsse_store_gaps_reserved {}\n",
        up ? 1 : 0, s.errors, s.retries, s.queued, s.committed, s.gaps);
  }

  /// The reserved gaps of `topic` (ranges of numbers no event will have), oldest first.
  std::vector<gap> gaps(std::string_view topic, std::error_code& ec) override {
    ec = {};
    std::vector<gap> out;
    std::lock_guard rk(reader_mu_);
    sqlite3_stmt* st = select_gaps_.get();
    ::sqlite3_reset(st);
    bind_text(st, 1, topic);
    int rc;
    while ((rc = ::sqlite3_step(st)) == SQLITE_ROW)
      out.push_back({static_cast<std::uint64_t>(::sqlite3_column_int64(st, 0)),
                     static_cast<std::uint64_t>(::sqlite3_column_int64(st, 1))});
    ::sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
      ec = make_sqlite_error(rc);
      return {};
    }
    return out;
  }

  store_topic open_topic(std::string_view topic, std::string_view proposed_epoch, std::error_code& ec) override {
    ec = {};
    std::unique_lock lk(mu_);
    if (auto it = topics_.find(std::string(topic)); it != topics_.end()) return {it->second.epoch, it->second.head};
    std::string epoch;
    std::uint64_t head = 0;
    {
      std::lock_guard rk(reader_mu_);
      epoch = read_epoch(topic, ec);
      if (!ec && !epoch.empty()) head = read_head(topic, ec);
    }
    if (ec) return {};
    if (epoch.empty()) {
      if (proposed_epoch.empty()) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return {};
      }
      if (closing_ || failed_ || error_) {
        ec = failed_ ? failed_ : error_ ? error_ : make_error_code(store_errc::closed);
        return {};
      }
      epoch = proposed_epoch;
      record r{std::string(topic), {}};
      r.ev.id = epoch;
      r.ev.time_ms = now_ms();
      queue_.push_back(std::move(r));
      ++accepted_;
      work_cv_.notify_one();
    }
    topics_.emplace(std::string(topic), topic_state{epoch, head});
    return {std::move(epoch), head};
  }

  void append(std::string_view topic, stored_event ev, std::error_code& ec) override {
    ec = {};
    std::unique_lock lk(mu_);
    auto it = topics_.find(std::string(topic));
    if (it == topics_.end() || ev.seq != it->second.head + 1) {
      ec = store_errc::sequence;
      return;
    }
    const auto ready = [&] { return queue_.size() < opts_.max_queue || closing_ || failed_ || error_; };
    if (!ready()) space_cv_.wait_for(lk, opts_.enqueue_wait, ready);
    if (failed_) ec = failed_;
    else if (error_) ec = error_;  // cannot write now: refuse at once, with the reason
    else if (closing_) ec = store_errc::closed;
    else if (queue_.size() >= opts_.max_queue) ec = store_errc::queue_full;
    if (ec) return;
    if (ev.time_ms == 0) ev.time_ms = now_ms();
    it->second.head = ev.seq;
    queue_.push_back(record{std::string(topic), std::move(ev)});
    ++accepted_;
    work_cv_.notify_one();
  }

  std::vector<stored_event> load(std::string_view topic, std::uint64_t after_seq, std::size_t limit,
                                 std::error_code& ec) override {
    ec = {};
    std::vector<stored_event> out;
    if (limit == 0) return out;
    // Pending records first, then the database: a record committed in between shows up in both
    // (deduplicated below), never in neither.
    std::vector<stored_event> pending;
    {
      std::lock_guard lk(mu_);
      auto take = [&](const auto& records) {
        for (const auto& r : records)
          if (r.ev.seq > after_seq && r.topic == topic && pending.size() < limit) pending.push_back(r.ev);
      };
      take(writing_);
      take(queue_);
    }
    {
      std::lock_guard rk(reader_mu_);
      sqlite3_stmt* st = select_events_.get();
      ::sqlite3_reset(st);
      bind_text(st, 1, topic);
      ::sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(after_seq));
      ::sqlite3_bind_int64(st, 3, static_cast<sqlite3_int64>(std::min<std::size_t>(limit, INT64_MAX)));
      int rc;
      while ((rc = ::sqlite3_step(st)) == SQLITE_ROW) {
        stored_event e;
        e.seq = static_cast<std::uint64_t>(::sqlite3_column_int64(st, 0));
        e.id = column_text(st, 1);
        e.type = column_text(st, 2);
        e.data = column_text(st, 3);
        e.wire = make_shared_event(column_text(st, 4), e.id);
        e.time_ms = ::sqlite3_column_int64(st, 5);
        out.push_back(std::move(e));
      }
      ::sqlite3_reset(st);
      if (rc != SQLITE_DONE) {
        ec = make_sqlite_error(rc);
        return {};
      }
    }
    const std::uint64_t last_db = out.empty() ? after_seq : out.back().seq;
    for (auto& e : pending)
      if (e.seq > last_db) out.push_back(std::move(e));
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
    if (out.size() > limit) out.resize(limit);
    return out;
  }

  /// The last sequence number of `topic` (0 when none or unknown).
  std::uint64_t last_seq(std::string_view topic, std::error_code& ec) {
    ec = {};
    {
      std::lock_guard lk(mu_);
      if (auto it = topics_.find(std::string(topic)); it != topics_.end()) return it->second.head;
    }
    std::lock_guard rk(reader_mu_);
    return read_head(topic, ec);
  }

  /// The epoch recorded for `topic` ("" when unknown).
  std::string epoch(std::string_view topic, std::error_code& ec) {
    ec = {};
    {
      std::lock_guard lk(mu_);
      if (auto it = topics_.find(std::string(topic)); it != topics_.end()) return it->second.epoch;
    }
    std::lock_guard rk(reader_mu_);
    return read_epoch(topic, ec);
  }

  /// Every topic the store knows (written or still queued), oldest first.
  std::vector<std::string> topics(std::error_code& ec) {
    ec = {};
    std::vector<std::string> out;
    {
      std::lock_guard rk(reader_mu_);
      sqlite3_stmt* st = select_topics_.get();
      ::sqlite3_reset(st);
      int rc;
      while ((rc = ::sqlite3_step(st)) == SQLITE_ROW) out.push_back(column_text(st, 0));
      ::sqlite3_reset(st);
      if (rc != SQLITE_DONE) {
        ec = make_sqlite_error(rc);
        return {};
      }
    }
    std::lock_guard lk(mu_);
    for (const auto& [name, state] : topics_)
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    return out;
  }

 private:
  static std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // reader_mu_ held.
  std::string read_epoch(std::string_view topic, std::error_code& ec) {
    sqlite3_stmt* st = select_topic_.get();
    ::sqlite3_reset(st);
    bind_text(st, 1, topic);
    const int rc = ::sqlite3_step(st);
    std::string epoch = rc == SQLITE_ROW ? column_text(st, 0) : std::string();
    ::sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) ec = make_sqlite_error(rc);
    return epoch;
  }

  // reader_mu_ held.
  std::uint64_t read_head(std::string_view topic, std::error_code& ec) {
    sqlite3_stmt* st = select_head_.get();
    ::sqlite3_reset(st);
    bind_text(st, 1, topic);
    const int rc = ::sqlite3_step(st);
    const std::uint64_t head = rc == SQLITE_ROW ? static_cast<std::uint64_t>(::sqlite3_column_int64(st, 0)) : 0;
    ::sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) ec = make_sqlite_error(rc);
    return head;
  }

  // The constructor's first transaction: clears the clean marker and, when the previous run did not
  // close cleanly, reserves a gap in every known topic (see the file comment). Durable (FULL sync)
  // before any append can be accepted.
  void begin_run() {
    sqlite3* db = writer_db_.get();
    const auto read_meta = [&](const char* key) -> std::optional<std::int64_t> {
      auto st = prepare(db, "SELECT value FROM sse_meta WHERE key = ?1");
      bind_text(st.get(), 1, key);
      const int rc = ::sqlite3_step(st.get());
      if (rc == SQLITE_ROW) return ::sqlite3_column_int64(st.get(), 0);
      if (rc != SQLITE_DONE) throw std::system_error(make_sqlite_error(rc), "sqlite: reading sse_meta");
      return std::nullopt;
    };
    exec(db, "PRAGMA synchronous=FULL; BEGIN IMMEDIATE");
    try {
      const auto clean = read_meta("clean");
      const std::int64_t reserve_now = static_cast<std::int64_t>(opts_.max_queue + opts_.max_batch);
      const std::int64_t reserve = std::max(read_meta("reserve").value_or(0), reserve_now);
      auto any = prepare(db, "SELECT EXISTS(SELECT 1 FROM sse_topics)");
      const bool has_topics = ::sqlite3_step(any.get()) == SQLITE_ROW && ::sqlite3_column_int(any.get(), 0) != 0;
      any.reset();
      // No marker at all: a new file (nothing to protect) or one written before markers existed (unknown: reserve).
      if (has_topics && clean.value_or(0) != 1) {
        auto st = prepare(db,
                          "INSERT INTO sse_gaps(topic, first_seq, last_seq, time_ms) SELECT topic, h + 1, h + ?1, ?2 FROM "
                          "(SELECT t.topic AS topic, max(coalesce((SELECT max(seq) FROM sse_events e WHERE e.topic = "
                          "t.topic), 0), coalesce((SELECT max(last_seq) FROM sse_gaps g WHERE g.topic = t.topic), 0)) AS h "
                          "FROM sse_topics t)");
        ::sqlite3_bind_int64(st.get(), 1, reserve);
        ::sqlite3_bind_int64(st.get(), 2, now_ms());
        const int rc = ::sqlite3_step(st.get());
        if (rc != SQLITE_DONE) throw std::system_error(make_sqlite_error(rc), "sqlite: reserving gaps");
        gaps_ = static_cast<std::uint64_t>(::sqlite3_changes(db));
      }
      auto st = prepare(db, "INSERT OR REPLACE INTO sse_meta(key, value) VALUES('clean', 0), ('reserve', ?1)");
      ::sqlite3_bind_int64(st.get(), 1, reserve_now);
      const int rc = ::sqlite3_step(st.get());
      if (rc != SQLITE_DONE) throw std::system_error(make_sqlite_error(rc), "sqlite: writing sse_meta");
      st.reset();
      exec(db, "COMMIT; PRAGMA synchronous=NORMAL");
      if (gaps_ > 0)
        sse::detail::log_to(opts_.on_log, log_level::warn,
                            "sqlite store '{}': the previous run did not close cleanly; events it sent but had not "
                            "written are lost: {} topics skip {} sequence numbers (a reserved gap), so no id is reused",
                            opts_.path, gaps_, reserve);
    } catch (...) {
      ::sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  void run_writer() {
    std::unique_lock lk(mu_);
    auto pause = opts_.retry_min;
    std::optional<std::chrono::steady_clock::time_point> give_up;  // set once closing with an error
    std::uint64_t failed_attempts = 0;
    for (;;) {
      if (writing_.empty()) {
        work_cv_.wait(lk, [&] { return !queue_.empty() || closing_; });
        if (queue_.empty()) break;  // closing with nothing left
        const std::size_t n = std::min(queue_.size(), opts_.max_batch);
        writing_.assign(std::make_move_iterator(queue_.begin()),
                        std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
        space_cv_.notify_all();
      }
      const std::size_t n = writing_.size();
      lk.unlock();
      const std::error_code ec = write_batch(writing_);
      lk.lock();
      if (!ec) {
        committed_ += n;
        ++batches_;
        writing_.clear();
        if (error_) {
          sse::detail::log_to(opts_.on_log, log_level::info,
                              "sqlite store '{}': writing again after {} failed attempts ({}); appends accepted again",
                              opts_.path, failed_attempts, error_.message());
          error_ = {};
        }
        failed_attempts = 0;
        pause = opts_.retry_min;
        done_cv_.notify_all();
        continue;
      }
      ++errors_;
      ++failed_attempts;
      if (!is_transient(ec)) {
        failed_ = ec;
        sse::detail::log_to(opts_.on_log, log_level::error,
                            "sqlite store '{}': writing {} records failed: {}; this error is permanent: the store "
                            "refuses every append until it is repaired and the process restarted",
                            opts_.path, n, ec.message());
        space_cv_.notify_all();
        done_cv_.notify_all();
        break;
      }
      if (!error_)
        sse::detail::log_to(opts_.on_log, log_level::warn,
                            "sqlite store '{}': writing {} records failed: {}; retrying (every {} ms at most), appends "
                            "are refused meanwhile",
                            opts_.path, n, ec.message(), opts_.retry_max.count());
      error_ = ec;
      space_cv_.notify_all();  // waiting appends fail now, with the reason
      done_cv_.notify_all();
      if (closing_) {
        if (!give_up) give_up = std::chrono::steady_clock::now() + opts_.close_timeout;
        if (std::chrono::steady_clock::now() >= *give_up) {
          sse::detail::log_to(opts_.on_log, log_level::error,
                              "sqlite store '{}': closing: {} records could not be written ({}); they are lost and the "
                              "next open reserves a gap",
                              opts_.path, writing_.size() + queue_.size(), ec.message());
          break;
        }
      }
      const bool was_closing = closing_;
      work_cv_.wait_for(lk, pause, [&] { return closing_ && !was_closing; });
      pause = std::min(pause * 2, opts_.retry_max);
      ++retries_;
    }
    writer_running_ = false;
    done_cv_.notify_all();
  }

  std::error_code write_batch(const std::vector<record>& batch) {
    sqlite3* db = writer_db_.get();
    int rc = ::sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return make_sqlite_error(rc);
    for (const auto& r : batch) {
      sqlite3_stmt* st = r.ev.seq == 0 ? insert_topic_.get() : insert_event_.get();
      ::sqlite3_reset(st);
      bind_text(st, 1, r.topic);
      if (r.ev.seq == 0) {
        bind_text(st, 2, r.ev.id);
        ::sqlite3_bind_int64(st, 3, r.ev.time_ms);
      } else {
        ::sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(r.ev.seq));
        bind_text(st, 3, r.ev.id);
        bind_text(st, 4, r.ev.type);
        bind_text(st, 5, r.ev.data);
        const std::string_view wire = r.ev.wire ? std::string_view(r.ev.wire->bytes) : std::string_view();
        ::sqlite3_bind_blob(st, 6, wire.data(), static_cast<int>(wire.size()), SQLITE_STATIC);
        ::sqlite3_bind_int64(st, 7, r.ev.time_ms);
      }
      rc = ::sqlite3_step(st);
      ::sqlite3_reset(st);
      ::sqlite3_clear_bindings(st);
      if (rc != SQLITE_DONE) {
        ::sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        return make_sqlite_error(rc);
      }
    }
    rc = ::sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
      ::sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return make_sqlite_error(rc);
    }
    return {};
  }

  store_options opts_;
  connection writer_db_;
  statement insert_topic_, insert_event_;
  std::mutex reader_mu_;
  connection reader_db_;  // guarded by reader_mu_, as are its statements
  statement select_topic_, select_head_, select_events_, select_topics_, select_gaps_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_, space_cv_, done_cv_;
  std::unordered_map<std::string, topic_state> topics_;  // guarded by mu_
  std::deque<record> queue_;                             // guarded by mu_
  std::vector<record> writing_;                          // guarded by mu_ (read by load; the writer only reads it unlocked)
  std::uint64_t accepted_ = 0, committed_ = 0, batches_ = 0, errors_ = 0, retries_ = 0, gaps_ = 0;
  std::error_code failed_;  // permanent: the writer stopped
  std::error_code error_;   // transient: the writer retries; appends are refused meanwhile
  bool closing_ = false;
  bool writer_running_ = false;
  std::thread writer_;
};

}  // namespace sse::sqlite

// sse::sqlite::event_store on its own: append/load, batching, read-your-writes, the bounded queue,
// and reopening the same file (what a restart sees).
#include "sse/sqlite/event_store.hpp"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "../support/process.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_event_store_cases {

using namespace std::chrono_literals;

namespace {

sse::stored_event make(const std::string& epoch, std::uint64_t seq, std::string data, std::string type = "log") {
  sse::stored_event e;
  e.seq = seq;
  e.id = fmt::format("{}-{}", epoch, seq);
  e.type = std::move(type);
  e.data = std::move(data);
  e.wire = sse::make_shared_event(sse::event{.type = e.type, .data = e.data, .id = e.id});
  return e;
}

std::string pragma(const std::string& path, const char* sql) {
  auto db = sse::sqlite::open_database(path, 1s);
  auto st = sse::sqlite::prepare(db.get(), sql);
  REQUIRE(sqlite3_step(st.get()) == SQLITE_ROW);
  return sse::sqlite::column_text(st.get(), 0);
}

}  // namespace

TEST_SUITE("sqlite.store") {
  TEST_CASE("append, load after any seq with a limit, head and topics; WAL mode") {
    sse_test::temp_dir dir;
    const std::string path = (dir.path() / "events.db").string();
    sse::sqlite::event_store store({.path = path});
    std::error_code ec;
    auto t = store.open_topic("job/a", "ep1", ec);
    REQUIRE_FALSE(ec);
    CHECK(t.epoch == "ep1");
    CHECK(t.head == 0);
    for (std::uint64_t i = 1; i <= 20; ++i) {
      store.append("job/a", make("ep1", i, fmt::format("line {}", i)), ec);
      REQUIRE_FALSE(ec);
    }
    // Read-your-writes: visible before any flush.
    auto all = store.load("job/a", 0, 100, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(all.size() == 20);
    for (std::size_t i = 0; i < all.size(); ++i) {
      CHECK(all[i].seq == i + 1);
      CHECK(all[i].id == fmt::format("ep1-{}", i + 1));
      CHECK(all[i].data == fmt::format("line {}", i + 1));
      CHECK(all[i].wire->bytes == fmt::format("id: ep1-{0}\nevent: log\ndata: line {0}\n\n", i + 1));
    }
    REQUIRE(store.flush());
    auto mid = store.load("job/a", 7, 5, ec);
    REQUIRE(mid.size() == 5);
    CHECK(mid.front().seq == 8);
    CHECK(mid.back().seq == 12);
    CHECK(store.load("job/a", 20, 10, ec).empty());
    CHECK(store.load("job/a", 0, 0, ec).empty());
    CHECK(store.load("nope", 0, 10, ec).empty());
    CHECK(store.last_seq("job/a", ec) == 20);
    CHECK(store.last_seq("nope", ec) == 0);
    store.open_topic("job/b", "ep2", ec);
    CHECK(store.topics(ec) == std::vector<std::string>{"job/a", "job/b"});
    CHECK(store.open_topic("job/a", "other", ec).epoch == "ep1");  // the recorded epoch wins
    CHECK(pragma(path, "PRAGMA journal_mode") == "wal");
  }

  TEST_CASE("appends are batched: many events, few transactions, all committed in order") {
    sse_test::temp_dir dir;
    const std::string path = (dir.path() / "events.db").string();
    sse::sqlite::event_store store({.path = path, .max_queue = 100000, .max_batch = 500, .busy_timeout = 10s});
    std::error_code ec;
    store.open_topic("t", "e", ec);
    REQUIRE(store.flush());
    // Hold the write lock from another connection while appending, so that the events pile up in
    // the queue whatever the speed of this machine (or a sanitizer); then let the writer go.
    auto blocker = sse::sqlite::open_database(path, 1s);
    sse::sqlite::exec(blocker.get(), "BEGIN IMMEDIATE");
    constexpr std::uint64_t n = 5000;
    for (std::uint64_t i = 1; i <= n; ++i) {
      store.append("t", make("e", i, std::to_string(i)), ec);
      REQUIRE_FALSE(ec);
    }
    CHECK(store.stats().committed == 1);  // only the topic row so far
    sse::sqlite::exec(blocker.get(), "ROLLBACK");
    REQUIRE(store.flush());
    const auto st = store.stats();
    CHECK(st.accepted == n + 1);  // + the topic row
    CHECK(st.committed == n + 1);
    CHECK(st.queued == 0);
    // One transaction for the topic row, at most one for what the writer took before it blocked,
    // then batches of 500: batched, not one transaction per event.
    CHECK(st.batches >= 1 + n / 500);
    CHECK(st.batches <= 2 + n / 500 + 1);
    auto all = store.load("t", 0, n + 10, ec);
    REQUIRE(all.size() == n);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < all.size(); ++i)
      if (all[i].seq != i + 1 || all[i].data != std::to_string(i + 1)) ++bad;
    CHECK(bad == 0);
  }

  TEST_CASE("reopening the file keeps epochs, heads and every event (a restart)") {
    sse_test::temp_dir dir;
    const std::string path = (dir.path() / "events.db").string();
    std::error_code ec;
    {
      sse::sqlite::event_store store({.path = path});
      store.open_topic("x", "epx", ec);
      for (std::uint64_t i = 1; i <= 7; ++i) store.append("x", make("epx", i, "d" + std::to_string(i)), ec);
      REQUIRE_FALSE(ec);
      // no flush: close() (the destructor) writes what is queued
    }
    sse::sqlite::event_store store({.path = path});
    auto t = store.open_topic("x", "ignored", ec);
    REQUIRE_FALSE(ec);
    CHECK(t.epoch == "epx");
    CHECK(t.head == 7);
    auto evs = store.load("x", 4, 10, ec);
    REQUIRE(evs.size() == 3);
    CHECK(evs[0].id == "epx-5");
    CHECK(evs[2].wire->bytes == "id: epx-7\nevent: log\ndata: d7\n\n");
    CHECK(evs[0].time_ms > 0);
    store.append("x", make("epx", 8, "after restart"), ec);
    CHECK_FALSE(ec);
    CHECK(store.last_seq("x", ec) == 8);
  }

  TEST_CASE("out-of-sequence appends, unknown topics and a closed store are refused") {
    sse_test::temp_dir dir;
    sse::sqlite::event_store store({.path = (dir.path() / "events.db").string()});
    std::error_code ec;
    store.append("never-opened", make("e", 1, "x"), ec);
    CHECK(ec == sse::store_errc::sequence);
    store.open_topic("t", "e", ec);
    store.append("t", make("e", 2, "x"), ec);
    CHECK(ec == sse::store_errc::sequence);
    store.append("t", make("e", 1, "x"), ec);
    CHECK_FALSE(ec);
    store.append("t", make("e", 1, "x"), ec);
    CHECK(ec == sse::store_errc::sequence);
    store.close();
    store.append("t", make("e", 2, "x"), ec);
    CHECK(ec == sse::store_errc::closed);
    CHECK(ec.message() == "event store: closed");
    CHECK(store.load("t", 0, 10, ec).size() == 1);  // reads still work
  }

  TEST_CASE("a full queue makes append fail after its bounded wait; nothing accepted is lost") {
    sse_test::temp_dir dir;
    const std::string path = (dir.path() / "events.db").string();
    sse::sqlite::event_store store(
        {.path = path, .max_queue = 2, .max_batch = 1, .enqueue_wait = 50ms, .busy_timeout = 10s});
    std::error_code ec;
    store.open_topic("t", "e", ec);
    REQUIRE(store.flush());
    // Another connection holds the write lock: the writer waits (busy timeout), the queue fills.
    auto blocker = sse::sqlite::open_database(path, 1s);
    sse::sqlite::exec(blocker.get(), "BEGIN IMMEDIATE");
    std::uint64_t accepted = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (std::uint64_t i = 1; i <= 10; ++i) {
      store.append("t", make("e", i, "x"), ec);
      if (ec) break;
      accepted = i;
    }
    const auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(ec == sse::store_errc::queue_full);
    CHECK(accepted >= 2);
    CHECK(accepted <= 3);  // max_queue + the one record the writer holds
    CHECK(waited >= 50ms);
    sse::sqlite::exec(blocker.get(), "ROLLBACK");
    REQUIRE(store.flush());
    CHECK(store.load("t", 0, 100, ec).size() == accepted);
    store.append("t", make("e", accepted + 1, "x"), ec);
    CHECK_FALSE(ec);
  }

  TEST_CASE("a bad path is a clear error") {
    CHECK_THROWS_AS(sse::sqlite::event_store({.path = "/nonexistent-dir/x/events.db"}), std::system_error);
    CHECK_THROWS_AS(sse::sqlite::event_store({.path = ""}), std::invalid_argument);
  }
}

}  // namespace test_event_store_cases

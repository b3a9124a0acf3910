// sse::sqlite::event_store under real faults, on real SQLite files: another connection holding the
// write lock for 6 s, a data disk that fills up (a 1 MiB tmpfs) and is freed, and a process killed
// (SIGKILL) while events are queued but not committed. The store must retry (never drop a batch),
// refuse appends with the reason while it cannot write, recover by itself, and never let an id
// that was handed out name another event after a crash.
#include "sse/sqlite/event_store.hpp"

#include <doctest/doctest.h>

#include <asio/io_context.hpp>
#include <fmt/format.h>

#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../support/process.hpp"
#include "sse/hub.hpp"
#include "sse/transport/memory.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_store_faults_cases {

using namespace std::chrono_literals;

namespace {

sse::stored_event make_ev(const std::string& epoch, std::uint64_t seq, std::string data) {
  sse::stored_event e;
  e.seq = seq;
  e.id = fmt::format("{}-{}", epoch, seq);
  e.type = "log";
  e.data = std::move(data);
  e.wire = sse::make_shared_event(sse::event{.type = e.type, .data = e.data, .id = e.id});
  return e;
}

/// seq -> data of the committed events of `topic`, read through a connection of our own.
std::map<std::uint64_t, std::string> committed(const std::string& path, const std::string& topic) {
  auto db = sse::sqlite::open_database(path, 5s);
  auto st = sse::sqlite::prepare(db.get(), "SELECT seq, data FROM sse_events WHERE topic = ?1 ORDER BY seq");
  sse::sqlite::bind_text(st.get(), 1, topic);
  std::map<std::uint64_t, std::string> out;
  while (sqlite3_step(st.get()) == SQLITE_ROW)
    out.emplace(static_cast<std::uint64_t>(sqlite3_column_int64(st.get(), 0)), sse::sqlite::column_text(st.get(), 1));
  return out;
}

template <class Pred>
bool wait_until(Pred p, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!p()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

}  // namespace

TEST_SUITE("sqlite.faults") {
  TEST_CASE("another connection holds the write lock for 6 s: the batch is retried, nothing lost, appends refused with the reason meanwhile, then accepted") {
    sse_test::temp_dir dir;
    const std::string path = (dir.path() / "events.db").string();
    sse::sqlite::event_store store({.path = path, .busy_timeout = 1s});
    std::error_code ec;
    store.open_topic("t", "ep", ec);
    REQUIRE_FALSE(ec);
    std::uint64_t seq = 0;
    for (; seq < 10; ++seq) store.append("t", make_ev("ep", seq + 1, fmt::format("e{}", seq + 1)), ec);
    REQUIRE(store.flush());
    auto other = sse::sqlite::open_database(path, 1s);
    sse::sqlite::exec(other.get(), "BEGIN EXCLUSIVE");
    const auto locked_at = std::chrono::steady_clock::now();
    for (; seq < 20; ++seq) {  // accepted: the writer is waiting on the lock
      store.append("t", make_ev("ep", seq + 1, fmt::format("e{}", seq + 1)), ec);
      REQUIRE_FALSE(ec);
    }
    REQUIRE(wait_until([&] { return bool(store.status()); }, 5s));
    CHECK((store.status().value() & 0xff) == SQLITE_BUSY);
    CHECK(store.prometheus().find("sse_store_up 0\n") != std::string::npos);
    store.append("t", make_ev("ep", seq + 1, "refused"), ec);
    CHECK(ec == store.status());  // at once, with the reason
    std::this_thread::sleep_until(locked_at + 6s);
    sse::sqlite::exec(other.get(), "ROLLBACK");
    REQUIRE(wait_until([&] { return !store.status(); }, 10s));
    for (; seq < 25; ++seq) {
      store.append("t", make_ev("ep", seq + 1, fmt::format("e{}", seq + 1)), ec);
      REQUIRE_FALSE(ec);
    }
    REQUIRE(store.flush());
    const auto rows = committed(path, "t");
    REQUIRE(rows.size() == 25);
    for (std::uint64_t i = 1; i <= 25; ++i) CHECK(rows.at(i) == fmt::format("e{}", i));
    const auto s = store.stats();
    CHECK(s.errors >= 1);
    CHECK(s.retries >= 1);
    CHECK(store.prometheus().find("sse_store_up 1\n") != std::string::npos);
  }

  TEST_CASE("a full data disk (1 MiB tmpfs) is retried until space is freed; nothing accepted is lost") {
    sse_test::temp_dir dir;
    const auto mnt = dir.path() / "mnt";
    std::filesystem::create_directories(mnt);
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) {
      MESSAGE("skipped: cannot mount a tmpfs here (" << std::strerror(errno) << ")");
      return;
    }
    struct unmount {
      std::filesystem::path p;
      ~unmount() { ::umount2(p.c_str(), MNT_DETACH); }
    } guard{mnt};
    const std::string path = (mnt / "events.db").string();
    {
      sse::sqlite::event_store store({.path = path});
      std::error_code ec;
      store.open_topic("t", "ep", ec);
      REQUIRE_FALSE(ec);
      std::uint64_t seq = 0;
      for (; seq < 5; ++seq) store.append("t", make_ev("ep", seq + 1, std::string(100, 'a')), ec);
      REQUIRE(store.flush());
      {  // fill the disk
        std::ofstream filler(mnt / "filler", std::ios::binary);
        const std::string chunk(4096, 'x');
        for (int i = 0; i < 1024 && filler.write(chunk.data(), chunk.size()); ++i) filler.flush();
      }
      std::uint64_t accepted = seq;
      while (seq < 400 && !store.status()) {  // ~4 KiB events until the writer hits the full disk
        store.append("t", make_ev("ep", seq + 1, std::string(4000, 'b')), ec);
        if (!ec) accepted = ++seq;
        else if (ec != sse::store_errc::queue_full) break;
        if (seq % 20 == 0) std::this_thread::sleep_for(5ms);
      }
      REQUIRE(wait_until([&] { return bool(store.status()); }, 10s));
      INFO("status: " << store.status().message());
      CHECK(sse::sqlite::is_transient(store.status()));
      store.append("t", make_ev("ep", seq + 1, "refused"), ec);
      CHECK(ec == store.status());
      std::filesystem::remove(mnt / "filler");
      REQUIRE(wait_until([&] { return !store.status(); }, 10s));
      store.append("t", make_ev("ep", ++seq, "after"), ec);
      REQUIRE_FALSE(ec);
      REQUIRE(store.flush());
      const auto rows = committed(path, "t");
      CHECK(rows.size() == accepted + 1);
      CHECK(rows.rbegin()->first == accepted + 1);
      CHECK(rows.rbegin()->second == "after");
    }
    // Closed cleanly after the fault: no gap at the next open.
    sse::sqlite::event_store again({.path = path});
    std::error_code ec;
    CHECK(again.stats().gaps == 0);
    CHECK(again.open_topic("t", "x", ec).head == committed(path, "t").size());
  }

  TEST_CASE("SIGKILL with events sent but not committed: after restart no id names another event, a resume from the lost range is a reset") {
    // The child appends as fast as it can (and reports each accepted event = "sent to clients") while a
    // second connection keeps taking the write lock, so its writer lags behind; then it is killed.
    constexpr std::size_t max_queue = 64, max_batch = 16;
    for (int attempt = 0;; ++attempt) {
      REQUIRE(attempt < 5);
      sse_test::temp_dir dir;
      const std::string path = (dir.path() / "events.db").string();
      { sse::sqlite::event_store init({.path = path}); }  // a clean first run
      int fds[2];
      REQUIRE(::pipe(fds) == 0);
      const pid_t pid = ::fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        ::close(fds[0]);
        std::thread locker([&] {
          auto db = sse::sqlite::open_database(path, 5s);
          for (;;) {
            sse::sqlite::exec(db.get(), "BEGIN IMMEDIATE");
            std::this_thread::sleep_for(20ms);
            sse::sqlite::exec(db.get(), "COMMIT");
            std::this_thread::sleep_for(2ms);
          }
        });
        locker.detach();
        sse::sqlite::event_store store({.path = path, .max_queue = max_queue, .max_batch = max_batch});
        std::error_code ec;
        store.open_topic("t", "ep", ec);
        for (std::uint64_t seq = 1;;) {
          store.append("t", make_ev("ep", seq, fmt::format("run1 {}", seq)), ec);
          if (ec) continue;
          const std::string line = fmt::format("{}\n", seq++);
          if (::write(fds[1], line.data(), line.size()) < 0) ::_exit(1);
        }
      }
      ::close(fds[1]);
      std::uint64_t last_sent = 0;
      {
        FILE* in = ::fdopen(fds[0], "r");
        unsigned long long v = 0;
        while (last_sent < 400 && std::fscanf(in, "%llu", &v) == 1) last_sent = v;
        ::kill(pid, SIGKILL);
        int status = 0;
        ::waitpid(pid, &status, 0);
        while (std::fscanf(in, "%llu", &v) == 1) last_sent = v;  // what it sent before dying
        std::fclose(in);
      }
      REQUIRE(last_sent >= 400);
      const auto before = committed(path, "t");
      const std::uint64_t head_committed = before.empty() ? 0 : before.rbegin()->first;
      if (head_committed >= last_sent) continue;  // nothing was lost this time: try again
      MESSAGE("sent " << last_sent << ", committed " << head_committed);
      CHECK(last_sent - head_committed <= max_queue + max_batch);

      // Restart, as a hub with the store; with a smaller queue than the killed run: its reserve counts.
      auto store = std::make_shared<sse::sqlite::event_store>(
          sse::sqlite::store_options{.path = path, .max_queue = 8, .max_batch = 2});
      CHECK(store->stats().gaps == 1);
      std::error_code ec;
      const auto gaps = store->gaps("t", ec);
      REQUIRE(gaps.size() == 1);
      CHECK(gaps[0].first == head_committed + 1);
      CHECK(gaps[0].last == head_committed + max_queue + max_batch);
      asio::io_context ioc;
      sse::hub_options ho;
      ho.keepalive = std::nullopt;
      ho.store = store;
      sse::hub hub(ioc, ho);
      std::map<std::string, std::string> meaning;  // id -> data, across both runs
      for (std::uint64_t s = 1; s <= last_sent; ++s) meaning.emplace(fmt::format("ep-{}", s), fmt::format("run1 {}", s));
      std::vector<std::string> new_ids;
      for (int i = 1; i <= 3; ++i) new_ids.push_back(hub.publish("t", {.data = fmt::format("run2 {}", i)}));
      for (int i = 0; i < 3; ++i) {
        const auto inserted = meaning.emplace(new_ids[static_cast<std::size_t>(i)], fmt::format("run2 {}", i + 1));
        CHECK_MESSAGE(inserted.second,
                      "id " << new_ids[static_cast<std::size_t>(i)] << " named '" << inserted.first->second << "' before");
      }
      CHECK(new_ids[0] == fmt::format("ep-{}", gaps[0].last + 1));
      // A client that saw the last event sent, and one that saw the last committed one, resume.
      const std::string after3 = fmt::format("id: {}\ndata: run2 1\n\nid: {}\ndata: run2 2\n\nid: {}\ndata: run2 3\n\n",
                                             new_ids[0], new_ids[1], new_ids[2]);
      std::vector<sse::memory_transport> ts;
      std::vector<std::shared_ptr<sse::memory_stream>> streams;
      for (const std::uint64_t seen : {last_sent, head_committed}) {
        ts.emplace_back(ioc.get_executor());
        streams.push_back(sse::memory_stream::create(
            ts.back(), {.body_framing = sse::framing::close_delimited, .initial_comment = std::nullopt}));
        hub.subscribe(streams.back(), "t", fmt::format("ep-{}", seen));
      }
      ioc.run_for(500ms);
      {  // resumed from a lost id: a reset then the events after (the gap's last number is followed by the
         // next event: a client that saw it missed nothing)
        INFO("got: " << ts[0].data());
        if (last_sent < gaps[0].last) CHECK(ts[0].data().starts_with("event: reset\n"));
        else CHECK(ts[0].data() == after3);
        CHECK(ts[0].data().ends_with(after3));
      }
      {  // resumed from the last committed id: the events after, stepping over the gap (or a reset)
        INFO("got: " << ts[1].data());
        CHECK(ts[1].data().ends_with(after3));
        if (!ts[1].data().starts_with("event: reset\n")) CHECK(ts[1].data() == after3);
      }
      for (auto& s : streams) s->abort();
      ioc.restart();
      ioc.run_for(200ms);
      // events.db now agrees with every meaning it holds.
      for (const auto& [seq, data] : committed(path, "t")) CHECK(meaning.at(fmt::format("ep-{}", seq)) == data);
      break;
    }
  }
}

}  // namespace test_store_faults_cases

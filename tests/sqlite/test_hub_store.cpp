// sse::hub with a durable store: ids continue after a restart, ids older than the in-memory log
// replay from the store (no reset), with no gap and no duplicate at either boundary, also while
// events are being published from other threads; a store that cannot help gives the usual reset.
#include "sse/hub.hpp"

#include <doctest/doctest.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <fmt/format.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../support/runtime.hpp"
#include "../support/process.hpp"
#include "sse/sqlite/event_store.hpp"
#include "sse/transport/memory.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_hub_store_cases {

using namespace std::chrono_literals;

namespace {

struct fixture {
  asio::io_context ioc;
  std::vector<std::shared_ptr<sse::memory_stream>> streams;
  std::vector<sse::memory_transport> ts;

  sse::memory_transport stream_on(sse::hub& hub, const std::string& topic, const std::string& last) {
    ts.emplace_back(ioc.get_executor());
    streams.push_back(sse::memory_stream::create(
        ts.back(), {.body_framing = sse::framing::close_delimited, .initial_comment = std::nullopt}));
    hub.subscribe(streams.back(), topic, last);
    return ts.back();
  }
  void run() {
    ioc.restart();
    ioc.run();
  }
  ~fixture() {
    for (auto& s : streams) s->abort();
    run();
  }
};

std::shared_ptr<sse::sqlite::event_store> open_store(const sse_test::temp_dir& dir) {
  return std::make_shared<sse::sqlite::event_store>(sse::sqlite::store_options{.path = (dir.path() / "ev.db").string()});
}

sse::hub_options with_store(std::shared_ptr<sse::event_store> store, std::size_t max_events) {
  sse::hub_options o;
  o.history.max_events = max_events;
  o.keepalive = std::nullopt;
  o.store = std::move(store);
  return o;
}

std::string wire(const std::string& id, const std::string& data) { return "id: " + id + "\ndata: " + data + "\n\n"; }

/// A store that accepts everything and can be told to refuse appends or to "lose" stored events.
class fake_store final : public sse::event_store {
 public:
  bool refuse = false;
  bool lose_second = false;
  std::vector<sse::stored_event> events;
  sse::store_topic open_topic(std::string_view, std::string_view epoch, std::error_code& ec) override {
    ec = {};
    return {std::string(epoch), events.size()};
  }
  void append(std::string_view, sse::stored_event ev, std::error_code& ec) override {
    ec = refuse ? std::error_code(sse::store_errc::queue_full) : std::error_code();
    if (!ec) events.push_back(std::move(ev));
  }
  std::vector<sse::stored_event> load(std::string_view, std::uint64_t after, std::size_t limit,
                                      std::error_code& ec) override {
    ec = {};
    std::vector<sse::stored_event> out;
    for (const auto& e : events)
      if (e.seq > after && out.size() < limit && !(lose_second && e.seq == 2)) out.push_back(e);
    return out;
  }
};

}  // namespace

TEST_SUITE("sqlite.hub") {
  TEST_CASE("an id older than the in-memory log replays from the store, then the log, then live") {
    sse_test::temp_dir dir;
    fixture f;
    auto store = open_store(dir);
    sse::hub hub(f.ioc, with_store(store, 3));
    const std::string epoch = hub.open_topic("job/1");
    CHECK(epoch.size() == 16);
    std::string all;
    for (int i = 1; i <= 10; ++i) {
      CHECK(hub.publish("job/1", {.data = std::to_string(i)}) == fmt::format("{}-{}", epoch, i));
      all += wire(fmt::format("{}-{}", epoch, i), std::to_string(i));
    }
    auto from_start = f.stream_on(hub, "job/1", epoch + "-0");
    auto from_4 = f.stream_on(hub, "job/1", epoch + "-4");
    auto from_8 = f.stream_on(hub, "job/1", epoch + "-8");  // within the log: the log alone
    f.run();
    CHECK(from_start.data() == all);
    CHECK(from_4.data() == all.substr(all.find("id: " + epoch + "-5\n")));
    CHECK(from_8.data() == all.substr(all.find("id: " + epoch + "-9\n")));
    hub.publish("job/1", {.data = "11"});
    f.run();
    CHECK(from_start.data() == all + wire(epoch + "-11", "11"));
    CHECK(from_4.data().ends_with(wire(epoch + "-10", "10") + wire(epoch + "-11", "11")));
  }

  TEST_CASE("after a restart ids continue with the same epoch and old ids resume from disk") {
    sse_test::temp_dir dir;
    std::string epoch, before;
    {
      fixture f;
      sse::hub hub(f.ioc, with_store(open_store(dir), 100));
      for (int i = 1; i <= 5; ++i) {
        const std::string id = hub.publish("news", {.type = "n", .data = "old " + std::to_string(i)});
        epoch = id.substr(0, id.find('-'));
      }
      before = hub.last_id("news");
    }  // hub and store gone: the store wrote everything on close
    CHECK(before == epoch + "-5");
    fixture f;
    sse::hub hub(f.ioc, with_store(open_store(dir), 100));
    CHECK(hub.last_id("news").empty());  // not created yet
    CHECK(hub.open_topic("news") == epoch);
    CHECK(hub.last_id("news") == epoch + "-5");
    auto resumed = f.stream_on(hub, "news", epoch + "-3");
    auto at_head = f.stream_on(hub, "news", epoch + "-5");
    auto future = f.stream_on(hub, "news", epoch + "-9");  // never existed: reset
    f.run();
    CHECK(resumed.data() == "id: " + epoch + "-4\nevent: n\ndata: old 4\n\n" + "id: " + epoch + "-5\nevent: n\ndata: old 5\n\n");
    CHECK(at_head.data().empty());
    CHECK(future.data().starts_with("event: reset\ndata: {\"reason\":\"unknown-id\"}\n\n"));
    CHECK(hub.publish("news", {.type = "n", .data = "new"}) == epoch + "-6");
    f.run();
    CHECK(resumed.data().ends_with("id: " + epoch + "-6\nevent: n\ndata: new\n\n"));
    CHECK(at_head.data() == "id: " + epoch + "-6\nevent: n\ndata: new\n\n");
  }

  TEST_CASE("after an unclean shutdown: ids skip the reserved gap, a replay steps over it, a resume from inside it is a reset") {
    sse_test::temp_dir dir;
    const std::string path = (dir.path() / "ev.db").string();
    auto small = [&] {
      return std::make_shared<sse::sqlite::event_store>(
          sse::sqlite::store_options{.path = path, .max_queue = 3, .max_batch = 2});
    };
    std::string epoch;
    {
      fixture f;
      sse::hub hub(f.ioc, with_store(small(), 100));
      for (int i = 1; i <= 4; ++i) {
        const std::string id = hub.publish("t", {.data = "a" + std::to_string(i)});
        epoch = id.substr(0, id.find('-'));
      }
    }
    {  // as if the process had died: the clean marker is not there
      auto db = sse::sqlite::open_database(path, 5s);
      sse::sqlite::exec(db.get(), "UPDATE sse_meta SET value = 0 WHERE key = 'clean'");
    }
    auto store = small();
    std::error_code ec;
    const auto gaps = store->gaps("t", ec);
    REQUIRE_FALSE(ec);
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0].first == 5);
    CHECK(gaps[0].last == 9);  // max_queue + max_batch numbers that may have been sent and not written
    fixture f;
    sse::hub hub(f.ioc, with_store(store, 2));  // a log of two: older ids come from the store
    CHECK(hub.open_topic("t") == epoch);
    std::string after;
    for (int i = 1; i <= 3; ++i) {
      const std::string id = hub.publish("t", {.data = "b" + std::to_string(i)});
      CHECK(id == fmt::format("{}-{}", epoch, 9 + i));  // never a number inside the gap
      after += wire(id, "b" + std::to_string(i));
    }
    auto from_2 = f.stream_on(hub, "t", epoch + "-2");   // before the gap: a3, a4, then b1.. (across it)
    auto from_4 = f.stream_on(hub, "t", epoch + "-4");   // at the gap's start: across it
    auto from_6 = f.stream_on(hub, "t", epoch + "-6");   // inside: that id may name a lost event
    auto from_9 = f.stream_on(hub, "t", epoch + "-9");   // the gap's last number: the next real event
    f.run();
    CHECK(from_2.data() == wire(epoch + "-3", "a3") + wire(epoch + "-4", "a4") + after);
    CHECK(from_4.data() == after);
    CHECK(from_6.data().starts_with("event: reset\n"));
    CHECK(from_6.data().find("data: b1") == std::string::npos);
    CHECK(from_9.data() == after);
  }

  TEST_CASE("a store that refuses makes publish fail; a store with a hole gives a reset, not a gap") {
    fixture f;
    auto store = std::make_shared<fake_store>();
    sse::hub hub(f.ioc, with_store(store, 2));
    hub.open_topic("t");
    for (int i = 1; i <= 5; ++i) hub.publish("t", {.data = std::to_string(i)});
    const std::string ep = hub.epoch("t");
    store->refuse = true;
    std::error_code ec;
    CHECK(hub.publish("t", {.data = "refused"}, ec).empty());
    CHECK(ec == sse::store_errc::queue_full);
    CHECK_THROWS_AS(hub.publish("t", {.data = "refused"}), sse::hub_error);
    CHECK(hub.last_id("t") == ep + "-5");  // not consumed
    store->refuse = false;
    store->lose_second = true;
    auto s = f.stream_on(hub, "t", ep + "-1");
    f.run();
    CHECK(s.data() == "event: reset\ndata: {\"reason\":\"too-old\",\"oldest\":\"" + ep + "-4\",\"lost\":2}\n\n" +
                          wire(ep + "-4", "4") + wire(ep + "-5", "5"));
    store->lose_second = false;
    auto t = f.stream_on(hub, "t", ep + "-1");
    f.run();
    CHECK(t.data() == wire(ep + "-2", "2") + wire(ep + "-3", "3") + wire(ep + "-4", "4") + wire(ep + "-5", "5"));
  }

  TEST_CASE("seal: subscribers get what is queued and end; later ones replay and end; publish fails") {
    fixture f;
    sse::hub_options o;
    o.history.epoch = "ep";
    o.keepalive = std::nullopt;
    sse::hub hub(f.ioc, o);
    CHECK_FALSE(hub.seal("none"));
    auto live = f.stream_on(hub, "t", "");
    f.run();
    hub.publish("t", {.data = "1"});
    hub.publish("t", {.type = "done", .data = "2"});
    CHECK(hub.seal("t", std::chrono::milliseconds(5000)));
    CHECK(hub.is_sealed("t"));
    f.run();
    CHECK(live.data() == wire("ep-1", "1") + "id: ep-2\nevent: done\ndata: 2\n\n" + "retry: 5000\n\n");
    CHECK_FALSE(live.is_open());
    std::error_code ec;
    CHECK(hub.publish("t", {.data = "3"}, ec).empty());
    CHECK(ec == sse::hub_errc::topic_sealed);
    CHECK_THROWS_AS(hub.publish("t", {.data = "3"}), sse::hub_error);
    auto later = f.stream_on(hub, "t", "ep-1");
    f.run();
    CHECK(later.data() == "id: ep-2\nevent: done\ndata: 2\n\n" + std::string("retry: 5000\n\n"));
    CHECK_FALSE(later.is_open());
  }

  TEST_CASE("more than store_replay_limit events to replay gives a reset") {
    fixture f;
    auto store = std::make_shared<fake_store>();
    auto o = with_store(store, 2);
    o.store_replay_limit = 3;
    sse::hub hub(f.ioc, o);
    for (int i = 1; i <= 10; ++i) hub.publish("t", {.data = std::to_string(i)});
    const std::string ep = hub.epoch("t");
    auto ok = f.stream_on(hub, "t", ep + "-5");   // 6..8 from the store (3), 9..10 from the log
    auto big = f.stream_on(hub, "t", ep + "-4");  // 4 from the store: above the limit
    f.run();
    CHECK(ok.data().starts_with(wire(ep + "-6", "6")));
    CHECK(big.data().starts_with("event: reset\n"));
  }

  TEST_CASE("resuming from the store while other threads publish: no gap, no duplicate") {
    sse_test::temp_dir dir;
    auto store = open_store(dir);
    std::vector<std::unique_ptr<asio::io_context>> ctx;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::vector<asio::any_io_executor> exs;
    for (int i = 0; i < 2; ++i) {
      ctx.push_back(std::make_unique<asio::io_context>(1));
      guards.push_back(asio::make_work_guard(*ctx.back()));
      exs.push_back(ctx.back()->get_executor());
    }
    std::vector<std::thread> threads;
    for (auto& c : ctx) threads.emplace_back([p = c.get()] { p->run(); });
    {
      sse::hub hub(exs, with_store(store, 20));
      const std::string ep = hub.open_topic("live");
      constexpr int total = 3000;
      std::atomic<int> published{0};
      std::thread publisher([&] {
        for (int i = 1; i <= total; ++i) {
          hub.publish("live", {.data = std::to_string(i)});
          published = i;
          if (i % 100 == 0) std::this_thread::sleep_for(1ms);
        }
      });
      struct sub {
        sse::memory_transport t;
        std::shared_ptr<sse::memory_stream> s;
        int after;
      };
      std::vector<sub> subs;
      for (int k = 0; k < 12; ++k) {
        sse_test::wait_until([&] { return published.load() >= k * 200 + 50; }, 10s);
        const int after = std::max(0, published.load() - 40 - k * 3);  // usually older than the log
        sse::memory_transport t(exs[static_cast<std::size_t>(k) % 2]);
        auto s = sse::memory_stream::create(t, {.body_framing = sse::framing::close_delimited, .initial_comment = std::nullopt});
        hub.subscribe(s, "live", fmt::format("{}-{}", ep, after));
        subs.push_back({t, s, after});
      }
      publisher.join();
      for (auto& s : subs) {
        CAPTURE(s.after);
        const std::size_t expected = static_cast<std::size_t>(total - s.after);
        REQUIRE(sse_test::wait_until([&] { return sse_test::blocks(s.t.data()).size() >= expected; }, 10s));
        const auto bs = sse_test::blocks(s.t.data());
        REQUIRE(bs.size() == expected);
        std::size_t bad = 0;
        for (std::size_t i = 0; i < bs.size(); ++i)
          if (bs[i].id != fmt::format("{}-{}", ep, s.after + 1 + static_cast<int>(i)) ||
              bs[i].data != std::to_string(s.after + 1 + static_cast<int>(i)))
            ++bad;
        CHECK(bad == 0);
      }
      for (auto& s : subs) s.s->abort();
      hub.close_all();
      std::this_thread::sleep_for(50ms);
    }
    guards.clear();
    for (auto& c : ctx) {
      sse_test::wait_until([p = c.get()] { return p->stopped(); }, 5s);
      c->stop();
    }
    for (auto& t : threads) t.join();
    CHECK(store->flush());
    std::error_code ec;
    CHECK(store->last_seq("live", ec) == 3000);
  }

  TEST_CASE("a topic dropped for idleness opens again from the store: same epoch, ids continue, old ids replay") {
    sse_test::temp_dir dir;
    fixture f;
    auto store = open_store(dir);
    auto o = with_store(store, 3);
    o.idle_topic_ttl = std::chrono::minutes(5);
    o.idle_topic_timer = false;
    sse::hub hub(f.ioc, o);
    std::string all, epoch;
    for (int i = 1; i <= 6; ++i) {
      const std::string id = hub.publish("job/9", {.data = std::to_string(i)});
      epoch = id.substr(0, id.rfind('-'));
      all += wire(id, std::to_string(i));
    }
    CHECK(hub.evict_idle(std::chrono::steady_clock::now() + std::chrono::minutes(6)) == 1);
    CHECK(hub.topic_count() == 0);
    auto from_2 = f.stream_on(hub, "job/9", epoch + "-2");  // opens the topic again from the store
    f.run();
    CHECK(from_2.data() == all.substr(all.find("id: " + epoch + "-3\n")));
    CHECK(hub.publish("job/9", {.data = "7"}) == epoch + "-7");
    f.run();
    CHECK(from_2.data().ends_with(wire(epoch + "-6", "6") + wire(epoch + "-7", "7")));
  }
}

}  // namespace test_hub_store_cases

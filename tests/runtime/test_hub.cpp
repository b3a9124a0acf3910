#include "sse/hub.hpp"

#include <doctest/doctest.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <fmt/format.h>

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../support/runtime.hpp"
#include "sse/transport/memory.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_hub_cases {

using namespace std::chrono_literals;

namespace {

struct fixture {
  asio::io_context ioc;
  sse::metrics m;
  std::vector<std::shared_ptr<sse::memory_stream>> streams;
  std::vector<sse::memory_transport> ts;

  std::shared_ptr<sse::memory_stream> stream(sse::stream_options so = {.body_framing = sse::framing::close_delimited,
                                                                       .initial_comment = std::nullopt}) {
    ts.emplace_back(ioc.get_executor());
    so.metrics = &m;
    streams.push_back(sse::memory_stream::create(ts.back(), std::move(so)));
    return streams.back();
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

sse::hub_options opts(sse::metrics* m, std::size_t max_events = 1000) {
  return {.history = {.max_events = max_events, .epoch = "ep"}, .keepalive = std::nullopt, .metrics = m};
}

std::string wire(const std::string& id, const std::string& data) { return "id: " + id + "\ndata: " + data + "\n\n"; }

}  // namespace

TEST_SUITE("runtime.hub") {
  TEST_CASE("many subscribers get identical events in order, encoded once") {
    fixture f;
    sse::hub hub(f.ioc, opts(&f.m));
    for (int i = 0; i < 50; ++i) hub.subscribe(f.stream(), "news");
    f.run();
    std::string expected;
    for (int i = 1; i <= 100; ++i) {
      const std::string id = hub.publish("news", sse::event{.data = fmt::format("n{}", i)});
      CHECK(id == fmt::format("ep-{}", i));
      expected += wire(id, fmt::format("n{}", i));
      if (i % 10 == 0) f.run();
    }
    f.run();
    for (auto& t : f.ts) CHECK(t.data() == expected);
    CHECK(f.m.events_published == 100);
    CHECK(f.m.events_delivered == 5000);
    CHECK(f.m.connections_open == 50);
    CHECK(f.m.topics == 1);
    CHECK(hub.topic_count() == 1);
    CHECK(hub.last_id("news") == "ep-100");
  }

  TEST_CASE("subscribe with an error_code: refusals as codes, the stream not started; stop() is idempotent") {
    fixture f;
    sse::hub hub(f.ioc, opts(&f.m));
    std::error_code ec;
    auto bad_topic = f.stream();
    hub.subscribe(bad_topic, "a b", "", {}, ec);
    CHECK(ec == sse::hub_errc::invalid_topic);
    asio::io_context other;
    sse::memory_transport foreign_t(other.get_executor());
    auto foreign = sse::memory_stream::create(foreign_t, {});
    hub.subscribe(foreign, "t", "", {}, ec);
    CHECK(ec == sse::hub_errc::foreign_executor);
    CHECK_THROWS_AS(hub.subscribe(foreign, "t"), sse::hub_argument_error);
    auto good = f.stream();
    hub.subscribe(good, "t", "", {}, ec);
    CHECK_FALSE(ec);
    f.run();
    CHECK(f.ts[0].data().empty());  // never started: no head, nothing written
    const std::string id = hub.publish("t", {.data = "x"});
    f.run();
    CHECK(f.ts[1].data() == wire(id, "x"));
    hub.stop();
    hub.stop();
    foreign->abort();
    other.run();
  }

  TEST_CASE("resume from the middle, from the head, and live only") {
    fixture f;
    sse::hub hub(f.ioc, opts(&f.m));
    for (int i = 1; i <= 10; ++i) hub.publish("t", sse::event{.data = std::to_string(i)});
    auto mid = f.stream(), at_head = f.stream(), live = f.stream();
    hub.subscribe(mid, "t", "ep-7");
    hub.subscribe(at_head, "t", "ep-10");
    hub.subscribe(live, "t", "");
    f.run();
    hub.publish("t", sse::event{.data = "11"});
    f.run();
    CHECK(f.ts[0].data() == wire("ep-8", "8") + wire("ep-9", "9") + wire("ep-10", "10") + wire("ep-11", "11"));
    CHECK(f.ts[1].data() == wire("ep-11", "11"));
    CHECK(f.ts[2].data() == wire("ep-11", "11"));
    CHECK(f.m.replays == 2);
    CHECK(f.m.replayed_events == 3);
    CHECK(f.m.resets == 0);
  }

  TEST_CASE("reset when too old or unknown, then everything retained, then live") {
    fixture f;
    sse::hub hub(f.ioc, opts(&f.m, 5));
    for (int i = 1; i <= 10; ++i) hub.publish("t", sse::event{.data = std::to_string(i)});  // retains 6..10
    auto old = f.stream(), unknown = f.stream(), garbage = f.stream();
    hub.subscribe(old, "t", "ep-2");
    hub.subscribe(unknown, "t", "restarted-9");
    hub.subscribe(garbage, "t", "\x01zz");
    f.run();
    hub.publish("t", sse::event{.data = "11"});
    f.run();
    std::string retained;
    for (int i = 6; i <= 11; ++i) retained += wire(fmt::format("ep-{}", i), std::to_string(i));
    CHECK(f.ts[0].data() == "event: reset\ndata: {\"reason\":\"too-old\",\"oldest\":\"ep-6\",\"lost\":3}\n\n" + retained);
    CHECK(f.ts[1].data() == "event: reset\ndata: {\"reason\":\"unknown-id\",\"oldest\":\"ep-6\"}\n\n" + retained);
    CHECK(f.ts[2].data() == f.ts[1].data());
    CHECK(f.m.resets == 3);
    CHECK(f.m.replayed_events == 15);
  }

  TEST_CASE("chunked stream with head: exact bytes through the hub") {
    fixture f;
    sse::hub hub(f.ioc, opts(&f.m));
    hub.publish("t", sse::event{.type = "x", .data = "a"});
    auto s = f.stream({.head = "HEAD\r\n\r\n", .retry = 2000ms});
    hub.subscribe(s, "t", "ep-0");
    f.run();
    hub.publish("t", sse::event{.data = "b"});
    f.run();
    CHECK(f.ts[0].data() == "HEAD\r\n\r\n"
                            "12\r\n: ok\nretry: 2000\n\n\r\n"
                            "1b\r\nid: ep-1\nevent: x\ndata: a\n\n\r\n"
                            "12\r\nid: ep-2\ndata: b\n\n\r\n");
    hub.close_all(10000ms);
    f.run();
    const std::string tail = "e\r\nretry: 10000\n\n\r\n0\r\n\r\n";
    CHECK(f.ts[0].data().substr(f.ts[0].data().size() - tail.size()) == tail);
    CHECK(s->is_closed());
    CHECK(f.m.connections_open == 0);
  }

  TEST_CASE("closed subscribers are removed; others keep receiving") {
    fixture f;
    sse::hub hub(f.ioc, opts(&f.m));
    auto a = f.stream(), b = f.stream();
    hub.subscribe(a, "t");
    hub.subscribe(b, "t");
    f.run();
    a->abort();
    f.run();
    hub.publish("t", sse::event{.data = "1"});
    f.run();
    CHECK(f.ts[0].data().empty());
    CHECK(f.ts[1].data() == wire("ep-1", "1"));
    CHECK(f.m.events_delivered == 1);
    auto late = f.stream();
    late->abort();
    hub.subscribe(late, "t");  // already closed: ignored
    f.run();
    hub.publish("t", sse::event{.data = "2"});
    f.run();
    CHECK(f.m.events_delivered == 2);
  }

  TEST_CASE("errors: bad topic, event with id or CR/LF, topic limit, foreign executor") {
    fixture f;
    sse::hub hub(f.ioc, {.max_topics = 2, .keepalive = std::nullopt, .metrics = &f.m});
    CHECK_THROWS_AS(hub.publish("", sse::event{}), sse::hub_argument_error);
    CHECK_THROWS_AS(hub.publish("a b", sse::event{}), std::invalid_argument);
    CHECK_THROWS_AS(hub.publish(std::string(201, 'x'), sse::event{}), sse::hub_argument_error);
    CHECK_THROWS_AS(hub.publish("t", sse::event{.data = "x", .id = "1"}), sse::hub_argument_error);
    CHECK_THROWS_AS(hub.publish("t", sse::event{.type = "a\rb"}), sse::invalid_event);
    CHECK(hub.topic_count() == 0);
    hub.publish("one", sse::event{});
    hub.publish("two", sse::event{});
    CHECK_THROWS_AS(hub.publish("three", sse::event{}), sse::hub_error);
    std::error_code ec;
    CHECK(hub.publish("three", sse::event{}, ec).empty());
    CHECK(ec == sse::hub_errc::too_many_topics);
    // Subscribers alone take no publisher's slot: "three" is subscribed-only, within its own bound
    // (max_subscribed_topics: max(1, 2 / 10) = 1), past which a subscription is refused.
    hub.subscribe(f.stream(), "three");
    CHECK(hub.subscribed_only_topic_count() == 1);
    CHECK_THROWS_AS(hub.subscribe(f.stream(), "four"), sse::hub_error);
    CHECK(hub.publish("one", sse::event{}, ec) != "");
    CHECK_FALSE(ec);
    CHECK(hub.erase_topic("two"));
    CHECK_FALSE(hub.erase_topic("two"));
    CHECK(hub.topic_count() == 2);
    CHECK(f.m.topics == 2);
    CHECK(f.m.subscribed_only_topics == 1);
    hub.publish("three", sse::event{});  // its first publish: an ordinary topic now
    CHECK(hub.subscribed_only_topic_count() == 0);
    CHECK(f.m.subscribed_only_topics == 0);
    CHECK(hub.topic_count() == 2);
    asio::io_context other;
    sse::memory_transport t(other.get_executor());
    auto foreign = sse::memory_stream::create(t, {});
    CHECK_THROWS_AS(hub.subscribe(foreign, "one"), sse::hub_argument_error);
  }

  TEST_CASE("erase_topic closes its subscribers gracefully; since() for polling") {
    fixture f;
    sse::hub hub(f.ioc, opts(&f.m));
    auto s = f.stream();
    hub.subscribe(s, "job");
    f.run();  // registered: live events from here on
    hub.publish("job", sse::event{.data = "x"});
    f.run();
    const auto r = hub.since("job", "ep-0");
    REQUIRE(r);
    CHECK(r->entries.size() == 1);
    CHECK_FALSE(hub.since("nope", ""));
    CHECK(hub.epoch("job") == "ep");
    CHECK(hub.epoch("nope").empty());
    CHECK(hub.erase_topic("job"));
    f.run();
    CHECK(s->is_closed());
    CHECK(f.ts[0].data() == wire("ep-1", "x"));
  }

  TEST_CASE("keepalive schedulers per shard watch subscribed streams") {
    fixture f;
    sse::hub hub(f.ioc, {.history = {.epoch = "ep"}, .keepalive = sse::keepalive_options{.interval = 1s, .timer = false}});
    auto s = f.stream();
    hub.subscribe(s, "t");
    f.run();
    REQUIRE(hub.keepalive(0));
    CHECK(hub.keepalive(0)->size() == 1);
    CHECK(hub.keepalive(0)->tick(std::chrono::steady_clock::now() + 2s) == 1);
    f.run();
    CHECK(f.ts[0].data().rfind(": ping ", 0) == 0);
  }
  TEST_CASE("unsubscribing in any order (O(1) removal) keeps every other stream's delivery exact") {
    fixture f;
    sse::hub hub(f.ioc, opts(&f.m));
    constexpr int n = 60;
    for (int i = 0; i < n; ++i) hub.subscribe(f.stream(), "t");
    f.run();
    std::vector<std::string> expected(n);
    std::vector<bool> open(n, true);
    auto publish = [&](int k) {
      const std::string id = hub.publish("t", sse::event{.data = std::to_string(k)});
      for (std::size_t i = 0; i < expected.size(); ++i)
        if (open[i]) expected[i] += wire(id, std::to_string(k));
    };
    int k = 0;
    for (int round = 0; round < 4; ++round) {
      publish(++k);
      publish(++k);
      f.run();
      // close a scattered set: the last, the first open, every 7th from a moving offset
      std::vector<int> victims{n - 1 - round};
      for (int i = round; i < n; i += 7) victims.push_back(i);
      for (const int v : victims)
        if (open[static_cast<std::size_t>(v)]) {
          open[static_cast<std::size_t>(v)] = false;
          f.streams[static_cast<std::size_t>(v)]->abort();
        }
      publish(++k);  // published before the close listeners ran: still delivered to the others
      f.run();
    }
    // new subscribers reuse freed slots; one resumes from the middle (exact boundary)
    const std::size_t late = f.streams.size();
    hub.subscribe(f.stream(), "t");
    hub.subscribe(f.stream(), "t", "ep-5");
    expected.push_back("");
    expected.push_back("");
    open.push_back(true);
    open.push_back(true);
    for (int j = 6; j <= k; ++j) expected[late + 1] += wire(fmt::format("ep-{}", j), std::to_string(j));
    f.run();
    publish(++k);
    f.streams[late]->abort();
    open[late] = false;
    f.run();
    publish(++k);
    f.run();
    std::size_t still_open = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      CHECK(f.ts[i].data() == expected[i]);
      CHECK(f.streams[i]->is_closed() == !open[i]);
      still_open += open[i] ? 1 : 0;
    }
    CHECK(f.m.connections_open == static_cast<std::int64_t>(still_open));
  }

  TEST_CASE("idle topics are dropped after idle_topic_ttl; a topic with a subscriber or recent use is kept") {
    fixture f;
    auto o = opts(&f.m);
    o.history.epoch = "";  // a random epoch per topic: a dropped topic comes back with another one
    o.idle_topic_ttl = std::chrono::minutes(10);
    o.idle_topic_timer = false;  // evict_idle(now) is called with chosen times
    sse::hub hub(f.ioc, o);
    const std::string old_id = hub.publish("done", sse::event{.data = "1"});
    hub.publish("done", sse::event{.data = "2"});
    auto s = f.stream();
    hub.subscribe(s, "watched", "");
    f.run();
    const auto now = std::chrono::steady_clock::now();
    CHECK(hub.evict_idle(now) == 0);  // used just now
    CHECK(hub.topic_count() == 2);
    CHECK(hub.evict_idle(now + std::chrono::minutes(11)) == 1);  // "watched" has a subscriber
    CHECK(hub.topic_count() == 1);
    CHECK(f.m.topics == 1);
    CHECK_FALSE(hub.since("done", old_id).has_value());
    CHECK(hub.last_id("watched").empty());
    // Used again: a new topic, a new epoch, ids from 1; the old id is unknown there.
    const std::string again = hub.publish("done", sse::event{.data = "3"});
    CHECK(again.ends_with("-1"));
    CHECK(again != old_id);
    auto late = f.stream();
    hub.subscribe(late, "done", old_id);
    f.run();
    CHECK(f.ts[1].data().starts_with("event: reset\ndata: {\"reason\":\"unknown-id\""));
    CHECK(f.ts[1].data().ends_with(wire(again, "3")));
    // Once its subscriber is gone, "watched" goes too (its idle time starts when the last one leaves).
    s->abort();
    late->abort();
    f.run();
    // "watched" (nothing published to it) went with its last subscriber; "done" stays until idle.
    CHECK(hub.topic_count() == 1);
    const auto later = std::chrono::steady_clock::now();
    CHECK(hub.evict_idle(later + std::chrono::minutes(9)) == 0);
    CHECK(hub.evict_idle(later + std::chrono::minutes(11)) == 1);
    CHECK(hub.topic_count() == 0);
    CHECK(f.m.topics == 0);
  }

  TEST_CASE("the idle-topic timer drops topics by itself; publishing while topics are dropped never fails") {
    fixture f;
    auto o = opts(&f.m);
    o.history.epoch = "";  // random per topic: each time "churn" is opened again its ids start a new epoch
    o.idle_topic_ttl = std::chrono::milliseconds(20);
    sse::hub hub(f.ioc, o);
    auto guard = asio::make_work_guard(f.ioc);
    std::thread runner([&] { f.ioc.run(); });
    std::set<std::string> epochs;
    std::size_t ok = 0;
    for (int i = 0; i < 2000; ++i) {
      std::error_code ec;
      const std::string id = hub.publish("churn", sse::event{.data = std::to_string(i)}, ec);
      if (!ec && !id.empty()) ++ok, epochs.insert(id.substr(0, id.rfind('-')));
      if (i % 100 == 99) std::this_thread::sleep_for(std::chrono::milliseconds(40));  // idle long enough to go
    }
    CHECK(ok == 2000);
    CHECK(epochs.size() > 1);  // dropped and opened again while publishing
    const bool gone = sse_test::wait_until([&] { return hub.topic_count() == 0; }, std::chrono::seconds(5));
    CHECK(gone);
    CHECK(f.m.topics == 0);
    guard.reset();
    f.ioc.stop();
    runner.join();
  }
}

}  // namespace test_hub_cases

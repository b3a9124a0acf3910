// sse::hub with a broker: the hub is the one fan-out engine and each topic it holds mirrors the
// shared log. The broker here is a script (the test decides when a topic is positioned, what is fed
// and what a history read answers), so that every path of the join is taken on purpose: the
// position, the mirror's own answers, a read joined where it ends (after waiting for the feed),
// a read again when the mirror let go of the answer's end, the seal, a lost position, eviction.
// The Redis broker itself is covered against a real redis-server in tests/redis.
#include <doctest/doctest.h>

#include <asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "sse/hub.hpp"
#include "sse/transport/memory.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_hub_mirror_cases {

using namespace std::chrono_literals;

namespace {

/// A broker whose every move the test makes.
struct script_broker final : sse::broker {
  sse::broker_context ctx;
  std::vector<std::string> watched, unwatched;
  struct pending_read {
    std::string topic, after;
    read_handler done;
  };
  std::vector<pending_read> reads;

  void attach(sse::broker_context c) override { ctx = std::move(c); }
  void detach() override {}
  void publish(std::string_view, const sse::event&, publish_handler done) override {
    done(std::make_error_code(std::errc::operation_not_supported), {});
  }
  void seal(std::string_view, std::optional<std::chrono::milliseconds>, seal_handler done) override {
    done(std::make_error_code(std::errc::operation_not_supported));
  }
  void watch(std::string_view topic) override { watched.emplace_back(topic); }
  void unwatch(std::string_view topic) override { unwatched.emplace_back(topic); }
  void read(std::string_view topic, std::string_view after, read_handler done) override {
    reads.push_back({std::string(topic), std::string(after), std::move(done)});
  }
  /// "<n>-0" only.
  std::optional<sse::log_position> parse_id(std::string_view id) const override {
    if (id.size() < 3 || id.substr(id.size() - 2) != "-0") return std::nullopt;
    std::uint64_t n = 0;
    for (const char c : id.substr(0, id.size() - 2)) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return sse::log_position{n, 0};
  }
  bool is_unavailable(const std::error_code&) const override { return false; }
};

std::string id(int n) { return std::to_string(n) + "-0"; }

sse::broker_entry entry(int n) {
  sse::event ev{.data = "d" + std::to_string(n), .id = id(n)};
  return {sse::log_position{static_cast<std::uint64_t>(n), 0}, id(n), sse::make_shared_event(ev), std::nullopt};
}

sse::broker_entry seal_entry(int n, std::optional<std::chrono::milliseconds> retry = std::nullopt) {
  return {sse::log_position{static_cast<std::uint64_t>(n), 0}, id(n), nullptr, retry};
}

std::vector<sse::broker_entry> entries(int from, int to) {
  std::vector<sse::broker_entry> out;
  for (int n = from; n <= to; ++n) out.push_back(entry(n));
  return out;
}

sse::broker_history answer(int from, int to, int upto) {
  sse::broker_history h;
  h.entries = entries(from, to);
  h.upto = {static_cast<std::uint64_t>(upto), 0};
  h.upto_id = id(upto);
  return h;
}

std::string wire(int from, int to) {
  std::string out;
  for (int n = from; n <= to; ++n) out += "id: " + id(n) + "\ndata: d" + std::to_string(n) + "\n\n";
  return out;
}

struct fixture {
  asio::io_context ioc;
  sse::metrics m;
  std::shared_ptr<script_broker> broker = std::make_shared<script_broker>();
  std::vector<std::shared_ptr<sse::memory_stream>> streams;
  std::vector<std::unique_ptr<sse::memory_transport>> ts;
  sse::hub hub;

  explicit fixture(std::size_t history = 1000)
      : hub(ioc, {.history = {.max_events = history}, .keepalive = std::nullopt, .metrics = &m, .broker = broker,
                  .idle_topic_ttl = 100ms, .idle_topic_timer = false}) {}

  std::shared_ptr<sse::memory_stream> stream() {
    ts.push_back(std::make_unique<sse::memory_transport>(ioc.get_executor()));
    streams.push_back(sse::memory_stream::create(
        *ts.back(), {.body_framing = sse::framing::close_delimited, .initial_comment = std::nullopt, .metrics = &m}));
    return streams.back();
  }
  /// Runs what is ready (not the 1 s head timer of a subscription still waiting).
  void poll() {
    ioc.restart();
    ioc.poll();
  }
  void positioned(int n) { broker->ctx.positioned("t", {static_cast<std::uint64_t>(n), 0}, id(n), std::nullopt); }
  void feed(std::vector<sse::broker_entry> es) { broker->ctx.entries("t", std::move(es)); }
  /// Answers the oldest pending read.
  void answer_read(sse::broker_history h) {
    REQUIRE_FALSE(broker->reads.empty());
    auto r = std::move(broker->reads.front());
    broker->reads.erase(broker->reads.begin());
    r.done({}, std::move(h));
  }
  ~fixture() {
    for (auto& s : streams) s->abort();
    hub.stop();
    ioc.restart();
    ioc.run();
  }
};

}  // namespace

TEST_SUITE("runtime.hub.mirror") {
  TEST_CASE("live: the subscription waits for the position; what is fed before it is not the topic's; after it, exactly once") {
    fixture f;
    auto s = f.stream();
    f.hub.subscribe(s, "t");
    f.poll();
    CHECK(f.broker->watched == std::vector<std::string>{"t"});
    CHECK_FALSE(s->is_open());  // no head before the subscription is in place
    f.feed(entries(1, 1));      // not positioned yet: the broker positions it after this one
    f.positioned(1);
    f.poll();
    CHECK(s->is_open());
    f.feed(entries(1, 3));  // 1 again (at the position): skipped
    f.poll();
    CHECK(f.ts[0]->data() == wire(2, 3));
    CHECK(f.hub.last_id("t") == id(3));
    CHECK_FALSE(f.hub.is_sealed("t"));
    auto r = f.hub.since("t", id(2));  // the mirror answers: no read
    REQUIRE(r);
    CHECK(r->status == sse::resume_status::replay);
    REQUIRE(r->entries.size() == 1);
    CHECK(r->entries[0].event->id == id(3));
    r = f.hub.since("t", id(1));  // where the mirror starts
    REQUIRE(r);
    CHECK(r->entries.size() == 2);
    CHECK(f.broker->reads.empty());
    CHECK(f.m.topics == 1);
    CHECK(f.hub.epoch("t").empty());
  }

  TEST_CASE("a resume older than the mirror: the shared log's answer waits until the feed reaches its end, then joins") {
    fixture f;
    auto live = f.stream();
    f.hub.subscribe(live, "t");
    f.poll();  // in place, waiting for the position: from there on
    f.positioned(5);
    f.feed(entries(6, 7));
    f.poll();
    auto s = f.stream();
    f.hub.subscribe(s, "t", id(2));
    f.poll();
    REQUIRE(f.broker->reads.size() == 1);
    CHECK(f.broker->reads[0].after == id(2));
    f.answer_read(answer(3, 9, 9));  // the shared log is ahead of what this instance has read (7)
    f.poll();
    CHECK(f.ts[1]->data().empty());  // waits for the feed to reach 9
    f.feed(entries(8, 10));
    f.poll();
    CHECK(f.ts[1]->data() == wire(3, 10));  // 3..9 from the answer, 10 from the mirror: once each
    f.feed(entries(11, 11));
    f.poll();
    CHECK(f.ts[1]->data() == wire(3, 11));
    CHECK(f.ts[0]->data() == wire(6, 11));
    CHECK(f.m.replays == 1);
    CHECK(f.m.replayed_events == 10);  // 3..10 to the resume, and 6..7 to the live one (fed while it waited)
  }

  TEST_CASE("the mirror let go of the answer's end: the shared log is read again") {
    fixture f(/*history=*/2);
    auto live = f.stream();
    f.hub.subscribe(live, "t");
    f.positioned(5);
    f.feed(entries(6, 9));  // keeps 8 and 9
    f.poll();
    auto s = f.stream();
    f.hub.subscribe(s, "t", id(2));
    f.poll();
    f.answer_read(answer(3, 6, 6));  // ends at 6, which the mirror no longer holds the successor of
    f.poll();
    REQUIRE(f.broker->reads.size() == 1);  // asked again
    CHECK(f.ts[1]->data().empty());
    f.answer_read(answer(3, 9, 9));
    f.poll();
    f.feed(entries(10, 10));
    f.poll();
    CHECK(f.ts[1]->data() == wire(3, 10));
  }

  TEST_CASE("an id the mirror cannot name goes to the shared log, which answers the reset") {
    fixture f;
    auto live = f.stream();
    f.hub.subscribe(live, "t");
    f.positioned(5);
    f.feed(entries(6, 8));
    f.poll();
    auto s = f.stream();
    f.hub.subscribe(s, "t", "7-1");  // inside what the mirror covers, but no entry of it
    f.poll();
    REQUIRE(f.broker->reads.size() == 1);
    sse::broker_history h = answer(6, 8, 8);
    h.status = sse::resume_status::reset;
    h.reason = sse::reset_reason::unknown_id;
    h.oldest_id = id(6);
    f.answer_read(h);
    f.poll();
    const std::string data = f.ts[1]->data();
    CHECK(data.rfind("event: reset\ndata: {\"reason\":\"unknown-id\",\"oldest\":\"6-0\"}\n\n", 0) == 0);
    CHECK(data.substr(data.find("\n\n") + 2) == wire(6, 8));
    CHECK(f.m.resets == 1);
  }

  TEST_CASE("the seal: fed, it closes live streams after the events before it; in an answer, after its replay") {
    fixture f;
    auto live = f.stream();
    f.hub.subscribe(live, "t");
    f.positioned(1);
    f.poll();
    std::vector<sse::broker_entry> es = entries(2, 3);
    es.push_back(seal_entry(4, 1500ms));
    es.push_back(entry(5));  // after the seal: never delivered
    f.feed(std::move(es));
    f.poll();
    CHECK(f.ts[0]->data() == wire(2, 3) + "retry: 1500\n\n");
    CHECK(live->is_closed());
    CHECK(f.hub.is_sealed("t"));
    // From the mirror: the replay, then closed.
    auto resumed = f.stream();
    f.hub.subscribe(resumed, "t", id(2));
    f.poll();
    CHECK(f.ts[1]->data() == wire(3, 3) + "retry: 1500\n\n");
    CHECK(resumed->is_closed());
    // From the shared log: an answer that reaches the seal needs nothing from the mirror.
    auto old = f.stream();
    f.hub.subscribe(old, "t", "0-0");
    f.poll();
    sse::broker_history h = answer(1, 3, 4);
    h.entries.push_back(seal_entry(4, 1500ms));
    f.answer_read(h);
    f.poll();
    CHECK(f.ts[2]->data() == wire(1, 3) + "retry: 1500\n\n");
    CHECK(old->is_closed());
  }

  TEST_CASE("a lost position: live streams get a reset in order, and ids up to it are the shared log's to judge") {
    fixture f;
    auto live = f.stream();
    f.hub.subscribe(live, "t");
    f.poll();
    f.positioned(1);
    f.feed(entries(2, 2));
    f.poll();
    f.broker->ctx.lost("t");
    f.feed(entries(7, 7));
    f.poll();
    CHECK(f.ts[0]->data() == wire(2, 2) + "event: reset\ndata: {\"reason\":\"too-old\"}\n\n" + wire(7, 7));
    auto s = f.stream();
    f.hub.subscribe(s, "t", id(2));  // entries after 2 may be gone: not the mirror's to answer
    f.poll();
    CHECK(f.broker->reads.size() == 1);
    auto s2 = f.stream();
    f.hub.subscribe(s2, "t", id(7));  // fed after the loss: the mirror's
    f.poll();
    CHECK(f.broker->reads.size() == 1);
    f.feed(entries(8, 8));
    f.poll();
    CHECK(f.ts[2]->data() == wire(8, 8));
  }

  TEST_CASE("idle topics: a waiting subscription keeps its topic; once unused for the ttl it is dropped and unwatched") {
    fixture f;
    auto s = f.stream();
    f.hub.subscribe(s, "t");
    f.poll();
    const auto later = std::chrono::steady_clock::now() + 1h;
    CHECK(f.hub.evict_idle(later) == 0);  // waiting for its position
    f.positioned(1);
    f.poll();
    CHECK(f.hub.evict_idle(later) == 0);  // a subscriber
    s->abort();
    f.poll();
    CHECK(f.hub.evict_idle(later) == 1);
    CHECK(f.broker->unwatched == std::vector<std::string>{"t"});
    CHECK(f.hub.topic_count() == 0);
    // Held again: watched again, and positioned afresh.
    auto s2 = f.stream();
    f.hub.subscribe(s2, "t");
    f.poll();
    CHECK(f.broker->watched == std::vector<std::string>{"t", "t"});
    f.positioned(3);
    f.feed(entries(4, 4));
    f.poll();
    CHECK(f.ts[1]->data() == wire(4, 4));
  }

  TEST_CASE("async_since: from the mirror, or once the shared log answers; never inline; no_such_topic without a broker") {
    fixture f;
    auto s = f.stream();
    f.hub.subscribe(s, "t");
    f.poll();
    f.positioned(1);
    f.feed(entries(2, 3));
    f.poll();
    std::vector<std::string> got;
    auto record = [&got](std::string what) {
      return [&got, what](std::error_code ec, sse::resume_result r) {
        std::string line = what + (ec ? " error " + ec.message() : " ok");
        for (const auto& e : r.entries) line += " " + e.event->id;
        got.push_back(line);
      };
    };
    f.hub.async_since("t", id(2), record("mirror"));       // held: the mirror answers
    f.hub.async_since("other", id(5), record("shared"));   // not held: a read
    f.hub.async_since("bad topic", id(5), record("bad"));
    CHECK(got.empty());  // never inline
    f.poll();
    CHECK(got == std::vector<std::string>{"mirror ok 3-0", "bad error invalid topic name"});
    REQUIRE(f.broker->reads.size() == 1);
    CHECK(f.broker->reads[0].topic == "other");
    f.answer_read(answer(6, 7, 7));
    f.poll();
    CHECK(got.back() == "shared ok 6-0 7-0");
    CHECK(f.hub.topic_count() == 1);  // reading "other" did not hold it

    asio::io_context plain_io;
    sse::hub plain(plain_io, {.history = {.epoch = "ep"}, .keepalive = std::nullopt});
    (void)plain.publish("p", {.data = "x"});
    plain.async_since("p", "ep-0", record("plain"));
    plain.async_since("none", "ep-0", record("none"));
    plain_io.run();
    CHECK(got[got.size() - 2] == "plain ok ep-1");
    CHECK(got.back() == "none error no such topic");
  }
}

}  // namespace test_hub_mirror_cases

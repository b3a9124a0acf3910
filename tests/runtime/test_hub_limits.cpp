// The hub's global limits (issue 11, items 6 and 7): subscribers alone cannot take the topic slots
// publishers need (hub_options::max_subscribed_topics), and the logs of all topics together stay
// within one history budget (hub_options::max_history_bytes), trimming the oldest events first.
// Also: async_publish / async_seal never complete inline (item 10).
#include "sse/hub.hpp"

#include <doctest/doctest.h>

#include <asio/io_context.hpp>
#include <fmt/format.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "sse/transport/memory.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_hub_limits_cases {

namespace {

struct fixture {
  asio::io_context ioc;
  sse::metrics m;
  std::vector<std::shared_ptr<sse::memory_stream>> streams;
  std::vector<std::unique_ptr<sse::memory_transport>> ts;

  std::shared_ptr<sse::memory_stream> stream() {
    ts.push_back(std::make_unique<sse::memory_transport>(ioc.get_executor()));
    streams.push_back(sse::memory_stream::create(
        *ts.back(), {.body_framing = sse::framing::close_delimited, .initial_comment = std::nullopt, .metrics = &m}));
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

std::string wire(const std::string& id, const std::string& data) { return "id: " + id + "\ndata: " + data + "\n\n"; }

}  // namespace

TEST_SUITE("runtime.hub.limits") {
  TEST_CASE("1000 topics refused at once: counted one by one, one warning line (not 1000)") {
    fixture f;
    std::vector<std::string> warnings;
    sse::hub hub(f.ioc, {.max_topics = 2,
                         .max_subscribed_topics = 1,
                         .history = {.epoch = "ep"},
                         .keepalive = std::nullopt,
                         .metrics = &f.m,
                         .on_log = [&](sse::log_level l, std::string_view m) {
                           if (l == sse::log_level::warn) warnings.emplace_back(m);
                         }});
    CHECK(!hub.publish("a", sse::event{}).empty());
    CHECK(!hub.publish("b", sse::event{}).empty());
    std::size_t refused = 0;
    for (int i = 0; i < 1000; ++i) {
      std::error_code ec;
      if (hub.publish(fmt::format("new-{}", i), sse::event{}, ec).empty() && ec == sse::hub_errc::too_many_topics)
        ++refused;
    }
    CHECK(refused == 1000);
    CHECK(f.m.topics_refused == 1000);
    REQUIRE(warnings.size() == 1);  // the rest within the same second: held back
    CHECK(warnings[0] == "sse hub: topic limit 2 reached, refusing 'new-0'");
    CHECK(sse::render_prometheus(f.m).find("\nsse_topics_refused_total 1000\n") != std::string::npos);
  }

  TEST_CASE("topic exhaustion: 120 subscriptions to new topics never lock a publisher out (max_topics 100)") {
    fixture f;
    sse::hub hub(f.ioc, {.max_topics = 100, .history = {.epoch = "ep"}, .keepalive = std::nullopt, .metrics = &f.m});
    std::size_t accepted = 0, refused = 0;
    for (int i = 0; i < 120; ++i) {
      try {
        hub.subscribe(f.stream(), fmt::format("new-{}", i));
        ++accepted;
      } catch (const sse::hub_error& e) {
        CHECK(e.code() == sse::hub_errc::too_many_subscribed_topics);
        ++refused;
      }
    }
    f.run();
    CHECK(accepted == 10);  // max_subscribed_topics defaults to max_topics / 10
    CHECK(refused == 110);
    CHECK(hub.subscribed_only_topic_count() == 10);
    CHECK(f.m.subscribed_only_topics == 10);
    CHECK(f.m.topics == 10);
    // A publisher still gets every one of its 100 slots.
    std::error_code ec;
    CHECK(hub.publish("fresh", sse::event{.data = "x"}, ec) == "ep-1");
    CHECK_FALSE(ec);
    for (int i = 1; i < 100; ++i) CHECK(!hub.publish(fmt::format("pub-{}", i), sse::event{}).empty());
    CHECK(hub.topic_count() == 110);
    CHECK(hub.publish("one-too-many", sse::event{}, ec).empty());
    CHECK(ec == sse::hub_errc::too_many_topics);
    CHECK(f.m.topics == 110);
    CHECK(f.m.subscribed_only_topics == 10);
  }

  TEST_CASE("a subscribed-only topic: promoted at its first publish (delivered live), dropped with its last subscriber") {
    fixture f;
    sse::hub hub(f.ioc, {.max_topics = 3, .max_subscribed_topics = 2, .history = {.epoch = "ep"}, .keepalive = std::nullopt,
                         .metrics = &f.m});
    auto a1 = f.stream(), a2 = f.stream(), b = f.stream();
    hub.subscribe(a1, "a");
    hub.subscribe(a2, "a");  // the same topic: no second slot
    hub.subscribe(b, "b");
    CHECK_THROWS_AS(hub.subscribe(f.stream(), "c"), sse::hub_error);
    f.run();
    CHECK(hub.subscribed_only_topic_count() == 2);
    CHECK(hub.topic_count() == 2);
    // One subscriber of "a" leaves: the topic stays for the other one.
    a1->abort();
    f.run();
    CHECK(hub.subscribed_only_topic_count() == 2);
    // "b" loses its only subscriber: dropped at once, its slot free again.
    b->abort();
    f.run();
    CHECK(hub.subscribed_only_topic_count() == 1);
    CHECK(hub.topic_count() == 1);
    CHECK_FALSE(hub.since("b", "").has_value());
    auto c = f.stream();
    hub.subscribe(c, "c");
    f.run();
    CHECK(hub.subscribed_only_topic_count() == 2);
    // The first publish to "a" makes it an ordinary topic; its subscriber gets the event live.
    CHECK(hub.publish("a", sse::event{.data = "hello"}) == "ep-1");
    f.run();
    CHECK(f.ts[1]->data() == wire("ep-1", "hello"));
    CHECK(hub.subscribed_only_topic_count() == 1);
    CHECK(f.m.subscribed_only_topics == 1);
    CHECK(f.m.topics == 2);
    // An ordinary topic stays when its last subscriber leaves (its log is what a resume needs).
    a2->abort();
    f.run();
    CHECK(hub.topic_count() == 2);
    CHECK(hub.last_id("a") == "ep-1");
    // open_topic as a publisher (the installer) promotes too; as a subscriber it does not.
    CHECK(hub.open_topic("c", sse::topic_role::subscriber) == "ep");
    CHECK(hub.subscribed_only_topic_count() == 1);
    CHECK(hub.open_topic("c") == "ep");
    CHECK(hub.subscribed_only_topic_count() == 0);
    CHECK(hub.topic_count() == 2);
    // seal() of a subscribed-only topic is a publisher's act: the topic becomes ordinary and sealed.
    auto d = f.stream();
    hub.subscribe(d, "d");
    f.run();
    CHECK(hub.subscribed_only_topic_count() == 1);
    CHECK(hub.seal("d"));
    f.run();
    CHECK(d->is_closed());
    CHECK(hub.is_sealed("d"));
    CHECK(hub.subscribed_only_topic_count() == 0);
    CHECK(hub.topic_count() == 3);
    std::error_code ec;
    (void)hub.publish("d", sse::event{}, ec);
    CHECK(ec == sse::hub_errc::topic_sealed);
  }

  TEST_CASE("a subscription whose stream closed before it ran does not keep its subscribed-only topic") {
    fixture f;
    sse::hub hub(f.ioc, {.max_topics = 10, .max_subscribed_topics = 1, .keepalive = std::nullopt, .metrics = &f.m});
    // What the server does: check (and create) the topic first, then subscribe.
    hub.open_topic("gone", sse::topic_role::subscriber);
    auto s = f.stream();
    hub.subscribe(s, "gone");
    s->abort();  // the client went away before the subscription ran
    f.run();
    CHECK(hub.subscribed_only_topic_count() == 0);
    CHECK(f.m.topics == 0);
    auto other = f.stream();
    hub.subscribe(other, "other");  // the one slot is free again
    f.run();
    CHECK(hub.subscribed_only_topic_count() == 1);
  }

  TEST_CASE("history budget: exact trimming across topics, oldest first; a resume from a trimmed id gets reset") {
    fixture f;
    constexpr int topics = 4, per_topic = 10;
    // Published round-robin: t0 #1, t1 #1, t2 #1, t3 #1, t0 #2, ... Each event's wire size is known.
    struct published {
      int topic;
      std::uint64_t seq;
      std::string data;
      std::size_t bytes;
    };
    std::vector<published> all;
    for (int k = 1; k <= per_topic; ++k)
      for (int t = 0; t < topics; ++t) {
        const std::string data = fmt::format("t{}-e{}-{}", t, k, std::string(static_cast<std::size_t>(10 * t + k), 'x'));
        all.push_back({t, static_cast<std::uint64_t>(k), data, wire(fmt::format("ep-{}", k), data).size()});
      }
    // The budget holds the newest events whose sizes add up to at most B: the longest such suffix.
    const std::size_t budget = 1500;
    std::size_t kept_bytes = 0, first_kept = all.size();
    while (first_kept > 0 && kept_bytes + all[first_kept - 1].bytes <= budget) kept_bytes += all[--first_kept].bytes;
    REQUIRE(first_kept > 4);  // some trimmed in every topic
    REQUIRE(first_kept < all.size() - 8);

    sse::hub hub(f.ioc, {.history = {.epoch = "ep"}, .keepalive = std::nullopt, .metrics = &f.m, .max_history_bytes = budget});
    for (const auto& p : all) CHECK(hub.publish(fmt::format("t{}", p.topic), sse::event{.data = p.data}) == fmt::format("ep-{}", p.seq));

    CHECK(hub.history_bytes() == kept_bytes);
    CHECK(hub.history_bytes() <= budget);
    CHECK(f.m.history_bytes == static_cast<std::int64_t>(kept_bytes));
    CHECK(f.m.history_trimmed_events == first_kept);
    const std::string prom = sse::render_prometheus(f.m);
    CHECK(prom.find(fmt::format("\nsse_history_bytes {}\n", kept_bytes)) != std::string::npos);
    CHECK(prom.find(fmt::format("\nsse_history_trimmed_events_total {}\n", first_kept)) != std::string::npos);

    for (int t = 0; t < topics; ++t) {
      const std::string name = fmt::format("t{}", t);
      std::vector<const published*> kept;
      std::uint64_t lost = 0;
      for (std::size_t i = 0; i < all.size(); ++i)
        if (all[i].topic == t) {
          if (i >= first_kept) kept.push_back(&all[i]);
          else ++lost;
        }
      REQUIRE_FALSE(kept.empty());
      // Polling from the start: too old, exactly the kept events.
      const auto r = hub.since(name, "ep-0");
      REQUIRE(r);
      CHECK(r->status == sse::resume_status::reset);
      CHECK(r->reason == sse::reset_reason::too_old);
      CHECK(r->lost == lost);
      REQUIRE(r->entries.size() == kept.size());
      for (std::size_t i = 0; i < kept.size(); ++i) CHECK(r->entries[i].seq == kept[i]->seq);
      // A stream resuming from a trimmed id: the reset event, then exactly the retained events.
      auto s = f.stream();
      hub.subscribe(s, name, fmt::format("ep-{}", lost > 1 ? lost - 1 : 0));
      f.run();
      std::string expected = fmt::format("event: reset\ndata: {{\"reason\":\"too-old\",\"oldest\":\"ep-{}\",\"lost\":{}}}\n\n",
                                         kept.front()->seq, lost > 1 ? 1 : lost);
      for (const auto* p : kept) expected += wire(fmt::format("ep-{}", p->seq), p->data);
      CHECK(f.ts.back()->data() == expected);
      // Resuming from a retained id replays the rest, no reset.
      const auto tail = hub.since(name, fmt::format("ep-{}", kept.front()->seq));
      REQUIRE(tail);
      CHECK(tail->status == sse::resume_status::replay);
      CHECK(tail->entries.size() == kept.size() - 1);
    }
  }

  TEST_CASE("history budget: the logs' own bounds, erase_topic and subscribed-only drops keep the count exact") {
    fixture f;
    sse::hub hub(f.ioc, {.history = {.max_events = 5, .epoch = "ep"}, .keepalive = std::nullopt, .metrics = &f.m,
                         .max_history_bytes = std::size_t{1} << 20});
    auto bytes_of = [&](const std::string& topic) {
      std::size_t n = 0;
      if (const auto r = hub.since(topic, "ep-0"))
        for (const auto& e : r->entries) n += e.event->bytes.size();
      return n;
    };
    // Many more events than the logs keep (each log evicts on its own: the FIFO's stale entries).
    for (int i = 0; i < 5000; ++i) hub.publish(fmt::format("t{}", i % 3), sse::event{.data = std::to_string(i)});
    const std::size_t expected = bytes_of("t0") + bytes_of("t1") + bytes_of("t2");
    CHECK(expected == 15 * wire("ep-1666", "4998").size());
    CHECK(hub.history_bytes() == expected);
    CHECK(f.m.history_bytes == static_cast<std::int64_t>(expected));
    CHECK(f.m.history_trimmed_events == 0);  // never over the budget: only the logs' own bounds
    const std::size_t t1 = bytes_of("t1");
    CHECK(hub.erase_topic("t1"));
    CHECK(hub.history_bytes() == expected - t1);
    CHECK(f.m.history_bytes == static_cast<std::int64_t>(expected - t1));
  }

  TEST_CASE("async_publish and async_seal never complete inline") {
    fixture f;
    sse::hub hub(f.ioc, {.history = {.epoch = "ep"}, .keepalive = std::nullopt});
    bool returned = false;
    int completions = 0;
    hub.async_publish("t", sse::event{.data = "x"}, [&](std::error_code ec, std::string id) {
      CHECK(returned);
      CHECK_FALSE(ec);
      CHECK(id == "ep-1");
      ++completions;
    });
    hub.async_publish("bad topic", sse::event{}, [&](std::error_code ec, std::string) {
      CHECK(returned);
      CHECK(ec == sse::hub_errc::invalid_topic);
      ++completions;
    });
    hub.async_seal("t", std::nullopt, [&](std::error_code ec) {
      CHECK(returned);
      CHECK_FALSE(ec);
      ++completions;
    });
    returned = true;
    CHECK(completions == 0);
    CHECK(hub.last_id("t") == "ep-1");  // published before async_publish returned, reported later
    CHECK(hub.is_sealed("t"));
    f.run();
    CHECK(completions == 3);
  }
}

}  // namespace test_hub_limits_cases

#include "sse/log.hpp"

#include <doctest/doctest.h>

#include <string>

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_log_cases {

TEST_SUITE("runtime.log") {
  TEST_CASE("ids are <epoch>-<seq> and parse strictly") {
    sse::event_log log({.epoch = "e1"});
    CHECK(log.epoch() == "e1");
    CHECK(log.make_id(42) == "e1-42");
    CHECK(log.parse_id("e1-42") == 42u);
    CHECK(log.parse_id("e1-0") == 0u);
    CHECK_FALSE(log.parse_id("e2-42"));
    CHECK_FALSE(log.parse_id("e1-"));
    CHECK_FALSE(log.parse_id("e1-042"));
    CHECK_FALSE(log.parse_id("e1-4x"));
    CHECK_FALSE(log.parse_id("e1-+4"));
    CHECK_FALSE(log.parse_id("e1-99999999999999999999"));
    CHECK_FALSE(log.parse_id("e142"));
    CHECK_FALSE(log.parse_id(""));
  }

  TEST_CASE("a random epoch differs between logs") {
    sse::event_log a, b;
    CHECK(a.epoch().size() == 16);
    CHECK(a.epoch() != b.epoch());
  }

  TEST_CASE("append encodes with the id and checks sequence numbers") {
    sse::event_log log({.epoch = "e"});
    CHECK(log.append(sse::event{.data = "x"}) == "e-1");
    CHECK(log.entries().front().event->bytes == "id: e-1\ndata: x\n\n");
    CHECK(log.entries().front().event->id == "e-1");
    CHECK_THROWS_AS(log.append(3, sse::make_shared_event("data: y\n\n")), std::invalid_argument);
    CHECK_THROWS_AS(log.append(sse::event{.data = "y", .id = "mine"}), std::invalid_argument);
    CHECK_THROWS_AS(log.append(sse::event{.type = "a\nb"}), sse::invalid_event);
    CHECK(log.head() == 1);
    CHECK_THROWS_AS(sse::event_log({.epoch = "a\nb"}), std::invalid_argument);
  }

  TEST_CASE("count bound") {
    sse::event_log log({.max_events = 3, .epoch = "e"});
    for (int i = 0; i < 5; ++i) log.append(sse::event{.data = std::to_string(i)});
    CHECK(log.size() == 3);
    CHECK(log.head() == 5);
    CHECK(log.oldest_seq() == 3);
    CHECK(log.bytes() == 3 * std::string("id: e-3\ndata: 2\n\n").size());
  }

  TEST_CASE("byte bound") {
    // Each entry "id: e-N\ndata: xxxxxxxxxx\n\n" is 26 bytes for N < 10.
    sse::event_log log({.max_events = 100, .max_bytes = 60, .epoch = "e"});
    for (int i = 0; i < 4; ++i) log.append(sse::event{.data = std::string(10, 'x')});
    CHECK(log.size() == 2);
    CHECK(log.bytes() == 52);
    CHECK(log.oldest_seq() == 3);
    log.append(sse::event{.data = std::string(100, 'y')});  // larger than the bound on its own
    CHECK(log.size() == 0);
    CHECK(log.bytes() == 0);
    CHECK(log.head() == 5);
    CHECK(log.oldest_seq() == 6);
    const auto r = log.since("e-2");
    CHECK(r.status == sse::resume_status::reset);
    CHECK(r.reason == sse::reset_reason::too_old);
    CHECK(r.lost == 3u);
    CHECK(r.oldest_id.empty());
    CHECK(log.since("e-5").status == sse::resume_status::replay);
  }

  TEST_CASE("since: empty id is live only") {
    sse::event_log log({.epoch = "e"});
    log.append(sse::event{.data = "a"});
    const auto r = log.since("");
    CHECK(r.status == sse::resume_status::live);
    CHECK(r.entries.empty());
    CHECK(r.head == 1);
  }

  TEST_CASE("since: middle, head, too old, unknown epoch, garbage, future") {
    sse::event_log log({.max_events = 5, .epoch = "ep"});
    for (int i = 1; i <= 8; ++i) log.append(sse::event{.data = std::to_string(i)});  // retains 4..8

    auto r = log.since("ep-5");
    CHECK(r.status == sse::resume_status::replay);
    REQUIRE(r.entries.size() == 3);
    CHECK(r.entries[0].seq == 6);
    CHECK(r.entries[2].seq == 8);
    CHECK(r.entries[0].event->bytes == "id: ep-6\ndata: 6\n\n");
    CHECK(r.head == 8);

    r = log.since("ep-3");  // the next one (4) is retained: no loss
    CHECK(r.status == sse::resume_status::replay);
    CHECK(r.entries.size() == 5);

    r = log.since("ep-8");
    CHECK(r.status == sse::resume_status::replay);
    CHECK(r.entries.empty());

    r = log.since("ep-1");
    CHECK(r.status == sse::resume_status::reset);
    CHECK(r.reason == sse::reset_reason::too_old);
    CHECK(r.lost == 2u);  // 2 and 3
    CHECK(r.oldest_id == "ep-4");
    CHECK(r.entries.size() == 5);

    for (const char* bad : {"other-5", "garbage", "ep-", "ep-9", "ep-18446744073709551615", "ep-5 "}) {
      CAPTURE(bad);
      r = log.since(bad);
      CHECK(r.status == sse::resume_status::reset);
      CHECK(r.reason == sse::reset_reason::unknown_id);
      CHECK_FALSE(r.lost);
      CHECK(r.oldest_id == "ep-4");
      CHECK(r.entries.size() == 5);
    }
  }

  TEST_CASE("reset event wire form") {
    sse::resume_result r;
    r.status = sse::resume_status::reset;
    r.reason = sse::reset_reason::too_old;
    r.oldest_id = "ep-4";
    r.lost = 2;
    CHECK(sse::make_reset_event(r)->bytes ==
          "event: reset\ndata: {\"reason\":\"too-old\",\"oldest\":\"ep-4\",\"lost\":2}\n\n");
    CHECK(sse::make_reset_event(r)->id.empty());
    r.reason = sse::reset_reason::unknown_id;
    r.lost.reset();
    r.oldest_id = "q\"\\";
    CHECK(sse::make_reset_event(r)->bytes ==
          "event: reset\ndata: {\"reason\":\"unknown-id\",\"oldest\":\"q\\\"\\\\\"}\n\n");
    r.oldest_id.clear();
    CHECK(sse::make_reset_event(r)->bytes == "event: reset\ndata: {\"reason\":\"unknown-id\"}\n\n");
  }

  TEST_CASE("trim_through and clear: oldest first, bytes exact, later resumes are too old") {
    sse::event_log log({.max_events = 100, .epoch = "ep"});
    std::size_t total = 0;
    for (int i = 1; i <= 6; ++i) {
      log.append(sse::event{.data = std::string(static_cast<std::size_t>(i), 'x')});
      total += ("id: ep-" + std::to_string(i) + "\ndata: " + std::string(static_cast<std::size_t>(i), 'x') + "\n\n").size();
    }
    CHECK(log.bytes() == total);
    CHECK(log.trim_through(0) == 0);
    CHECK(log.trim_through(3) == 3);
    CHECK(log.oldest_seq() == 4);
    CHECK(log.bytes() == total - (18 + 19 + 20));  // "id: ep-N\n" 9 + "data: " 6 + N x + "\n\n" 2
    CHECK(log.trim_through(3) == 0);  // already gone
    const auto r = log.since("ep-1");
    CHECK(r.status == sse::resume_status::reset);
    CHECK(r.reason == sse::reset_reason::too_old);
    CHECK(r.lost == 2u);
    CHECK(r.entries.size() == 3);
    CHECK(log.clear() == 3);
    CHECK(log.bytes() == 0);
    CHECK(log.head() == 6);
    CHECK(log.oldest_seq() == 7);
    CHECK(log.append(sse::event{.data = "next"}) == "ep-7");
  }
}

}  // namespace test_log_cases

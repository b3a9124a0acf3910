#include "sse/parser.hpp"

#include <doctest/doctest.h>

#include <string>

#include "../support/sse_collect.hpp"

using sse_test::collected_event;
using sse_test::parse_bytewise;
using sse_test::parse_chunks;
using sse_test::parse_whole;

TEST_CASE("a CR at the end of one chunk and an LF at the start of the next are one line end") {
  const std::string in = "data: a\r\n\r\ndata: b\r\n\r\n";
  const auto expected = std::vector<collected_event>{{"message", "a", "", {}}, {"message", "b", "", {}}};
  for (std::size_t cut = 0; cut <= in.size(); ++cut) {
    CAPTURE(cut);
    CHECK(parse_chunks(in, {cut}).events == expected);
  }
}

TEST_CASE("a line without a colon is a field with an empty value") {
  const auto r = parse_whole("data\ndata\n\n");
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].data == "\n");
}

TEST_CASE("the id in effect is reported with each event, and NUL ids are ignored") {
  using namespace std::string_literals;
  const std::string in = "id: 1\ndata: a\n\nid: x\0y\ndata: b\n\nid\ndata: c\n\n"s;
  const auto r = parse_whole(in);
  REQUIRE(r.events.size() == 3);
  CHECK(r.events[0].id == "1");
  CHECK(r.events[1].id == "1");
  CHECK(r.events[2].id == "");
  CHECK(r.last_event_id == "");
}

TEST_CASE("limits: an overlong line or event is an error, not unbounded memory") {
  sse::parser p({.max_line_bytes = 16, .max_event_bytes = 32});
  int events = 0;
  auto count = [&](const sse::received_event&) { ++events; };
  CHECK_FALSE(p.feed("data: 0123456789\n", count));   // 16 bytes: at the limit
  CHECK(p.feed("data: 01234567890\n", count) == sse::errc::line_too_long);
  CHECK(p.feed("data: x\n\n", count) == sse::errc::line_too_long);  // stays failed
  CHECK(events == 0);

  sse::parser q({.max_line_bytes = 16, .max_event_bytes = 32});
  CHECK_FALSE(q.feed("data: 0123456789\ndata: 0123456789\n", count));  // 22 bytes of data
  CHECK(q.feed("data: 0123456789\n", count) == sse::errc::event_too_large);

  // The limit holds when the long line arrives in small pieces too.
  sse::parser r({.max_line_bytes = 16, .max_event_bytes = 32});
  std::error_code ec;
  for (int i = 0; i < 40 && !ec; ++i) ec = r.feed("x", count);
  CHECK(ec == sse::errc::line_too_long);
}

TEST_CASE("finish discards an unterminated event and keeps id and retry for the reconnect") {
  sse::parser p;
  std::vector<std::string> data;
  auto on = [&](const sse::received_event& ev) { data.emplace_back(ev.data); };
  CHECK_FALSE(p.feed("retry: 5000\nid: 9\ndata: a\n\ndata: lost", on));
  p.finish();
  CHECK(data == std::vector<std::string>{"a"});
  CHECK(p.last_event_id() == "9");
  CHECK(p.retry() == std::chrono::milliseconds(5000));
  CHECK_FALSE(p.feed("\xEF\xBB\xBF" "data: b\n\n", on));  // a new stream may start with a BOM again
  CHECK(data == std::vector<std::string>{"a", "b"});
}

TEST_CASE("invalid UTF-8 becomes U+FFFD, also when a sequence is split across chunks") {
  const std::string in = "data: \xE2\x82\xAC|\xE2\x82|\xFF|\xF0\x9F\xA5\x8C\n\n";
  const auto whole = parse_whole(in);
  REQUIRE(whole.events.size() == 1);
  CHECK(whole.events[0].data == "\xE2\x82\xAC|\xEF\xBF\xBD|\xEF\xBF\xBD|\xF0\x9F\xA5\x8C");
  CHECK(parse_bytewise(in) == whole);
}

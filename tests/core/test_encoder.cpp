#include "sse/encoder.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace std::chrono_literals;

TEST_CASE("encode writes the canonical layout") {
  sse::event ev{.type = "update", .data = "a\nb", .id = "7", .retry = 2500ms, .comment = "hi"};
  CHECK(sse::encode(ev) == ": hi\nid: 7\nevent: update\nretry: 2500\ndata: a\ndata: b\n\n");
}

TEST_CASE("data is split on CRLF, LF and lone CR, so no field can be injected") {
  CHECK(sse::encode({.data = "x\r\nid: 1\revent: e\nretry: 1"}) ==
        "data: x\ndata: id: 1\ndata: event: e\ndata: retry: 1\n\n");
  CHECK(sse::encode({.data = "\r\r\n\n"}) == "data: \ndata: \ndata: \ndata: \n\n");
}

TEST_CASE("a named event with empty data still dispatches; a pure id block does not") {
  CHECK(sse::encode({.type = "done"}) == "event: done\ndata: \n\n");
  CHECK(sse::encode({.id = "5"}) == "id: 5\n\n");
  CHECK(sse::encode({.id = ""}) == "id: \n\n");
  CHECK(sse::encode({.retry = 10ms}) == "retry: 10\n\n");
  CHECK(sse::encode({}) == "data: \n\n");
}

TEST_CASE("event types and ids with CR, LF or NUL are rejected, never repaired") {
  for (const char* bad : {"a\nb", "a\rb", "a\r\nb", "\n"}) {
    CHECK_THROWS_AS(sse::encode({.type = bad, .data = "x"}), sse::invalid_event);
    CHECK_THROWS_AS(sse::encode({.data = "x", .id = bad}), sse::invalid_event);
  }
  const std::string nul("a\0b", 3);
  std::string out = "keep";
  CHECK(sse::encode_to(out, {.data = "x", .id = nul}) == sse::errc::invalid_id);
  CHECK(sse::encode_to(out, {.type = nul, .data = "x"}) == sse::errc::invalid_event_type);
  CHECK(sse::encode_to(out, {.data = "x", .retry = -1ms}) == sse::errc::invalid_retry);
  CHECK(out == "keep");  // nothing appended on error
  try {
    (void)sse::encode({.type = "a\nb"});
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) == "event type contains CR, LF or NUL");
  }
}

TEST_CASE("encode_to appends to the caller's buffer") {
  std::string out;
  out.reserve(256);
  const auto* before = out.data();
  REQUIRE_FALSE(sse::encode_to(out, {.data = "one"}));
  REQUIRE_FALSE(sse::encode_to(out, {.data = "two", .id = "2"}));
  CHECK(out == "data: one\n\nid: 2\ndata: two\n\n");
  CHECK(out.data() == before);  // no reallocation within the reserved capacity
}

TEST_CASE("comments, retry hints and padding") {
  CHECK(sse::encode_comment("ping 1") == ": ping 1\n");
  CHECK(sse::encode_comment("") == ":\n");
  CHECK(sse::encode_comment("a\r\nb\rc") == ": a\n: b\n: c\n");
  std::string out;
  CHECK_FALSE(sse::encode_retry_to(out, 3000ms));
  CHECK(out == "retry: 3000\n\n");
  CHECK(sse::encode_retry_to(out, -5ms) == sse::errc::invalid_retry);
  out.clear();
  sse::encode_padding_to(out, 2048);
  CHECK(out.size() == 2048);
  CHECK(out.front() == ':');
  CHECK(out.back() == '\n');
  CHECK(out.find_first_not_of(' ', 1) == 2047);
}

TEST_CASE("parse_retry takes ASCII digits only and saturates") {
  CHECK(sse::parse_retry("02000") == 2000ms);
  CHECK(sse::parse_retry("0") == 0ms);
  CHECK_FALSE(sse::parse_retry(""));
  CHECK_FALSE(sse::parse_retry("-1"));
  CHECK_FALSE(sse::parse_retry("+5"));
  CHECK_FALSE(sse::parse_retry(" 1"));
  CHECK_FALSE(sse::parse_retry("1.5"));
  CHECK(sse::parse_retry("99999999999999999999999999") == std::chrono::milliseconds::max());
  CHECK(sse::parse_retry("9223372036854775807") == std::chrono::milliseconds::max());
  CHECK(sse::parse_retry("9223372036854775806") == std::chrono::milliseconds(9223372036854775806LL));
}

// sse::parse_publish_batch by tables: the exact items of good bodies, the exact line and reason of
// bad ones (hostile bytes included), no sockets. Includes neither Asio nor the hub (a light
// translation unit): the topic rule below is the hub's (sse::is_valid_topic, 200 bytes), which the
// route passes and tests/server/test_publish_batch.cpp checks end to end.
#include "sse/server/batch_parser.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_batch_parser_cases {


namespace {

struct want_item {
  std::size_t line;
  std::string topic, type, data;
};

std::vector<want_item> items_of(const sse::batch_result& r) {
  std::vector<want_item> out;
  for (const auto& i : std::get<std::vector<sse::batch_item>>(r)) {
    CHECK_FALSE(i.ev.id.has_value());
    out.push_back({i.line, i.topic, i.ev.type, i.ev.data});
  }
  return out;
}

bool same(const std::vector<want_item>& a, const std::vector<want_item>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].line != b[i].line || a[i].topic != b[i].topic || a[i].type != b[i].type || a[i].data != b[i].data)
      return false;
  return true;
}

sse::batch_limits hub_rule(std::size_t max_events = 1000) {
  sse::batch_limits l;
  l.max_events = max_events;
  l.valid_topic = [](std::string_view t) {
    if (t.empty() || t.size() > 200) return false;
    for (const char c : t)
      if (c < 0x21 || c > 0x7E) return false;
    return true;
  };
  return l;
}

}  // namespace

TEST_CASE("batch parser: good bodies give exactly their events, in order, with their line numbers") {
  struct row {
    std::string name, body;
    std::vector<want_item> want;
  };
  const std::vector<row> rows = {
      {"one line, no final LF", R"({"topic":"a","data":"x"})", {{1, "a", "", "x"}}},
      {"one line with LF", "{\"topic\":\"a\",\"data\":\"x\"}\n", {{1, "a", "", "x"}}},
      {"type and data, members in any order",
       "{\"data\":\"d1\",\"event\":\"t1\",\"topic\":\"a\"}\n{\"topic\":\"b\",\"event\":\"t2\",\"data\":\"d2\"}\n",
       {{1, "a", "t1", "d1"}, {2, "b", "t2", "d2"}}},
      {"data and event optional", "{\"topic\":\"a\"}\n{\"topic\":\"a\",\"event\":\"only-type\"}",
       {{1, "a", "", ""}, {2, "a", "only-type", ""}}},
      {"CRLF line ends", "{\"topic\":\"a\",\"data\":\"1\"}\r\n{\"topic\":\"a\",\"data\":\"2\"}\r\n",
       {{1, "a", "", "1"}, {2, "a", "", "2"}}},
      {"blank lines are skipped but counted",
       "\n\r\n  \t \n{\"topic\":\"a\",\"data\":\"1\"}\n\n{\"topic\":\"b\",\"data\":\"2\"}\n\n",
       {{4, "a", "", "1"}, {6, "b", "", "2"}}},
      {"whitespace around the object", "  {\"topic\" : \"a\" , \"data\" : \"x\" }\t\r\n", {{1, "a", "", "x"}}},
      {"a BOM at the start of the body", "\xEF\xBB\xBF{\"topic\":\"a\",\"data\":\"x\"}", {{1, "a", "", "x"}}},
      {"JSON escapes: newline, quote, unicode, a surrogate pair, an escaped NUL",
       R"({"topic":"a","data":"l1\nl2 \"q\" \u00e9 \ud83d\ude00 \u0000 end"})",
       {{1, "a", "", "l1\nl2 \"q\" \xC3\xA9 \xF0\x9F\x98\x80 " + std::string(1, '\0') + " end"}}},
      {"raw UTF-8 in data and type", "{\"topic\":\"a\",\"event\":\"\xC3\xA9t\xC3\xA9\",\"data\":\"\xE2\x82\xAC\"}",
       {{1, "a", "\xC3\xA9t\xC3\xA9", "\xE2\x82\xAC"}}},
      {"same topic many times keeps line order",
       "{\"topic\":\"t\",\"data\":\"3\"}\n{\"topic\":\"t\",\"data\":\"1\"}\n{\"topic\":\"t\",\"data\":\"2\"}",
       {{1, "t", "", "3"}, {2, "t", "", "1"}, {3, "t", "", "2"}}},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    const auto got = sse::parse_publish_batch(r.body, hub_rule());
    REQUIRE_MESSAGE(std::holds_alternative<std::vector<sse::batch_item>>(got),
                    std::get<sse::batch_error>(got).reason);
    CHECK(same(items_of(got), r.want));
  }
}

TEST_CASE("batch parser: a bad body is refused as a whole, naming the first bad line") {
  using k = sse::batch_error::kind;
  struct row {
    std::string name, body;
    k what;
    std::size_t line;
    std::string reason;
  };
  const std::string ok = "{\"topic\":\"a\",\"data\":\"x\"}\n";
  const std::vector<row> rows = {
      {"empty body", "", k::malformed, 0, "line 0: no event in the body"},
      {"only blank lines", "\n \r\n\t\n", k::malformed, 0, "line 0: no event in the body"},
      {"missing topic", ok + "{\"data\":\"x\"}", k::malformed, 2, "line 2: missing \"topic\""},
      {"not JSON", ok + ok + "hello", k::malformed, 3,
       "line 3: invalid JSON at column 1: syntax error while parsing value - invalid literal; last read: 'h'"},
      {"truncated object", "{\"topic\":\"a\"", k::malformed, 1,
       "line 1: invalid JSON at column 13: syntax error while parsing object - unexpected end of input; expected '}'"},
      {"two objects on one line", "{\"topic\":\"a\"}{\"topic\":\"b\"}", k::malformed, 1,
       "line 1: invalid JSON at column 14: syntax error while parsing value - unexpected '{'; expected end of input"},
      {"two objects separated by a lone CR", "{\"topic\":\"a\"}\r{\"topic\":\"b\"}", k::malformed, 1,
       "line 1: invalid JSON at column 15: syntax error while parsing value - unexpected '{'; expected end of input"},
      {"an array", "[{\"topic\":\"a\"}]", k::malformed, 1, "line 1: a line must be a JSON object, not an array"},
      {"a string", "\"topic\"", k::malformed, 1, "line 1: a line must be a JSON object, not a string"},
      {"a number", "42", k::malformed, 1, "line 1: a line must be a JSON object, not a number"},
      {"null", "null", k::malformed, 1, "line 1: a line must be a JSON object, not null"},
      {"data as an object", "{\"topic\":\"a\",\"data\":{\"x\":1}}", k::malformed, 1,
       "line 1: \"data\" must be a string, not an object"},
      {"data as a number", "{\"topic\":\"a\",\"data\":1}", k::malformed, 1, "line 1: \"data\" must be a string, not a number"},
      {"topic as null", "{\"topic\":null}", k::malformed, 1, "line 1: \"topic\" must be a string, not null"},
      {"event as a boolean", "{\"topic\":\"a\",\"event\":true}", k::malformed, 1,
       "line 1: \"event\" must be a string, not a boolean"},
      {"event as an array", "{\"topic\":\"a\",\"event\":[]}", k::malformed, 1,
       "line 1: \"event\" must be a string, not an array"},
      {"an id", "{\"topic\":\"a\",\"id\":\"7\"}", k::malformed, 1, "line 1: \"id\" is not allowed: the server assigns ids"},
      {"a typo: type for event", "{\"topic\":\"a\",\"type\":\"t\"}", k::malformed, 1,
       "line 1: unknown member \"type\" (the members are \"topic\", \"event\" and \"data\")"},
      {"an unknown member with hostile bytes, quoted and cut",
       "{\"topic\":\"a\",\"\\u001b[31m\xC3\xA9" + std::string(60, 'k') + "\":1}", k::malformed, 1,
       "line 1: unknown member \"\\x1b[31m\\xc3\\xa9" + std::string(33, 'k') + "... (the members are \"topic\", \"event\" and \"data\")"},
      {"a member twice", "{\"topic\":\"a\",\"topic\":\"b\"}", k::malformed, 1, "line 1: member \"topic\" given twice"},
      {"empty topic", "{\"topic\":\"\"}", k::malformed, 1, "line 1: invalid topic \"\""},
      {"topic with a space", "{\"topic\":\"a b\"}", k::malformed, 1, "line 1: invalid topic \"a b\""},
      {"topic with a newline", "{\"topic\":\"a\\nb\"}", k::malformed, 1, "line 1: invalid topic \"a\\x0ab\""},
      {"topic too long", "{\"topic\":\"" + std::string(201, 't') + "\"}", k::malformed, 1,
       "line 1: invalid topic \"" + std::string(40, 't') + "..."},
      {"event with LF", "{\"topic\":\"a\",\"event\":\"x\\ny\"}", k::malformed, 1,
       "line 1: \"event\" must not contain CR, LF or NUL"},
      {"event with an escaped NUL", "{\"topic\":\"a\",\"event\":\"x\\u0000\"}", k::malformed, 1,
       "line 1: \"event\" must not contain CR, LF or NUL"},
      {"a raw NUL ends nothing: what follows is not ignored", "{\"topic\":\"a\"}" + std::string(1, '\0') + "junk",
       k::malformed, 1, "line 1: a NUL byte at column 14"},
      {"a BOM on a later line", ok + "\xEF\xBB\xBF{\"topic\":\"a\"}", k::malformed, 2,
       "line 2: a byte order mark is allowed only at the start of the body"},
      {"invalid UTF-8 in a string", "{\"topic\":\"a\",\"data\":\"\xFF\"}", k::malformed, 1,
       "line 1: invalid JSON at column 22: syntax error while parsing value - invalid string: ill-formed UTF-8 byte; "
       "last read: '\"\\xff'"},
      {"an overlong UTF-8 form", "{\"topic\":\"a\",\"data\":\"\xC0\xAF\"}", k::malformed, 1,
       "line 1: invalid JSON at column 22: syntax error while parsing value - invalid string: ill-formed UTF-8 byte; "
       "last read: '\"\\xc0'"},
      {"a UTF-8 encoded surrogate", "{\"topic\":\"a\",\"data\":\"\xED\xA0\x80\"}", k::malformed, 1,
       "line 1: invalid JSON at column 23: syntax error while parsing value - invalid string: ill-formed UTF-8 byte; "
       "last read: '\"\\xed\\xa0'"},
      {"a lone escaped surrogate", R"({"topic":"a","data":"\ud800"})", k::malformed, 1,
       "line 1: invalid JSON at column 28: syntax error while parsing value - invalid string: surrogate U+D800..U+DBFF "
       "must be followed by U+DC00..U+DFFF; last read: '\"\\ud800\"'"},
      {"a raw control character in a string", "{\"topic\":\"a\",\"data\":\"\x01\"}", k::malformed, 1,
       "line 1: invalid JSON at column 22: syntax error while parsing value - invalid string: control character "
       "U+0001 (SOH) must be escaped to \\u0001; last read: '\"<U+0001>'"},
      {"binary garbage", std::string("\x89PNG\r\n\x1a\n", 8), k::malformed, 1,
       "line 1: invalid JSON at column 1: syntax error while parsing value - invalid literal; last read: '\\x89'"},
      {"deep nesting is refused at its first level, not parsed", std::string(100000, '['), k::malformed, 1,
       "line 1: a line must be a JSON object, not an array"},
      {"deep nesting inside a member", "{\"topic\":" + std::string(100000, '['), k::malformed, 1,
       "line 1: \"topic\" must be a string, not an array"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    const auto got = sse::parse_publish_batch(r.body, hub_rule());
    REQUIRE(std::holds_alternative<sse::batch_error>(got));
    const auto& e = std::get<sse::batch_error>(got);
    CHECK(e.what == r.what);
    CHECK(e.line == r.line);
    CHECK(e.reason == r.reason);
    for (const char c : e.reason) CHECK((c >= 0x20 && c < 0x7F));  // reasons are printable ASCII
  }
}

TEST_CASE("batch parser: the event limit counts events, not lines, and stops at the first one too many") {
  std::string body;
  for (int i = 0; i < 3; ++i) body += "{\"topic\":\"a\"}\n\n";
  auto got = sse::parse_publish_batch(body, hub_rule(3));
  REQUIRE(std::holds_alternative<std::vector<sse::batch_item>>(got));
  CHECK(std::get<std::vector<sse::batch_item>>(got).size() == 3);
  body += "\n{\"topic\":\"a\"}\nnot even JSON\n";
  got = sse::parse_publish_batch(body, hub_rule(3));
  REQUIRE(std::holds_alternative<sse::batch_error>(got));
  const auto& e = std::get<sse::batch_error>(got);
  CHECK(e.what == sse::batch_error::kind::too_many_events);
  CHECK(e.line == 8);
  CHECK(e.reason == "line 8: more than 3 events in one batch");
  // The default is 1000.
  CHECK(sse::batch_limits{}.max_events == 1000);
}

TEST_CASE("batch parser: without a topic rule any non-empty string is a topic") {
  const auto got = sse::parse_publish_batch("{\"topic\":\"a b/\xC3\xA9\"}");
  REQUIRE(std::holds_alternative<std::vector<sse::batch_item>>(got));
  CHECK(std::get<std::vector<sse::batch_item>>(got)[0].topic == "a b/\xC3\xA9");
  CHECK(std::holds_alternative<sse::batch_error>(sse::parse_publish_batch("{\"topic\":\"\"}")));
}

TEST_CASE("batch parser: every prefix of a good body either parses or names a line, never throws") {
  const std::string body =
      "{\"topic\":\"a\",\"event\":\"t\",\"data\":\"\xC3\xA9\\n\\u00e9\"}\r\n\n{\"topic\":\"b\",\"data\":\"2\"}\n";
  std::size_t parsed = 0, refused = 0;
  for (std::size_t n = 0; n <= body.size(); ++n) {
    CAPTURE(n);
    const auto got = sse::parse_publish_batch(std::string_view(body).substr(0, n), hub_rule());
    if (std::holds_alternative<sse::batch_error>(got)) {
      const auto& e = std::get<sse::batch_error>(got);
      CHECK(e.line <= 3);
      CHECK(e.reason.starts_with("line " + std::to_string(e.line) + ": "));
      ++refused;
    } else {
      ++parsed;
    }
  }
  // Complete at: the first object (with or without its CR/LF, and the blank line after), the second
  // object (with or without its LF).
  CHECK(parsed == 6);
  CHECK(refused == body.size() + 1 - 6);
}

}  // namespace test_batch_parser_cases

// The sans-io core never includes Asio (or fmt), directly or through another sse header; and its three
// parsers (sse::parser, sse::http::request_parser, sse::http::response_parser) share one set of verbs.
#include <doctest/doctest.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sse/http/request_parser.hpp"
#include "sse/http/response_parser.hpp"
#include "sse/parser.hpp"

namespace {

const std::set<std::string> sans_io = {
    "sse/error.hpp",       "sse/event.hpp",          "sse/encoder.hpp",
    "sse/parser.hpp",      "sse/version.hpp",        "sse/url.hpp",
    "sse/http/error.hpp",  "sse/http/request_parser.hpp", "sse/http/response.hpp",
    "sse/http/response_parser.hpp", "sse/http/date.hpp", "sse/core.hpp", "sse/error_category.hpp", "sse/backoff.hpp", "sse/reconnect.hpp",
    "sse/stream_writer.hpp", "sse/shared_event.hpp", "sse/detail/chunk.hpp", "sse/detail/json.hpp",
    "sse/detail/inline_vector.hpp"};

std::string read(const std::string& rel) {
  std::ifstream in(std::string(SSE_TEST_DATA_DIR) + "/../include/" + rel);
  REQUIRE_MESSAGE(in.good(), "cannot open include/", rel);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("sans-io headers include only the standard library and each other") {
  const std::regex include_line(R"(#\s*include\s*[<"]([^>"]+)[>"])");
  std::size_t includes = 0;
  for (const auto& header : sans_io) {
    CAPTURE(header);
    const std::string text = read(header);
    for (std::sregex_iterator it(text.begin(), text.end(), include_line), end; it != end; ++it) {
      const std::string inc = (*it)[1];
      CAPTURE(inc);
      ++includes;
      CHECK_FALSE(inc.starts_with("asio"));
      CHECK_FALSE(inc.starts_with("fmt"));
      if (inc.starts_with("sse/")) CHECK(sans_io.count(inc) == 1);
      else CHECK(inc.find('/') == std::string::npos);  // <string>, <system_error>, ...: the standard library
    }
  }
  CHECK(includes > 40);  // the check really read the headers
}

// ---------------------------------------------------------------------------------------------
// One set of verbs: feed() returns the bytes consumed and sets an error_code, done() says the head is
// complete (the HTTP parsers; an event stream has no head), error() is the sticky error, reset()
// starts over. The same inputs go to all three parsers, in one piece and byte by byte, and the
// results must be identical (and the expected ones).

namespace {

struct verdict {
  std::size_t consumed = 0;
  bool done = false;
  std::error_code error{};
  std::size_t events = 0;  // events dispatched (sse::parser only)
  bool operator==(const verdict&) const = default;
};

std::ostream& operator<<(std::ostream& os, const verdict& v) {
  return os << "{consumed " << v.consumed << ", done " << v.done << ", error " << v.error << " '"
            << v.error.message() << "', events " << v.events << "}";
}

// Small limits, so that the table reaches them.
struct sse_parser {
  static constexpr const char* name = "sse::parser";
  sse::parser p{{.max_line_bytes = 32, .max_event_bytes = 64}};
  std::size_t events = 0;
  std::size_t feed(std::string_view bytes, std::error_code& ec) {
    return p.feed(bytes, [this](const sse::received_event&) { ++events; }, ec);
  }
  bool done() const { return false; }
  std::error_code error() const { return p.error(); }
  void reset() {
    p.reset();
    events = 0;
  }
};

template <class Parser, class Limits>
struct http_parser {
  Parser p{Limits{.max_head_bytes = 64}};
  std::size_t events = 0;
  std::size_t feed(std::string_view bytes, std::error_code& ec) { return p.feed(bytes, ec); }
  bool done() const { return p.done(); }
  std::error_code error() const { return p.error(); }
  void reset() { p.reset(); }
};
struct request_parser : http_parser<sse::http::request_parser, sse::http::request_limits> {
  static constexpr const char* name = "sse::http::request_parser";
};
struct response_parser : http_parser<sse::http::response_parser, sse::http::response_limits> {
  static constexpr const char* name = "sse::http::response_parser";
};

// Feeds `input` in one piece or byte by byte, stopping where a caller stops: at an error or done().
template <class P>
verdict run(P& parser, std::string_view input, bool byte_by_byte) {
  verdict v;
  while (!input.empty()) {
    const std::string_view piece = input.substr(0, byte_by_byte ? 1 : input.size());
    std::error_code ec = sse::http::make_error_code(sse::http::response_errc::bare_cr);  // must be cleared
    const std::size_t n = parser.feed(piece, ec);
    REQUIRE(n <= piece.size());
    v.consumed += n;
    v.error = ec;
    if (ec || parser.done()) break;
    REQUIRE(n == piece.size());  // all of it while nothing stops the parser
    input.remove_prefix(n);
  }
  v.done = parser.done();
  v.events = parser.events;
  CHECK(parser.error() == v.error);
  return v;
}

template <class P>
void check_verbs(std::string_view input, const verdict& expected) {
  CAPTURE(P::name);
  P whole;
  CHECK(run(whole, input, false) == expected);
  P bytewise;
  CHECK(run(bytewise, input, true) == expected);
  // After an error or done(), nothing more is taken; the error sticks.
  if (expected.error || expected.done) {
    std::error_code ec;
    CHECK(whole.feed("GET / HTTP/1.1\r\n", ec) == 0);
    CHECK(ec == expected.error);
    CHECK(whole.error() == expected.error);
    CHECK(whole.done() == expected.done);
  }
  // reset() starts over: the same input gives the same result again.
  bytewise.reset();
  CHECK(bytewise.error() == std::error_code{});
  CHECK_FALSE(bytewise.done());
  CHECK(run(bytewise, input, false) == expected);
}

std::error_code code(sse::errc e) { return make_error_code(e); }
std::error_code code(sse::http::errc e) { return make_error_code(e); }
std::error_code code(sse::http::response_errc e) { return make_error_code(e); }

}  // namespace

TEST_CASE("the three parsers: one set of verbs, the same results in one piece and byte by byte") {
  using sse::http::response_errc;
  namespace http = sse::http;
  struct row {
    const char* what;
    std::string input;
    verdict stream, request, response;
  };
  const std::string data20 = "data: " + std::string(20, 'x') + "\n";  // 27 bytes
  const std::vector<row> rows = {
      {"nothing", "", {}, {}, {}},
      {"a request head, then more",
       "GET /a HTTP/1.1\r\nHost: h\r\n\r\nrest",
       {.consumed = 32},
       {.consumed = 28, .done = true},
       {.consumed = 28, .error = code(response_errc::invalid_status_line)}},
      {"a response head, then an event",
       "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x\n\n",
       {.consumed = 61, .events = 1},
       {.consumed = 17, .error = code(http::errc::invalid_method)},
       {.consumed = 52, .done = true}},
      {"an event stream",
       "data: a\r\n\r\nid: 1\ndata: b\n\n",
       {.consumed = 26, .events = 2},
       {.consumed = 9, .error = code(http::errc::invalid_request_line)},
       {.consumed = 11, .error = code(response_errc::invalid_status_line)}},
      {"bare LF line ends",
       "GET / HTTP/1.1\nHost: h\n\n",
       {.consumed = 24},
       {.consumed = 15, .error = code(http::errc::bare_lf)},
       {.consumed = 24, .error = code(response_errc::invalid_status_line)}},
      {"70 bytes without a line break: each limit, at the first byte beyond it",
       std::string(70, 'a'),
       {.consumed = 33, .error = code(sse::errc::line_too_long)},
       {.consumed = 65, .error = code(http::errc::header_section_too_large)},
       {.consumed = 65, .error = code(response_errc::head_too_large)}},
      {"an event larger than its limit: at the line break that makes it so",
       data20 + data20 + data20 + data20,
       {.consumed = 108, .error = code(sse::errc::event_too_large)},
       {.consumed = 27, .error = code(http::errc::bare_lf)},
       {.consumed = 65, .error = code(response_errc::head_too_large)}},
  };
  for (const auto& r : rows) {
    CAPTURE(r.what);
    check_verbs<sse_parser>(r.input, r.stream);
    check_verbs<request_parser>(r.input, r.request);
    check_verbs<response_parser>(r.input, r.response);
  }
}

TEST_CASE("sse::parser: both feed() overloads; reset() forgets the stream, finish() only the connection") {
  std::vector<std::string> got;
  auto on = [&](const sse::received_event& ev) { got.emplace_back(ev.data); };
  sse::parser p({.max_line_bytes = 8, .max_event_bytes = 64});
  std::error_code ec = make_error_code(sse::errc::invalid_id);
  CHECK(p.feed("id: 7\nretry: 9\ndata: a\n\ndata: b", on, ec) == 31);
  CHECK_FALSE(ec);
  CHECK(got == std::vector<std::string>{"a"});
  // "b" ends; the error is found at the ninth byte of the next line. It sticks, and the overload
  // without a count returns it too.
  CHECK(p.feed("\ndata: 12345", on, ec) == 10);
  CHECK(ec == sse::errc::line_too_long);
  CHECK(p.feed("data: c\n\n", on) == sse::errc::line_too_long);
  CHECK(p.feed("data: c\n\n", on, ec) == 0);
  CHECK(ec == sse::errc::line_too_long);
  CHECK(p.error() == sse::errc::line_too_long);
  p.finish();  // a new connection of the same stream
  CHECK_FALSE(p.error());
  CHECK(p.last_event_id() == "7");
  CHECK(p.retry() == std::chrono::milliseconds(9));
  CHECK_FALSE(p.feed("data: c\n\n", on));
  CHECK(got == std::vector<std::string>{"a", "c"});  // "b" was not dispatched when the error came
  p.reset();  // another stream
  CHECK(p.last_event_id().empty());
  CHECK_FALSE(p.retry());
  CHECK(p.feed("\xEF\xBB\xBF" "data: d\n\n", on, ec) == 12);
  CHECK_FALSE(ec);
  CHECK(got.back() == "d");
}

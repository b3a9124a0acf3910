// Tests of sse::http::request_parser: real clients' heads, bad heads with their error and status,
// and every case fed whole, byte by byte and split at every offset with identical results.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sse/http/request_parser.hpp"

namespace http = sse::http;
using namespace std::string_literals;

namespace {

struct outcome {
  std::error_code ec;
  bool done = false;
  std::error_code stored;  // request_parser::error() at the end
  std::size_t consumed = 0;
  http::request req;
  bool operator==(const outcome&) const = default;
};

/// Feeds `input` cut at the offsets in `cuts` (ascending), stopping at the first error or at done().
outcome feed_cut(std::string_view input, const std::vector<std::size_t>& cuts, http::request_limits limits) {
  http::request_parser parser(limits);
  outcome out;
  std::size_t pos = 0;
  auto feed = [&](std::string_view chunk) {
    if (out.ec || out.done) return;
    std::error_code ec;
    out.consumed += parser.feed(chunk, ec);
    out.ec = ec;
    out.done = parser.done();
  };
  for (const std::size_t cut : cuts) {
    feed(input.substr(pos, cut - pos));
    pos = cut;
  }
  feed(input.substr(pos));
  out.stored = parser.error();
  out.req = parser.get();
  return out;
}

/// Parses `input` whole, byte by byte, and split in two at every offset; checks that all agree and
/// returns the result of the whole feed.
outcome parse_all_ways(std::string_view input, http::request_limits limits = {}) {
  const outcome whole = feed_cut(input, {}, limits);
  CHECK(whole.stored == whole.ec);
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < input.size(); ++i) every.push_back(i);
  const outcome bytewise = feed_cut(input, every, limits);
  CHECK_MESSAGE(bytewise == whole, "byte by byte differs from whole: ", bytewise.ec.message());
  std::size_t mismatches = 0;
  std::size_t first_mismatch = 0;
  for (std::size_t k = 0; k <= input.size(); ++k) {
    if (!(feed_cut(input, {k}, limits) == whole) && mismatches++ == 0) first_mismatch = k;
  }
  CHECK_MESSAGE(mismatches == 0, "split at ", first_mismatch, " differs from whole");
  return whole;
}

std::vector<std::pair<std::string, std::string>> fields(const http::request& r) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& h : r.headers) out.emplace_back(h.name, h.value);
  return out;
}

using header_list = std::vector<std::pair<std::string, std::string>>;

}  // namespace

// ---------------------------------------------------------------------------------------------
// Valid heads, exactly as real clients send them.

TEST_CASE("valid: curl") {
  const std::string head =
      "GET /events HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
  const auto r = parse_all_ways(head);
  REQUIRE_FALSE(r.ec);
  REQUIRE(r.done);
  CHECK(r.consumed == head.size());
  CHECK(r.req.method == "GET");
  CHECK(r.req.target == "/events");
  CHECK(r.req.path == "/events");
  CHECK(r.req.raw_query == "");
  CHECK(r.req.version_major == 1);
  CHECK(r.req.version_minor == 1);
  CHECK(fields(r.req) ==
        header_list{{"Host", "127.0.0.1:8080"}, {"User-Agent", "curl/7.88.1"}, {"Accept", "*/*"}});
  CHECK(r.req.keep_alive());
  CHECK_FALSE(r.req.content_length);
  CHECK_FALSE(r.req.chunked);
  CHECK_FALSE(r.req.has_body());
  CHECK_FALSE(r.req.last_event_id());
}

TEST_CASE("valid: Chromium EventSource reconnecting with Last-Event-ID") {
  const std::string head =
      "GET /events/job-42 HTTP/1.1\r\n"
      "Host: localhost:8080\r\n"
      "Connection: keep-alive\r\n"
      "sec-ch-ua: \"Not_A Brand\";v=\"8\", \"Chromium\";v=\"120\", \"Google Chrome\";v=\"120\"\r\n"
      "Accept: text/event-stream\r\n"
      "Cache-Control: no-cache\r\n"
      "Last-Event-ID: job-42:17\r\n"
      "sec-ch-ua-mobile: ?0\r\n"
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.0.0 Safari/537.36\r\n"
      "sec-ch-ua-platform: \"Linux\"\r\n"
      "Origin: http://localhost:3000\r\n"
      "Sec-Fetch-Site: same-site\r\n"
      "Sec-Fetch-Mode: cors\r\n"
      "Sec-Fetch-Dest: empty\r\n"
      "Referer: http://localhost:3000/\r\n"
      "Accept-Encoding: gzip, deflate, br\r\n"
      "Accept-Language: en-US,en;q=0.9\r\n"
      "\r\n";
  const auto r = parse_all_ways(head);
  REQUIRE_FALSE(r.ec);
  REQUIRE(r.done);
  CHECK(r.consumed == head.size());
  CHECK(r.req.method == "GET");
  CHECK(r.req.path == "/events/job-42");
  CHECK(r.req.raw_query.empty());
  CHECK(r.req.headers.size() == 16);
  CHECK(r.req.header("accept") == "text/event-stream");
  CHECK(r.req.header("LAST-EVENT-ID") == "job-42:17");
  CHECK(r.req.last_event_id() == "job-42:17");
  CHECK(r.req.header("Origin") == "http://localhost:3000");
  CHECK(r.req.header("Sec-Fetch-Mode") == "cors");
  CHECK(r.req.header("sec-ch-ua") ==
        "\"Not_A Brand\";v=\"8\", \"Chromium\";v=\"120\", \"Google Chrome\";v=\"120\"");
  CHECK(r.req.header("Accept-Encoding") == "gzip, deflate, br");
  CHECK(r.req.has_token("Accept-Encoding", "br"));
  CHECK(r.req.keep_alive());
  CHECK_FALSE(r.req.header("Cookie"));
}

TEST_CASE("valid: Firefox EventSource, first connection") {
  const std::string head =
      "GET /events HTTP/1.1\r\n"
      "Host: localhost:8080\r\n"
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n"
      "Accept: text/event-stream\r\n"
      "Accept-Language: en-US,en;q=0.5\r\n"
      "Accept-Encoding: gzip, deflate, br\r\n"
      "Referer: http://localhost:8080/\r\n"
      "Connection: keep-alive\r\n"
      "Sec-Fetch-Dest: empty\r\n"
      "Sec-Fetch-Mode: cors\r\n"
      "Sec-Fetch-Site: same-origin\r\n"
      "Pragma: no-cache\r\n"
      "Cache-Control: no-cache\r\n"
      "\r\n";
  const auto r = parse_all_ways(head);
  REQUIRE(r.done);
  CHECK(r.consumed == head.size());
  CHECK(r.req.headers.size() == 12);
  CHECK(r.req.header("pragma") == "no-cache");
  CHECK_FALSE(r.req.last_event_id());
}

TEST_CASE("valid: manual reconnect with lastEventId in the query") {
  const std::string head =
      "GET /events/job-7?lastEventId=job-7%3A99&since=0 HTTP/1.1\r\n"
      "Host: example.org\r\n"
      "Accept: text/event-stream\r\n"
      "\r\n";
  const auto r = parse_all_ways(head);
  REQUIRE(r.done);
  CHECK(r.req.target == "/events/job-7?lastEventId=job-7%3A99&since=0");
  CHECK(r.req.path == "/events/job-7");
  CHECK(r.req.raw_query == "lastEventId=job-7%3A99&since=0");
  CHECK(r.req.query("since") == "0");
  CHECK(r.req.last_event_id() == "job-7:99");
}

TEST_CASE("valid: Node http / eventsource package") {
  const std::string head =
      "GET /events HTTP/1.1\r\n"
      "Cache-Control: no-cache\r\n"
      "Accept: text/event-stream\r\n"
      "Last-Event-ID: 7\r\n"
      "Host: localhost:8080\r\n"
      "Connection: keep-alive\r\n"
      "\r\n";
  const auto r = parse_all_ways(head);
  REQUIRE(r.done);
  CHECK(r.consumed == head.size());
  CHECK(fields(r.req) == header_list{{"Cache-Control", "no-cache"},
                                     {"Accept", "text/event-stream"},
                                     {"Last-Event-ID", "7"},
                                     {"Host", "localhost:8080"},
                                     {"Connection", "keep-alive"}});
  CHECK(r.req.last_event_id() == "7");
  CHECK(r.req.keep_alive());
}

TEST_CASE("valid: Node fetch (undici) sends lowercase names") {
  const std::string head =
      "GET /events HTTP/1.1\r\n"
      "host: localhost:8080\r\n"
      "connection: keep-alive\r\n"
      "accept: text/event-stream\r\n"
      "accept-language: *\r\n"
      "sec-fetch-mode: cors\r\n"
      "user-agent: undici\r\n"
      "accept-encoding: gzip, deflate\r\n"
      "\r\n";
  const auto r = parse_all_ways(head);
  REQUIRE(r.done);
  CHECK(r.req.header("Host") == "localhost:8080");
  CHECK(r.req.header("User-Agent") == "undici");
  CHECK(r.req.headers.front().name == "host");  // the case as sent is kept
}

TEST_CASE("valid: nginx reverse proxy, default HTTP/1.0") {
  const std::string head =
      "GET /events/job-1 HTTP/1.0\r\n"
      "Host: sse_backend\r\n"
      "Connection: close\r\n"
      "X-Real-IP: 203.0.113.7\r\n"
      "X-Forwarded-For: 203.0.113.7\r\n"
      "X-Forwarded-Proto: https\r\n"
      "Accept: text/event-stream\r\n"
      "Cache-Control: no-cache\r\n"
      "Last-Event-ID: 12\r\n"
      "\r\n";
  const auto r = parse_all_ways(head);
  REQUIRE(r.done);
  CHECK(r.req.version_major == 1);
  CHECK(r.req.version_minor == 0);
  CHECK(r.req.path == "/events/job-1");
  CHECK(r.req.header("X-Real-IP") == "203.0.113.7");
  CHECK(r.req.header("x-forwarded-for") == "203.0.113.7");
  CHECK_FALSE(r.req.keep_alive());
  CHECK(r.req.last_event_id() == "12");
}

TEST_CASE("valid: nginx reverse proxy with proxy_http_version 1.1 and Connection ''") {
  const std::string head =
      "GET /events/job-1?lastEventId=3 HTTP/1.1\r\n"
      "Host: 127.0.0.1:8081\r\n"
      "X-Real-IP: 203.0.113.7\r\n"
      "X-Forwarded-For: 198.51.100.2, 203.0.113.7\r\n"
      "X-Forwarded-Proto: https\r\n"
      "Accept: text/event-stream\r\n"
      "Last-Event-ID: 41\r\n"
      "\r\n";
  const auto r = parse_all_ways(head);
  REQUIRE(r.done);
  CHECK(r.req.version_minor == 1);
  CHECK(r.req.keep_alive());
  CHECK(r.req.last_event_id() == "41");  // the header wins over the query
  CHECK(r.req.query("lastEventId") == "3");
  CHECK(r.req.header("X-Forwarded-For") == "198.51.100.2, 203.0.113.7");
}

TEST_CASE("valid: HTTP/1.0 without Host, and keep-alive on 1.0") {
  const auto a = parse_all_ways("GET / HTTP/1.0\r\n\r\n");
  REQUIRE(a.done);
  CHECK_FALSE(a.req.keep_alive());
  const auto b = parse_all_ways("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  REQUIRE(b.done);
  CHECK(b.req.keep_alive());
  const auto c = parse_all_ways("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n");
  REQUIRE(c.done);
  CHECK_FALSE(c.req.keep_alive());
  const auto d =
      parse_all_ways("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nConnection: CLOSE\r\n\r\n");
  REQUIRE(d.done);
  CHECK_FALSE(d.req.keep_alive());
  CHECK(d.req.find_all("connection") == std::vector<std::string_view>{"Upgrade", "CLOSE"});
}

TEST_CASE("valid: POST with Content-Length stops at the end of the head") {
  const std::string head =
      "POST /publish/news HTTP/1.1\r\n"
      "Host: localhost:8080\r\n"
      "User-Agent: curl/7.88.1\r\n"
      "Accept: */*\r\n"
      "Content-Type: application/json\r\n"
      "Content-Length: 23\r\n"
      "\r\n";
  const std::string body = "{\"data\":\"hello world\"}\n";
  const std::string input = head + body;
  const auto r = parse_all_ways(input);
  REQUIRE(r.done);
  CHECK(r.consumed == head.size());
  CHECK(input.substr(r.consumed) == body);
  CHECK(r.req.method == "POST");
  CHECK(r.req.path == "/publish/news");
  CHECK(r.req.content_length == 23u);
  CHECK_FALSE(r.req.chunked);
  CHECK(r.req.has_body());
}

TEST_CASE("valid: POST with chunked body") {
  const std::string head = "POST /publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string input = head + "5\r\nhello\r\n0\r\n\r\n";
  const auto r = parse_all_ways(input);
  REQUIRE(r.done);
  CHECK(r.consumed == head.size());
  CHECK(r.req.chunked);
  CHECK_FALSE(r.req.content_length);
  CHECK(r.req.has_body());
  const auto upper = parse_all_ways("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , Chunked ,\r\n\r\n");
  REQUIRE(upper.done);
  CHECK(upper.req.chunked);
}

TEST_CASE("valid: repeated or listed identical Content-Length values are accepted") {
  const auto a =
      parse_all_ways("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
  REQUIRE(a.done);
  CHECK(a.req.content_length == 5u);
  const auto b = parse_all_ways("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 007 , 7\r\n\r\n");
  REQUIRE(b.done);
  CHECK(b.req.content_length == 7u);
  const auto c = parse_all_ways("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(c.done);
  CHECK(c.req.content_length == 0u);
  CHECK_FALSE(c.req.has_body());
  const auto d =
      parse_all_ways("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\n");
  CHECK(d.ec == http::errc::invalid_content_length);  // 20 digits: over the 19-digit bound
  const auto e = parse_all_ways("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999999999999999\r\n\r\n");
  REQUIRE(e.done);
  CHECK(e.req.content_length == 9999999999999999999u);
}

TEST_CASE("valid: pipelined requests") {
  const std::string first = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string second = "GET /b?q=1 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 5\r\n\r\n";
  const std::string third = "HEAD /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string input = first + second + third;
  const auto r = parse_all_ways(input);
  REQUIRE(r.done);
  CHECK(r.consumed == first.size());

  http::request_parser parser;
  std::string_view rest = input;
  std::vector<http::request> got;
  while (!rest.empty()) {
    std::error_code ec;
    const std::size_t n = parser.feed(rest, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(parser.done());
    rest.remove_prefix(n);
    got.push_back(parser.release());
    CHECK_FALSE(parser.done());
  }
  REQUIRE(got.size() == 3);
  CHECK(got[0].path == "/a");
  CHECK(got[1].path == "/b");
  CHECK(got[1].query("q") == "1");
  CHECK(got[1].last_event_id() == "5");
  CHECK(got[2].method == "HEAD");
  CHECK_FALSE(got[2].keep_alive());
}

TEST_CASE("valid: every accepted method") {
  for (const char* m : {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
    const auto r = parse_all_ways(std::string(m) + " /x HTTP/1.1\r\nHost: h\r\n\r\n");
    REQUIRE(r.done);
    CHECK(r.req.method == m);
  }
}

TEST_CASE("valid: CORS preflight and OPTIONS *") {
  const auto pre = parse_all_ways(
      "OPTIONS /events HTTP/1.1\r\n"
      "Host: api.example.com\r\n"
      "Origin: https://app.example.com\r\n"
      "Access-Control-Request-Method: GET\r\n"
      "Access-Control-Request-Headers: last-event-id\r\n"
      "\r\n");
  REQUIRE(pre.done);
  CHECK(pre.req.header("access-control-request-headers") == "last-event-id");
  const auto star = parse_all_ways("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(star.done);
  CHECK(star.req.target == "*");
  CHECK(star.req.path == "*");
}

TEST_CASE("valid: absolute-form target") {
  const auto r = parse_all_ways(
      "GET http://example.com:8080/events/x%20y?a=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
  REQUIRE(r.done);
  CHECK(r.req.target == "http://example.com:8080/events/x%20y?a=1");
  CHECK(r.req.path == "/events/x y");
  CHECK(r.req.raw_query == "a=1");
  const auto bare = parse_all_ways("GET HTTPS://[::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n");
  REQUIRE(bare.done);
  CHECK(bare.req.path == "/");
  const auto q = parse_all_ways("GET http://h?x=2 HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(q.done);
  CHECK(q.req.path == "/");
  CHECK(q.req.query("x") == "2");
}

TEST_CASE("valid: leading empty lines are skipped up to the limit") {
  const std::string req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  const auto r = parse_all_ways("\r\n\r\n\r\n\r\n" + req);
  REQUIRE(r.done);
  CHECK(r.consumed == 8 + req.size());
  const auto bad = parse_all_ways("\r\n\r\n\r\n\r\n\r\n" + req);
  CHECK(bad.ec == http::errc::too_many_empty_lines);
  const auto none = parse_all_ways("\r\n" + req, {.max_empty_lines = 0});
  CHECK(none.ec == http::errc::too_many_empty_lines);
}

TEST_CASE("valid: header values are trimmed of OWS, may be empty, may hold obs-text") {
  const auto r = parse_all_ways(
      "GET / HTTP/1.1\r\n"
      "Host:a\r\n"
      "X-Pad: \t value with  inner \t spaces \t \r\n"
      "X-Empty:\r\n"
      "X-Blank:   \r\n"
      "X-Latin: caf\xe9\r\n"
      "X-Tchar!#$%&'*+-.^_`|~09: v\r\n"
      "\r\n");
  REQUIRE(r.done);
  CHECK(r.req.header("Host") == "a");
  CHECK(r.req.header("X-Pad") == "value with  inner \t spaces");
  CHECK(r.req.header("X-Empty") == "");
  CHECK(r.req.header("X-Blank") == "");
  CHECK(r.req.header("X-Latin") == "caf\xe9");
  CHECK(r.req.header("x-tchar!#$%&'*+-.^_`|~09") == "v");
}

TEST_CASE("valid: liberal but visible target characters browsers leave unencoded") {
  const auto r = parse_all_ways("GET /a|b/{c}/[d]^`\"<>\\?x={1}|2 HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(r.done);
  CHECK(r.req.path == "/a|b/{c}/[d]^`\"<>\\");
  CHECK(r.req.query("x") == "{1}|2");
}

// ---------------------------------------------------------------------------------------------
// Bad heads: each has its own error and status.

namespace {
struct bad_case {
  const char* name;
  std::string input;
  http::errc error;
  int status;
};

std::string big(char c, std::size_t n) { return std::string(n, c); }

std::string many_headers(std::size_t n) {
  std::string s = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (std::size_t i = 1; i < n; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
  return s + "\r\n";
}

const std::vector<bad_case>& bad_cases() {
  using E = http::errc;
  static const std::vector<bad_case> cases = {
      {"head too large", "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + big('a', 9000) + "\r\n\r\n",
       E::header_section_too_large, 431},
      {"head never ends", "GET / HTTP/1.1\r\nHost: h\r\n" + big('a', 9000), E::header_section_too_large, 431},
      {"target too long", "GET /" + big('a', 4096) + " HTTP/1.1\r\nHost: h\r\n\r\n", E::target_too_long, 414},
      {"too many headers", many_headers(65), E::too_many_headers, 431},
      {"too many empty lines", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
       E::too_many_empty_lines, 400},
      {"NUL in target", "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n"s, E::nul_character, 400},
      {"NUL in header name", "GET / HTTP/1.1\r\nHo\0st: h\r\n\r\n"s, E::nul_character, 400},
      {"NUL in header value", "GET / HTTP/1.1\r\nHost: h\0\r\n\r\n"s, E::nul_character, 400},
      {"NUL as first byte", "\0GET / HTTP/1.1\r\n"s, E::nul_character, 400},
      {"bare LF everywhere", "GET / HTTP/1.1\nHost: h\n\n", E::bare_lf, 400},
      {"bare LF on a header line", "GET / HTTP/1.1\r\nHost: h\n\r\n", E::bare_lf, 400},
      {"bare LF ending the head", "GET / HTTP/1.1\r\nHost: h\r\n\n", E::bare_lf, 400},
      {"bare LF as leading empty line", "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", E::bare_lf, 400},
      {"bare CR in value", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", E::bare_cr, 400},
      {"bare CR in request line", "GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", E::bare_cr, 400},
      {"CR CR LF", "GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", E::bare_cr, 400},
      {"two spaces after method", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_request_line, 400},
      {"space before method", " GET / HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_request_line, 400},
      {"trailing space after version", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", E::invalid_request_line, 400},
      {"HTTP/0.9 request line", "GET /\r\n\r\n", E::invalid_request_line, 400},
      {"method only", "GET\r\n\r\n", E::invalid_request_line, 400},
      {"tab separator", "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_request_line, 400},
      {"non-token method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_method, 400},
      {"non-ASCII method", "G\xc9T / HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_method, 400},
      {"lowercase method", "get / HTTP/1.1\r\nHost: h\r\n\r\n", E::method_not_implemented, 501},
      {"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
       E::method_not_implemented, 501},
      {"TRACE", "TRACE / HTTP/1.1\r\nHost: h\r\n\r\n", E::method_not_implemented, 501},
      {"unknown method", "BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n", E::method_not_implemented, 501},
      {"relative target", "GET events HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_target, 400},
      {"asterisk with GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_target, 400},
      {"fragment in target", "GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_target, 400},
      {"non-ASCII in target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_target, 400},
      {"DEL in target", "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_target, 400},
      {"control in target", "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_target, 400},
      {"ftp absolute-form", "GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_target, 400},
      {"empty authority", "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_target, 400},
      {"userinfo in authority", "GET http://user@h/x HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_target, 400},
      {"authority-form", "GET example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_target, 400},
      {"bad percent escape", "GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_percent_encoding, 400},
      {"short percent escape", "GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_percent_encoding, 400},
      {"lone percent", "GET /a% HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_percent_encoding, 400},
      {"percent-encoded NUL", "GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n", E::invalid_percent_encoding, 400},
      {"bad escape in absolute path", "GET http://h/%g1 HTTP/1.1\r\nHost: h\r\n\r\n",
       E::invalid_percent_encoding, 400},
      {"lowercase http", "GET / http/1.1\r\nHost: h\r\n\r\n", E::invalid_version, 400},
      {"version without minor", "GET / HTTP/1\r\nHost: h\r\n\r\n", E::invalid_version, 400},
      {"version 1.10", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", E::invalid_version, 400},
      {"version 11", "GET / HTTP/11\r\nHost: h\r\n\r\n", E::invalid_version, 400},
      {"empty version", "GET / \r\nHost: h\r\n\r\n", E::invalid_version, 400},
      {"HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", E::version_not_supported, 505},
      {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", E::version_not_supported, 505},
      {"HTTP/0.9 with version", "GET / HTTP/0.9\r\nHost: h\r\n\r\n", E::version_not_supported, 505},
      {"obs-fold with SP", "GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n", E::obs_fold, 400},
      {"obs-fold with HTAB", "GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n\ttwo\r\n\r\n", E::obs_fold, 400},
      {"whitespace before first header", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", E::obs_fold, 400},
      {"header without colon", "GET / HTTP/1.1\r\nHost h\r\n\r\n", E::missing_colon, 400},
      {"empty header name", "GET / HTTP/1.1\r\nHost: h\r\n: value\r\n\r\n", E::empty_header_name, 400},
      {"SP before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", E::whitespace_before_colon, 400},
      {"HTAB before colon", "GET / HTTP/1.1\r\nHost: h\r\nX-A\t: v\r\n\r\n", E::whitespace_before_colon, 400},
      {"space inside name", "GET / HTTP/1.1\r\nHo st: h\r\n\r\n", E::invalid_header_name, 400},
      {"non-ASCII name", "GET / HTTP/1.1\r\nH\xc3\xb3st: h\r\n\r\n", E::invalid_header_name, 400},
      {"separator in name", "GET / HTTP/1.1\r\nX(A): v\r\nHost: h\r\n\r\n", E::invalid_header_name, 400},
      {"control in value",
       "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01"
       "b\r\n\r\n",
       E::invalid_header_value, 400},
      {"DEL in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7f\r\n\r\n", E::invalid_header_value, 400},
      {"escape in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: \x1b[31m\r\n\r\n", E::invalid_header_value, 400},
      {"letters in Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n",
       E::invalid_content_length, 400},
      {"negative Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
       E::invalid_content_length, 400},
      {"plus Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n",
       E::invalid_content_length, 400},
      {"empty Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
       E::invalid_content_length, 400},
      {"hex Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n",
       E::invalid_content_length, 400},
      {"space inside Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n",
       E::invalid_content_length, 400},
      {"empty list element in Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,\r\n\r\n",
       E::invalid_content_length, 400},
      {"overflowing Content-Length",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
       E::invalid_content_length, 400},
      {"conflicting Content-Length list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n",
       E::conflicting_content_length, 400},
      {"conflicting Content-Length fields",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n",
       E::conflicting_content_length, 400},
      {"Content-Length with chunked",
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
       E::content_length_with_transfer_encoding, 400},
      {"chunked with Content-Length",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
       E::content_length_with_transfer_encoding, 400},
      {"gzip only", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", E::bad_transfer_encoding,
       400},
      {"chunked not final", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
       E::bad_transfer_encoding, 400},
      {"chunked twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
       E::bad_transfer_encoding, 400},
      {"chunked twice in two fields",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
       E::bad_transfer_encoding, 400},
      {"identity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
       E::bad_transfer_encoding, 400},
      {"empty Transfer-Encoding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n",
       E::bad_transfer_encoding, 400},
      {"chunked with parameter", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;x=1\r\n\r\n",
       E::bad_transfer_encoding, 400},
      {"gzip then chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
       E::unsupported_transfer_coding, 501},
      {"gzip then chunked in two fields",
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
       E::unsupported_transfer_coding, 501},
      {"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
       E::transfer_encoding_in_http10, 400},
      {"missing Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", E::missing_host, 400},
      {"two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", E::multiple_host, 400},
      {"two Host fields in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", E::multiple_host, 400},
      {"space in Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", E::invalid_host, 400},
      {"slash in Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", E::invalid_host, 400},
      {"userinfo in Host", "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", E::invalid_host, 400},
  };
  return cases;
}
}  // namespace

TEST_CASE("bad heads: each gives its error and status, however it is split") {
  std::set<http::errc> seen;
  for (const auto& c : bad_cases()) {
    CAPTURE(c.name);
    const auto r = parse_all_ways(c.input);
    CHECK_FALSE(r.done);
    CHECK(r.ec == c.error);
    CHECK(r.ec.category().name() == std::string_view("sse.http"));
    CHECK(http::status_for(r.ec) == c.status);
    seen.insert(c.error);
  }
  // Every error the parser can produce is exercised.
  CHECK(seen.size() == static_cast<std::size_t>(http::errc::invalid_host));
}

TEST_CASE("limits: exact boundaries") {
  // Head of exactly max_head_bytes is accepted; one more byte is not.
  const std::string base = "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n";
  const std::string pad(100, 'v');
  std::string exact = base;
  exact.insert(base.size() - 4, pad);
  const http::request_limits lim{.max_head_bytes = exact.size()};
  CHECK(parse_all_ways(exact, lim).done);
  std::string over = exact;
  over.insert(base.size() - 4, "v");
  CHECK(parse_all_ways(over, lim).ec == http::errc::header_section_too_large);

  // Target of exactly max_target_bytes.
  const http::request_limits tl{.max_target_bytes = 10};
  CHECK(parse_all_ways("GET /123456789 HTTP/1.1\r\nHost: h\r\n\r\n", tl).done);
  CHECK(parse_all_ways("GET /1234567890 HTTP/1.1\r\nHost: h\r\n\r\n", tl).ec == http::errc::target_too_long);

  // Exactly max_headers fields.
  CHECK(parse_all_ways(many_headers(64)).done);
  CHECK(parse_all_ways(many_headers(3), {.max_headers = 3}).done);
  CHECK(parse_all_ways(many_headers(4), {.max_headers = 3}).ec == http::errc::too_many_headers);

  // The error is reported at the byte that crosses the limit, before the line ends.
  http::request_parser p({.max_head_bytes = 20});
  std::error_code ec;
  CHECK(p.feed("GET / HTTP/1.1\r\nHost: ", ec) == 21);
  CHECK(ec == http::errc::header_section_too_large);
}

TEST_CASE("parser state: failure sticks, done stops, reset reuses") {
  http::request_parser p;
  std::error_code ec;
  CHECK(p.feed("GET / HTTP/9.9\r\n", ec) == 16);
  CHECK(ec == http::errc::version_not_supported);
  CHECK(p.error() == http::errc::version_not_supported);
  CHECK(p.feed("Host: h\r\n\r\n", ec) == 0);
  CHECK(ec == http::errc::version_not_supported);

  p.reset();
  CHECK_FALSE(p.error());
  CHECK(p.feed("GET /x HTTP/1.1\r\nHost: h\r\n\r\nGET", ec) == 28);
  CHECK_FALSE(ec);
  CHECK(p.done());
  CHECK(p.head_bytes() == 28);
  CHECK(p.feed("GET /y HTTP/1.1\r\n", ec) == 0);
  CHECK_FALSE(ec);
  p.get().path = "/changed";
  CHECK(std::as_const(p).get().path == "/changed");
  const http::request r = p.release();
  CHECK(r.path == "/changed");
  CHECK_FALSE(p.done());
  CHECK(p.get().headers.empty());

  // Feeding nothing is harmless.
  http::request_parser q;
  CHECK(q.feed("", ec) == 0);
  CHECK_FALSE(ec);
  CHECK_FALSE(q.done());
}

// ---------------------------------------------------------------------------------------------
// Percent-decoding and the query.

TEST_CASE("path percent-decoding") {
  CHECK(http::decode_path("/events/a%20b%2Fc") == "/events/a b/c");
  CHECK(http::decode_path("/a+b") == "/a+b");
  CHECK(http::decode_path("/%e2%9C%93") == "/\xe2\x9c\x93");
  CHECK(http::decode_path("") == "");
  CHECK_FALSE(http::decode_path("/%"));
  CHECK_FALSE(http::decode_path("/%4"));
  CHECK_FALSE(http::decode_path("/%4g"));
  CHECK_FALSE(http::decode_path("/%00"));
  const auto r = parse_all_ways("GET /topics/caf%C3%A9/%2e%2e HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(r.done);
  CHECK(r.req.path == "/topics/caf\xc3\xa9/..");  // dot segments are not removed: routing must check
}

TEST_CASE("query decoding") {
  CHECK(http::decode_query_component("a+b%20c") == "a b c");
  CHECK(http::decode_query_component("%zz%4") == "%zz%4");  // malformed escapes stay as they are
  CHECK(http::decode_query_component("100%") == "100%");
  CHECK(http::decode_query_component("%2B") == "+");

  const auto r = parse_all_ways(
      "GET /events?lastEventId=abc%3A1&x=a+b&x=2&flag&empty=&bad=%zz&%6Bey=v&&eq=a=b&sp%20ace=1 HTTP/1.1\r\n"
      "Host: h\r\n\r\n");
  REQUIRE(r.done);
  const auto& q = r.req;
  CHECK(q.query("lastEventId") == "abc:1");
  CHECK(q.last_event_id() == "abc:1");
  CHECK(q.query("x") == "a b");
  CHECK(q.query_all("x") == std::vector<std::string>{"a b", "2"});
  CHECK(q.query("flag") == "");
  CHECK(q.query("empty") == "");
  CHECK(q.query("bad") == "%zz");
  CHECK(q.query("key") == "v");  // keys are decoded too
  CHECK(q.query("eq") == "a=b");
  CHECK(q.query("sp ace") == "1");
  CHECK_FALSE(q.query("missing"));
  CHECK_FALSE(q.query("lasteventid"));  // keys are case-sensitive
  CHECK(q.query_all("missing").empty());
}

TEST_CASE("last_event_id: header first, then query; empty and unusable values are none") {
  auto id = [](const std::string& head) {
    const auto r = parse_all_ways(head);
    REQUIRE(r.done);
    return r.req.last_event_id();
  };
  CHECK(id("GET /e?lastEventId=q HTTP/1.1\r\nHost: h\r\nLast-Event-ID: h1\r\n\r\n") == "h1");
  CHECK(id("GET /e?lastEventId=q HTTP/1.1\r\nHost: h\r\nLast-Event-ID:\r\n\r\n") == "q");
  CHECK(id("GET /e?lastEventId= HTTP/1.1\r\nHost: h\r\n\r\n") == std::nullopt);
  CHECK(id("GET /e?lastEventId=a%0Ab HTTP/1.1\r\nHost: h\r\n\r\n") == std::nullopt);
  CHECK(id("GET /e?lastEventId=a%00b HTTP/1.1\r\nHost: h\r\n\r\n") == std::nullopt);
  CHECK(id("GET /e?lastEventId=a%0Db HTTP/1.1\r\nHost: h\r\n\r\n") == std::nullopt);
  CHECK(id("GET /e?lastEventId=1&lastEventId=2 HTTP/1.1\r\nHost: h\r\n\r\n") == "1");
  CHECK(id("GET /e HTTP/1.1\r\nHost: h\r\nlast-event-id: 9\r\nLast-Event-ID: 10\r\n\r\n") == "9");
}

// ---------------------------------------------------------------------------------------------
// Errors and statuses.

TEST_CASE("error category, messages and statuses") {
  CHECK(std::string_view(http::error_category().name()) == "sse.http");
  std::set<std::string> messages;
  for (int e = 1; e <= static_cast<int>(http::errc::invalid_status); ++e) {
    const std::error_code ec = static_cast<http::errc>(e);
    CHECK(ec.category() == http::error_category());
    messages.insert(ec.message());
    const int s = http::status_for(ec);
    CHECK(s >= 400);
    CHECK(s <= 505);
    CHECK(http::reason_phrase(s) != "Unknown");
  }
  CHECK(messages.size() == static_cast<std::size_t>(http::errc::invalid_status));
  CHECK(http::status_for(http::errc::body_too_large) == 413);
  CHECK(http::status_for(http::errc::request_timeout) == 408);
  CHECK(http::status_for(http::errc::invalid_response_header) == 500);
  CHECK(http::status_for({}) == 200);
  CHECK(http::status_for(std::make_error_code(std::errc::io_error)) == 500);
  CHECK(http::reason_phrase(413) == "Content Too Large");
  CHECK(http::reason_phrase(431) == "Request Header Fields Too Large");
  CHECK(http::reason_phrase(999) == "Unknown");
  CHECK(std::error_code(http::errc::bare_lf) != std::error_code(sse::http::errc::bare_cr));
}

// ---------------------------------------------------------------------------------------------
// The committed corpus (also the fuzzer's seeds): every file parses identically however split;
// files under valid/ parse completely, files under invalid/ fail.

TEST_CASE("corpus files") {
  const std::filesystem::path root = std::filesystem::path(SSE_TEST_DATA_DIR) / "http" / "corpus";
  std::size_t count = 0;
  for (const char* kind : {"valid", "invalid"}) {
    const auto dir = root / kind;
    REQUIRE(std::filesystem::is_directory(dir));
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      CAPTURE(entry.path().filename().string());
      const auto r = parse_all_ways(bytes);
      if (std::string_view(kind) == "valid") {
        CHECK(r.done);
        CHECK_FALSE(r.ec);
      } else {
        CHECK(r.ec);
      }
      ++count;
    }
  }
  CHECK(count >= 10);
}

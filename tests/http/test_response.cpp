// Tests of sse/http/response.hpp: exact bytes of the SSE head, chunk framing, small responses,
// and header injection rejected.
#include <doctest/doctest.h>

#include <array>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sse/http/response.hpp"

namespace http = sse::http;
using namespace std::string_literals;
using namespace std::string_view_literals;

TEST_CASE("SSE head for HTTP/1.1: chunked, keep-alive") {
  CHECK(http::sse_response_head() ==
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/event-stream; charset=utf-8\r\n"
        "Cache-Control: no-cache, no-store, no-transform\r\n"
        "X-Accel-Buffering: no\r\n"
        "Connection: keep-alive\r\n"
        "Transfer-Encoding: chunked\r\n"
        "\r\n");
}

TEST_CASE("SSE head for HTTP/1.0: close-delimited") {
  const std::string expected =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/event-stream; charset=utf-8\r\n"
      "Cache-Control: no-cache, no-store, no-transform\r\n"
      "X-Accel-Buffering: no\r\n"
      "Connection: close\r\n"
      "\r\n";
  CHECK(http::sse_response_head({.version_minor = 0}) == expected);
  CHECK(http::sse_response_head({.version_minor = 1, .chunked = false}) == expected);
}

TEST_CASE("SSE head with CORS and extra headers") {
  CHECK(
      http::sse_response_head({.allow_origin = "https://app.example.com",
                               .allow_credentials = true,
                               .extra_headers = {{"X-Request-Id", "r-1"}, {"Set-Cookie", "a=b; Path=/"}}}) ==
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: text/event-stream; charset=utf-8\r\n"
      "Cache-Control: no-cache, no-store, no-transform\r\n"
      "X-Accel-Buffering: no\r\n"
      "Connection: keep-alive\r\n"
      "Transfer-Encoding: chunked\r\n"
      "Access-Control-Allow-Origin: https://app.example.com\r\n"
      "Vary: Origin\r\n"
      "Access-Control-Allow-Credentials: true\r\n"
      "X-Request-Id: r-1\r\n"
      "Set-Cookie: a=b; Path=/\r\n"
      "\r\n");
  // A wildcard origin needs no Vary.
  const std::string star = http::sse_response_head({.version_minor = 0, .allow_origin = "*"});
  CHECK(star.find("Access-Control-Allow-Origin: *\r\n") != std::string::npos);
  CHECK(star.find("Vary") == std::string::npos);
}

TEST_CASE("SSE head: header injection and framing headers are rejected") {
  const std::vector<std::pair<http::sse_head_options, http::errc>> bad = {
      {{.extra_headers = {{"X-A", "v\r\nSet-Cookie: evil=1"}}}, http::errc::invalid_response_header},
      {{.extra_headers = {{"X-A", "v\nx"}}}, http::errc::invalid_response_header},
      {{.extra_headers = {{"X-A", "v\rx"}}}, http::errc::invalid_response_header},
      {{.extra_headers = {{"X-A", "v\0x"sv}}}, http::errc::invalid_response_header},
      {{.extra_headers = {{"X-A\r\nEvil", "v"}}}, http::errc::invalid_response_header},
      {{.extra_headers = {{"X A", "v"}}}, http::errc::invalid_response_header},
      {{.extra_headers = {{"X-A:", "v"}}}, http::errc::invalid_response_header},
      {{.extra_headers = {{"", "v"}}}, http::errc::invalid_response_header},
      {{.allow_origin = "https://a\r\nX: y"}, http::errc::invalid_response_header},
      {{.extra_headers = {{"Content-Length", "5"}}}, http::errc::reserved_response_header},
      {{.extra_headers = {{"transfer-encoding", "chunked"}}}, http::errc::reserved_response_header},
      {{.extra_headers = {{"Connection", "close"}}}, http::errc::reserved_response_header},
      {{.extra_headers = {{"Content-Type", "text/html"}}}, http::errc::reserved_response_header},
  };
  for (const auto& [options, error] : bad) {
    std::error_code ec;
    CHECK(http::sse_response_head(options, ec).empty());
    CHECK(ec == error);
    CHECK(http::status_for(ec) == 500);
    CHECK_THROWS_AS(http::sse_response_head(options), http::invalid_header);
    CHECK_THROWS_AS(http::sse_response_head(options), std::invalid_argument);
    try {
      (void)http::sse_response_head(options);
    } catch (const http::invalid_header& e) {
      CHECK(e.code() == error);
    }
  }
  // Tabs and obs-text are valid in a value.
  std::error_code ec;
  CHECK_FALSE(http::sse_response_head({.extra_headers = {{"X-A", "a\tb \xe9"}}}, ec).empty());
  CHECK_FALSE(ec);
}

TEST_CASE("chunk framing") {
  CHECK(http::chunk_header(0) == "0\r\n");
  CHECK(http::chunk_header(1) == "1\r\n");
  CHECK(http::chunk_header(26) == "1a\r\n");
  CHECK(http::chunk_header(4096) == "1000\r\n");
  CHECK(http::chunk_header(0xfffffffffull) == "fffffffff\r\n");
  CHECK(http::chunk_end() == "\r\n");
  CHECK(http::last_chunk() == "0\r\n\r\n");

  std::string out;
  http::append_chunk(out, "");
  CHECK(out.empty());  // an empty chunk would end the body
  http::append_chunk(out, "data: hello\n\n");
  CHECK(out == "d\r\ndata: hello\n\n\r\n");
  http::append_chunk(out, std::string(26, 'x'));
  CHECK(out == "d\r\ndata: hello\n\n\r\n1a\r\n" + std::string(26, 'x') + "\r\n");
  out.append(http::last_chunk());
  CHECK(out.ends_with("\r\n0\r\n\r\n"));

  std::string header = "prefix";
  http::append_chunk_header(header, 255);
  CHECK(header == "prefixff\r\n");

  // Gathered form: header, payload, end are the same bytes as append_chunk.
  const std::string payload = ": ping 1\n\n";
  std::string gathered = http::chunk_header(payload.size()) + payload + std::string(http::chunk_end());
  std::string appended;
  http::append_chunk(appended, payload);
  CHECK(gathered == appended);
}

TEST_CASE("error responses: exact bytes") {
  CHECK(http::error_response(404) ==
        "HTTP/1.1 404 Not Found\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 10\r\n"
        "Connection: close\r\n"
        "\r\n"
        "Not Found\n");
  CHECK(http::error_response(400, "invalid percent-encoding in the path") ==
        "HTTP/1.1 400 Bad Request\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 37\r\n"
        "Connection: close\r\n"
        "\r\n"
        "invalid percent-encoding in the path\n");
  CHECK(http::error_response(405, {}, {{"Allow", "GET, HEAD, OPTIONS"}}) ==
        "HTTP/1.1 405 Method Not Allowed\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 19\r\n"
        "Connection: close\r\n"
        "Allow: GET, HEAD, OPTIONS\r\n"
        "\r\n"
        "Method Not Allowed\n");
  CHECK(http::error_response(401, "", {{"WWW-Authenticate", "Bearer realm=\"sse\""}}) ==
        "HTTP/1.1 401 Unauthorized\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 13\r\n"
        "Connection: close\r\n"
        "WWW-Authenticate: Bearer realm=\"sse\"\r\n"
        "\r\n"
        "Unauthorized\n");
  const std::array<http::field, 2> extra{{{"Retry-After", "5"}, {"Cache-Control", "no-store"}}};
  CHECK(http::error_response(503, "upstream down", extra) ==
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 14\r\n"
        "Connection: close\r\n"
        "Retry-After: 5\r\n"
        "Cache-Control: no-store\r\n"
        "\r\n"
        "upstream down\n");
  // Every status the parser reports has a reason phrase.
  for (const int s : {400, 408, 413, 414, 431, 501, 505}) {
    const std::string r = http::error_response(s);
    CHECK(
        r.starts_with("HTTP/1.1 " + std::to_string(s) + " " + std::string(http::reason_phrase(s)) + "\r\n"));
  }
  // An unknown status in range still works; out of range throws.
  CHECK(http::error_response(299).starts_with("HTTP/1.1 299 Unknown\r\n"));
  CHECK_THROWS_AS(http::error_response(99), http::invalid_header);
  CHECK_THROWS_AS(http::error_response(600), http::invalid_header);
}

TEST_CASE("error responses: header injection rejected") {
  CHECK_THROWS_AS(http::error_response(503, "x", {{"Retry-After", "5\r\nSet-Cookie: a=b"}}),
                  http::invalid_header);
  CHECK_THROWS_AS(http::error_response(405, "x", {{"Allow\n", "GET"}}), http::invalid_header);
  CHECK_THROWS_AS(http::error_response(400, "x", {{"Content-Length", "0"}}), http::invalid_header);
  CHECK_THROWS_AS(http::json_response(200, "{}", {{"X", "a\0b"sv}}), http::invalid_header);
  std::error_code ec;
  CHECK(http::make_response({.status = 200, .content_type = "text/html\r\nX: y"}, ec).empty());
  CHECK(ec == http::errc::invalid_response_header);
  CHECK(http::make_response({.status = 42}, ec).empty());
  CHECK(ec == http::errc::invalid_status);
}

TEST_CASE("JSON and general responses") {
  CHECK(http::json_response(200, R"({"id":"17","state":"running"})") ==
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 29\r\n"
        "Connection: close\r\n"
        "\r\n"
        R"({"id":"17","state":"running"})");
  CHECK(http::json_response(202, "{}", {{"Location", "/jobs/3"}}, true) ==
        "HTTP/1.1 202 Accepted\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 2\r\n"
        "Connection: keep-alive\r\n"
        "Location: /jobs/3\r\n"
        "\r\n"
        "{}");
  // HEAD: the length of the body, not the body.
  CHECK(http::make_response({.status = 200, .body = "hello", .keep_alive = true, .head_only = true}) ==
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 5\r\n"
        "Connection: keep-alive\r\n"
        "\r\n");
  // 204 and 304 carry neither Content-Length nor a body.
  CHECK(http::make_response({.status = 204, .body = "ignored"}) ==
        "HTTP/1.1 204 No Content\r\n"
        "Connection: close\r\n"
        "\r\n");
  // CORS preflight answer.
  CHECK(http::make_response({.status = 204,
                             .headers = {{"Access-Control-Allow-Origin", "https://app.example.com"},
                                         {"Access-Control-Allow-Headers", "Last-Event-ID"},
                                         {"Vary", "Origin"}},
                             .keep_alive = true}) ==
        "HTTP/1.1 204 No Content\r\n"
        "Connection: keep-alive\r\n"
        "Access-Control-Allow-Origin: https://app.example.com\r\n"
        "Access-Control-Allow-Headers: Last-Event-ID\r\n"
        "Vary: Origin\r\n"
        "\r\n");
  // No Content-Type when asked.
  CHECK(http::make_response({.status = 200, .content_type = "", .body = "x"}) ==
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx");
}

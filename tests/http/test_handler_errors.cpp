// A route handler that throws, whichever kind it is (plain, asynchronous, SSE subscribe), goes through
// the connection's one handler call: the request is answered `500 internal error` on the same
// keep-alive connection, the pipelined requests behind it are answered in order, and the error log
// line has the target and the exception's message escaped (sse::log_escape). The same for an auth
// hook (a route's, and /metrics' metrics_auth), also when it refuses before the body
// (`Expect: 100-continue`).
#include "sse/server.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "../support/http_client.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_handler_errors_cases {

using namespace std::chrono_literals;

namespace {

/// The error lines a server logged.
struct error_log {
  std::mutex mu;
  std::vector<std::string> lines;
  std::vector<std::string> get() {
    std::lock_guard lk(mu);
    return lines;
  }
};

/// One thread, no keepalive, port 0; error lines go to `log`.
sse::server_options options_logging_to(error_log& log) {
  sse::server_options o;
  o.port = 0;
  o.threads = 1;
  o.hub.keepalive = std::nullopt;
  o.shutdown_grace = 1s;
  o.on_log = [&log](sse::log_level level, std::string_view msg) {
    if (level != sse::log_level::error) return;
    std::lock_guard lk(log.mu);
    log.lines.emplace_back(msg);
  };
  return o;
}

/// A pipelinable GET.
std::string get_request(std::string_view target) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
}

/// The exact bytes of a keep-alive sse::response::text(status, body).
std::string text_response(std::string_view status, std::string_view body) {
  return "HTTP/1.1 " + std::string(status) + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
         std::to_string(body.size() + 1) + "\r\nConnection: keep-alive\r\n\r\n" + std::string(body) + "\n";
}

const std::string internal_error = text_response("500 Internal Server Error", "internal error");
const std::string ok = text_response("200 OK", "ok");

/// Reads until `in` holds at least `n` bytes (bounded: 100 reads of at most 50 ms).
void read_at_least(sse_test::raw_socket& c, std::string& in, std::size_t n) {
  for (int i = 0; i < 100 && in.size() < n && c.read_some(in, 50ms); ++i) {
  }
}

}  // namespace

TEST_CASE("a throwing handler of any kind: 500, logged escaped, the connection goes on in order") {
  error_log log;
  auto o = options_logging_to(log);
  sse::server srv(o);
  const std::string what = "boom\r\nX-Injected: 1\x1b[31m\\";
  srv.route("GET", "/plain", [&](const sse::request_context&) -> sse::response { throw std::runtime_error(what); });
  srv.async_route("GET", "/async", [&](const sse::request_context&, std::function<void(sse::response)>) {
    throw std::runtime_error(what);
  });
  srv.sse_route("/events/{t}", [&](const sse::request_context&) -> std::variant<sse::subscription, sse::response> {
    throw std::runtime_error(what);
  });
  srv.route("GET", "/ok", [](const sse::request_context&) { return sse::response::text(200, "ok"); });
  srv.start();

  sse_test::raw_socket c(srv.port());
  c.send(get_request("/plain") + get_request("/async") + get_request("/events/a\\b") + get_request("/ok"));  // pipelined

  const std::string expected = internal_error + internal_error + internal_error + ok;
  std::string in;
  read_at_least(c, in, expected.size());
  CHECK(in == expected);
  CHECK_FALSE(c.eof());  // kept alive
  CHECK(srv.http_metrics().http_server_errors.load() == 3);

  const std::string escaped = "boom\\x0d\\x0aX-Injected: 1\\x1b[31m\\\\";
  CHECK(log.get() == std::vector<std::string>{"GET /plain: handler threw: " + escaped,
                                            "GET /async: handler threw: " + escaped,
                                            "GET /events/a\\\\b: handler threw: " + escaped});
}

TEST_CASE("an asynchronous handler answers once: a throw after its answer, or a second answer, is logged and dropped") {
  error_log log;
  auto o = options_logging_to(log);
  sse::server srv(o);
  srv.async_route("GET", "/answer-then-throw", [](const sse::request_context&, std::function<void(sse::response)> respond) {
    respond(sse::response::text(200, "first"));
    throw std::runtime_error("late");
  });
  std::function<void(sse::response)> kept;
  srv.async_route("GET", "/throw-then-answer", [&](const sse::request_context&, std::function<void(sse::response)> respond) {
    kept = respond;  // answered later, after the throw was answered with 500
    throw std::runtime_error("early");
  });
  srv.async_route("GET", "/twice", [](const sse::request_context&, std::function<void(sse::response)> respond) {
    respond(sse::response::text(200, "first"));
    respond(sse::response::text(201, "second"));
  });
  srv.route("GET", "/ok", [](const sse::request_context&) { return sse::response::text(200, "ok"); });
  srv.start();

  sse_test::raw_socket c(srv.port());
  c.send(get_request("/answer-then-throw") + get_request("/throw-then-answer") + get_request("/twice") + get_request("/ok"));
  const std::string expected = text_response("200 OK", "first") + internal_error + text_response("200 OK", "first") + ok;
  std::string in;
  read_at_least(c, in, expected.size());
  REQUIRE(kept);
  kept(sse::response::text(200, "too late"));  // after its request was answered: dropped
  c.read_some(in, 200ms);                      // a second response would arrive now
  CHECK(in == expected);
  CHECK_FALSE(c.eof());
  CHECK(log.get() == std::vector<std::string>{"GET /answer-then-throw: handler threw: late",
                                            "GET /throw-then-answer: handler threw: early",
                                            "/twice: the handler answered twice; the second answer (201) is dropped",
                                            "/throw-then-answer: the handler answered twice; the second answer (200) is dropped"});
}

TEST_CASE("a throwing auth hook (a route's, metrics_auth): 500, logged escaped, the connection goes on") {
  error_log log;
  auto o = options_logging_to(log);
  const std::string what = "no\x1b";
  o.metrics_auth = [&](const sse::request_context&) -> std::optional<sse::response> { throw std::runtime_error(what); };
  sse::server srv(o);
  auto guarded = [&](const sse::request_context&) -> std::optional<sse::response> { throw std::runtime_error(what); };
  int ran = 0;
  srv.route("POST", "/guarded", [&](const sse::request_context&) { ++ran; return sse::response::text(200, "ran"); }, guarded);
  srv.route("GET", "/ok", [](const sse::request_context&) { return sse::response::text(200, "ok"); });
  srv.start();

  sse_test::raw_socket c(srv.port());
  c.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
         "POST /guarded HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nhi"
         "GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::string expected = internal_error + internal_error + ok;
  std::string in;
  read_at_least(c, in, expected.size());
  CHECK(in == expected);
  CHECK_FALSE(c.eof());
  CHECK(ran == 0);

  // Expect: 100-continue: the hook runs before the body is asked for; its exception is the final
  // answer at once (no 100 Continue), and the body never sent does not hold the connection.
  sse_test::raw_socket d(srv.port());
  d.send("POST /guarded HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  std::string in2;
  for (int i = 0; i < 100 && in2.find("internal error\n") == std::string::npos && d.read_some(in2, 50ms); ++i) {
  }
  CHECK(in2.starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
  CHECK(in2.find("100 Continue") == std::string::npos);
  CHECK(ran == 0);

  const std::string escaped = "no\\x1b";
  CHECK(log.get() == std::vector<std::string>{"GET /metrics: auth hook threw: " + escaped,
                                            "POST /guarded: auth hook threw: " + escaped,
                                            "POST /guarded: auth hook threw: " + escaped});
}

}  // namespace test_handler_errors_cases

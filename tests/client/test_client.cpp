// sse::client against the scriptable test server and through the fault-injecting proxy.
#include "sse/client.hpp"

#include <doctest/doctest.h>

#include <ostream>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <unistd.h>

#include "client_support.hpp"
#include "fault_proxy.hpp"
#include "http_date_format.hpp"
#include "test_server.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_client_cases {

using namespace std::chrono_literals;
using sse_test::expected_numbered;
using sse_test::framing;
using sse_test::reply;
using sse_test::request;

namespace {

int last_id_of(const request& req) {
  const std::string id = req.header("Last-Event-ID");
  return id.empty() ? 0 : std::stoi(id);
}

/// A server that holds `total` numbered events and resumes after Last-Event-ID: one piece per event,
/// then holds the connection open.
sse_test::test_server::handler resuming(int total) {
  return [total](const request& req, std::size_t) {
    reply r{.hold_open = true};
    for (int i = last_id_of(req) + 1; i <= total; ++i) r.pieces.push_back(sse_test::numbered_events(i, i));
    return r;
  };
}

sse::client_options fast_options() {
  return {.initial_retry = 5ms, .backoff_base = 5ms, .backoff_max = 40ms, .idle_timeout = 2000ms,
          .connect_timeout = 2000ms, .response_timeout = 2000ms};
}

}  // namespace

TEST_CASE("client: events arrive in order with the EventSource request headers") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request&, std::size_t) {
    return reply{.pieces = {sse_test::numbered_events(1, 2), ": comment\n\nevent: custom\ndata: a\ndata: b\n\n",
                            sse_test::numbered_events(3, 3)},
                 .hold_open = true};
  });
  auto opts = fast_options();
  opts.headers = {{"Authorization", "Bearer t0ken"}, {"X-Trace", "42"}};
  sse::client c(io, server.url("/events?topic=a"), opts);
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 4; }));
  c.close();
  REQUIRE(sse_test::run_until(io, [&] { return rec.closed.has_value(); }));

  auto expected = expected_numbered(1, 2);
  expected.push_back({"custom", "a\nb", "2"});
  expected.push_back({"message", "event 3", "3"});
  CHECK(rec.events == expected);
  CHECK(rec.opens == std::vector<int>{200});
  CHECK(rec.retries.empty());
  CHECK(rec.closed->code == sse::client_errc::closed);
  CHECK(c.state() == sse::client_state::closed);
  REQUIRE(server.requests().size() == 1);
  const auto& req = server.requests()[0];
  CHECK(req.method == "GET");
  CHECK(req.target == "/events?topic=a");
  CHECK(req.header("Accept") == "text/event-stream");
  CHECK(req.header("Cache-Control") == "no-cache");
  CHECK(req.header("Host") == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(req.header("Authorization") == "Bearer t0ken");
  CHECK(req.header("X-Trace") == "42");
  CHECK_FALSE(req.has_header("Last-Event-ID"));
}

TEST_CASE("client: Last-Event-ID on reconnect, as a header and as the lastEventId query parameter") {
  for (const bool query : {false, true}) {
    CAPTURE(query);
    asio::io_context io;
    sse_test::test_server server(io, [](const request& req, std::size_t index) {
      if (index == 0) return reply{.pieces = {sse_test::numbered_events(1, 3)}};  // then the body ends
      reply r{.hold_open = true};
      if (last_id_of(req) == 3) r.pieces = {sse_test::numbered_events(4, 5)};
      return r;
    });
    auto opts = fast_options();
    opts.send_last_event_id_query = query;
    sse::client c(io, server.url("/events?topic=a%20b"), opts);
    sse_test::recorder rec;
    rec.attach(c);
    c.start();
    REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 5; }));
    CHECK(rec.events == expected_numbered(1, 5));
    REQUIRE(rec.retries.size() == 1);
    CHECK(rec.retries[0].code == sse::client_errc::stream_ended);
    CHECK(rec.delays[0] == 5ms);  // an ordinary reconnect waits the reconnection time
    REQUIRE(server.requests().size() == 2);
    CHECK_FALSE(server.requests()[0].has_header("Last-Event-ID"));
    CHECK(server.requests()[0].target == "/events?topic=a%20b");
    CHECK(server.requests()[1].header("Last-Event-ID") == "3");
    CHECK(server.requests()[1].target == (query ? "/events?topic=a%20b&lastEventId=3" : "/events?topic=a%20b"));
    CHECK(c.last_event_id() == "5");
  }
}

TEST_CASE("client: an initial last_event_id is sent on the first connection") {
  asio::io_context io;
  sse_test::test_server server(io, resuming(4));
  auto opts = fast_options();
  opts.last_event_id = "2";
  sse::client c(io, server.url(), opts);
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 2; }));
  CHECK(rec.events == expected_numbered(3, 4));
  CHECK(server.requests()[0].header("Last-Event-ID") == "2");
}

TEST_CASE("client: retry: from the server sets the reconnection time") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request&, std::size_t index) {
    if (index == 0) return reply{.pieces = {"retry: 30\n\n" + sse_test::numbered_events(1, 1)}};
    return reply{.pieces = {sse_test::numbered_events(2, 2)}, .hold_open = true};
  });
  auto opts = fast_options();
  opts.initial_retry = 20s;  // the test would time out if retry: were ignored
  sse::client c(io, server.url(), opts);
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 2; }));
  CHECK(rec.events == expected_numbered(1, 2));
  REQUIRE(rec.delays.size() == 1);
  CHECK(rec.delays[0] == 30ms);
  CHECK(c.reconnection_time() == 30ms);
  CHECK(rec.connect_times[1] - rec.retry_times[0] >= 30ms);
}

TEST_CASE("client: 204 No Content stops for good") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request&, std::size_t) {
    return reply{.status = 204, .reason = "No Content", .content_type = ""};
  });
  sse::client c(io, server.url(), fast_options());
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.closed.has_value(); }));
  io.run_for(50ms);  // no reconnect may follow
  CHECK(rec.closed->code == sse::client_errc::no_content);
  CHECK(rec.closed->status == 204);
  CHECK(rec.closed->message == "HTTP 204 No Content from " + server.url());
  CHECK(rec.retries.empty());
  CHECK(rec.events.empty());
  CHECK(server.requests().size() == 1);
  CHECK(c.state() == sse::client_state::closed);
}

TEST_CASE("client: a content type other than text/event-stream fails with a clear error") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request&, std::size_t) {
    return reply{.content_type = "text/html; charset=utf-8", .body = framing::content_length,
                 .pieces = {"<html>data: no\n\n</html>"}};
  });
  sse::client c(io, server.url(), fast_options());
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.closed.has_value(); }));
  io.run_for(50ms);
  CHECK(rec.closed->code == sse::client_errc::bad_content_type);
  CHECK(rec.closed->status == 200);
  CHECK(rec.closed->message == "expected Content-Type text/event-stream but got 'text/html; charset=utf-8' (HTTP 200 OK from " +
                                   server.url() + ")");
  CHECK(rec.events.empty());
  CHECK(rec.opens.empty());
  CHECK(server.requests().size() == 1);
}

TEST_CASE("client: the content type check ignores case and parameters") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request&, std::size_t) {
    return reply{.content_type = "Text/Event-Stream ; charset=utf-8", .pieces = {sse_test::numbered_events(1, 1)},
                 .hold_open = true};
  });
  sse::client c(io, server.url(), fast_options());
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() == 1; }));
  CHECK(rec.events == expected_numbered(1, 1));
}

TEST_CASE("client: 404 is fatal with the status in the message") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request&, std::size_t) {
    return reply{.status = 404, .reason = "Not Found", .content_type = "text/plain",
                 .body = framing::content_length, .pieces = {"no such topic"}};
  });
  sse::client c(io, server.url(), fast_options());
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.closed.has_value(); }));
  io.run_for(50ms);
  CHECK(rec.closed->code == sse::client_errc::http_status);
  CHECK(rec.closed->status == 404);
  CHECK(rec.closed->message == "HTTP 404 Not Found from " + server.url());
  CHECK(rec.retries.empty());
  CHECK(server.requests().size() == 1);
}

TEST_CASE("client: 500 is fatal, as for a browser") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request&, std::size_t) {
    return reply{.status = 500, .reason = "Internal Server Error", .body = framing::content_length};
  });
  sse::client c(io, server.url(), fast_options());
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.closed.has_value(); }));
  CHECK(rec.closed->code == sse::client_errc::http_status);
  CHECK(rec.closed->status == 500);
  CHECK(server.requests().size() == 1);
}

TEST_CASE("client: 503 is retried with backoff, Retry-After is honoured") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request& req, std::size_t index) {
    if (index == 0)
      return reply{.status = 503, .reason = "Service Unavailable", .content_type = "text/plain",
                   .headers = {{"Retry-After", "0"}}, .body = framing::content_length, .pieces = {"down"}};
    if (index == 1) return reply{.status = 503, .reason = "Service Unavailable", .body = framing::content_length};
    return resuming(2)(req, index);
  });
  sse::client c(io, server.url(), fast_options());
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 2; }));
  CHECK(rec.events == expected_numbered(1, 2));
  REQUIRE(rec.retries.size() == 2);
  for (const auto& r : rec.retries) {
    CHECK(r.code == sse::client_errc::http_status);
    CHECK(r.status == 503);
    CHECK(r.message == "HTTP 503 Service Unavailable from " + server.url());
  }
  CHECK(rec.delays[0] == 0ms);   // Retry-After: 0
  CHECK(rec.delays[1] <= 10ms);  // second failure: uniform(0, min(40, 5 * 2^1))
  CHECK(rec.opens == std::vector<int>{200});
  CHECK_FALSE(rec.closed.has_value());
}

TEST_CASE("client: an HTTP-date Retry-After is waited for, counted from the response's Date") {
  // The server's clock is an hour behind the client's: Retry-After minus now would be in the past
  // (an immediate retry), Retry-After minus Date is the 2 s the server meant.
  asio::io_context io;
  sse_test::test_server server(io, [](const request& req, std::size_t index) {
    if (index == 0) {
      const auto server_now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) - 1h;
      return reply{.status = 503, .reason = "Service Unavailable", .content_type = "text/plain",
                   .headers = {{"Date", sse_test::imf_fixdate(server_now)},
                               {"Retry-After", sse_test::imf_fixdate(server_now + 2s)}},
                   .body = framing::content_length, .pieces = {"down"}};
    }
    return resuming(2)(req, index);
  });
  auto opts = fast_options();
  opts.backoff_max = 10s;  // the cap, above the 2 s asked for
  sse::client c(io, server.url(), opts);
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 2; }, 15s));
  CHECK(rec.events == expected_numbered(1, 2));
  REQUIRE(rec.retries.size() == 1);
  CHECK(rec.retries[0].status == 503);
  CHECK(rec.delays[0] == 2000ms);
  REQUIRE(rec.connect_times.size() == 2);
  const auto waited = rec.connect_times[1] - rec.retry_times[0];
  CHECK(waited >= 2000ms);
  CHECK(waited < 8000ms);  // generous: only catches a wait far beyond the one asked for
  CHECK(rec.opens == std::vector<int>{200});
}

TEST_CASE("client: a Retry-After that does not parse is ignored as if absent") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request& req, std::size_t index) {
    if (index == 0)  // a two-digit year in the IMF form: invalid, so the ordinary backoff applies
      return reply{.status = 503, .reason = "Service Unavailable", .content_type = "text/plain",
                   .headers = {{"Retry-After", "Sun, 06 Nov 94 08:49:37 GMT"}}, .body = framing::content_length};
    return resuming(1)(req, index);
  });
  auto opts = fast_options();
  opts.backoff_max = 10s;
  sse::client c(io, server.url(), opts);
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 1; }));
  REQUIRE(rec.delays.size() == 1);
  CHECK(rec.delays[0] <= 5ms);  // first failure: uniform(0, backoff_base)
}

TEST_CASE("client: max_retries gives up with retry_limit") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request&, std::size_t) {
    return reply{.status = 502, .reason = "Bad Gateway", .body = framing::content_length};
  });
  auto opts = fast_options();
  opts.max_retries = 3;
  sse::client c(io, server.url(), opts);
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.closed.has_value(); }));
  CHECK(rec.retries.size() == 3);
  CHECK(server.requests().size() == 4);
  CHECK(rec.closed->code == sse::client_errc::retry_limit);
  CHECK(rec.closed->status == 502);
  CHECK(rec.closed->message == "gave up after 4 failures; the last: HTTP 502 Bad Gateway from " + server.url());
}

TEST_CASE("client: redirects are followed; credentials do not cross origins") {
  asio::io_context io;
  std::uint16_t port = 0;
  sse_test::test_server server(io, [&port](const request& req, std::size_t) {
    if (req.target == "/old") return reply{.status = 307, .reason = "Temporary Redirect", .headers = {{"Location", "/mid"}}};
    if (req.target == "/mid")  // same server, another origin (host name instead of address)
      return reply{.status = 301, .reason = "Moved Permanently",
                   .headers = {{"Location", "http://localhost:" + std::to_string(port) + "/events"}}};
    return reply{.pieces = {sse_test::numbered_events(1, 2)}, .hold_open = true};
  });
  port = server.port();
  auto opts = fast_options();
  opts.headers = {{"Authorization", "Bearer secret"}, {"X-Keep", "1"}};
  sse::client c(io, server.url("/old"), opts);
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 2; }));
  CHECK(rec.events == expected_numbered(1, 2));
  CHECK(rec.retries.empty());
  REQUIRE(server.requests().size() == 3);
  CHECK(server.requests()[0].target == "/old");
  CHECK(server.requests()[1].target == "/mid");
  CHECK(server.requests()[1].header("Authorization") == "Bearer secret");
  CHECK(server.requests()[2].target == "/events");
  CHECK(server.requests()[2].header("Host") == "localhost:" + std::to_string(port));
  CHECK_FALSE(server.requests()[2].has_header("Authorization"));
  CHECK(server.requests()[2].header("X-Keep") == "1");
  REQUIRE(rec.connect_urls.size() == 3);
  CHECK(rec.connect_urls[2] == "http://localhost:" + std::to_string(port) + "/events");
}

TEST_CASE("client: the redirect limit is enforced") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request&, std::size_t) {
    return reply{.status = 302, .reason = "Found", .headers = {{"Location", "/loop"}}};
  });
  auto opts = fast_options();
  opts.max_redirects = 3;
  sse::client c(io, server.url("/loop"), opts);
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.closed.has_value(); }));
  CHECK(rec.closed->code == sse::client_errc::too_many_redirects);
  CHECK(rec.closed->status == 302);
  CHECK(rec.closed->message == "more than 3 redirects, the last HTTP 302 Found from " + server.url("/loop") + " to " +
                                   server.url("/loop"));
  CHECK(server.requests().size() == 4);
  CHECK(rec.retries.empty());
}

TEST_CASE("client: a response head that never comes times out and is retried") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request& req, std::size_t index) {
    if (index == 0) return reply{.no_response = true};
    return resuming(1)(req, index);
  });
  auto opts = fast_options();
  opts.response_timeout = 100ms;
  sse::client c(io, server.url(), opts);
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 1; }));
  CHECK(rec.events == expected_numbered(1, 1));
  REQUIRE(rec.retries.size() == 1);
  CHECK(rec.retries[0].code == sse::client_errc::response_timeout);
  CHECK(rec.retries[0].message == "waiting for the response head from " + server.url() + ": nothing for 100 ms");
}

TEST_CASE("client: connection refused is retried with backoff") {
  asio::io_context io;
  std::uint16_t dead_port = 0;
  {
    asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    dead_port = a.local_endpoint().port();
  }
  auto opts = fast_options();
  opts.max_retries = 2;
  sse::client c(io, "http://127.0.0.1:" + std::to_string(dead_port) + "/events", opts);
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.closed.has_value(); }));
  REQUIRE(rec.retries.size() == 2);
  CHECK(rec.retries[0].code == asio::error::connection_refused);
  CHECK(rec.closed->code == sse::client_errc::retry_limit);
}

TEST_CASE("client: chunked, close-delimited and Content-Length bodies") {
  for (const framing f : {framing::chunked, framing::close_delimited, framing::content_length}) {
    CAPTURE(static_cast<int>(f));
    asio::io_context io;
    sse_test::test_server server(io, [f](const request& req, std::size_t index) {
      if (index == 0) {
        const std::string all = sse_test::numbered_events(1, 3);
        // Pieces cut inside events and inside a line break pair.
        return reply{.body = f, .pieces = {all.substr(0, 5), all.substr(5, 17), all.substr(22)}};
      }
      return resuming(3)(req, index);
    });
    sse::client c(io, server.url(), fast_options());
    sse_test::recorder rec;
    rec.attach(c);
    c.start();
    REQUIRE(sse_test::run_until(io, [&] { return server.requests().size() >= 2 && rec.opens.size() >= 2; }));
    CHECK(rec.events == expected_numbered(1, 3));
    REQUIRE(rec.retries.size() == 1);
    CHECK(rec.retries[0].code == sse::client_errc::stream_ended);
    CHECK(server.requests()[1].header("Last-Event-ID") == "3");
  }
}

TEST_CASE("client: a 200 KiB event split across many reads and chunks") {
  std::string big;
  for (std::size_t i = 0; i < 200 * 1024; ++i) big.push_back(i % 1001 == 1000 ? '\n' : static_cast<char>('a' + i % 26));
  asio::io_context io;
  sse_test::test_server server(io, [&big](const request&, std::size_t) {
    const std::string wire = sse::encode({.type = "big", .data = big, .id = "b1"}) + sse_test::numbered_events(2, 2);
    reply r{.hold_open = true};
    for (std::size_t pos = 0; pos < wire.size(); pos += 7001) r.pieces.push_back(wire.substr(pos, 7001));
    return r;
  });
  auto opts = fast_options();
  opts.read_buffer_bytes = 4096;
  sse::client c(io, server.url(), opts);
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 2; }));
  REQUIRE(rec.events.size() == 2);
  CHECK(rec.events[0].type == "big");
  CHECK(rec.events[0].id == "b1");
  CHECK(rec.events[0].data.size() == big.size());
  CHECK(rec.events[0].data == big);
  CHECK(rec.events[1] == sse_test::rec_event{"message", "event 2", "2"});
}

TEST_CASE("client: an event over the parser limit is fatal with a clear error") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request&, std::size_t) {
    return reply{.pieces = {sse_test::numbered_events(1, 1), "data: " + std::string(3000, 'x') + "\n\n"},
                 .hold_open = true};
  });
  auto opts = fast_options();
  opts.parser_limits = {.max_line_bytes = 1024, .max_event_bytes = 4096};
  sse::client c(io, server.url(), opts);
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.closed.has_value(); }));
  CHECK(rec.events == expected_numbered(1, 1));
  CHECK(rec.closed->code == sse::errc::line_too_long);
  CHECK(server.requests().size() == 1);
}

TEST_CASE("client: close() from inside on_event stops further events at once") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request&, std::size_t) {
    return reply{.pieces = {sse_test::numbered_events(1, 5)}, .hold_open = true};
  });
  sse::client c(io, server.url(), fast_options());
  sse_test::recorder rec;
  rec.attach(c);
  c.on_event([&](const sse::received_event& ev) {
    rec.events.push_back({std::string(ev.type), std::string(ev.data), std::string(ev.id)});
    if (rec.events.size() == 2) c.close();
  });
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.closed.has_value(); }));
  io.run_for(30ms);
  CHECK(rec.events == expected_numbered(1, 2));
  CHECK(rec.closed->code == sse::client_errc::closed);
}

TEST_CASE("client: close() from another thread") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request&, std::size_t) {
    return reply{.pieces = {sse_test::numbered_events(1, 1)}, .hold_open = true};
  });
  sse::client c(io, server.url(), fast_options());
  std::atomic<int> events{0};
  std::atomic<bool> closed{false};
  std::atomic<int> closed_code{0};
  c.on_event([&](const sse::received_event&) { ++events; });
  c.on_closed([&](const sse::client_error& e) {
    closed_code = e.code.value();
    closed = true;
  });
  c.start();
  auto guard = asio::make_work_guard(io);
  std::thread t([&] { io.run_for(8s); });
  for (int i = 0; i < 800 && events == 0; ++i) std::this_thread::sleep_for(10ms);
  c.close();
  for (int i = 0; i < 800 && !closed; ++i) std::this_thread::sleep_for(10ms);
  io.stop();
  t.join();
  CHECK(events == 1);
  CHECK(closed);
  CHECK(closed_code == static_cast<int>(sse::client_errc::closed));
  CHECK(c.state() == sse::client_state::closed);
}

TEST_CASE("client: over a Unix domain socket") {
  asio::io_context io;
  const std::string path = "/tmp/sse-client-test-" + std::to_string(::getpid()) + ".sock";
  sse_test::test_server server(io, path, resuming(3));
  for (const std::string& u : {"unix:" + path + ":/events?x=1", "http+unix://" + std::string("%2Ftmp%2F") +
                                                                    path.substr(5) + "/events?x=1"}) {
    CAPTURE(u);
    sse::client c(io, u, fast_options());
    sse_test::recorder rec;
    rec.attach(c);
    c.start();
    REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 3; }));
    CHECK(rec.events == expected_numbered(1, 3));
    c.close();
    REQUIRE(sse_test::run_until(io, [&] { return rec.closed.has_value(); }));
  }
  REQUIRE(server.requests().size() == 2);
  CHECK(server.requests()[0].target == "/events?x=1");
  CHECK(server.requests()[0].header("Host") == "localhost");
}

TEST_CASE("client: an https URL without a TLS transport fails clearly") {
  asio::io_context io;
  sse::client c(io, "https://127.0.0.1:1/events", fast_options());
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.closed.has_value(); }));
  CHECK(rec.closed->code == sse::client_errc::tls_unavailable);
}

TEST_CASE("client: invalid arguments throw") {
  asio::io_context io;
  CHECK_THROWS_AS(sse::client(io, "ftp://x/", {}), std::invalid_argument);
  CHECK_THROWS_AS(sse::client(io, "http://x/", {.headers = {{"Bad Name", "v"}}}), std::invalid_argument);
  CHECK_THROWS_AS(sse::client(io, "http://x/", {.headers = {{"X", "a\r\nInjected: 1"}}}), std::invalid_argument);
  CHECK_THROWS_AS(sse::client(io, "http://x/", {.last_event_id = "a\nb"}), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Through the fault-injecting proxy.

TEST_CASE("fault proxy: cut after K bytes, again and again: every event exactly once, in order") {
  constexpr int total = 60;
  asio::io_context io;
  sse_test::test_server server(io, resuming(total));
  // Cut points vary so that cuts land in the head, in chunk-size lines, in fields, between CR and LF.
  sse_test::fault_proxy proxy(io, server.port(), [](std::size_t index) {
    sse_test::fault f;
    if (index < 40) f.cut_after = 60 + (index * 37) % 211;
    return f;
  });
  sse::client c(io, proxy.url(), fast_options());
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= total; }, 15s));
  io.run_for(20ms);
  CHECK(rec.events == expected_numbered(1, total));
  CHECK(proxy.connections() > 10);
  CHECK(rec.retries.size() == proxy.connections() - 1);
  MESSAGE("connections through the cutting proxy: " << proxy.connections());
  // Each reconnect resumed from the last event seen: the ids sent never go back, and end near the end.
  int previous = 0;
  for (const auto& req : server.requests()) {
    CHECK(last_id_of(req) >= previous);
    previous = last_id_of(req);
  }
  CHECK(previous > total / 2);
}

TEST_CASE("fault proxy: 502 for a while: backoff delays stay within their bounds") {
  asio::io_context io;
  sse_test::test_server server(io, resuming(2));
  constexpr std::size_t bad = 7;
  sse_test::fault_proxy proxy(io, server.port(), [](std::size_t index) {
    return sse_test::fault{.answer_502 = index < bad};
  });
  auto opts = fast_options();
  opts.backoff_base = 10ms;
  opts.backoff_max = 80ms;
  sse::client c(io, proxy.url(), opts);
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 2; }));
  CHECK(rec.events == expected_numbered(1, 2));
  REQUIRE(rec.retries.size() == bad);
  REQUIRE(rec.connect_times.size() == bad + 1);
  std::string measured;
  for (std::size_t i = 0; i < bad; ++i) {
    CAPTURE(i);
    CHECK(rec.retries[i].status == 502);
    CHECK(rec.retries[i].message == "HTTP 502 Bad Gateway from " + proxy.url());
    const auto bound = std::min(80ms, 10ms * (1 << i));
    CHECK(rec.delays[i] >= 0ms);
    CHECK(rec.delays[i] <= bound);
    const auto waited = rec.connect_times[i + 1] - rec.retry_times[i];
    CHECK(waited >= rec.delays[i]);
    measured += std::to_string(rec.delays[i].count()) + "/" + std::to_string(bound.count()) + " ";
  }
  MESSAGE("backoff delays / bounds (ms): " << measured);
}

TEST_CASE("fault proxy: a silent stall is noticed by the idle watchdog") {
  asio::io_context io;
  sse_test::test_server server(io, resuming(5));
  sse_test::fault_proxy proxy(io, server.port(), [](std::size_t index) {
    sse_test::fault f;
    if (index == 0) f.stall_after = 170;  // the head, event 1, part of event 2 or 3
    return f;
  });
  auto opts = fast_options();
  opts.idle_timeout = 150ms;
  sse::client c(io, proxy.url(), opts);
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 5; }));
  CHECK(rec.events == expected_numbered(1, 5));
  REQUIRE(rec.retries.size() == 1);
  CHECK(rec.retries[0].code == sse::client_errc::idle_timeout);
  CHECK(rec.retries[0].message == "idle stream from " + proxy.url() + ": nothing for 150 ms");
  CHECK(rec.retry_times[0] - rec.connect_times[0] >= 150ms);
  CHECK(proxy.connections() == 2);
}

TEST_CASE("fault proxy: idle watchdog is kept quiet by pings") {
  asio::io_context io;
  sse_test::test_server server(io, [](const request&, std::size_t) {
    reply r{.piece_delay = 40ms, .hold_open = true};
    r.pieces.push_back(sse_test::numbered_events(1, 1));
    for (int i = 0; i < 20; ++i) r.pieces.push_back(": ping\n\n");
    r.pieces.push_back(sse_test::numbered_events(2, 2));
    return r;
  });
  sse_test::fault_proxy proxy(io, server.port(), nullptr);
  auto opts = fast_options();
  // Half the stream's 840 ms between its two events, ten times the ping interval (150 ms was
  // missed once on a loaded machine, ctest -j2).
  opts.idle_timeout = 400ms;
  sse::client c(io, proxy.url(), opts);
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 2; }));
  CHECK(rec.events == expected_numbered(1, 2));
  CHECK(rec.retries.empty());
}

}  // namespace test_client_cases

// response::drop() (status 0): no answer at all, the connection reset (SO_LINGER 0), as a proxy sees
// an upstream that died - from a plain route, an asynchronous one, an SSE route's refusal, and on
// a keep-alive connection after a normal answer. Raw loopback sockets: the peer must see zero
// bytes and ECONNRESET, and the server must go on serving.
#include "sse/server.hpp"

#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <mutex>
#include <thread>
#include <vector>

#include "../support/http_client.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_drop_connection_cases {

using namespace std::chrono_literals;

namespace {

sse::server_options quick_options() {
  sse::server_options o;
  o.port = 0;
  o.threads = 2;
  o.hub.keepalive = std::nullopt;
  o.shutdown_grace = 1s;
  return o;
}

struct ending {
  std::string bytes;  ///< what arrived before the end
  int error = 0;      ///< errno of the read that ended it (0: a clean EOF)
  bool ended = false; ///< false: still open after the wait
};

/// Reads until the connection ends (bounded wait).
ending read_to_end(sse_test::raw_socket& s, std::chrono::milliseconds wait = 5s) {
  ending e;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{s.fd(), POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const auto n = ::recv(s.fd(), buf, sizeof buf, 0);
    if (n > 0) {
      e.bytes.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    e.error = n < 0 ? errno : 0;
    e.ended = true;
    return e;
  }
  return e;
}

const char* get(const char* path) {
  static thread_local std::string req;
  req = std::string("GET ") + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  return req.c_str();
}

}  // namespace

TEST_CASE("response::drop(): the peer sees a reset and not one byte; the server goes on") {
  sse::server srv(quick_options());
  struct joiner {  // the async route's threads, joined before the server goes
    std::mutex mu;
    std::vector<std::thread> threads;
    ~joiner() {
      for (auto& t : threads) t.join();
    }
  } helpers;
  srv.route("GET", "/drop", [](const sse::request_context&) { return sse::response::drop(); });
  srv.route("GET", "/ok", [](const sse::request_context&) { return sse::response::text(200, "ok"); });
  srv.async_route("GET", "/drop-later", [&helpers](const sse::request_context&, std::function<void(sse::response)> respond) {
    std::lock_guard lk(helpers.mu);
    helpers.threads.emplace_back([respond = std::move(respond)] { respond(sse::response::drop()); });
  });
  srv.sse_route("/events/{t}", [](const sse::request_context& c) -> std::variant<sse::subscription, sse::response> {
    if (c.param("t") == "gone") return sse::response::drop();
    return sse::subscription{std::string(c.param("t"))};
  });
  srv.start();

  for (const char* path : {"/drop", "/drop-later", "/events/gone"}) {
    CAPTURE(path);
    sse_test::raw_socket c(srv.port());
    c.send(get(path));
    const auto e = read_to_end(c);
    CHECK(e.ended);
    CHECK(e.bytes.empty());
    CHECK(e.error == ECONNRESET);
  }

  SUBCASE("on a keep-alive connection, after a normal answer") {
    sse_test::raw_socket c(srv.port());
    c.send(get("/ok"));
    std::string in;
    for (int i = 0; i < 100 && in.find("\r\n\r\nok\n") == std::string::npos; ++i) c.read_some(in, 50ms);
    REQUIRE(in.starts_with("HTTP/1.1 200 OK\r\n"));
    c.send(get("/drop"));
    const auto e = read_to_end(c);
    CHECK(e.ended);
    CHECK(e.bytes.empty());
    CHECK(e.error == ECONNRESET);
  }
  SUBCASE("the server still answers, and a drop is counted as no HTTP error") {
    CHECK(sse_test::get(srv.port(), "/ok").status == 200);
    CHECK(srv.http_metrics().http_server_errors.load() == 0);
    CHECK(srv.http_metrics().http_client_errors.load() == 0);
  }
}

}  // namespace test_drop_connection_cases

// sse::server against hostile and unlucky peers, over real loopback sockets: a client that
// pipelines a thousand requests and stops reading (one write in flight, responses in request order,
// no 408 written over a response), Expect: 100-continue, the accept loop out of file descriptors
// (a pause, not a spin), the Host allow-list; and the sans-io decisions behind them by table.
#include "sse/server.hpp"

#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/time.h>

#include <atomic>
#include <cerrno>
#include <system_error>
#include <thread>

#include "../support/http_client.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_server_hardening_cases {

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

/// Splits a byte stream of HTTP/1.1 responses (Content-Length bodies) into (status, body) pairs;
/// stops at an incomplete one.
std::vector<std::pair<int, std::string>> split_responses(std::string_view in) {
  std::vector<std::pair<int, std::string>> out;
  for (;;) {
    const auto end = in.find("\r\n\r\n");
    if (end == std::string_view::npos || !in.starts_with("HTTP/1.1 ")) break;
    const std::string_view head = in.substr(0, end + 2);
    const auto cl = head.find("Content-Length: ");
    if (cl == std::string_view::npos) break;
    const std::size_t len = std::stoul(std::string(head.substr(cl + 16, head.find("\r\n", cl) - cl - 16)));
    if (in.size() < end + 4 + len) break;
    out.emplace_back(std::stoi(std::string(in.substr(9, 3))), std::string(in.substr(end + 4, len)));
    in.remove_prefix(end + 4 + len);
  }
  return out;
}

std::string pipelined_gets(int n) {
  std::string reqs;
  for (int i = 0; i < n; ++i) reqs += "GET /n/" + std::to_string(i) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  return reqs;
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

TEST_CASE("a client that pipelines 1000 requests and stops reading gets every response once, in order") {
  auto o = quick_options();
  o.head_timeout = 200ms;  // much shorter than the stall below: it must not fire on a response
  o.write_timeout = 10s;
  sse::server srv(o);
  // 1000 x 16 KiB: far more than the socket buffers hold, so the server's writes wait for the client.
  const std::string pad(16000, 'x');
  srv.route("GET", "/n/{i}", [&](const sse::request_context& c) { return sse::response::text(200, std::string(c.param("i")) + " " + pad); });
  srv.start();

  sse_test::raw_socket client(srv.port());
  client.send(pipelined_gets(1000));
  std::this_thread::sleep_for(1200ms);  // six head timeouts while the server waits to write
  std::string in;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline && split_responses(in).size() < 1000)
    if (!client.read_some(in, 100ms)) break;
  const auto got = split_responses(in);
  REQUIRE(got.size() == 1000);
  for (int i = 0; i < 1000; ++i) {
    CHECK(got[static_cast<std::size_t>(i)].first == 200);
    CHECK(got[static_cast<std::size_t>(i)].second == std::to_string(i) + " " + pad + "\n");
    if (got[static_cast<std::size_t>(i)].first != 200) break;
  }
  CHECK(in.find(" 408 Request Timeout") == std::string::npos);
  CHECK(srv.http_metrics().http_timeouts.load() == 0);
  // The connection is still usable afterwards.
  client.send("GET /n/last HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  std::string tail;
  while (client.read_some(tail, 100ms) && !client.eof()) {}
  const auto last = split_responses(tail);
  REQUIRE(last.size() == 1);
  CHECK(last[0].second == "last " + pad + "\n");
}

TEST_CASE("a client that never reads is closed after the write timeout; what it got is an in-order prefix") {
  auto o = quick_options();
  o.head_timeout = 100ms;
  o.write_timeout = 500ms;
  sse::server srv(o);
  const std::string pad(16000, 'y');
  srv.route("GET", "/n/{i}", [&](const sse::request_context& c) { return sse::response::text(200, std::string(c.param("i")) + pad); });
  srv.start();

  sse_test::raw_socket client(srv.port());
  client.send(pipelined_gets(1000));
  std::this_thread::sleep_for(1500ms);
  std::string in;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline && client.read_some(in, 100ms)) {}
  CHECK(client.eof());  // closed by the server, not by the deadline above
  const auto got = split_responses(in);
  CHECK(got.size() < 1000);
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].first == 200);
    CHECK(got[i].second == std::to_string(i) + pad + "\n");
  }
  CHECK(in.find(" 408 ") == std::string::npos);
  CHECK(srv.http_metrics().http_timeouts.load() == 1);
  CHECK(sse_test::get(srv.port(), "/healthz").status == 200);  // everyone else is served
}

TEST_CASE("Expect: 100-continue gets 100 Continue before the body, or the final refusal at once") {
  auto o = quick_options();
  sse::server srv(o);
  srv.publish_route("/publish/{topic}");
  srv.route("POST", "/guarded", [](const sse::request_context&) { return sse::response::text(200, "in"); },
            sse::bearer_token("secret"));
  srv.start();
  const std::string body(3000, 'b');
  auto head = [&](std::string_view path, std::size_t len, std::string_view extra = {}) {
    return "POST " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + std::to_string(len) +
           "\r\nExpect: 100-continue\r\n" + std::string(extra) + "\r\n";
  };
  SUBCASE("accepted: 100, then the body, then 202") {
    sse_test::raw_socket c(srv.port());
    c.send(head("/publish/t", body.size()));
    std::string in;
    const auto t0 = std::chrono::steady_clock::now();
    while (in.size() < 25 && std::chrono::steady_clock::now() - t0 < 3s) c.read_some(in, 50ms);
    CHECK(in == "HTTP/1.1 100 Continue\r\n\r\n");
    c.send(body);
    in.clear();
    const auto t1 = std::chrono::steady_clock::now();
    while (split_responses(in).empty() && std::chrono::steady_clock::now() - t1 < 3s) c.read_some(in, 50ms);
    const auto r = split_responses(in);
    REQUIRE(r.size() == 1);
    CHECK(r[0].first == 202);
    CHECK(srv.hub().last_id("t") != "");
  }
  SUBCASE("refused before the body: no route, auth, size, unknown expectation") {
    for (const auto& row : std::vector<std::pair<std::string, int>>{
             {head("/nowhere", body.size()), 404},
             {head("/guarded", body.size()), 401},
             {head("/guarded", body.size(), "Authorization: Bearer wrong\r\n"), 401},
             {head("/publish/t", (64u << 10) + 1), 413},
             {"POST /publish/t HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nExpect: coffee\r\n\r\n", 417}}) {
      const auto& [req, status] = row;  // (clang 14 cannot capture a structured binding in CAPTURE's lambda)
      const std::string& shown = req;
      CAPTURE(shown);
      sse_test::raw_socket c(srv.port());
      c.send(req);
      std::string in;
      const auto t0 = std::chrono::steady_clock::now();
      while (!c.eof() && std::chrono::steady_clock::now() - t0 < 3s) c.read_some(in, 50ms);
      CHECK(in.find("100 Continue") == std::string::npos);
      CHECK(in.starts_with("HTTP/1.1 " + std::to_string(status) + " "));
      CHECK(c.eof());  // the body was not read: the connection ends
    }
    CHECK(srv.hub().last_id("t") == "");
  }
  SUBCASE("the right token gets 100 and the answer") {
    sse_test::raw_socket c(srv.port());
    c.send(head("/guarded", 2, "Authorization: Bearer secret\r\n"));
    std::string in;
    const auto t0 = std::chrono::steady_clock::now();
    while (in.size() < 25 && std::chrono::steady_clock::now() - t0 < 3s) c.read_some(in, 50ms);
    CHECK(in == "HTTP/1.1 100 Continue\r\n\r\n");
    c.send("ok");
    in.clear();
    const auto t1 = std::chrono::steady_clock::now();
    while (split_responses(in).empty() && std::chrono::steady_clock::now() - t1 < 3s) c.read_some(in, 50ms);
    const auto r = split_responses(in);
    REQUIRE(r.size() == 1);
    CHECK(r[0] == std::pair<int, std::string>{200, "in\n"});
  }
}

TEST_CASE("only the configured Host names are served (DNS rebinding): others get 421") {
  auto o = quick_options();
  o.allowed_hosts = {"localhost", "127.0.0.1", "[::1]"};
  sse::server srv(o);
  srv.sse_route("/events/{topic}");
  srv.start();
  auto status_for = [&](std::string_view host) {
    return sse_test::request_raw(srv.port(), "GET /healthz HTTP/1.1\r\nHost: " + std::string(host) +
                                                 "\r\nConnection: close\r\n\r\n")
        .status;
  };
  CHECK(status_for("localhost") == 200);
  CHECK(status_for("LOCALHOST:8080") == 200);
  CHECK(status_for("127.0.0.1:1") == 200);
  CHECK(status_for("[::1]:8080") == 200);
  CHECK(status_for("localhost.") == 200);
  CHECK(status_for("evil.example") == 421);
  CHECK(status_for("evil.example:8080") == 421);
  CHECK(status_for("localhost.evil.example") == 421);
  sse_test::sse_subscriber sub(srv.port(), "/events/x", {}, false);  // sends Host: 127.0.0.1
  REQUIRE(sub.read_until([&] { return sub.status() != 0; }));
  CHECK(sub.status() == 200);
  const auto r = sse_test::request_raw(
      srv.port(), "GET /events/x HTTP/1.1\r\nHost: rebind.example\r\nAccept: text/event-stream\r\n\r\n");
  CHECK(r.status == 421);
  CHECK(r.body.find("rebind.example") != std::string::npos);
}

TEST_CASE("out of file descriptors, the accept loop pauses (no spin), logs rarely, and recovers") {
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  std::atomic<int> accept_lines{0};
  auto o = quick_options();
  o.raise_fd_limit = false;
  o.max_connections = 100000;  // far above what the descriptors allow: accept() itself fails
  o.on_log = [&](sse::log_level, std::string_view msg) {
    if (msg.starts_with("accept:")) ++accept_lines;
  };
  sse::server srv(o);
  srv.start();

  // UBSan checks the dynamic type of an object the first time a virtual call reaches it (then caches
  // it), reading memory through a pipe: out of descriptors that pipe fails and the check reports a
  // false "invalid vptr" on the error categories the accept loop compares with. Make those calls now.
  for (const auto& cat : {&std::system_category(), &std::generic_category()}) {
    for (const int e : {EMFILE, ECONNRESET}) {
      const std::error_code ec(e, *cat);
      CHECK(sse::detail::accept_backoff::is_exhaustion(ec) == (e == EMFILE));
      CHECK(!ec.message().empty());
    }
  }
  // Leave ~40 descriptors: the clients below use them up, then the server's accept() gets EMFILE.
  std::size_t open_now = 0;
  for (int fd = 0; fd < 4096; ++fd)
    if (::fcntl(fd, F_GETFD) != -1) ++open_now;
  rlimit low = saved;
  low.rlim_cur = open_now + 40;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  std::vector<std::unique_ptr<sse_test::raw_socket>> clients;
  for (int i = 0; i < 60; ++i) {
    try {
      clients.push_back(std::make_unique<sse_test::raw_socket>(srv.port()));
    } catch (const std::exception&) {
      break;  // the client side ran out too
    }
  }
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (srv.http_metrics().accept_errors.load() == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  REQUIRE(srv.http_metrics().accept_errors.load() > 0);
  const double cpu0 = cpu_seconds();
  const auto errors0 = srv.http_metrics().accept_errors.load();
  std::this_thread::sleep_for(1500ms);
  const double cpu = cpu_seconds() - cpu0;
  const auto errors = srv.http_metrics().accept_errors.load() - errors0;
  const int lines = accept_lines.load();
  const auto pauses = srv.http_metrics().accept_pauses.load();

  clients.clear();  // descriptors come back: the waiting connections are accepted
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  // Reported only now: the report itself may need a descriptor (UBSan's checks do, see above).
  MESSAGE("while out of descriptors for 1.5 s: " << cpu << " s of CPU, " << errors << " accept errors, "
                                                  << lines << " log lines");
  CHECK(errors < 40);  // a spin makes hundreds of thousands
  CHECK(cpu < 0.5);    // a spin burns 1.5 s
  CHECK(lines <= 4);
  CHECK(pauses > 0);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (status != 200 && std::chrono::steady_clock::now() < deadline) {
    try {
      status = sse_test::get(srv.port(), "/healthz").status;
    } catch (const std::exception&) {
    }
    if (status != 200) std::this_thread::sleep_for(50ms);
  }
  CHECK(status == 200);
  const auto m = sse_test::get(srv.port(), "/metrics").body;
  CHECK(m.find("sse_http_accept_errors_total ") != std::string::npos);
  CHECK(m.find("sse_http_max_connections 100000\n") != std::string::npos);
}

TEST_CASE("accept_backoff: at once after a per-connection error, growing pauses when out of a resource") {
  using sse::detail::accept_backoff;
  accept_backoff b;
  const auto t0 = accept_backoff::clock::time_point{} + 1h;
  const auto emfile = std::make_error_code(std::errc::too_many_files_open);
  const auto aborted = std::make_error_code(std::errc::connection_aborted);
  // delay (ms), log?, errors reported
  struct step {
    std::error_code ec;
    int at_ms;
    int delay_ms;
    bool log;
    std::uint64_t reported;
  };
  const std::vector<step> table = {
      {aborted, 0, 0, true, 1},    {emfile, 1, 10, false, 0},   {emfile, 20, 20, false, 0},
      {emfile, 50, 40, false, 0},  {emfile, 100, 80, false, 0}, {emfile, 200, 160, false, 0},
      {emfile, 400, 320, false, 0}, {emfile, 800, 640, false, 0}, {emfile, 1500, 1000, true, 8},
      {emfile, 2600, 1000, true, 1},
  };
  for (const auto& s : table) {
    CAPTURE(s.at_ms);
    const auto d = b.on_error(s.ec, t0 + std::chrono::milliseconds(s.at_ms));
    CHECK(d.delay.count() == s.delay_ms);
    CHECK(d.log == s.log);
    CHECK(d.errors_since_log == s.reported);
  }
  b.on_success();
  CHECK(b.on_error(emfile, t0 + 5s).delay.count() == 10);
  b.on_success();
  accept_backoff c;  // 17 per-connection errors in a row count as a resource problem too
  for (int i = 0; i < 16; ++i) CHECK(c.on_error(aborted, t0).delay.count() == 0);
  CHECK(c.on_error(aborted, t0).delay.count() == 10);
  CHECK(accept_backoff::is_exhaustion(std::make_error_code(std::errc::too_many_files_open_in_system)));
  CHECK(accept_backoff::is_exhaustion(std::make_error_code(std::errc::no_buffer_space)));
  CHECK_FALSE(accept_backoff::is_exhaustion(aborted));
}

TEST_CASE("fd_budget: the connection limit derived from RLIMIT_NOFILE") {
  struct row {
    std::uint64_t soft, headroom, connections;
  };
  for (const auto& r : std::vector<row>{{64, 32, 32}, {1024, 102, 922}, {20000, 1024, 18976}, {1048576, 1024, 1047552},
                                        {10, 32, 1}, {0, 32, 1}}) {
    CAPTURE(r.soft);
    const auto b = sse::fd_budget::for_limit(r.soft);
    CHECK(b.headroom == r.headroom);
    CHECK(b.connections == r.connections);
  }
}

TEST_CASE("is_allowed_host and host_without_port") {
  CHECK(sse::host_without_port("a.example:80") == "a.example");
  CHECK(sse::host_without_port("[::1]:80") == "[::1]");
  CHECK(sse::host_without_port("[::1]") == "[::1]");
  CHECK(sse::host_without_port("a.example") == "a.example");
  const std::vector<std::string> allowed{"localhost", "[::1]"};
  CHECK(sse::is_allowed_host("localhost", allowed));
  CHECK(sse::is_allowed_host("LocalHost:1", allowed));
  CHECK(sse::is_allowed_host("[::1]:8080", allowed));
  CHECK_FALSE(sse::is_allowed_host("[::2]:8080", allowed));
  CHECK_FALSE(sse::is_allowed_host("", allowed));
  CHECK_FALSE(sse::is_allowed_host("localhostx", allowed));
  CHECK(sse::is_allowed_host("anything", {"*"}));
}

TEST_CASE("log_escape keeps a log line one line, printable and bounded") {
  CHECK(sse::log_escape("abc-1") == "abc-1");
  CHECK(sse::log_escape(std::string_view("a\x1b[31m\x07\r\nb\\", 11)) == "a\\x1b[31m\\x07\\x0d\\x0ab\\\\");
  CHECK(sse::log_escape("\xff\x80") == "\\xff\\x80");
  CHECK(sse::log_escape(std::string(1000000, 'z'), 8) == "zzzzzzzz...(+999992 bytes)");
  // A whole message: UTF-8 and backslashes (already escaped values) pass, control bytes do not.
  CHECK(sse::log_escape("caf\xc3\xa9 a\\x1b\x1b\n", 100, sse::escape_mode::line) == "caf\xc3\xa9 a\\x1b\\x1b\\x0a");
  CHECK(sse::log_escape("0123456789", 4, sse::escape_mode::line) == "0123...(+6 bytes)");
}

}  // namespace test_server_hardening_cases

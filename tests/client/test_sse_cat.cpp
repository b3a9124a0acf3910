// sse-cat, the built binary, against the test server: exact stdout with --json and --max-events.
#include "sse/client.hpp"

#include <doctest/doctest.h>

#include <ostream>

#include <asio/executor_work_guard.hpp>

#include <cstdio>
#include <string>
#include <sys/wait.h>
#include <thread>

#include "test_server.hpp"

using sse_test::reply;
using sse_test::request;

namespace {

struct run_result {
  std::string out;
  int status = -1;
};

run_result run(const std::string& args) {
  const std::string cmd = std::string(SSE_CAT_PATH) + " " + args + " 2>/dev/null";
  run_result r;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

/// Runs a test server on its own thread for the duration of a test.
struct server_thread {
  asio::io_context io;
  sse_test::test_server server;
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);
  std::thread thread;
  explicit server_thread(sse_test::test_server::handler h) : server(io, std::move(h)), thread([this] { io.run_for(std::chrono::seconds(20)); }) {}
  ~server_thread() {
    io.stop();
    thread.join();
  }
};

}  // namespace

TEST_CASE("sse-cat --json --max-events prints exactly the events, reconnecting in between") {
  server_thread srv([](const request& req, std::size_t index) {
    if (index == 0)
      return reply{.pieces = {"retry: 10\n\n", sse_test::numbered_events(1, 2),
                              "event: update\ndata: {\"a\": \"b\\c\"}\ndata: line2\tend\n\n"}};  // then ends
    if (index == 1) return reply{.status = 503, .reason = "Service Unavailable", .body = sse_test::framing::content_length};
    reply r{.hold_open = true};
    if (req.header("Last-Event-ID") == "2") r.pieces = {sse_test::numbered_events(3, 9)};
    return r;
  });
  const auto r = run(srv.server.url() + " --json --max-events 5 --timeout 10 --backoff-max 0.05 -H 'X-Test: yes'");
  CHECK(r.status == 0);
  CHECK(r.out ==
        "{\"type\":\"message\",\"data\":\"event 1\",\"id\":\"1\"}\n"
        "{\"type\":\"message\",\"data\":\"event 2\",\"id\":\"2\"}\n"
        "{\"type\":\"update\",\"data\":\"{\\\"a\\\": \\\"b\\\\c\\\"}\\nline2\\tend\",\"id\":\"2\"}\n"
        "{\"type\":\"message\",\"data\":\"event 3\",\"id\":\"3\"}\n"
        "{\"type\":\"message\",\"data\":\"event 4\",\"id\":\"4\"}\n");
}

TEST_CASE("sse-cat: wire output, --last-event-id, --timeout, and exit codes") {
  server_thread srv([](const request& req, std::size_t) {
    if (req.target == "/missing") return reply{.status = 404, .reason = "Not Found", .body = sse_test::framing::content_length};
    reply r{.hold_open = true};
    if (req.header("Last-Event-ID") == "7" && req.header("X-Test") == "yes")
      r.pieces = {sse_test::numbered_events(8, 8), "event: done\ndata: a\ndata: b\n\n"};
    return r;
  });
  const auto r = run(srv.server.url() + " --last-event-id 7 --timeout 0.5 -H 'X-Test: yes'");
  CHECK(r.status == 0);
  CHECK(r.out == "id: 8\ndata: event 8\n\nid: 8\nevent: done\ndata: a\ndata: b\n\n");

  const auto missing = run(srv.server.url("/missing") + " --timeout 5");
  CHECK(missing.status == 1);
  CHECK(missing.out.empty());

  CHECK(run("").status == 2);
  CHECK(run("ftp://x/").status == 2);
  CHECK(run("http://x/ --max-events nope").status == 2);
  const auto help = run("--help");
  CHECK(help.status == 0);
  CHECK(help.out.rfind("usage: sse-cat URL", 0) == 0);
}

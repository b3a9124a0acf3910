// sse::server over real loopback sockets: fan-out, resume at the boundary, reset, pings, slow
// consumers, bad requests, limits, auth, CORS, HTTP/1.0, Unix sockets and clean shutdown.
#include "sse/server.hpp"

#include <doctest/doctest.h>

#include <dirent.h>

#include <atomic>
#include <set>
#include <thread>

#include "../support/http_client.hpp"
#include "../support/process.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_server_cases {

using namespace std::chrono_literals;
using sse_test::sse_subscriber;

namespace {

sse::server_options test_options() {
  sse::server_options o;
  o.port = 0;
  o.threads = 2;
  o.hub.keepalive = sse::keepalive_options{.interval = 10s};
  o.shutdown_grace = 2s;
  return o;
}

struct running_server {
  explicit running_server(sse::server_options o = test_options()) : srv(std::move(o)) {
    srv.sse_route("/events/{topic}");
    srv.publish_route("/publish/{topic}");
    srv.start();
  }
  unsigned short port() const { return srv.port(); }
  sse::server srv;
};

std::size_t count_dir(const char* path) {
  std::size_t n = 0;
  if (DIR* d = ::opendir(path)) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n;
}

}  // namespace

TEST_CASE("the SSE response head, the initial comment and events arrive exactly") {
  running_server s;
  sse_subscriber sub(s.port(), "/events/news");
  REQUIRE(sub.read_until([&] { return sub.body().size() >= 5; }));
  CHECK(sub.status() == 200);
  CHECK(sub.head() ==
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/event-stream; charset=utf-8\r\n"
        "Cache-Control: no-cache, no-store, no-transform\r\n"
        "X-Accel-Buffering: no\r\n"
        "Connection: keep-alive\r\n"
        "Transfer-Encoding: chunked\r\n");
  CHECK(sub.body() == ": ok\n");
  const std::string id = sse_test::publish(s.port(), "news", "line 1\nline 2");
  REQUIRE_FALSE(id.empty());
  REQUIRE(sub.wait_events(1));
  CHECK(sub.body() == ": ok\nid: " + id + "\ndata: line 1\ndata: line 2\n\n");
  CHECK(sub.events()[0] == sse_test::collected_event{"message", "line 1\nline 2", id, {}});
}

TEST_CASE("many clients receive identical events in order") {
  running_server s;
  std::vector<std::unique_ptr<sse_subscriber>> subs;
  for (int i = 0; i < 40; ++i) subs.push_back(std::make_unique<sse_subscriber>(s.port(), "/events/fan"));
  for (auto& sub : subs) REQUIRE(sub->read_until([&] { return sub->body().size() >= 5; }));
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) ids.push_back(s.srv.hub().publish("fan", {.type = "n", .data = std::to_string(i)}));
  for (auto& sub : subs) {
    REQUIRE(sub->wait_events(300));
    REQUIRE(sub->events().size() == 300);
    for (int i = 0; i < 300; ++i) {
      if (sub->events()[i].data != std::to_string(i) || sub->events()[i].id != ids[i]) {
        FAIL("event " << i << " differs: " << sub->events()[i]);
      }
    }
    CHECK(sub->events().front().type == "n");
  }
  CHECK(s.srv.metrics().events_delivered.load() == 40u * 300u);
}

TEST_CASE("resume with Last-Event-ID is exact at the boundary while publishing continues") {
  running_server s;
  std::atomic<bool> go{true};
  std::vector<std::string> ids;
  std::mutex ids_mu;
  sse_subscriber first(s.port(), "/events/live");
  REQUIRE(first.read_until([&] { return first.body().size() >= 5; }));
  std::thread publisher([&] {
    for (int i = 0; i < 2000 && go; ++i) {
      auto id = s.srv.hub().publish("live", {.data = std::to_string(i)});
      std::lock_guard lk(ids_mu);
      ids.push_back(id);
      if (i % 50 == 0) std::this_thread::sleep_for(1ms);
    }
  });
  // Resume several clients from ids taken while the publisher runs.
  std::vector<std::pair<std::size_t, std::unique_ptr<sse_subscriber>>> resumed;
  for (std::size_t k : {10u, 200u, 600u}) {
    REQUIRE(first.wait_events(k + 1, 10s));
    const std::string from = first.events()[k].id;
    const std::string header = (k == 200) ? "" : "Last-Event-ID: " + from + "\r\n";
    const std::string path = (k == 200) ? "/events/live?lastEventId=" + from : "/events/live";
    resumed.emplace_back(k, std::make_unique<sse_subscriber>(s.port(), path, header));
  }
  publisher.join();
  go = false;
  REQUIRE(ids.size() == 2000);
  REQUIRE(first.wait_events(2000, 10s));
  for (auto& entry : resumed) {  // not a structured binding: clang 14 cannot capture one (CAPTURE)
    const std::size_t k = entry.first;
    auto& sub = entry.second;
    CAPTURE(k);
    REQUIRE(sub->wait_events(2000 - k - 1, 10s));
    const auto& evs = sub->events();
    REQUIRE(evs.size() == 2000 - k - 1);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < evs.size(); ++i)
      if (evs[i].id != ids[k + 1 + i] || evs[i].data != std::to_string(k + 1 + i)) ++bad;
    CHECK(bad == 0);
  }
  CHECK(s.srv.metrics().replays.load() == 3);
}

TEST_CASE("an id older than the history, or unknown, gets a reset event before the replay") {
  auto o = test_options();
  o.hub.history.max_events = 10;
  running_server s(o);
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) ids.push_back(s.srv.hub().publish("h", {.data = std::to_string(i)}));

  sse_subscriber old(s.port(), "/events/h", "Last-Event-ID: " + ids[5] + "\r\n");
  REQUIRE(old.wait_events(11));
  CHECK(old.events()[0].type == "reset");
  CHECK(old.events()[0].data == R"({"reason":"too-old","oldest":")" + ids[40] + R"(","lost":34})");
  std::vector<std::string> replayed;
  for (std::size_t i = 1; i < old.events().size(); ++i) replayed.push_back(old.events()[i].data);
  CHECK(replayed == std::vector<std::string>{"40", "41", "42", "43", "44", "45", "46", "47", "48", "49"});

  sse_subscriber unknown(s.port(), "/events/h", "Last-Event-ID: 0123456789abcdef-3\r\n");
  REQUIRE(unknown.wait_events(11));
  CHECK(unknown.events()[0].type == "reset");
  CHECK(unknown.events()[0].data == R"({"reason":"unknown-id","oldest":")" + ids[40] + R"("})");
  CHECK(unknown.events()[1].data == "40");
  CHECK(s.srv.metrics().resets.load() == 2);
}

TEST_CASE("idle streams get pings with unique ids; busy streams get none") {
  auto o = test_options();
  o.hub.keepalive = sse::keepalive_options{.interval = 1s, .tick = 100ms};
  running_server s(o);
  sse_subscriber idle(s.port(), "/events/quiet");
  sse_subscriber busy(s.port(), "/events/busy");
  REQUIRE(idle.read_until([&] { return idle.body().size() >= 5; }));
  REQUIRE(busy.read_until([&] { return busy.body().size() >= 5; }));
  const auto until = std::chrono::steady_clock::now() + 3500ms;
  int published = 0;
  while (std::chrono::steady_clock::now() < until) {
    s.srv.hub().publish("busy", {.data = "x"});
    ++published;
    idle.read_until([] { return false; }, 50ms);
    busy.read_until([] { return false; }, 0ms);
  }
  REQUIRE(busy.wait_events(static_cast<std::size_t>(published)));
  std::set<std::string> ping_ids;
  std::size_t pings = 0, pos = 0;
  while ((pos = idle.body().find(": ping ", pos)) != std::string::npos) {
    const auto end = idle.body().find('\n', pos);
    ping_ids.insert(idle.body().substr(pos + 7, end - pos - 7));
    ++pings;
    pos = end;
  }
  CHECK(pings >= 2);  // 3.5 s idle with a 1 s interval
  CHECK(pings <= 4);
  CHECK(ping_ids.size() == pings);
  CHECK(busy.body().find(": ping") == std::string::npos);
}

TEST_CASE("a client that stops reading is disconnected while the others receive everything") {
  auto o = test_options();
  o.stream.max_queued_bytes = 64 * 1024;
  running_server s(o);
  sse_test::raw_socket slow(s.port());
  slow.small_receive_buffer(4096);  // and never read
  slow.send("GET /events/flood HTTP/1.1\r\nHost: x\r\n\r\n");
  sse_subscriber fast(s.port(), "/events/flood");
  REQUIRE(fast.read_until([&] { return fast.body().size() >= 5; }));
  std::this_thread::sleep_for(100ms);  // let the slow client's subscription register
  // More than the kernel can buffer for the stalled reader (send buffer up to 4 MiB on loopback).
  constexpr int kEvents = 12000;
  const std::string payload(1024, 'p');
  // The publisher never runs more than 24 events (24 KiB, well under the 64 KiB bound) ahead of the
  // fast reader, however loaded the machine is; the stalled reader falls behind without limit.
  std::atomic<std::size_t> seen{0};
  std::thread publisher([&] {
    const auto give_up = std::chrono::steady_clock::now() + 60s;
    for (int i = 0; i < kEvents; ++i) {
      while (static_cast<std::size_t>(i) > seen.load() + 24 && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(100us);
      s.srv.hub().publish("flood", {.data = payload});
    }
  });
  const bool all = fast.read_until([&] {
    seen = fast.events().size();
    return seen.load() >= static_cast<std::size_t>(kEvents);
  }, 60s);
  publisher.join();
  REQUIRE(all);
  CHECK(fast.events().size() == static_cast<std::size_t>(kEvents));
  CHECK(s.srv.metrics().slow_consumer_disconnects.load() == 1);
  // The server let go of the slow client: only the fast one is still open...
  CHECK(s.srv.metrics().connections_open.load() == 1);
  CHECK(s.srv.open_connections() == 1);
  // (The slow client itself sees EOF only after draining the megabytes the kernel still holds for
  // it, which with its tiny window takes minutes: the server side is what matters here.)
}

TEST_CASE("bad requests get a clear status and the server keeps serving everyone else") {
  auto o = test_options();
  o.max_body_bytes = 1024;
  running_server s(o);
  sse_subscriber watcher(s.port(), "/events/ok");
  REQUIRE(watcher.read_until([&] { return watcher.body().size() >= 5; }));

  struct bad_case {
    std::string request;
    int status;
  };
  const std::vector<bad_case> cases = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET /events/ok HTTP/1.1\r\n\r\n", 400},                                  // no Host
      {"GET /events/ok HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"GET /nothing/here HTTP/1.1\r\nHost: x\r\n\r\n", 404},
      {"DELETE /events/ok HTTP/1.1\r\nHost: x\r\n\r\n", 405},
      {"GET /publish/ok HTTP/1.1\r\nHost: x\r\n\r\n", 405},
      {"POST /publish/ok HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413},
      {"GET /events/ok HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n", 431},
      {"GET /" + std::string(5000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
      {"GET /events/ok HTTP/2.0\r\nHost: x\r\n\r\n", 505},
      {"BREW /events/ok HTTP/1.1\r\nHost: x\r\n\r\n", 501},
      {"GET /events/has%20space HTTP/1.1\r\nHost: x\r\n\r\n", 400},             // invalid topic
      {"POST /publish/ok?event=a%0Ab HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", 400},  // CR/LF in type
  };
  for (const auto& c : cases) {
    CAPTURE(c.request.substr(0, 60));
    const auto& counter = c.status >= 500 ? s.srv.http_metrics().http_server_errors
                                          : s.srv.http_metrics().http_client_errors;
    const auto before = counter.load();
    const auto r = sse_test::request_raw(s.port(), c.request);
    CHECK(r.status == c.status);
    CHECK(counter.load() == before + 1);
    CHECK_FALSE(r.body.empty());  // a short reason
  }
  const std::string id = sse_test::publish(s.port(), "ok", "still here");
  REQUIRE(watcher.wait_events(1));
  CHECK(watcher.events()[0].data == "still here");
  CHECK(watcher.events()[0].id == id);
  CHECK(s.srv.http_metrics().http_client_errors.load() == cases.size() - 2);
  CHECK(s.srv.http_metrics().http_server_errors.load() == 2);  // 505 and 501
}

TEST_CASE("a slow request head gets 408 (slowloris), and too many connections get 503") {
  auto o = test_options();
  o.head_timeout = 300ms;
  o.max_connections = 3;
  running_server s(o);
  {
    sse_test::raw_socket slow(s.port());
    slow.send("GET /events/x HTTP/1.1\r\nHo");
    std::string got;
    const auto t0 = std::chrono::steady_clock::now();
    while (slow.read_some(got, 50ms) && std::chrono::steady_clock::now() - t0 < 5s) {}
    CHECK(got.starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    CHECK(slow.eof());
  }
  std::vector<std::unique_ptr<sse_subscriber>> subs;
  for (int i = 0; i < 3; ++i) {
    subs.push_back(std::make_unique<sse_subscriber>(s.port(), "/events/x"));
    REQUIRE(subs.back()->read_until([&] { return subs.back()->status() == 200; }));
  }
  const auto r = sse_test::get(s.port(), "/healthz");
  CHECK(r.status == 503);
  CHECK(r.header("Retry-After") == "1");
  subs.pop_back();  // one closes: a slot frees up
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  int status = 0;
  while (status != 200 && std::chrono::steady_clock::now() < deadline) {
    status = sse_test::get(s.port(), "/healthz").status;
    std::this_thread::sleep_for(20ms);
  }
  CHECK(status == 200);
}

TEST_CASE("the topic limits are a 503 with their reason, for subscribing and for publishing") {
  auto o = test_options();
  o.hub.max_topics = 2;
  o.hub.max_subscribed_topics = 2;
  running_server s(o);
  sse_subscriber a(s.port(), "/events/one"), b(s.port(), "/events/two");
  REQUIRE(a.read_until([&] { return a.status() == 200; }));
  REQUIRE(b.read_until([&] { return b.status() == 200; }));
  const auto refused = sse_test::get(s.port(), "/events/three");
  CHECK(refused.status == 503);
  CHECK(refused.header("Retry-After") == "1");
  CHECK(refused.body.find("too many topics that only have subscribers") != std::string::npos);
  // Subscribers took no publisher slot: two publishes to new topics go through, a third does not.
  CHECK_FALSE(sse_test::publish(s.port(), "one", "still fine").empty());  // promotes 'one'
  CHECK_FALSE(sse_test::publish(s.port(), "p2", "x").empty());
  const auto pub = sse_test::post(s.port(), "/publish/four", "x");
  CHECK(pub.status == 503);
  CHECK(pub.body.find("too many topics") != std::string::npos);
  CHECK_FALSE(sse_test::publish(s.port(), "one", "again").empty());  // existing topics work
  REQUIRE(a.wait_events(2));
  CHECK(a.events()[0].data == "still fine");
  CHECK(a.events()[1].data == "again");
}

TEST_CASE("auth hook, CORS allow-list, /metrics and HTTP/1.0") {
  auto o = test_options();
  o.allow_origins = {"https://app.example"};
  sse::server srv(o);
  srv.sse_route("/events/{topic}");
  srv.publish_route("/publish/{topic}", sse::bearer_token("s3cret"));
  srv.start();
  const auto port = srv.port();

  CHECK(sse_test::post(port, "/publish/t", "x").status == 401);
  CHECK(sse_test::post(port, "/publish/t", "x", "Authorization: Bearer wrong\r\n").status == 401);
  CHECK(sse_test::post(port, "/publish/t", "x", "Authorization: Bearer s3cret\r\n").status == 202);

  sse_subscriber cors(port, "/events/t", "Origin: https://app.example\r\n");
  REQUIRE(cors.read_until([&] { return cors.status() == 200; }));
  CHECK(cors.head().find("Access-Control-Allow-Origin: https://app.example\r\n") != std::string::npos);
  CHECK(cors.head().find("Vary: Origin\r\n") != std::string::npos);
  sse_subscriber other(port, "/events/t", "Origin: https://evil.example\r\n");
  REQUIRE(other.read_until([&] { return other.status() == 200; }));
  CHECK(other.head().find("Access-Control-Allow-Origin") == std::string::npos);
  const auto pre = sse_test::request_raw(port,
      "OPTIONS /events/t HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: GET\r\n\r\n");
  CHECK(pre.status == 204);
  CHECK(pre.header("Access-Control-Allow-Headers").find("Last-Event-ID") != std::string::npos);

  sse_subscriber old(port, "/events/t", "", /*http10=*/true);
  REQUIRE(old.read_until([&] { return old.body().size() >= 5; }));
  CHECK(old.head().find("Transfer-Encoding") == std::string::npos);
  CHECK(old.head().find("Connection: close\r\n") != std::string::npos);
  srv.hub().publish("t", {.data = "to 1.0"});
  REQUIRE(old.wait_events(1));
  CHECK(old.body().ends_with("data: to 1.0\n\n"));

  const auto m = sse_test::get(port, "/metrics");
  CHECK(m.status == 200);
  CHECK(m.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(m.body.find("# TYPE sse_events_published_total counter\nsse_events_published_total 2\n") != std::string::npos);
  CHECK(m.body.find("sse_connections_open 3\n") != std::string::npos);
}

TEST_CASE("a Unix-domain socket server") {
  sse_test::temp_dir dir;
  auto o = test_options();
  o.unix_path = (dir.path() / "hub.sock").string();
  sse::server srv(o);
  srv.sse_route("/events/{topic}");
  srv.start();
  sse_test::raw_socket sock(o.unix_path);
  sock.send("GET /events/u HTTP/1.1\r\nHost: localhost\r\n\r\n");
  std::string got;
  for (int i = 0; i < 100 && got.find(": ok\n") == std::string::npos; ++i) sock.read_some(got, 20ms);
  srv.hub().publish("u", {.data = "over unix"});
  for (int i = 0; i < 100 && got.find("over unix") == std::string::npos; ++i) sock.read_some(got, 20ms);
  CHECK(got.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(got.find("data: over unix\n\n") != std::string::npos);
}

TEST_CASE("reuse_port: two servers share one port and both take connections; without it the port is taken") {
  auto with_name = [](sse::server& srv, std::string name) {
    srv.route("GET", "/who", [name](const sse::request_context&) { return sse::response::text(200, name); });
    srv.sse_route("/events/{topic}");
    srv.start();
  };
  auto o = test_options();
  o.reuse_port = true;
  sse::server a(o);
  with_name(a, "a");
  o.port = a.port();
  sse::server b(o);
  with_name(b, "b");
  CHECK(b.port() == a.port());
  auto plain = test_options();
  plain.port = a.port();
  sse::server c(plain);
  CHECK_THROWS_AS(c.start(), std::system_error);  // SO_REUSEPORT only joins listeners that all set it
  std::set<std::string> answered;
  for (int i = 0; i < 64 && answered.size() < 2; ++i) {  // the kernel hashes each new connection
    const auto r = sse_test::get(a.port(), "/who");
    REQUIRE(r.status == 200);
    answered.insert(r.body.substr(0, r.body.find_last_not_of("\r\n") + 1));
  }
  CHECK(answered == std::set<std::string>{"a", "b"});
  // A stream on either gets what is published there.
  sse_subscriber sub(a.port(), "/events/shared");
  REQUIRE(sub.read_until([&] { return sub.body().find(": ok\n") != std::string::npos; }));
  (void)a.hub().publish("shared", {.data = "x"});
  (void)b.hub().publish("shared", {.data = "x"});
  REQUIRE(sub.wait_events(1));
  CHECK(sub.events()[0].data == "x");
}

TEST_CASE("graceful shutdown tells streams when to reconnect and leaves no thread or socket behind") {
  const std::size_t threads_before = count_dir("/proc/self/task");
  const std::size_t fds_before = count_dir("/proc/self/fd");
  {
    auto o = test_options();
    o.shutdown_retry = 1500ms;
    running_server s(o);
    std::vector<std::unique_ptr<sse_subscriber>> subs;
    for (int i = 0; i < 5; ++i) {
      subs.push_back(std::make_unique<sse_subscriber>(s.port(), "/events/bye"));
      REQUIRE(subs.back()->read_until([&] { return subs.back()->body().size() >= 5; }));
    }
    sse_test::raw_socket idle_keepalive(s.port());  // an idle HTTP connection, no request yet
    CHECK(count_dir("/proc/self/task") > threads_before);
    const auto t0 = std::chrono::steady_clock::now();
    s.srv.stop();
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    for (auto& sub : subs) {
      REQUIRE(sub->wait_closed(3s));
      CHECK(sub->body().ends_with("retry: 1500\n\n"));
      CHECK(sub->ended());  // the terminating chunk, not a cut
    }
    CHECK(s.srv.open_connections() == 0);
    subs.clear();
  }
  CHECK(count_dir("/proc/self/task") == threads_before);
  CHECK(count_dir("/proc/self/fd") == fds_before);
}

}  // namespace test_server_cases

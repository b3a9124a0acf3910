// The probe route of sse-hub (--probe) and sse-doctor straight against it: the script's events
// exactly, the echo, the bounds (400 with the reason), the `away` window (reconnects naming the
// probe reset, others served, the window over on time), HEAD, the route off by default, behind the
// publish token, and a clean diagnosis of a direct connection. Label "servers": also run with
// sse-hub built under ASan and TSan.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <future>
#include <string>
#include <vector>

#include "../proxy/hub_process.hpp"
#include "../support/http_client.hpp"
#include "doctor_run.hpp"

using namespace std::chrono_literals;

namespace {

struct sse_event {
  std::string type, data;
};

/// The events of a finished stream body (chunked framing removed by hand: one event per chunk here
/// is not guaranteed, so the body is de-chunked first).
std::vector<sse_event> events_of(const std::string& chunked) {
  std::string body;
  std::size_t p = 0;
  while (p < chunked.size()) {
    const auto eol = chunked.find("\r\n", p);
    if (eol == std::string::npos) break;
    const auto n = std::stoul(chunked.substr(p, eol - p), nullptr, 16);
    if (n == 0) break;
    body += chunked.substr(eol + 2, n);
    p = eol + 2 + n + 2;
  }
  std::vector<sse_event> out;
  sse_event cur;
  std::size_t q = 0;
  while (q < body.size()) {
    const auto eol = body.find('\n', q);
    if (eol == std::string::npos) break;
    const std::string line = body.substr(q, eol - q);
    q = eol + 1;
    if (line.empty()) {
      if (!cur.type.empty() || !cur.data.empty()) out.push_back(cur);
      cur = {};
    } else if (line.starts_with("event: ")) {
      cur.type = line.substr(7);
    } else if (line.starts_with("data: ")) {
      cur.data = line.substr(6);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("probe route: the scripted events, the echo, the bounds") {
  sse_test::temp_dir tmp("sse-doctor-direct");
  sse_test::hub_process hub(tmp.path(), {"--probe", "--ping-interval", "30"});

  SUBCASE("a script runs exactly, the hello echoes what reached the server") {
    const auto r = sse_test::request_raw(
        hub.port(),
        "GET /.well-known/sse-probe?events=3&interval=50&burst=2&pad=10,20&gap=100&ping=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Connection: close\r\nLast-Event-ID: abc\r\nVia: 1.1 test-proxy\r\nX-Forwarded-For: 10.0.0.1\r\n"
        "Authorization: Bearer secret\r\nAccept-Encoding: gzip\r\n\r\n",
        10s);
    REQUIRE(r.status == 200);
    const auto evs = events_of(r.body);
    std::vector<std::string> types;
    for (const auto& e : evs) types.push_back(e.type);
    CHECK(types == std::vector<std::string>{"hello", "tick", "tick", "tick", "tick", "tick", "pad", "pad", "gap", "end"});
    REQUIRE(evs.size() == 10);
    const auto hello = nlohmann::json::parse(evs[0].data);
    CHECK(hello["http"] == "1.1");
    CHECK(hello["headers"]["Last-Event-ID"] == "abc");
    CHECK(hello["headers"]["Via"] == "1.1 test-proxy");
    CHECK(hello["headers"]["X-Forwarded-For"] == "10.0.0.1");
    CHECK(hello["headers"]["Accept-Encoding"] == "gzip");
    CHECK_FALSE(hello["headers"].contains("Authorization"));  // credentials: by name only
    CHECK(evs[0].data.find("secret") == std::string::npos);
    CHECK(hello["header_names"].size() == 7);
    CHECK(hello["response_headers"]["X-Accel-Buffering"] == "no");
    CHECK(hello["keepalive_ms"] == 30000);
    CHECK(hello["script"]["duration_ms"] == 3 * 50 + 2 * 50 + 100);
    CHECK(std::string(hello["peer"]).starts_with("127.0.0.1:"));
    for (std::size_t i = 1; i < evs.size(); ++i) {
      const auto j = nlohmann::json::parse(evs[i].data);
      CHECK(j["seq"] == i);
    }
    CHECK(std::string(nlohmann::json::parse(evs[6].data)["pad"]).size() == 10);
    CHECK(std::string(nlohmann::json::parse(evs[7].data)["pad"]).size() == 20);
    CHECK(nlohmann::json::parse(evs[8].data)["gap_ms"] == 100);
    // The server's send times follow the script: never before their time (timers do not fire early).
    const std::vector<long long> due_ms = {0, 50, 100, 150, 150, 150, 200, 250, 350, 350};
    for (std::size_t i = 0; i < evs.size(); ++i) {
      CAPTURE(i);
      const long long t_us = nlohmann::json::parse(evs[i].data)["t_us"];
      CHECK(t_us >= due_ms[i] * 1000);
    }
  }

  SUBCASE("bounds: 400 with the reason") {
    CHECK(sse_test::get(hub.port(), "/.well-known/sse-probe?events=201").status == 400);
    CHECK(sse_test::get(hub.port(), "/.well-known/sse-probe?interval=5").status == 400);
    CHECK(sse_test::get(hub.port(), "/.well-known/sse-probe?gap=600001").status == 400);
    CHECK(sse_test::get(hub.port(), "/.well-known/sse-probe?gap=1,2,3,4,5,6,7,8,9").status == 400);
    CHECK(sse_test::get(hub.port(), "/.well-known/sse-probe?pad=65537").status == 400);
    CHECK(sse_test::get(hub.port(), "/.well-known/sse-probe?pad=65536,65536,65536,65536,65536").status == 400);
    CHECK(sse_test::get(hub.port(), "/.well-known/sse-probe?gap=100000&ping=100").status == 400);  // 1000 pings
    CHECK(sse_test::get(hub.port(), "/.well-known/sse-probe?ping=50&gap=100").status == 400);
    CHECK(sse_test::get(hub.port(), "/.well-known/sse-probe?gap=600000,600000").status == 400);  // duration
    CHECK(sse_test::get(hub.port(), "/.well-known/sse-probe?events=x").body.find("'events' must be") != std::string::npos);
  }

  SUBCASE("away: the stream ends with 'away'; that probe's reconnects get no answer for the window, others do") {
    // Two at a time (each stream lasts about 1 s): a 10 s window (about 1 s of it gone when its
    // stream has ended) and a 500 ms one (over by then).
    const std::string probe = "/.well-known/sse-probe?events=0";
    auto long_away = std::async(std::launch::async, [&] { return sse_test::get(hub.port(), probe + "&away=10000"); });
    auto short_away = std::async(std::launch::async, [&] { return sse_test::get(hub.port(), probe + "&away=500"); });
    auto probe_id = [](const sse_test::http_response& r, int ms) {
      REQUIRE(r.status == 200);
      const auto evs = events_of(r.body);
      REQUIRE(evs.size() == 2);
      CHECK(evs[0].type == "hello");
      CHECK(nlohmann::json::parse(evs[0].data)["script"]["away_ms"] == ms);
      CHECK(evs[1].type == "away");
      const auto away = nlohmann::json::parse(evs[1].data);
      CHECK(away["away_ms"] == ms);
      const std::string id = away["probe"];
      CHECK(id.size() == 32);
      return id;
    };
    const std::string id = probe_id(long_away.get(), 10000);
    const std::string id2 = probe_id(short_away.get(), 500);
    CHECK(id != id2);
    auto other = std::async(std::launch::async, [&] { return sse_test::get(hub.port(), probe + "&resume=" + std::string(32, '0')); });
    auto back = std::async(std::launch::async,
                           [&] { return sse_test::get(hub.port(), probe + "&resume=" + id2, "Last-Event-ID: x-7\r\n"); });
    const auto dropped = sse_test::get(hub.port(), probe + "&resume=" + id, "Last-Event-ID: x-1\r\n");
    CHECK(dropped.status == 0);  // not one byte: a reset
    CHECK(dropped.head.empty());
    CHECK(sse_test::get(hub.port(), probe + "&away=500&resume=" + id).status == 0);  // no second window for it
    const auto o = other.get();  // another id: served
    CHECK(o.status == 200);
    CHECK(o.body.find("event: end") != std::string::npos);
    const auto b = back.get();  // after its window: served, with the Last-Event-ID that reached the server
    REQUIRE(b.status == 200);
    const auto evs = events_of(b.body);
    REQUIRE(evs.size() == 2);
    CHECK(evs[0].type == "hello");
    CHECK(nlohmann::json::parse(evs[0].data)["headers"]["Last-Event-ID"] == "x-7");
    CHECK(evs[1].type == "end");
    // Bounds.
    CHECK(sse_test::get(hub.port(), probe + "&away=10001").status == 400);
    CHECK(sse_test::get(hub.port(), probe + "&away=499").status == 400);
    CHECK(sse_test::get(hub.port(), probe + "&resume=xyz").status == 400);
    CHECK(sse_test::get(hub.port(), probe + "&resume=" + std::string(32, 'G')).status == 400);
  }

  SUBCASE("HEAD: the head only, nothing runs") {
    const auto r = sse_test::request_raw(hub.port(), "HEAD /.well-known/sse-probe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(r.body.empty());
  }

  SUBCASE("sse-doctor: a direct connection is clean") {
    sse_test::doctor_run run(tmp.path() / "doctor.out", "http://127.0.0.1:" + std::to_string(hub.port()), {"--max-idle", "2"});
    const auto r = run.wait(60s);
    MESSAGE("direct doctor run: " << r.seconds << " s");
    INFO(r.output);
    REQUIRE(r.report.is_object());
    CHECK(r.exit_code == 0);
    CHECK(r.report["reachable"] == true);
    CHECK(r.report["breaks_stream"] == false);
    CHECK(r.report["buffered"] == false);
    CHECK(r.report["compressed"] == false);
    CHECK(r.report["idle_cut_ms"].is_null());
    CHECK(r.report["last_event_id_ok"] == true);
    CHECK(r.report["proxy_kind"] == "none seen");
    CHECK(r.report["runs"].size() == 6);
    CHECK(r.report["advice"].empty());
    CHECK(r.report["away_answer"] == "reset");  // the upstream away: the connection reset, nothing else
    CHECK(r.report["resumed_after_away"] == true);
    CHECK(r.report["away_last_event_id_ok"] == true);
  }

  SUBCASE("sse-doctor: the probe's own URL works too") {
    sse_test::doctor_run run(tmp.path() / "doctor2.out",
                             "http://127.0.0.1:" + std::to_string(hub.port()) + "/.well-known/sse-probe", {"--max-idle", "1"});
    const auto r = run.wait(60s);
    INFO(r.output);
    CHECK(r.exit_code == 0);
  }
}

TEST_CASE("probe route: off by default; behind the publish token when one is set") {
  sse_test::temp_dir tmp("sse-doctor-off");
  {
    sse_test::hub_process hub(tmp.path(), {});
    CHECK(sse_test::get(hub.port(), "/.well-known/sse-probe").status == 404);
    sse_test::doctor_run run(tmp.path() / "doctor.out", "http://127.0.0.1:" + std::to_string(hub.port()), {"--max-idle", "1"});
    const auto r = run.wait(60s);
    INFO(r.output);
    CHECK(r.exit_code == 3);
    CHECK(r.report["reachable"] == false);
  }
  sse_test::hub_process hub(tmp.path(), {"--probe", "--publish-token", "t0ken"}, "hub-token");
  CHECK(sse_test::get(hub.port(), "/.well-known/sse-probe?events=0").status == 401);
  const auto ok = sse_test::get(hub.port(), "/.well-known/sse-probe?events=0", "Authorization: Bearer t0ken\r\n");
  CHECK(ok.status == 200);
  CHECK(ok.body.find("event: end") != std::string::npos);
}

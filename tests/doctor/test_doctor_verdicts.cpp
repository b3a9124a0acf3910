// sse-doctor's verdicts as a table: measurements made up by hand (no sockets, no clocks) -> the
// diagnosis. One row per kind of path the matrix test meets for real, and the edges between them.
#include "diagnosis.hpp"
#include "report.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

using namespace sse_doctor;

namespace {

const std::vector<header> sent_head = {{"Content-Type", "text/event-stream; charset=utf-8"},
                                       {"Cache-Control", "no-cache, no-store, no-transform"},
                                       {"X-Accel-Buffering", "no"},
                                       {"Connection", "keep-alive"},
                                       {"Transfer-Encoding", "chunked"}};

echo make_echo(double keepalive_ms = 60000, std::string lei = "doctor-1") {
  echo e;
  e.present = true;
  e.http = "1.1";
  e.peer = "127.0.0.1:5000";
  e.request_headers = {{"Host", "x"}, {"Last-Event-ID", std::move(lei)}};
  e.response_headers_sent = sent_head;
  e.keepalive_ms = keepalive_ms;
  return e;
}

/// The stream run: hello at 0, 10 ticks 200 ms apart, 5 pads; `delay(i, sent)` = when event i arrived.
run make_stream(const std::function<double(std::size_t, double)>& arrive, echo e = make_echo(),
                std::vector<header> received = {sent_head.begin(), sent_head.end()}) {
  run r;
  r.name = "stream";
  r.status = 200;
  r.headers_ms = 5;
  r.response_headers = std::move(received);
  r.hello = std::move(e);
  std::vector<std::pair<std::string, double>> script = {{"hello", 0}};
  for (int i = 1; i <= 10; ++i) script.push_back({"tick", i * 200.0});
  for (int i = 1; i <= 5; ++i) script.push_back({"pad", 2000 + i * 200.0});
  script.push_back({"end", 3000});
  for (std::size_t i = 0; i < script.size(); ++i) {
    arrival a;
    a.type = script[i].first;
    a.seq = static_cast<std::int64_t>(i);
    a.sent_ms = script[i].second;
    a.at_ms = arrive(i, a.sent_ms);
    a.bytes = a.type == "pad" ? 1000 * i : 40;
    r.events.push_back(a);
  }
  r.end = end_kind::finished;
  r.end_ms = r.events.back().at_ms;
  return r;
}

double on_time(std::size_t, double sent) { return 10 + sent; }

/// An idle run with a silent gap: survived, or ended `how` after `silence` ms.
run make_idle(double gap, end_kind how = end_kind::finished, double silence = 0) {
  run r;
  r.name = "idle";
  r.gap_ms = gap;
  r.status = 200;
  r.headers_ms = 5;
  r.events.push_back({"hello", 0, 0, 6, 40});
  if (how == end_kind::finished) {
    r.events.push_back({"gap", 1, gap, 6 + gap, 40});
    r.events.push_back({"end", 2, gap, 6 + gap, 40});
    r.end = how;
    r.end_ms = 6 + gap;
  } else {
    r.end = how;
    r.end_ms = how == end_kind::stall ? 5 + gap + 1500 : silence;  // the hello was sent at 0
  }
  return r;
}

measurements make(run stream, std::vector<run> idle, std::optional<run> pinged = std::nullopt) {
  measurements m;
  m.url = "http://example/";
  m.sent_last_event_id = "doctor-1";
  m.max_idle_ms = 5000;
  m.stream = std::move(stream);
  m.idle = std::move(idle);
  m.pinged = std::move(pinged);
  return m;
}

std::vector<run> idle_ok() { return {make_idle(625), make_idle(1250), make_idle(2500), make_idle(5000)}; }

bool advises(const diagnosis& d, const std::string& target, const std::string& text) {
  for (const auto& a : d.advice)
    if (a.target == target && a.text == text) return true;
  return false;
}

}  // namespace

TEST_CASE("verdicts: a clean direct path") {
  const auto d = diagnose(make(make_stream(on_time), idle_ok()));
  CHECK(d.reachable);
  CHECK_FALSE(d.breaks_stream);
  CHECK_FALSE(d.buffered);
  CHECK_FALSE(d.compressed);
  CHECK_FALSE(d.stalled);
  CHECK_FALSE(d.idle_cut_ms);
  CHECK(d.last_event_id_ok == true);
  CHECK(d.proxy_kind == "none seen");
  CHECK(d.advice.empty());
  CHECK(d.holdup_ms == 0);
}

TEST_CASE("verdicts: the table") {
  struct row {
    const char* name;
    measurements m;
    bool breaks, buffered, compressed, stalled;
    std::optional<double> cut;
    std::string kind;
    std::vector<std::pair<std::string, std::string>> advice;  // must all be there
  };
  std::vector<header> nginx_head = {{"Server", "nginx/1.22.1"},
                                    {"Content-Type", "text/event-stream; charset=utf-8"},
                                    {"Cache-Control", "no-cache, no-store, no-transform"},
                                    {"Connection", "keep-alive"}};
  auto gz = nginx_head;
  gz.push_back({"Content-Encoding", "gzip"});
  run compressed = make_stream(on_time, make_echo(), gz);
  compressed.events.clear();  // unreadable
  compressed.hello.present = false;

  auto pinged_ok = make_idle(5000);
  pinged_ok.name = "pinged";
  pinged_ok.ping_ms = 1000;
  auto pinged_cut = make_idle(5000, end_kind::closed, 3000);
  pinged_cut.name = "pinged";
  pinged_cut.ping_ms = 1000;

  std::vector<row> rows = {
      {"nginx honouring X-Accel-Buffering", make(make_stream(on_time, make_echo(), nginx_head), idle_ok()), false, false,
       false, false, std::nullopt, "nginx", {}},
      {"nginx buffering until the response ends",
       make(make_stream([](std::size_t, double) { return 3010.0; }, make_echo(), nginx_head), idle_ok()), true, true,
       false, false, std::nullopt, "nginx", {{"nginx", "proxy_buffering off;"}}},
      {"buffered, released by size with the padding",
       make(make_stream([](std::size_t i, double sent) { return i <= 13 ? 2610.0 : sent + 10; }), idle_ok()), true,
       true, false, false, std::nullopt, "none seen",
       {{"nginx", "proxy_buffering off;"}, {"haproxy", "option http-no-delay"}}},
      {"jitter below the threshold is not buffering",
       make(make_stream([](std::size_t i, double sent) { return sent + (i % 2 ? 300.0 : 10.0); }), idle_ok()), false,
       false, false, false, std::nullopt, "none seen", {}},
      {"Nagle on the way: events paired, 200 ms late (a warning, not a break)",
       make(make_stream([](std::size_t i, double sent) { return sent + 10 + (i % 2 == 1 ? 200.0 : 0.0); }), idle_ok()),
       false, false, false, false, std::nullopt, "none seen", {{"haproxy", "option http-no-delay"}}},
      {"gzip on", make(compressed, idle_ok()), true, false, true, false, std::nullopt, "nginx", {{"nginx", "gzip off;"}}},
      {"nginx proxy_read_timeout 3s",
       make(make_stream(on_time, make_echo(), nginx_head),
            {make_idle(625), make_idle(1250), make_idle(2500), make_idle(5000, end_kind::closed, 3004)}, pinged_ok),
       true, false, false, false, 3004.0, "nginx", {{"nginx", "proxy_read_timeout 3600s;"}, {"server", "ping every 1.0 s or less (sse-hub --ping-interval 1; keepalive_options::interval)"}}},
      {"HAProxy timeout server 3s (no headers show it)",
       make(make_stream(on_time), {make_idle(625), make_idle(1250), make_idle(2500), make_idle(5000, end_kind::closed, 3001)},
            pinged_ok),
       true, false, false, false, 3001.0, "none seen",
       {{"haproxy", "timeout server 1h"}, {"haproxy", "timeout tunnel 1h"}, {"nginx", "proxy_read_timeout 3600s;"}}},
      {"a cut the server's pings prevent: a warning, not a break",
       make(make_stream(on_time, make_echo(15000)),
            {make_idle(7500), make_idle(15000), make_idle(30000), make_idle(60000, end_kind::closed, 60000)}),
       false, false, false, false, std::nullopt, "none seen", {}},
      {"a 504 after the gap", make(make_stream(on_time), {make_idle(625), make_idle(1250), make_idle(2500, end_kind::http_status, 2000), make_idle(5000, end_kind::http_status, 2000)}),
       true, false, false, false, 2000.0, "none seen", {{"server", "ping every 1.0 s or less (sse-hub --ping-interval 1; keepalive_options::interval)"}}},
      {"silent stall between 2.5 and 5 s",
       make(make_stream(on_time), {make_idle(625), make_idle(1250), make_idle(2500), make_idle(5000, end_kind::stall)}, pinged_ok),
       true, false, false, true, 2500.0, "none seen",
       {{"client", "reconnect when nothing arrived for 2-3 ping intervals (sse::client idle_timeout)"}}},
      {"cut despite pings", make(make_stream(on_time), {make_idle(625), make_idle(1250), make_idle(2500), make_idle(5000, end_kind::closed, 3000)}, pinged_cut),
       true, false, false, false, 3000.0, "none seen", {}},
      {"Last-Event-ID stripped", make(make_stream(on_time, make_echo(60000, "")), idle_ok()), true, false, false, false,
       std::nullopt, "none seen", {{"client", "send the id as ?lastEventId= too (client_options::send_last_event_id_query)"}}},
  };
  // The Last-Event-ID row: the server got none at all.
  rows.back().m.stream.hello.request_headers = {{"Host", "x"}};

  for (const auto& r : rows) {
    const auto d = diagnose(r.m);
    const std::string report = render_text(r.m, d);
    INFO(r.name << "\n" << report);
    CHECK(d.reachable);
    CHECK(d.breaks_stream == r.breaks);
    CHECK(d.buffered == r.buffered);
    CHECK(d.compressed == r.compressed);
    CHECK(d.stalled == r.stalled);
    CHECK(d.proxy_kind == r.kind);
    if (r.cut) {
      REQUIRE(d.idle_cut_ms);
      CHECK(*d.idle_cut_ms == doctest::Approx(*r.cut));
    } else if (std::string(r.name).find("server's pings") == std::string::npos) {
      CHECK_FALSE(d.idle_cut_ms);
    }
    for (const auto& a : r.advice) {
      INFO("advice " << a.first << ": " << a.second);
      CHECK(advises(d, a.first, a.second));
    }
    if (!r.breaks) {
      CHECK(report.find("carries event streams fine") != std::string::npos);
    } else {
      CHECK(report.find("BREAKS") != std::string::npos);
    }
  }
}

TEST_CASE("verdicts: the details") {
  SUBCASE("buffered until the end says so; by size says how many bytes") {
    auto d = diagnose(make(make_stream([](std::size_t, double) { return 3010.0; }), idle_ok()));
    REQUIRE(d.buffered);
    CHECK(d.holdup_ms == doctest::Approx(3000));
    bool said = false;
    for (const auto& f : d.findings) said = said || f.verdict == "BUFFERED: held until the response ended";
    CHECK(said);
    d = diagnose(make(make_stream([](std::size_t i, double sent) { return i <= 13 ? 2610.0 : sent + 10; }), idle_ok()));
    said = false;
    // Events 0..13 (hello, 10 ticks, 3 pads of 11000, 12000, 13000 bytes) came together.
    for (const auto& f : d.findings)
      said = said || f.verdict == "BUFFERED: released by size: the first bytes came after about 36440 bytes had been sent";
    CHECK(said);
  }
  SUBCASE("a cut behind a buffer: the silence counts from the server's send time, not the late arrival") {
    auto cut = make_idle(5000, end_kind::closed, 3000);
    cut.events.front().at_ms = 2999;  // the hello was held and released by the cut
    const auto d = diagnose(make(make_stream(on_time), {make_idle(625), make_idle(1250), make_idle(2500), cut}));
    REQUIRE(d.idle_cut_ms);
    CHECK(*d.idle_cut_ms == doctest::Approx(3000));
    CHECK(d.ping_advice_ms == 1000);
  }
  SUBCASE("not reachable: 404 says to start the server with --probe") {
    run r;
    r.name = "stream";
    r.status = 404;
    r.end = end_kind::http_status;
    const auto d = diagnose(make(r, {}));
    CHECK_FALSE(d.reachable);
    CHECK(d.breaks_stream);
    REQUIRE(d.findings.size() == 1);
    CHECK(d.findings[0].measured == "HTTP 404: no probe here (start the server with --probe, or give the probe's URL)");
  }
  SUBCASE("headers: changed and added ones are listed; HTTP/1.0 upstream warned") {
    auto e = make_echo();
    e.http = "1.0";
    e.request_headers.push_back({"X-Forwarded-For", "10.1.2.3"});
    std::vector<header> got = {{"Content-Type", "text/event-stream; charset=utf-8"},
                               {"Cache-Control", "no-cache"},
                               {"X-Accel-Buffering", "no"},
                               {"Via", "1.1 varnish"}};
    const auto m = make(make_stream(on_time, e, got), idle_ok());
    const auto d = diagnose(m);
    CHECK(d.proxy_kind == "unknown");
    bool headers = false, http = false;
    for (const auto& f : d.findings) {
      if (f.probe == "headers") {
        CHECK(f.measured == "changed: Cache-Control: 'no-cache, no-store, no-transform' -> "
                            "'no-cache'; added: Via: 1.1 varnish");
        CHECK(f.lvl == level::warn);
        headers = true;
      }
      if (f.probe == "http") {
        CHECK(f.lvl == level::warn);
        http = true;
      }
    }
    CHECK(headers);
    CHECK(http);
    CHECK(advises(d, "nginx", "proxy_http_version 1.1;"));
    const std::string j = render_json(m, d);
    CHECK(j.find("\"proxy_kind\":\"unknown\"") != std::string::npos);
    CHECK(j.find("request X-Forwarded-For: 10.1.2.3") != std::string::npos);
  }
}

namespace {

/// The restart run: reconnects 0, 500 and 1000 ms into a 3 s window answered `answer` (a status,
/// or how the connection ended), then one after it that got the stream with `lei_got`.
restart_run make_restart(std::vector<attempt> window, std::optional<std::string> lei_got = "id-4", bool back = true) {
  restart_run r;
  r.away_seen = true;
  r.away_ms = 3000;
  r.last_event_id_sent = "id-4";
  double at = 0;
  for (auto& a : window) {
    a.at_ms = at;
    a.in_window = true;
    at += 500;
    r.attempts.push_back(a);
  }
  attempt after;
  after.at_ms = 3300;
  after.in_window = false;
  if (back) {
    after.how = end_kind::none;
    after.status = 200;
    after.hello = true;
    after.last_event_id_got = std::move(lei_got);
    r.attempts.push_back(after);
  } else {
    for (int i = 0; i < 3; ++i) {
      after.how = end_kind::http_status;
      after.status = 502;
      r.attempts.push_back(after);
      after.at_ms += 500;
    }
  }
  return r;
}

attempt status(int s) { return {0, true, end_kind::http_status, s, fmt::format("HTTP {}", s), std::nullopt, false}; }
attempt ended(end_kind k) { return {0, true, k, 0, "", std::nullopt, false}; }

}  // namespace

TEST_CASE("verdicts: the upstream away (the restart run)") {
  struct row {
    const char* name;
    restart_run restart;
    std::optional<std::string> answer;  // d.away_answer
    bool breaks;
    std::optional<bool> resumed, lei_ok;
    level worst;                        // of the restart findings
    std::vector<std::pair<std::string, std::string>> advice;  // must all be there
    bool client_advice;                 // the "take 502, 503 and 504 as temporary" line
  };
  const std::pair<std::string, std::string> temporary = {
      "client", "take 502, 503 and 504 as temporary: reconnect with backoff (sse::client and clients/js do)"};
  restart_run old_server;
  old_server.away_ms = 3000;
  old_server.first_end = "the stream ended with 'end'";
  auto stream_in_window = ended(end_kind::none);
  stream_in_window.status = 200;
  stream_in_window.hello = true;
  stream_in_window.last_event_id_got = "id-4";

  std::vector<row> rows = {
      {"direct: the connection reset", make_restart({ended(end_kind::reset), ended(end_kind::reset), ended(end_kind::reset)}),
       "reset", false, true, true, level::ok, {}, false},
      {"a TCP relay: closed", make_restart({ended(end_kind::closed), ended(end_kind::closed), ended(end_kind::closed)}),
       "closed", false, true, true, level::ok, {}, false},
      {"nginx: its own 502", make_restart({status(502), status(502), status(502)}), "502", false, true, true, level::info,
       {}, true},
      {"HAProxy: 503 (no server available)", make_restart({status(503), status(503), status(503)}), "503", false, true,
       true, level::info, {}, true},
      {"a proxy that waited: 504, then 502", make_restart({status(504), status(502)}), "504, 502", false, true, true,
       level::info, {}, true},
      {"a reset, then the proxy's 502", make_restart({ended(end_kind::reset), status(502)}), "reset, 502", false, true,
       true, level::info, {}, true},
      {"an error page as 500: clients stop for good", make_restart({status(500), status(500), status(500)}), "500", true,
       true, true, level::fail, {{"any proxy", "answer 502, 503 or 504 while the upstream is down"}}, false},
      {"a 404 from a fallback location", make_restart({status(404), status(404), status(404)}), "404", true, true, true,
       level::fail, {{"nginx", "proxy_intercept_errors off;"}}, false},
      {"held until the upstream was back: the stream", make_restart({stream_in_window}, "id-4"), "stream", false, true,
       true, level::info, {}, false},
      {"Last-Event-ID lost on the reconnect", make_restart({status(502), status(502), status(502)}, std::nullopt), "502",
       true, true, false, level::fail,
       {{"client", "send the id as ?lastEventId= too (client_options::send_last_event_id_query)"}}, true},
      {"Last-Event-ID changed on the reconnect", make_restart({status(502)}, "other"), "502", true, true, false,
       level::fail, {}, true},
      {"no recovery after the window", make_restart({status(502), status(502), status(502)}, std::nullopt, false), "502",
       true, false, std::nullopt, level::fail,
       {{"any proxy", "let a server that failed back in at once (health checks, fail timeouts)"}}, true},
      {"an older server: no away event", old_server, std::nullopt, false, std::nullopt, std::nullopt, level::info, {},
       false},
  };
  for (const auto& r : rows) {
    auto m = make(make_stream(on_time), idle_ok());
    m.restart = r.restart;
    const auto d = diagnose(m);
    const std::string report = render_text(m, d);
    INFO(r.name << "\n" << report);
    CHECK(d.away_answer == r.answer);
    CHECK(d.breaks_stream == r.breaks);
    CHECK(d.resumed_after_away == r.resumed);
    CHECK(d.away_last_event_id_ok == r.lei_ok);
    level worst = level::ok;
    std::size_t restart_findings = 0;
    for (const auto& f : d.findings)
      if (f.probe == "restart") {
        ++restart_findings;
        worst = std::max(worst, f.lvl);
      }
    CHECK(restart_findings >= 1);
    CHECK(worst == r.worst);
    for (const auto& a : r.advice) {
      INFO("advice " << a.first << ": " << a.second);
      CHECK(advises(d, a.first, a.second));
    }
    CHECK(advises(d, temporary.first, temporary.second) == r.client_advice);
    if (!r.breaks) CHECK(report.find("carries event streams fine") != std::string::npos);
    const std::string j = render_json(m, d);
    CHECK(j.find(r.answer ? "\"away_answer\":\"" + *r.answer + "\"" : "\"away_answer\":null") != std::string::npos);
  }
}

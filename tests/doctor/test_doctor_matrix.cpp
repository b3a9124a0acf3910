// sse-doctor against a matrix of real intermediaries in front of sse-hub --probe: a direct
// connection; nginx with default buffering (the server's X-Accel-Buffering: no is honoured), with
// gzip on, with proxy_read_timeout 3s, with X-Accel-Buffering ignored; HAProxy with a 3 s `timeout
// server`; a TCP relay that stalls silently after 3 s of idleness. The doctor's verdicts must be
// right in every cell, and its advice, applied to the proxy's configuration, must make the next run
// clean (nginx buffering, gzip and timeout; HAProxy timeout). In every cell the probe's upstream also
// goes away for 3 s (its restart run, in parallel with the others: no added time): what the path
// answers meanwhile (direct: a reset; nginx and HAProxy: their own 502; the relay: a close) and the
// reconnect afterwards, with its Last-Event-ID.
//
// Wall time: every cell runs at once (one sse-hub each, the doctor with --max-idle 5: about 7 s a
// run), then the four re-runs with the advice applied, at once: about 15-20 s in all.
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../proxy/hub_process.hpp"
#include "doctor_run.hpp"
#include "intermediaries.hpp"

using namespace std::chrono_literals;
using sse_test::doctor_run;

namespace {

struct cell {
  std::string name;
  std::function<void(const doctor_run::result&)> check;
  std::function<unsigned short(unsigned short hub_port, const std::filesystem::path& dir, const doctor_run::result* advice)> start;
  bool rerun_with_advice = false;
};

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n      ";
  return out;
}

void check_clean(const doctor_run::result& r) {
  CHECK(r.exit_code == 0);
  CHECK(r.report["breaks_stream"] == false);
  CHECK(r.report["buffered"] == false);
  CHECK(r.report["compressed"] == false);
  CHECK(r.report["stalled"] == false);
  CHECK(r.report["idle_cut_ms"].is_null());
  CHECK(r.report["last_event_id_ok"] == true);
}

/// The restart run: what the path answered while the upstream was away, then a resumed stream.
void check_away(const doctor_run::result& r, const char* answer) {
  CHECK(r.report["away_answer"] == answer);
  CHECK(r.report["resumed_after_away"] == true);
  CHECK(r.report["away_last_event_id_ok"] == true);
  REQUIRE(r.report["restart"].is_object());
  // Reconnects 0, 500, 1000 (and maybe 1500) ms into the window, and one after: at least one of each.
  CHECK(r.report["restart"]["attempts"].size() >= 2);
}

void check_cut_near_3s(const doctor_run::result& r) {
  CHECK(r.exit_code == 1);
  CHECK(r.report["breaks_stream"] == true);
  CHECK(r.report["stalled"] == false);
  CHECK(r.report["buffered"] == false);
  REQUIRE(r.report["idle_cut_ms"].is_number());
  const double cut = r.report["idle_cut_ms"];
  CHECK(cut >= 2500);
  CHECK(cut <= 4500);
  CHECK(r.report["ping_advice_ms"] == 1000);
  CHECK(r.advises("server", "ping every 1.0 s or less (sse-hub --ping-interval 1; keepalive_options::interval)"));
}

}  // namespace

TEST_CASE("sse-doctor: the verdicts are right behind every intermediary, and the advice fixes the path") {
  sse_test::temp_dir tmp("sse-doctor-matrix");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<sse_test::proxy_process>> proxies;
  std::vector<std::unique_ptr<sse_test::stalling_relay>> relays;

  const std::vector<cell> cells = {
      {"direct", [](const doctor_run::result& r) {
         check_clean(r);
         CHECK(r.report["proxy_kind"] == "none seen");
         check_away(r, "reset");
       },
       [](unsigned short hub, const std::filesystem::path&, const doctor_run::result*) { return hub; }},
      {"nginx, default buffering", [](const doctor_run::result& r) {
         check_clean(r);
         CHECK(r.report["proxy_kind"] == "nginx");
         check_away(r, "502");
         CHECK(r.advises("client", "take 502, 503 and 504 as temporary: reconnect with backoff (sse::client and clients/js do)"));
       },
       [&](unsigned short hub, const std::filesystem::path& dir, const doctor_run::result*) {
         proxies.push_back(sse_test::start_nginx(dir, hub, "", "", /*http11=*/false));  // nginx's defaults
         return proxies.back()->port();
       }},
      {"nginx, gzip on", [](const doctor_run::result& r) {
         CHECK(r.exit_code == 1);
         CHECK(r.report["compressed"] == true);
         CHECK(r.report["breaks_stream"] == true);
         CHECK(r.report["proxy_kind"] == "nginx");
         CHECK(r.advises("nginx", "gzip off;"));
         check_away(r, "502");
       },
       [&](unsigned short hub, const std::filesystem::path& dir, const doctor_run::result* advice) {
         proxies.push_back(sse_test::start_nginx(dir, hub, "gzip on; gzip_types text/event-stream; gzip_min_length 1;",
                                                 advice ? join(advice->directives("nginx")) : ""));
         return proxies.back()->port();
       },
       true},
      {"nginx, proxy_read_timeout 3s", [](const doctor_run::result& r) {
         check_cut_near_3s(r);
         CHECK(r.report["proxy_kind"] == "nginx");
         CHECK(r.advises("nginx", "proxy_read_timeout 3600s;"));
         check_away(r, "502");
       },
       [&](unsigned short hub, const std::filesystem::path& dir, const doctor_run::result* advice) {
         proxies.push_back(sse_test::start_nginx(dir, hub, "proxy_read_timeout 3s;",
                                                 advice ? join(advice->directives("nginx")) : ""));
         return proxies.back()->port();
       },
       true},
      {"nginx, X-Accel-Buffering ignored", [](const doctor_run::result& r) {
         CHECK(r.exit_code == 1);
         CHECK(r.report["buffered"] == true);
         CHECK(r.report["breaks_stream"] == true);
         CHECK(r.report["compressed"] == false);
         CHECK(r.report["proxy_kind"] == "nginx");
         CHECK(r.advises("nginx", "proxy_buffering off;"));
         CHECK(r.advises("nginx", "proxy_http_version 1.1;"));
         check_away(r, "502");  // the away event arrives late (held until the stream ends): still in the window
       },
       [&](unsigned short hub, const std::filesystem::path& dir, const doctor_run::result* advice) {
         // nginx's default proxy_http_version 1.0: nginx 1.22 passes HTTP/1.1 chunks on at once even
         // when buffering (see tests/proxy/test_nginx.cpp), so this is where buffering shows.
         proxies.push_back(sse_test::start_nginx(dir, hub, "proxy_ignore_headers X-Accel-Buffering;",
                                                 advice ? join(advice->directives("nginx")) : "", /*http11=*/false));
         return proxies.back()->port();
       },
       true},
      {"HAProxy, timeout server 3s", [](const doctor_run::result& r) {
         check_cut_near_3s(r);
         CHECK(r.advises("haproxy", "timeout server 1h"));
         check_away(r, "502");
       },
       [&](unsigned short hub, const std::filesystem::path& dir, const doctor_run::result* advice) {
         std::string fix;  // every HAProxy line of the advice, in the listen section
         if (advice)
           for (const auto& d : advice->directives("haproxy")) fix += d + "\n  ";
         proxies.push_back(sse_test::start_haproxy(dir, hub, "timeout server 3s", fix));
         return proxies.back()->port();
       },
       true},
      {"TCP relay stalling silently after 3 s", [](const doctor_run::result& r) {
         CHECK(r.exit_code == 1);
         CHECK(r.report["stalled"] == true);
         CHECK(r.report["breaks_stream"] == true);
         CHECK(r.report["buffered"] == false);
         CHECK(r.report["idle_cut_ms"] == 2500);        // the longest silent gap that got through
         CHECK(r.report["idle_cut_upper_ms"] == 5000);  // the shortest that stalled
         CHECK(r.report["proxy_kind"] == "none seen");
         check_away(r, "closed");
       },
       [&](unsigned short hub, const std::filesystem::path&, const doctor_run::result*) {
         relays.push_back(std::make_unique<sse_test::stalling_relay>(hub, 3s));
         return relays.back()->port();
       }},
  };

  // Every cell at once: one hub each (pinging every 60 s: the gaps tried stay silent).
  std::vector<std::unique_ptr<sse_test::hub_process>> hubs;
  std::vector<std::unique_ptr<doctor_run>> runs;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    hubs.push_back(std::make_unique<sse_test::hub_process>(tmp.path(), std::vector<std::string>{"--probe", "--ping-interval", "60", "--threads", "1"},
                                                           "hub" + std::to_string(i)));
    const auto port = cells[i].start(hubs.back()->port(), tmp.path() / ("cell" + std::to_string(i)), nullptr);
    runs.push_back(std::make_unique<doctor_run>(tmp.path() / ("doctor" + std::to_string(i) + ".out"),
                                                "http://127.0.0.1:" + std::to_string(port) + "/", std::vector<std::string>{"--max-idle", "5"}));
  }
  std::vector<doctor_run::result> results;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    results.push_back(runs[i]->wait(60s));
    const auto& r = results.back();
    if (r.report.is_object())
      MESSAGE(cells[i].name << ": exit " << r.exit_code << ", held " << r.report["holdup_ms"] << " ms, idle cut "
                            << r.report["idle_cut_ms"] << " ms, upstream away: " << r.report["away_answer"] << " ("
                            << r.seconds << " s)");
    INFO("cell: " << cells[i].name << " (" << r.seconds << " s)\n" << r.output);
    REQUIRE(r.report.is_object());
    cells[i].check(r);
  }
  MESSAGE("matrix: " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s");

  // The advice applied: the next run is clean.
  std::vector<std::size_t> again;
  runs.clear();
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (!cells[i].rerun_with_advice) continue;
    again.push_back(i);
    const auto port = cells[i].start(hubs[i]->port(), tmp.path() / ("fixed" + std::to_string(i)), &results[i]);
    runs.push_back(std::make_unique<doctor_run>(tmp.path() / ("fixed" + std::to_string(i) + ".out"),
                                                "http://127.0.0.1:" + std::to_string(port) + "/", std::vector<std::string>{"--max-idle", "5"}));
  }
  for (std::size_t k = 0; k < again.size(); ++k) {
    const auto r = runs[k]->wait(60s);
    INFO("cell with the advice applied: " << cells[again[k]].name << "\n" << proxies.back()->config() << "\n" << r.output);
    REQUIRE(r.report.is_object());
    check_clean(r);
  }
  MESSAGE("matrix and re-runs: " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s");
}

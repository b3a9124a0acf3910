// sse-hub behind a real nginx (1.22), configured the way people do and leave it: proxy_buffering at
// its default (on), proxy_read_timeout 5s, optionally gzip for text/event-stream. Each fix is shown
// next to a control where the fix is taken away, so that these tests can fail:
//  - buffering: sse-hub sends `X-Accel-Buffering: no`, so each event passes at once; the control
//    makes nginx ignore that header (`proxy_ignore_headers X-Accel-Buffering`) and events are held;
//  - read timeout: pings every second keep an idle stream open past 5 s; with pings every 30 s
//    nginx cuts the stream at 5 s;
//  - upstream down: nginx answers 502.
#include <doctest/doctest.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "hub_process.hpp"
#include "nginx_process.hpp"
#include "stream_reader.hpp"

using namespace std::chrono_literals;
using namespace sse_test;
using clock_type = std::chrono::steady_clock;

namespace {

long long ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

double precise_ms_between(clock_type::time_point a, clock_type::time_point b) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(b - a).count()) / 1000.0;
}

struct variant {
  const char* name;
  std::string http_version;
  bool gzip;
};

/// What a subscriber behind nginx saw of events published one by one, 100 ms apart.
struct delivery {
  int status = 0;
  std::string content_encoding;
  std::vector<std::string> ids;                     ///< as published, in order
  std::vector<clock_type::time_point> published_at;
  std::vector<collected_event> received;
  std::vector<double> delay_ms;                     ///< publish to receipt, for each event received
  std::string diagnostics;
};

constexpr std::size_t event_count = 5;

delivery publish_through_nginx(const variant& v, bool ignore_accel_buffering, std::chrono::milliseconds window) {
  temp_dir dir("sse-proxy-nginx");
  // Pings far apart: during the window the stream carries nothing but the events.
  hub_process hub(dir.path(), {"--ping-interval", "30", "--threads", "2"});
  nginx_process nginx(dir.path(), {.upstream_port = hub.port(),
                                   .http_version = v.http_version,
                                   .gzip = v.gzip,
                                   .ignore_accel_buffering = ignore_accel_buffering});
  stream_reader reader(nginx.port(), "/events/live", v.gzip ? "Accept-Encoding: gzip\r\n" : "");
  delivery d;
  auto diagnostics = [&] {
    return "nginx.conf:\n" + nginx.config() + "\nerror.log:\n" + nginx.error_log() + "\nsse-hub:\n" + hub.log() +
           "\nreceived head:\n" + reader.head() + "\nreceived body:\n" + reader.body();
  };
  // Publish only once the subscription reached the hub (with buffering, nginx may not even pass the head).
  if (!eventually([&] { return hub.metric("sse_connections_open") == 1.0; }, 5s)) {
    d.diagnostics = "the subscription never reached sse-hub\n" + diagnostics();
    return d;
  }
  for (std::size_t i = 0; i < event_count; ++i) {
    d.published_at.push_back(clock_type::now());
    d.ids.push_back(publish_event(hub.port(), "live", "event " + std::to_string(i)));
    reader.read_until([] { return false; }, 100ms);
  }
  reader.wait_events(event_count, window);
  d.status = reader.status();
  d.content_encoding = reader.header("Content-Encoding");
  for (std::size_t i = 0; i < reader.events().size(); ++i) {
    d.received.push_back(reader.events()[i].event);
    if (i < event_count) d.delay_ms.push_back(precise_ms_between(d.published_at[i], reader.events()[i].at));
  }
  d.diagnostics = diagnostics();
  return d;
}

std::string describe(const variant& v, bool control, const delivery& d) {
  std::string s = std::string(v.name) + (control ? " [control: X-Accel-Buffering ignored]" : "") + ": " +
                  std::to_string(d.received.size()) + "/" + std::to_string(event_count) + " events, delays ms:";
  for (const double ms : d.delay_ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " %.1f", ms);
    s += buf;
  }
  return s;
}

const variant variants[] = {
    {"proxy_http_version 1.1", "1.1", false},
    {"proxy_http_version 1.1 + gzip", "1.1", true},
    {"proxy_http_version 1.0 (nginx's default)", "1.0", false},
};

void require_nginx() {
  REQUIRE_MESSAGE(!nginx_executable().empty(), nginx_missing);
}

}  // namespace

TEST_CASE("through nginx with proxy_buffering on, X-Accel-Buffering: no lets each event through at once") {
  require_nginx();
  for (const auto& v : variants) {
    CAPTURE(v.name);
    const delivery d = publish_through_nginx(v, /*ignore_accel_buffering=*/false, 3s);
    std::printf("[proxy] %s\n", describe(v, false, d).c_str());
    INFO(d.diagnostics);
    CHECK(d.status == 200);
    CHECK(d.content_encoding == (v.gzip ? "gzip" : ""));
    REQUIRE(d.received.size() == event_count);
    for (std::size_t i = 0; i < event_count; ++i) {
      CAPTURE(i);
      CHECK(d.received[i] == collected_event{"message", "event " + std::to_string(i), d.ids[i], std::nullopt});
      // nginx holding events back takes seconds (or forever); on loopback this is milliseconds.
      CHECK(d.delay_ms[i] < 1000.0);
    }
  }
}

TEST_CASE("control: when nginx ignores X-Accel-Buffering, its buffering holds the events back") {
  require_nginx();
  // Not for proxy_http_version 1.1 without gzip: nginx 1.22 passes each upstream chunk on at once
  // even with buffering on (measured: a few ms), so only these two show the buffering.
  for (const auto& v : {variants[1], variants[2]}) {
    CAPTURE(v.name);
    // The same 100 ms rhythm, then twice the 1 s bound of the test above.
    const delivery d = publish_through_nginx(v, /*ignore_accel_buffering=*/true, 2s);
    std::printf("[proxy] %s\n", describe(v, true, d).c_str());
    INFO(d.diagnostics);
    REQUIRE(d.ids.size() == event_count);
    CHECK(d.received.size() < event_count);
  }
}

TEST_CASE("pings every second keep an idle stream open past nginx's proxy_read_timeout; without them nginx cuts it") {
  require_nginx();
  temp_dir dir_fast("sse-proxy-ping1"), dir_slow("sse-proxy-ping30");
  hub_process hub_fast(dir_fast.path(), {"--ping-interval", "1", "--threads", "2"});
  hub_process hub_slow(dir_slow.path(), {"--ping-interval", "30", "--threads", "2"});
  nginx_process nginx_fast(dir_fast.path(), {.upstream_port = hub_fast.port(), .read_timeout = "5s"});
  nginx_process nginx_slow(dir_slow.path(), {.upstream_port = hub_slow.port(), .read_timeout = "5s"});
  // nginx starts its read timer when it reads the upstream's first bytes, which is after this.
  const auto subscribed = clock_type::now();
  stream_reader fast(nginx_fast.port(), "/events/idle");
  stream_reader slow(nginx_slow.port(), "/events/idle");
  auto diagnostics = [&] {
    return "ping 1 s: nginx error.log:\n" + nginx_fast.error_log() + "\nbody:\n" + fast.body() +
           "\nping 30 s: nginx error.log:\n" + nginx_slow.error_log() + "\nbody:\n" + slow.body();
  };
  INFO(diagnostics());

  // Both heads come at once (sse-hub flushes its head and a first comment).
  REQUIRE(fast.read_until([&] { return fast.status() != 0; }, 3s));
  REQUIRE(slow.read_until([&] { return slow.status() != 0; }, 3s));
  REQUIRE(fast.status() == 200);
  REQUIRE(slow.status() == 200);
  const auto t0 = clock_type::now();

  // Nothing is published for 8 s, well past proxy_read_timeout (5 s).
  while (clock_type::now() < t0 + 8s) {
    fast.pump(10ms);
    slow.pump(10ms);
  }
  const auto slow_closed_after = ms_between(subscribed, slow.closed_at());
  std::printf("[proxy] idle 8 s through nginx: ping 1 s -> %s, %zu pings; ping 30 s -> %s after %lld ms\n",
              fast.closed() ? "closed" : "open", count_occurrences(fast.body(), ": ping "),
              slow.closed() ? "closed" : "open", slow.closed() ? slow_closed_after : -1LL);

  // The control: no bytes for 5 s, nginx gives up on the upstream and truncates the stream.
  CHECK(slow.closed());  // within the 8 s
  CHECK(slow_closed_after >= 4500);
  CHECK_FALSE(slow.ended());  // no terminating chunk: the client sees a cut, not an end
  CHECK(slow.events().empty());
  CHECK(count_occurrences(nginx_slow.error_log(), "upstream timed out") == 1);

  // The fix: pings kept it open, and it still delivers.
  REQUIRE_FALSE(fast.closed());
  CHECK(count_occurrences(fast.body(), ": ping ") >= 3);
  const std::string id = publish_event(hub_fast.port(), "idle", "still here");
  REQUIRE(!id.empty());
  REQUIRE(fast.wait_events(1, 2s));
  CHECK(fast.events().size() == 1);
  CHECK(fast.events()[0].event == collected_event{"message", "still here", id, std::nullopt});
  CHECK_FALSE(fast.closed());
  CHECK(count_occurrences(nginx_fast.error_log(), "upstream timed out") == 0);
}

TEST_CASE("when the upstream is down, nginx answers 502 to a subscription") {
  require_nginx();
  temp_dir dir("sse-proxy-502");
  const unsigned short nobody = free_port();  // nothing listens there
  nginx_process nginx(dir.path(), {.upstream_port = nobody});
  const auto r = request_raw(nginx.port(),
                             "GET /events/x HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                             "Connection: close\r\n\r\n");
  INFO(r.head, nginx.error_log());
  CHECK(r.status == 502);
  CHECK(r.header("Content-Type").starts_with("text/html"));
  CHECK(count_occurrences(nginx.error_log(), "Connection refused") == 1);
}

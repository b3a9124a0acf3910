// sse::backoff_policy and sse::reconnect_policy (sse/backoff.hpp, sse/reconnect.hpp): the client's
// decisions by tables, without sockets, timers or a clock. The random source is a fixed value, so
// every delay is exact.
#include "sse/backoff.hpp"
#include "sse/reconnect.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using sse::backoff_jitter;
using sse::backoff_policy;
using sse::client_errc;
using sse::reconnect_action;
using sse::reconnect_decision;
using sse::reconnect_options;
using sse::reconnect_policy;

namespace {

// The injected "random source": fixed 64-bit values.
constexpr std::uint64_t R = 0x9E3779B97F4A7C15ULL;
constexpr std::uint64_t all_ones = ~std::uint64_t{0};

// A fixed "now" for Retry-After dates: Thu, 03 Dec 2026 08:00:00 GMT.
const std::chrono::system_clock::time_point now =
    std::chrono::sys_days(std::chrono::year(2026) / 12 / 3) + 8h;

const sse::url origin = sse::parse_url("http://a.test/events");

sse::http::response_head head(int status, std::string reason,
                              std::vector<std::pair<std::string, std::string>> fields = {}) {
  sse::http::response_head h;
  h.status = status;
  h.reason = std::move(reason);
  for (auto& [name, value] : fields) h.headers.push_back({name, value});
  return h;
}

reconnect_options options(unsigned max_redirects = 5, unsigned max_retries = 0) {
  return {backoff_policy{500ms, 30000ms}, max_redirects, max_retries};
}

const char* name(reconnect_action a) {
  switch (a) {
    case reconnect_action::open: return "open";
    case reconnect_action::redirect: return "redirect";
    case reconnect_action::retry: return "retry";
    case reconnect_action::stop: return "stop";
  }
  return "?";
}

sse::client_error lost() {
  return {make_error_code(client_errc::connection_lost), 0, "the connection to http://a.test/events closed"};
}

}  // namespace

// --- backoff_policy ---

static_assert(backoff_policy{500ms, 30000ms}.ceiling(0) == 500ms);
static_assert(backoff_policy{500ms, 30000ms}.ceiling(6) == 30000ms);
static_assert(backoff_policy{500ms, 30000ms, backoff_jitter::none}.delay(3, R) == 4000ms);

TEST_CASE("backoff: ceiling(n) = min(max, base * 2^n), saturating") {
  const backoff_policy p{500ms, 30000ms};
  const std::vector<std::pair<unsigned, long long>> table = {
      {0, 500},    {1, 1000},   {2, 2000},   {3, 4000},       {4, 8000},
      {5, 16000},  {6, 30000},  {7, 30000},  {63, 30000},     {64, 30000},
      {1000, 30000}, {4'000'000'000u, 30000}};
  for (const auto& row : table) {
    CAPTURE(row.first);
    CHECK(p.ceiling(row.first).count() == row.second);
  }
  // No overflow with a huge base or max.
  const backoff_policy huge{std::chrono::milliseconds(INT64_MAX / 2 + 1), std::chrono::milliseconds(INT64_MAX)};
  CHECK(huge.ceiling(0).count() == INT64_MAX / 2 + 1);
  CHECK(huge.ceiling(1).count() == INT64_MAX);
  CHECK(huge.ceiling(200).count() == INT64_MAX);
  // Degenerate values: a base above max is max; negative counts as 0; base 0 stays 0 (and ends at once).
  CHECK(backoff_policy{5000ms, 1000ms}.ceiling(0) == 1000ms);
  CHECK(backoff_policy{-5ms, 1000ms}.ceiling(3) == 0ms);
  CHECK(backoff_policy{100ms, -1ms}.ceiling(3) == 0ms);
  CHECK(backoff_policy{0ms, 1000ms}.ceiling(4'000'000'000u) == 0ms);
}

TEST_CASE("backoff: full jitter is random % (ceiling + 1); none is the ceiling") {
  const backoff_policy full{500ms, 30000ms};
  const backoff_policy none{500ms, 30000ms, backoff_jitter::none};
  struct row {
    unsigned attempt;
    long long with_r, with_ones, with_zero, without_jitter;
  };
  // Values: R % (c + 1) and (2^64 - 1) % (c + 1) for c = 500, 1000, ..., 30000.
  const std::vector<row> table = {
      {0, 169, 48, 0, 500},       {1, 116, 15, 0, 1000},     {2, 553, 603, 0, 2000},
      {3, 247, 2498, 0, 4000},    {4, 7900, 1779, 0, 8000},  {5, 9845, 3488, 0, 16000},
      {6, 16388, 17078, 0, 30000}, {40, 16388, 17078, 0, 30000},
  };
  for (const auto& r : table) {
    CAPTURE(r.attempt);
    CHECK(full.delay(r.attempt, R).count() == r.with_r);
    CHECK(full.delay(r.attempt, all_ones).count() == r.with_ones);
    CHECK(full.delay(r.attempt, 0).count() == r.with_zero);
    CHECK(none.delay(r.attempt, R).count() == r.without_jitter);
    CHECK(full.delay(r.attempt, R) <= full.ceiling(r.attempt));  // never above the ceiling
  }
  // The top of the interval is reachable: random = ceiling.
  CHECK(full.delay(0, 500) == 500ms);
  CHECK(full.delay(0, 501) == 0ms);
  CHECK(backoff_policy{0ms, 0ms}.delay(9, R) == 0ms);
}

TEST_CASE("backoff: cap() bounds a wait asked for from outside") {
  const backoff_policy p{500ms, 30000ms};
  CHECK(p.cap(2000ms) == 2000ms);
  CHECK(p.cap(30000ms) == 30000ms);
  CHECK(p.cap(120000ms) == 30000ms);
  CHECK(p.cap(-5ms) == 0ms);
  CHECK(p == backoff_policy{500ms, 30000ms, backoff_jitter::full});
  CHECK_FALSE(p == backoff_policy{500ms, 30000ms, backoff_jitter::none});
}

// --- reconnect_policy: one response head ---

TEST_CASE("reconnect: what one response head means") {
  struct row {
    int status;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> fields;
    reconnect_action action;
    long long delay_ms;       // retry only
    client_errc code;         // retry and stop (ignored for open and redirect)
    std::string message;      // retry and stop: exact
    std::string target;       // target() after the decision
    bool drop_credentials;
    unsigned failures;        // failures() after the decision
  };
  const std::string from = " from http://a.test/events";
  const std::string o = "http://a.test/events";
  const auto closed = client_errc::closed;  // placeholder for rows without an error
  const std::vector<row> table = {
      // 200: open only for text/event-stream (parameters and case do not matter).
      {200, "OK", {{"Content-Type", "text/event-stream"}}, reconnect_action::open, 0, closed, "", o, false, 0},
      {200, "OK", {{"Content-Type", "Text/Event-Stream; charset=utf-8"}}, reconnect_action::open, 0, closed, "", o, false, 0},
      {200, "OK", {{"Content-Type", "text/event-stream ;x=1"}}, reconnect_action::open, 0, closed, "", o, false, 0},
      {200, "OK", {{"Content-Type", "text/plain"}}, reconnect_action::stop, 0, client_errc::bad_content_type,
       "expected Content-Type text/event-stream but got 'text/plain' (HTTP 200 OK" + from + ")", o, false, 0},
      {200, "OK", {{"Content-Type", "text/event-streams"}}, reconnect_action::stop, 0, client_errc::bad_content_type,
       "expected Content-Type text/event-stream but got 'text/event-streams' (HTTP 200 OK" + from + ")", o, false, 0},
      {200, "", {}, reconnect_action::stop, 0, client_errc::bad_content_type,
       "expected Content-Type text/event-stream but got none (HTTP 200" + from + ")", o, false, 0},
      // 204: stop for good.
      {204, "No Content", {}, reconnect_action::stop, 0, client_errc::no_content, "HTTP 204 No Content" + from, o, false, 0},
      // Redirects with a Location: relative, absolute same origin, other origin (credentials dropped).
      {301, "Moved Permanently", {{"Location", "/moved"}}, reconnect_action::redirect, 0, closed, "",
       "http://a.test/moved", false, 0},
      {302, "Found", {{"Location", "next?x=1"}}, reconnect_action::redirect, 0, closed, "", "http://a.test/next?x=1", false, 0},
      {303, "See Other", {{"Location", "http://a.test/other"}}, reconnect_action::redirect, 0, closed, "",
       "http://a.test/other", false, 0},
      {307, "Temporary Redirect", {{"Location", "http://b.test/e"}}, reconnect_action::redirect, 0, closed, "",
       "http://b.test/e", true, 0},
      {308, "Permanent Redirect", {{"Location", "https://a.test/events"}}, reconnect_action::redirect, 0, closed, "",
       "https://a.test/events", true, 0},
      {307, "Temporary Redirect", {{"Location", "http://a.test:81/events"}}, reconnect_action::redirect, 0, closed, "",
       "http://a.test:81/events", true, 0},
      // Redirects without a usable Location: stop.
      {301, "Moved Permanently", {}, reconnect_action::stop, 0, client_errc::redirect_without_location,
       "HTTP 301 Moved Permanently" + from + " without a valid Location", o, false, 0},
      {302, "Found", {}, reconnect_action::stop, 0, client_errc::redirect_without_location,
       "HTTP 302 Found" + from + " without a valid Location", o, false, 0},
      {307, "", {}, reconnect_action::stop, 0, client_errc::redirect_without_location,
       "HTTP 307" + from + " without a valid Location", o, false, 0},
      {308, "Permanent Redirect", {}, reconnect_action::stop, 0, client_errc::redirect_without_location,
       "HTTP 308 Permanent Redirect" + from + " without a valid Location", o, false, 0},
      // 502/503/504: retried after the backoff (R % 501 = 169 ms) or after Retry-After, capped at 30 s.
      {502, "Bad Gateway", {}, reconnect_action::retry, 169, client_errc::http_status, "HTTP 502 Bad Gateway" + from, o,
       false, 1},
      {503, "Service Unavailable", {}, reconnect_action::retry, 169, client_errc::http_status,
       "HTTP 503 Service Unavailable" + from, o, false, 1},
      {504, "Gateway Timeout", {}, reconnect_action::retry, 169, client_errc::http_status,
       "HTTP 504 Gateway Timeout" + from, o, false, 1},
      {503, "Service Unavailable", {{"Retry-After", "2"}}, reconnect_action::retry, 2000, client_errc::http_status,
       "HTTP 503 Service Unavailable" + from, o, false, 1},
      {503, "Service Unavailable", {{"Retry-After", "0"}}, reconnect_action::retry, 0, client_errc::http_status,
       "HTTP 503 Service Unavailable" + from, o, false, 1},
      {502, "Bad Gateway", {{"Retry-After", "120"}}, reconnect_action::retry, 30000, client_errc::http_status,
       "HTTP 502 Bad Gateway" + from, o, false, 1},
      {504, "Gateway Timeout", {{"Retry-After", "99999999999999999999"}}, reconnect_action::retry, 30000,
       client_errc::http_status, "HTTP 504 Gateway Timeout" + from, o, false, 1},
      // HTTP-date, counted from the response's Date (here 1 h behind our clock: it does not matter).
      {503, "Service Unavailable",
       {{"Date", "Thu, 03 Dec 2026 07:00:00 GMT"}, {"Retry-After", "Thu, 03 Dec 2026 07:00:05 GMT"}},
       reconnect_action::retry, 5000, client_errc::http_status, "HTTP 503 Service Unavailable" + from, o, false, 1},
      // HTTP-date without a Date: counted from now (08:00:00); RFC 850 and asctime forms too.
      {503, "Service Unavailable", {{"Retry-After", "Thu, 03 Dec 2026 08:00:07 GMT"}}, reconnect_action::retry, 7000,
       client_errc::http_status, "HTTP 503 Service Unavailable" + from, o, false, 1},
      {503, "Service Unavailable", {{"Retry-After", "Thursday, 03-Dec-26 08:00:03 GMT"}}, reconnect_action::retry, 3000,
       client_errc::http_status, "HTTP 503 Service Unavailable" + from, o, false, 1},
      {503, "Service Unavailable", {{"Retry-After", "Thu Dec  3 08:00:04 2026"}}, reconnect_action::retry, 4000,
       client_errc::http_status, "HTTP 503 Service Unavailable" + from, o, false, 1},
      // A date in the past: at once; far in the future: capped.
      {503, "Service Unavailable", {{"Retry-After", "Thu, 03 Dec 2026 07:59:00 GMT"}}, reconnect_action::retry, 0,
       client_errc::http_status, "HTTP 503 Service Unavailable" + from, o, false, 1},
      {503, "Service Unavailable", {{"Retry-After", "Fri, 04 Dec 2026 08:00:00 GMT"}}, reconnect_action::retry, 30000,
       client_errc::http_status, "HTTP 503 Service Unavailable" + from, o, false, 1},
      // A Retry-After that does not parse is ignored: the backoff applies.
      {503, "Service Unavailable", {{"Retry-After", "soon"}}, reconnect_action::retry, 169, client_errc::http_status,
       "HTTP 503 Service Unavailable" + from, o, false, 1},
      {503, "Service Unavailable", {{"Retry-After", "Sun, 06 Nov 94 08:49:37 GMT"}}, reconnect_action::retry, 169,
       client_errc::http_status, "HTTP 503 Service Unavailable" + from, o, false, 1},
      {503, "Service Unavailable", {{"Retry-After", "-1"}}, reconnect_action::retry, 169, client_errc::http_status,
       "HTTP 503 Service Unavailable" + from, o, false, 1},
      // Every other status stops (Retry-After or not).
      {400, "Bad Request", {}, reconnect_action::stop, 0, client_errc::http_status, "HTTP 400 Bad Request" + from, o, false, 0},
      {401, "Unauthorized", {}, reconnect_action::stop, 0, client_errc::http_status, "HTTP 401 Unauthorized" + from, o, false, 0},
      {403, "Forbidden", {}, reconnect_action::stop, 0, client_errc::http_status, "HTTP 403 Forbidden" + from, o, false, 0},
      {404, "Not Found", {}, reconnect_action::stop, 0, client_errc::http_status, "HTTP 404 Not Found" + from, o, false, 0},
      {429, "Too Many Requests", {{"Retry-After", "1"}}, reconnect_action::stop, 0, client_errc::http_status,
       "HTTP 429 Too Many Requests" + from, o, false, 0},
      {500, "Internal Server Error", {}, reconnect_action::stop, 0, client_errc::http_status,
       "HTTP 500 Internal Server Error" + from, o, false, 0},
      {501, "", {}, reconnect_action::stop, 0, client_errc::http_status, "HTTP 501" + from, o, false, 0},
      {505, "HTTP Version Not Supported", {}, reconnect_action::stop, 0, client_errc::http_status,
       "HTTP 505 HTTP Version Not Supported" + from, o, false, 0},
      {201, "Created", {{"Content-Type", "text/event-stream"}}, reconnect_action::stop, 0, client_errc::http_status,
       "HTTP 201 Created" + from, o, false, 0},
      {304, "Not Modified", {{"Location", "/x"}}, reconnect_action::stop, 0, client_errc::http_status,
       "HTTP 304 Not Modified" + from, o, false, 0},
  };
  for (const auto& r : table) {
    CAPTURE(r.status);
    CAPTURE(r.reason);
    reconnect_policy p(origin, options());
    const reconnect_decision d = p.on_response(head(r.status, r.reason, r.fields), now, R);
    CHECK(std::string(name(d.action)) == name(r.action));
    CHECK(p.target().to_string() == r.target);
    CHECK(d.drop_credentials == r.drop_credentials);
    CHECK(p.failures() == r.failures);
    if (r.action == reconnect_action::retry) CHECK(d.delay.count() == r.delay_ms);
    else CHECK(d.delay.count() == 0);
    if (r.action == reconnect_action::retry || r.action == reconnect_action::stop) {
      CHECK(d.error.code == make_error_code(r.code));
      CHECK(d.error.status == r.status);
      CHECK(d.error.message == r.message);
    } else {
      CHECK_FALSE(d.error.code);
    }
    CHECK(p.redirects() == (r.action == reconnect_action::redirect ? 1u : 0u));
  }
}

TEST_CASE("reconnect: a Location that does not resolve stops with the reason") {
  reconnect_policy p(origin, options());
  const auto d = p.on_response(head(302, "Found", {{"Location", "/a\x01"}}), now, R);
  CHECK(d.action == reconnect_action::stop);
  CHECK(d.error.code == client_errc::redirect_without_location);
  CHECK(d.error.message.starts_with("HTTP 302 Found from http://a.test/events without a valid Location ('/a\x01': "));
  CHECK(p.target().to_string() == "http://a.test/events");
}

// --- reconnect_policy: sequences ---

TEST_CASE("reconnect: redirect limit, counted in a row, reset by an open and by a retry") {
  const auto redirect_to = [](std::string where) {
    return head(307, "Temporary Redirect", {{"Location", std::move(where)}});
  };
  const auto ok = head(200, "OK", {{"Content-Type", "text/event-stream"}});
  reconnect_policy p(origin, options(/*max_redirects=*/2));
  CHECK(p.on_response(redirect_to("/r1"), now, R).action == reconnect_action::redirect);
  CHECK(p.on_response(redirect_to("/r2"), now, R).action == reconnect_action::redirect);
  CHECK(p.redirects() == 2);
  CHECK(p.target().to_string() == "http://a.test/r2");
  const auto third = p.on_response(redirect_to("/r3"), now, R);
  CHECK(third.action == reconnect_action::stop);
  CHECK(third.error.code == client_errc::too_many_redirects);
  CHECK(third.error.status == 307);
  CHECK(third.error.message ==
        "more than 2 redirects, the last HTTP 307 Temporary Redirect from http://a.test/r2 to http://a.test/r3");

  // An open restarts the count.
  reconnect_policy q(origin, options(2));
  CHECK(q.on_response(redirect_to("/r1"), now, R).action == reconnect_action::redirect);
  CHECK(q.on_response(redirect_to("/r2"), now, R).action == reconnect_action::redirect);
  CHECK(q.on_response(ok, now, R).action == reconnect_action::open);
  CHECK(q.redirects() == 0);
  CHECK(q.target().to_string() == "http://a.test/r2");  // the stream is read where it was found
  CHECK(q.on_response(redirect_to("/r3"), now, R).action == reconnect_action::redirect);
  // A retry starts again from the origin, with the count at 0.
  const auto d = q.on_ended(lost(), false, 3000ms, R);
  CHECK(d.action == reconnect_action::retry);
  CHECK(q.target().to_string() == "http://a.test/events");
  CHECK(q.redirects() == 0);

  // max_redirects = 0: no redirect is followed.
  reconnect_policy none(origin, options(0));
  const auto first = none.on_response(redirect_to("/r1"), now, R);
  CHECK(first.action == reconnect_action::stop);
  CHECK(first.error.message ==
        "more than 0 redirects, the last HTTP 307 Temporary Redirect from http://a.test/events to http://a.test/r1");
}

TEST_CASE("reconnect: a cut connection backs off with growing ceilings, capped; a stream with data resets") {
  reconnect_policy p(origin, options());
  // Consecutive failures before any data: R % (min(30000, 500 * 2^n) + 1).
  const std::vector<long long> expected = {169, 116, 553, 247, 7900, 9845, 16388, 16388, 16388};
  for (std::size_t n = 0; n < expected.size(); ++n) {
    CAPTURE(n);
    CHECK(p.failures() == n);
    const auto d = p.on_ended(lost(), /*delivered=*/false, 3000ms, R);
    CHECK(d.action == reconnect_action::retry);
    CHECK(d.delay.count() == expected[n]);
    CHECK(d.error.code == client_errc::connection_lost);
    CHECK(d.error.message == "the connection to http://a.test/events closed");
  }
  CHECK(p.failures() == 9);
  // With the largest random value: never above max.
  CHECK(p.on_ended(lost(), false, 3000ms, all_ones).delay == 17078ms);

  // A successful open alone does not reset the count (a server that accepts and closes at once is
  // still failing); the end of a stream that delivered data does: the reconnection time, then n = 0.
  CHECK(p.on_response(head(200, "OK", {{"Content-Type", "text/event-stream"}}), now, R).action ==
        reconnect_action::open);
  CHECK(p.failures() == 10);
  const auto ended = p.on_ended({make_error_code(client_errc::stream_ended), 0, "the server ended the stream"},
                                /*delivered=*/true, /*reconnection_time=*/1234ms, R);
  CHECK(ended.action == reconnect_action::retry);
  CHECK(ended.delay == 1234ms);
  CHECK(ended.error.code == client_errc::stream_ended);
  CHECK(p.failures() == 0);
  CHECK(p.on_ended(lost(), false, 3000ms, R).delay == 169ms);  // n = 0 again
  CHECK(p.on_ended(lost(), false, 3000ms, R).delay == 116ms);  // n = 1
  // A stream that delivered data and broke is an ordinary reconnect too.
  CHECK(p.on_ended(lost(), true, 5000ms, R).delay == 5000ms);
  CHECK(p.failures() == 0);
}

TEST_CASE("reconnect: the random source is the only randomness") {
  struct row {
    std::uint64_t random;
    long long first, second, third;  // n = 0, 1, 2 with base 10 ms, max 40 ms
  };
  const std::vector<row> table = {
      {0, 0, 0, 0},
      {0x0123456789ABCDEFULL, 10, 6, 40},
      {1, 1, 1, 1},
      {10, 10, 10, 10},
      {11, 0, 11, 11},
  };
  for (const auto& r : table) {
    CAPTURE(r.random);
    reconnect_policy p(origin, {backoff_policy{10ms, 40ms}, 5, 0});
    CHECK(p.on_ended(lost(), false, 0ms, r.random).delay.count() == r.first);
    CHECK(p.on_ended(lost(), false, 0ms, r.random).delay.count() == r.second);
    CHECK(p.on_ended(lost(), false, 0ms, r.random).delay.count() == r.third);
  }
}

TEST_CASE("reconnect: max_retries stops with retry_limit; 503s and cut connections both count") {
  reconnect_policy p(origin, options(5, /*max_retries=*/3));
  CHECK(p.on_ended(lost(), false, 3000ms, R).action == reconnect_action::retry);
  CHECK(p.on_response(head(503, "Service Unavailable", {{"Retry-After", "1"}}), now, R).delay == 1000ms);
  CHECK(p.on_ended({make_error_code(client_errc::connect_timeout), 0, "connecting: nothing for 10 ms"}, false, 3000ms, R)
            .action == reconnect_action::retry);
  CHECK(p.failures() == 3);
  const auto d = p.on_response(head(502, "Bad Gateway"), now, R);
  CHECK(d.action == reconnect_action::stop);
  CHECK(d.error.code == client_errc::retry_limit);
  CHECK(d.error.status == 502);
  CHECK(d.error.message == "gave up after 4 failures; the last: HTTP 502 Bad Gateway from http://a.test/events");

  // Ordinary reconnects (after data) are not failures: they never reach the limit.
  reconnect_policy q(origin, options(5, 1));
  for (int i = 0; i < 5; ++i) CHECK(q.on_ended(lost(), true, 100ms, R).action == reconnect_action::retry);
  CHECK(q.on_ended(lost(), false, 100ms, R).action == reconnect_action::retry);
  const auto last = q.on_ended(lost(), false, 100ms, R);
  CHECK(last.action == reconnect_action::stop);
  CHECK(last.error.message == "gave up after 2 failures; the last: the connection to http://a.test/events closed");
  CHECK(last.error.status == 0);
}

TEST_CASE("reconnect: 204 and 4xx stop whatever came before") {
  for (const int status : {204, 400, 404, 410}) {
    CAPTURE(status);
    reconnect_policy p(origin, options());
    CHECK(p.on_ended(lost(), false, 3000ms, R).action == reconnect_action::retry);
    CHECK(p.on_response(head(307, "Temporary Redirect", {{"Location", "/x"}}), now, R).action ==
          reconnect_action::redirect);
    const auto d = p.on_response(head(status, ""), now, R);
    CHECK(d.action == reconnect_action::stop);
    CHECK(d.error.code == (status == 204 ? client_errc::no_content : client_errc::http_status));
    CHECK(d.error.message == "HTTP " + std::to_string(status) + " from http://a.test/x");
  }
}

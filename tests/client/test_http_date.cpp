// sse::http::parse_http_date and sse::http::retry_after_delay (RFC 9110 sections 5.6.7 and 10.2.3).
#include "sse/http/date.hpp"

#include <doctest/doctest.h>

#include <ostream>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http_date_format.hpp"

using namespace std::chrono_literals;
using std::chrono::sys_days;
using std::chrono::sys_seconds;

namespace {

// A fixed "now" (2026-11-27 08:00:00 UTC): it only decides RFC 850 two-digit years here.
const auto now = sys_days(std::chrono::year(2026) / 11 / 27) + 8h;

std::optional<std::int64_t> unix_time(std::string_view s, std::chrono::system_clock::time_point at = now) {
  const auto t = sse::http::parse_http_date(s, at);
  if (!t) return std::nullopt;
  return t->time_since_epoch().count();
}

sys_seconds at_time(int y, unsigned m, unsigned d, std::chrono::seconds time_of_day = 0s) {
  return sys_days(std::chrono::year(y) / std::chrono::month(m) / std::chrono::day(d)) + time_of_day;
}

}  // namespace

TEST_CASE("HTTP-date: the three forms of RFC 9110 give the same instant") {
  CHECK(unix_time("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);   // IMF-fixdate
  CHECK(unix_time("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777);  // RFC 850
  CHECK(unix_time("Sun Nov  6 08:49:37 1994") == 784111777);        // asctime, day as SP DIGIT
  CHECK(unix_time("Sun Nov 06 08:49:37 1994") == 784111777);        // asctime, day as 2DIGIT
}

TEST_CASE("HTTP-date: exact values across the calendar") {
  CHECK(unix_time("Thu, 01 Jan 1970 00:00:00 GMT") == 0);
  CHECK(unix_time("Tue, 29 Feb 2000 23:59:59 GMT") == 951868799);  // 2000 is a leap year
  CHECK(unix_time("Thu, 29 Feb 2024 12:00:00 GMT") == 1709208000);
  CHECK(unix_time("Thu, 01 Mar 1900 00:00:00 GMT") == -2203891200);  // 1900 is not
  CHECK(unix_time("Fri, 13 Dec 1901 20:45:52 GMT") == -2147483648);  // INT32_MIN
  CHECK(unix_time("Tue, 19 Jan 2038 03:14:08 GMT") == 2147483648);   // INT32_MAX + 1
  CHECK(unix_time("Sat, 01 Jan 0000 00:00:00 GMT") == -62167219200);  // 4DIGIT: the whole range
  CHECK(unix_time("Mon, 01 Jan 0001 00:00:00 GMT") == -62135596800);
  CHECK(unix_time("Fri, 31 Dec 9999 23:59:59 GMT") == 253402300799);
  // A leap second (23:59:60) is the first second of the next day.
  CHECK(unix_time("Wed, 31 Dec 2025 23:59:60 GMT") == 1767225600);
  CHECK(unix_time("Thu, 01 Jan 2026 00:00:00 GMT") == 1767225600);
  CHECK(unix_time("Wed Dec 31 23:59:60 2025") == 1767225600);
}

TEST_CASE("HTTP-date: RFC 850 two-digit years are at most 50 years ahead of now") {
  CHECK(unix_time("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777);  // 1994, not 2094
  CHECK(unix_time("Sunday, 01-Mar-76 00:00:00 GMT") == 3350246400);  // 2076: exactly 50 years ahead
  CHECK(unix_time("Tuesday, 01-Mar-77 00:00:00 GMT") == 226022400);  // 1977: 2077 would be 51
  CHECK_FALSE(unix_time("Monday, 01-Mar-77 00:00:00 GMT"));          // (1 March 2077 is a Monday)
  // The same text means another year for another now.
  const auto later = at_time(2099, 6, 1);
  CHECK(unix_time("Saturday, 01-Mar-10 00:00:00 GMT", later) == 4423075200);  // 2110
  CHECK(unix_time("Saturday, 06-Nov-94 08:49:37 GMT", later) == 3939871777);  // 2094
  CHECK_FALSE(unix_time("Sunday, 06-Nov-94 08:49:37 GMT", later));            // 1994's weekday
}

TEST_CASE("HTTP-date: every day from 1600 to 2500, each form, against the <chrono> calendar") {
  std::size_t checked = 0;
  for (auto day = sys_days(std::chrono::year(1600) / 1 / 1); day < sys_days(std::chrono::year(2500) / 1 / 1);
       day += std::chrono::days(1)) {
    // A time of day that walks through hours, minutes and seconds as the days go by.
    const auto n = day.time_since_epoch().count();
    const sys_seconds t = day + std::chrono::seconds((n * 7919 % 86400 + 86400) % 86400);
    const auto expected = t.time_since_epoch().count();
    const std::string imf = sse_test::imf_fixdate(t);
    const std::string asc = sse_test::asctime_date(t);
    if (unix_time(imf) != expected || unix_time(asc) != expected) {
      CAPTURE(imf);
      CAPTURE(asc);
      CHECK(unix_time(imf) == expected);
      CHECK(unix_time(asc) == expected);
    }
    // RFC 850 only within its window: now - 49 years .. now + 50 years.
    const auto year = static_cast<int>(std::chrono::year_month_day(day).year());
    if (year >= 2026 - 49 && year <= 2026 + 50) {
      const std::string rfc850 = sse_test::rfc850_date(t);
      if (unix_time(rfc850) != expected) {
        CAPTURE(rfc850);
        CHECK(unix_time(rfc850) == expected);
      }
    }
    ++checked;
  }
  CHECK(checked == 328719);  // the days from 1600-01-01 to 2500-01-01
}

TEST_CASE("HTTP-date: anything but the exact grammar is rejected") {
  const char* invalid[] = {
      "",
      // day names: unknown, wrong case, the wrong form's, or not the date's weekday
      "Sno, 06 Nov 1994 08:49:37 GMT", "sun, 06 Nov 1994 08:49:37 GMT", "SUN, 06 Nov 1994 08:49:37 GMT",
      "Sunday, 06 Nov 1994 08:49:37 GMT", "Sun, 06-Nov-94 08:49:37 GMT", "Mon, 06 Nov 1994 08:49:37 GMT",
      "Monday, 06-Nov-94 08:49:37 GMT", "Mon Nov  6 08:49:37 1994", "Sund, 06 Nov 1994 08:49:37 GMT",
      "06 Nov 1994 08:49:37 GMT",
      // dates that do not exist
      "Sat, 31 Feb 2024 08:49:37 GMT", "Wed, 29 Feb 2023 08:49:37 GMT", "Thu, 29 Feb 1900 00:00:00 GMT",
      "Thu, 31 Apr 2025 00:00:00 GMT", "Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 32 Nov 1994 08:49:37 GMT",
      "Sun Nov  0 08:49:37 1994", "Sun Nov 00 08:49:37 1994",
      // times out of range
      "Mon, 07 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 08:60:37 GMT", "Sun, 06 Nov 1994 08:49:61 GMT",
      "Sun, 06 Nov 1994 99:99:99 GMT", "Sunday, 06-Nov-94 24:00:00 GMT", "Sun Nov  6 24:00:00 1994",
      // the zone: missing, another name, another case, an offset
      "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 gmt",
      "Sun, 06 Nov 1994 08:49:37 +0000", "Sun, 06 Nov 1994 08:49:37 GMT+1", "Sunday, 06-Nov-94 08:49:37",
      "Sun Nov  6 08:49:37 1994 GMT", "Sun, 06 Nov 1994 08:49:37 Z",
      // years: two digits where four are due, four where two are, too many
      "Sun, 06 Nov 94 08:49:37 GMT", "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun Nov  6 08:49:37 94",
      "Sun, 06 Nov 19940 08:49:37 GMT", "Sun Nov  6 08:49:37 19940", "Sun, 06 Nov 01994 08:49:37 GMT",
      // overflowing or odd-length numbers
      "Sun, 006 Nov 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 8:49:37 GMT",
      "Sun, 06 Nov 1994 008:49:37 GMT", "Sun, 99999999999999999999 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 99999999999999999999 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37.5 GMT",
      "Sun, +6 Nov 1994 08:49:37 GMT", "Sun, -6 Nov 1994 08:49:37 GMT", "Sun Nov 6 08:49:37 1994",
      "Sun Nov   6 08:49:37 1994",
      // months: unknown, wrong case, numeric, spelled out
      "Sun, 06 Nvo 1994 08:49:37 GMT", "Sun, 06 nov 1994 08:49:37 GMT", "Sun, 06 NOV 1994 08:49:37 GMT",
      "Sun, 06 11 1994 08:49:37 GMT", "Sun, 06 November 1994 08:49:37 GMT",
      // separators and whitespace: doubled, missing, tabs, surrounding (a field value is already trimmed)
      "Sun,  06 Nov 1994 08:49:37 GMT", "Sun,06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994  08:49:37 GMT",
      "Sun, 06\tNov 1994 08:49:37 GMT", "Sun, 06-Nov-1994 08:49:37 GMT", "Sun, 06 Nov 1994 08.49.37 GMT",
      " Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT ", "Sunday, 06-Nov-94 08:49:37 GMT ",
      "Sunday,06-Nov-94 08:49:37 GMT", "Sun  Nov  6 08:49:37 1994", "Sun, Nov  6 08:49:37 1994",
      // trailing junk
      "Sun, 06 Nov 1994 08:49:37 GMTx", "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
      "Sun Nov  6 08:49:37 1994x", "Sun Nov  6 08:49:37 19945", "Sunday, 06-Nov-94 08:49:37 GMT;",
      // not a date at all
      "120", "-1", "soon", "GMT",
  };
  for (const char* s : invalid) {
    CAPTURE(s);
    CHECK_FALSE(unix_time(s));
  }
  // A NUL inside is not a terminator.
  CHECK_FALSE(unix_time(std::string_view("Sun, 06 Nov 1994 08:49:37 GMT\0", 30)));
  CHECK_FALSE(unix_time(std::string_view("Sun, 06 Nov\0 1994 08:49:37 GMT", 30)));
}

TEST_CASE("HTTP-date: no proper prefix and no extension of a valid date parses") {
  for (const std::string_view valid : {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                                       "Sun Nov  6 08:49:37 1994", "Sun Nov 06 08:49:37 1994"}) {
    CAPTURE(valid);
    REQUIRE(unix_time(valid) == 784111777);
    for (std::size_t n = 0; n < valid.size(); ++n) {
      CAPTURE(n);
      CHECK_FALSE(unix_time(valid.substr(0, n)));
    }
    for (const char c : std::string_view(" 0GZ\t\r\n,", 8)) {
      CAPTURE(c);
      CHECK_FALSE(unix_time(std::string(valid) + c));
      CHECK_FALSE(unix_time(c + std::string(valid)));
    }
  }
}

TEST_CASE("Retry-After: delay-seconds") {
  using sse::http::retry_after_delay;
  CHECK(retry_after_delay("0", std::nullopt, now) == 0ms);
  CHECK(retry_after_delay("120", std::nullopt, now) == 120'000ms);
  CHECK(retry_after_delay("0007", "Thu, 01 Jan 1970 00:00:00 GMT", now) == 7'000ms);  // Date plays no part
  // Saturates at 10^9 s instead of overflowing.
  CHECK(retry_after_delay("1000000000", std::nullopt, now) == 1'000'000'000'000ms);
  CHECK(retry_after_delay("99999999999999999999999999", std::nullopt, now) == 1'000'000'000'000ms);
  for (const char* s : {"", "-1", "+5", "1.5", " 5", "5 ", "5s", "0x10", "soon", "Sun, 06 Nov 1994"}) {
    CAPTURE(s);
    CHECK_FALSE(retry_after_delay(s, std::nullopt, now));
  }
}

TEST_CASE("Retry-After: an HTTP-date counts from the response's Date, else from now") {
  using sse::http::retry_after_delay;
  const std::string retry = sse_test::imf_fixdate(at_time(2026, 11, 27, 8h + 2s));
  // With a Date: the server's own clock on both sides, whatever the client's clock says.
  const std::string date = sse_test::imf_fixdate(at_time(2026, 11, 27, 8h));
  CHECK(retry_after_delay(retry, date, now) == 2000ms);
  CHECK(retry_after_delay(retry, date, now + 1h) == 2000ms);   // client clock an hour fast
  CHECK(retry_after_delay(retry, date, now - 1h) == 2000ms);   // or an hour slow
  CHECK(retry_after_delay(sse_test::rfc850_date(at_time(2026, 11, 27, 8h + 2s)),
                          sse_test::asctime_date(at_time(2026, 11, 27, 8h)), now) == 2000ms);
  // Without a Date, or with one that does not parse: from the client's clock, in milliseconds.
  CHECK(retry_after_delay(retry, std::nullopt, now) == 2000ms);
  CHECK(retry_after_delay(retry, std::nullopt, now + 700ms) == 1300ms);
  CHECK(retry_after_delay(retry, "yesterday", now + 1500ms) == 500ms);
  CHECK(retry_after_delay(retry, "Sun, 06 Nov 94 08:49:37 GMT", now) == 2000ms);
  // A date in the past (or equal) means at once.
  CHECK(retry_after_delay(retry, std::nullopt, now + 1h) == 0ms);
  CHECK(retry_after_delay(date, retry, now) == 0ms);
  CHECK(retry_after_delay(date, date, now) == 0ms);
  // Far dates do not overflow the clock's nanoseconds.
  CHECK(retry_after_delay("Fri, 31 Dec 9999 23:59:59 GMT", std::nullopt, now) ==
        std::chrono::milliseconds(1'000'000'000'000));
  CHECK(retry_after_delay("Fri, 31 Dec 9999 23:59:59 GMT", "Sat, 01 Jan 0000 00:00:00 GMT", now) ==
        std::chrono::milliseconds(1'000'000'000'000));
  CHECK(retry_after_delay("Sat, 01 Jan 0000 00:00:00 GMT", std::nullopt, now) == 0ms);
  // An invalid date is ignored, whatever the Date says.
  CHECK_FALSE(retry_after_delay("Mon, 06 Nov 1994 08:49:37 GMT", date, now));
}

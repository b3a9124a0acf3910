/**
 * @file date.hpp
 * @brief sse::http::parse_http_date (RFC 9110 section 5.6.7) and sse::http::retry_after_delay, the
 *        wait that a `Retry-After` field asks for (RFC 9110 section 10.2.3).
 *
 * Sans-io: standard library only, and pure functions: no locale (strptime and std::get_time depend
 * on it), no time zone database, no libc time conversion (timegm is not portable, mktime is local
 * time). The calendar arithmetic is done here, proleptic Gregorian, in UTC; the current time, when
 * it matters, is a parameter.
 *
 * Strict: exactly the three forms of RFC 9110, case-sensitive as the RFC says, single spaces, no
 * surrounding whitespace (a parsed field value has none), fixed digit counts, real calendar dates
 * (no 31 Feb, no 29 Feb 2023), hours 00-23, minutes 00-59, seconds 00-60 (a leap second counts as
 * the first second of the next minute), and a day name that matches the date. Anything else is
 * nullopt: a `Retry-After` that does not parse is to be ignored as if absent.
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
 */
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sse::http {

namespace detail {

/// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar, for any year the int64 holds
/// without overflow (H. Hinnant's days_from_civil: eras of 400 years, years starting in March).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);                  // [0, 399]
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;             // [0, 146096]
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

/// The year of the day `z` days after 1970-01-01 (the inverse of days_from_civil, year only).
constexpr std::int64_t year_from_days(std::int64_t z) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);                  // [0, 146096]
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               // [0, 365]
  const unsigned mp = (5 * doy + 2) / 153;                                    // [0, 11], 0 = March
  return static_cast<std::int64_t>(yoe) + era * 400 + (mp >= 10 ? 1 : 0);
}

/// The day of the week of the day `z` days after 1970-01-01 (a Thursday): 0 = Sunday .. 6 = Saturday.
constexpr unsigned weekday_from_days(std::int64_t z) noexcept {
  return static_cast<unsigned>(z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6);
}

constexpr unsigned days_in_month(std::int64_t y, unsigned m) noexcept {
  constexpr std::array<unsigned, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
  return m == 2 && leap ? 29 : days[m - 1];
}

/// Reads an HTTP-date left to right; every step either consumes exactly what it expects or fails.
class date_reader {
 public:
  explicit constexpr date_reader(std::string_view s) noexcept : s_(s) {}

  constexpr bool done() const noexcept { return s_.empty(); }

  constexpr bool literal(std::string_view lit) noexcept {
    if (!s_.starts_with(lit)) return false;
    s_.remove_prefix(lit.size());
    return true;
  }

  /// Exactly `n` ASCII digits.
  constexpr bool digits(unsigned n, unsigned& out) noexcept {
    if (s_.size() < n) return false;
    unsigned v = 0;
    for (unsigned i = 0; i < n; ++i) {
      const char c = s_[i];
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    s_.remove_prefix(n);
    out = v;
    return true;
  }

  /// One of `names` (case-sensitive); returns its index, or -1.
  template <std::size_t N>
  constexpr int one_of(const std::array<std::string_view, N>& names) noexcept {
    for (std::size_t i = 0; i < N; ++i)
      if (literal(names[i])) return static_cast<int>(i);
    return -1;
  }

  /// hour ":" minute ":" second, 00:00:00 to 23:59:60; returns the seconds since midnight.
  constexpr bool time_of_day(std::int64_t& out) noexcept {
    unsigned h = 0, m = 0, s = 0;
    if (!digits(2, h) || !literal(":") || !digits(2, m) || !literal(":") || !digits(2, s)) return false;
    if (h > 23 || m > 59 || s > 60) return false;
    out = static_cast<std::int64_t>(h) * 3600 + m * 60 + s;
    return true;
  }

 private:
  std::string_view s_;
};

inline constexpr std::array<std::string_view, 7> short_days{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
inline constexpr std::array<std::string_view, 7> long_days{"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                           "Thursday", "Friday", "Saturday"};
inline constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

}  // namespace detail

/// Parses an HTTP-date in any of the three forms of RFC 9110 section 5.6.7:
/// - IMF-fixdate, the one to send: `Sun, 06 Nov 1994 08:49:37 GMT`;
/// - the obsolete RFC 850 form: `Sunday, 06-Nov-94 08:49:37 GMT`;
/// - the obsolete asctime form: `Sun Nov  6 08:49:37 1994` (day as `SP DIGIT` or two digits).
///
/// `now` only serves the RFC 850 form's two-digit year, read as RFC 9110 requires: the latest year
/// with those last two digits that is not more than 50 years after the year of `now`.
/// Returns nullopt for anything that is not exactly one of the forms (see the file comment).
inline std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view text,
                                                               std::chrono::system_clock::time_point now) noexcept {
  detail::date_reader in(text);
  std::int64_t year = 0;
  unsigned month = 0, day = 0, y = 0;
  std::int64_t seconds = 0;
  int weekday = in.one_of(detail::long_days);  // before the short names, which are their prefixes
  if (weekday >= 0) {
    // rfc850-date = day-name-l "," SP day "-" month "-" 2DIGIT SP time-of-day SP GMT
    int m = -1;
    if (!in.literal(", ") || !in.digits(2, day) || !in.literal("-") || (m = in.one_of(detail::months)) < 0 ||
        !in.literal("-") || !in.digits(2, y) || !in.literal(" ") || !in.time_of_day(seconds) ||
        !in.literal(" GMT"))
      return std::nullopt;
    month = static_cast<unsigned>(m) + 1;
    const auto now_days = std::chrono::floor<std::chrono::days>(now).time_since_epoch().count();
    const std::int64_t latest = detail::year_from_days(now_days) + 50;
    const std::int64_t above = latest - y;  // floor division: a clock may hold years before 1 AD
    year = (above >= 0 ? above / 100 : -((-above + 99) / 100)) * 100 + y;
  } else if ((weekday = in.one_of(detail::short_days)) >= 0) {
    int m = -1;
    if (in.literal(", ")) {
      // IMF-fixdate = day-name "," SP day SP month SP 4DIGIT SP time-of-day SP GMT
      if (!in.digits(2, day) || !in.literal(" ") || (m = in.one_of(detail::months)) < 0 || !in.literal(" ") ||
          !in.digits(4, y) || !in.literal(" ") || !in.time_of_day(seconds) || !in.literal(" GMT"))
        return std::nullopt;
    } else {
      // asctime-date = day-name SP month SP ( 2DIGIT / ( SP DIGIT ) ) SP time-of-day SP 4DIGIT
      if (!in.literal(" ") || (m = in.one_of(detail::months)) < 0 || !in.literal(" ")) return std::nullopt;
      if (!(in.literal(" ") ? in.digits(1, day) : in.digits(2, day)) || !in.literal(" ") ||
          !in.time_of_day(seconds) || !in.literal(" ") || !in.digits(4, y))
        return std::nullopt;
    }
    month = static_cast<unsigned>(m) + 1;
    year = y;
  } else {
    return std::nullopt;
  }
  if (!in.done() || day < 1 || day > detail::days_in_month(year, month)) return std::nullopt;
  const std::int64_t days = detail::days_from_civil(year, month, day);
  if (detail::weekday_from_days(days) != static_cast<unsigned>(weekday)) return std::nullopt;
  return std::chrono::sys_seconds(std::chrono::seconds(days * 86400 + seconds));
}

/// The wait that a `Retry-After` field value asks for (RFC 9110 section 10.2.3), or nullopt when
/// the value is neither form (the field is then to be ignored, as if absent):
/// - delay-seconds (`1*DIGIT`): that many seconds (saturating at 10^9 s, about 31 years);
/// - an HTTP-date: that date minus the response's `Date` field (`date`, when present and itself a
///   valid HTTP-date), else minus `now`; 0 when the date is already past.
///
/// Why the response's Date first: both timestamps then come from the server's clock, so a client
/// whose clock is off by minutes still waits what the server meant, where `date - now` would make a
/// slow client clock wait too long and a fast one hammer the server at once. It is the reasoning of
/// HTTP caches, which take a freshness lifetime as Expires minus Date (RFC 9111 section 4.2.1).
/// The caller caps the result at whatever longest wait it accepts.
inline std::optional<std::chrono::milliseconds> retry_after_delay(std::string_view value,
                                                                  std::optional<std::string_view> date,
                                                                  std::chrono::system_clock::time_point now) noexcept {
  using std::chrono::milliseconds;
  constexpr std::int64_t max_seconds = 1'000'000'000;
  if (!value.empty() && value.find_first_not_of("0123456789") == std::string_view::npos) {
    std::int64_t s = 0;
    for (const char c : value) s = std::min<std::int64_t>(s * 10 + (c - '0'), max_seconds);
    return milliseconds(s * 1000);
  }
  const auto when = parse_http_date(value, now);
  if (!when) return std::nullopt;
  std::optional<std::chrono::sys_seconds> sent;
  if (date) sent = parse_http_date(*date, now);
  // In milliseconds, not in the clock's own unit: nanoseconds overflow beyond 292 years.
  const auto delay = sent ? milliseconds(*when - *sent) : *when - std::chrono::floor<milliseconds>(now);
  return std::clamp(delay, milliseconds(0), milliseconds(max_seconds * 1000));
}

}  // namespace sse::http

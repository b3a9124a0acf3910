// Test support: HTTP-dates in the three forms of RFC 9110 section 5.6.7, formatted with the
// standard <chrono> calendar (an oracle independent of sse/http/date.hpp's own arithmetic).
#pragma once

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

namespace sse_test {

struct http_date_parts {
  std::chrono::year_month_day ymd;
  std::chrono::hh_mm_ss<std::chrono::seconds> hms;
  unsigned weekday;  // 0 = Sunday
};

inline http_date_parts split_date(std::chrono::sys_seconds t) {
  const auto day = std::chrono::floor<std::chrono::days>(t);
  return {std::chrono::year_month_day(day), std::chrono::hh_mm_ss<std::chrono::seconds>(t - day),
          std::chrono::weekday(day).c_encoding()};
}

inline constexpr std::array<const char*, 7> day_names{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
inline constexpr std::array<const char*, 7> long_day_names{"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                           "Thursday", "Friday", "Saturday"};
inline constexpr std::array<const char*, 12> month_names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/// `Sun, 06 Nov 1994 08:49:37 GMT` (years 0000-9999).
inline std::string imf_fixdate(std::chrono::sys_seconds t) {
  const auto p = split_date(t);
  char out[64];
  std::snprintf(out, sizeof out, "%s, %02u %s %04d %02d:%02d:%02d GMT", day_names[p.weekday],
                static_cast<unsigned>(p.ymd.day()), month_names[static_cast<unsigned>(p.ymd.month()) - 1],
                static_cast<int>(p.ymd.year()), static_cast<int>(p.hms.hours().count()),
                static_cast<int>(p.hms.minutes().count()), static_cast<int>(p.hms.seconds().count()));
  return out;
}

/// `Sunday, 06-Nov-94 08:49:37 GMT` (the year's last two digits only).
inline std::string rfc850_date(std::chrono::sys_seconds t) {
  const auto p = split_date(t);
  char out[64];
  std::snprintf(out, sizeof out, "%s, %02u-%s-%02d %02d:%02d:%02d GMT", long_day_names[p.weekday],
                static_cast<unsigned>(p.ymd.day()), month_names[static_cast<unsigned>(p.ymd.month()) - 1],
                static_cast<int>(p.ymd.year()) % 100, static_cast<int>(p.hms.hours().count()),
                static_cast<int>(p.hms.minutes().count()), static_cast<int>(p.hms.seconds().count()));
  return out;
}

/// `Sun Nov  6 08:49:37 1994` (the day padded with a space, as C's asctime does).
inline std::string asctime_date(std::chrono::sys_seconds t) {
  const auto p = split_date(t);
  char out[64];
  std::snprintf(out, sizeof out, "%s %s %2u %02d:%02d:%02d %04d", day_names[p.weekday],
                month_names[static_cast<unsigned>(p.ymd.month()) - 1], static_cast<unsigned>(p.ymd.day()),
                static_cast<int>(p.hms.hours().count()), static_cast<int>(p.hms.minutes().count()),
                static_cast<int>(p.hms.seconds().count()), static_cast<int>(p.ymd.year()));
  return out;
}

}  // namespace sse_test

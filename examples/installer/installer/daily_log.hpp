// The installer's daily log file: installer-YYYY-MM-DD.log in a folder, one line per record
// ("2026-11-27T10:00:00.123Z info  message"), reopened under the new name when the UTC date
// changes. The clock is injectable so rotation can be tested without waiting for midnight.
#pragma once

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "sse/logger.hpp"

namespace installer {

using sys_clock_fn = std::function<std::chrono::system_clock::time_point()>;

/// "2026-11-27T10:00:00.123Z"
inline std::string iso_utc(std::chrono::system_clock::time_point tp) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(((ms % 1000) + 1000) % 1000));
}

/// "2026-11-27"
inline std::string utc_date(std::chrono::system_clock::time_point tp) { return iso_utc(tp).substr(0, 10); }

class daily_log {
 public:
  daily_log(std::filesystem::path dir, sse::log_level min_level, sys_clock_fn clock = {}, bool echo_stderr = false)
      : dir_(std::move(dir)), min_(min_level), clock_(clock ? std::move(clock) : [] { return std::chrono::system_clock::now(); }),
        echo_(echo_stderr) {
    std::filesystem::create_directories(dir_);
  }
  ~daily_log() {
    if (file_) std::fclose(file_);
  }
  daily_log(const daily_log&) = delete;
  daily_log& operator=(const daily_log&) = delete;

  sse::log_level level() const noexcept { return min_; }
  bool enabled(sse::log_level l) const noexcept { return l >= min_; }

  /// The file for a UTC date ("YYYY-MM-DD").
  std::filesystem::path path_for(std::string_view date) const { return dir_ / fmt::format("installer-{}.log", date); }
  /// The file written now.
  std::filesystem::path current_path() const { return path_for(utc_date(clock_())); }

  void write(sse::log_level level, std::string_view msg) {
    if (level < min_) return;
    const auto now = clock_();
    const std::string ts = iso_utc(now);
    std::string line = fmt::format("{} {:5} ", ts, sse::to_string(level));
    for (const char c : msg) line.push_back(c == '\n' || c == '\r' ? ' ' : c);  // one record, one line
    line.push_back('\n');
    std::lock_guard lk(mu_);
    const std::string date = ts.substr(0, 10);
    if (!file_ || date != date_) {
      if (file_) std::fclose(file_);
      file_ = std::fopen(path_for(date).c_str(), "a");
      date_ = date;
    }
    if (file_) {
      std::fwrite(line.data(), 1, line.size(), file_);
      std::fflush(file_);
    }
    if (echo_) std::fwrite(line.data(), 1, line.size(), stderr);
  }

  /// A logger for sse's hooks.
  sse::logger hook() {
    return [this](sse::log_level l, std::string_view m) { write(l, m); };
  }

 private:
  std::filesystem::path dir_;
  sse::log_level min_;
  sys_clock_fn clock_;
  bool echo_;
  std::mutex mu_;
  std::FILE* file_ = nullptr;
  std::string date_;
};

}  // namespace installer

// Test support: the sse-hub example binary as a child process on a free port, and the helpers the
// proxy tests share (finding external tools, bounded polling, reading /metrics).
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../support/http_client.hpp"
#include "../support/process.hpp"

namespace sse_test {

using namespace std::chrono_literals;

/// Polls `done` every 10 ms until it holds or `timeout` passes. Returns done().
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

inline bool is_executable(const std::filesystem::path& p) {
  struct stat st {};
  return !p.empty() && ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

/// An external program: the path CMake found, else the first match on PATH or in `extra_dirs`.
/// Returns "" when there is none; the caller FAILs with a message saying how to install it.
inline std::string find_tool(std::string_view configured, const std::vector<std::string>& names,
                             const std::vector<std::string>& extra_dirs = {}) {
  if (!configured.empty() && !configured.ends_with("-NOTFOUND") && is_executable(std::string(configured)))
    return std::string(configured);
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    for (std::string d; std::getline(ss, d, ':');)
      if (!d.empty()) dirs.push_back(d);
  }
  dirs.insert(dirs.end(), extra_dirs.begin(), extra_dirs.end());
  for (const auto& d : dirs)
    for (const auto& n : names)
      if (is_executable(std::filesystem::path(d) / n)) return (std::filesystem::path(d) / n).string();
  return {};
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::size_t count_occurrences(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (auto p = text.find(needle); p != std::string_view::npos; p = text.find(needle, p + needle.size())) ++n;
  return n;
}

/// `sse-hub --port 0 ...` with its stdout and stderr in `<dir>/<name>.log`; stopped on destruction.
class hub_process {
 public:
  hub_process(const std::filesystem::path& dir, const std::vector<std::string>& args, std::string name = "hub")
      : log_path_(dir / (name + ".log")), proc_(argv(args), log_path_) {
    constexpr std::string_view banner = "sse-hub listening on http://127.0.0.1:";
    std::string log;
    const bool up = eventually(
        [&] {
          log = proc_.log();
          return log.find(banner) != std::string::npos || !proc_.running();
        },
        10s);
    const auto p = log.find(banner);
    if (!up || p == std::string::npos)
      throw std::runtime_error("sse-hub did not start (" + std::string(SSE_HUB_PATH) + "); its output:\n" + log);
    port_ = static_cast<unsigned short>(std::stoul(log.substr(p + banner.size())));
  }

  unsigned short port() const { return port_; }
  std::string log() const { return proc_.log(); }
  child_process& process() { return proc_; }

  /// One sample from GET /metrics (Prometheus text), or nullopt when it is not there.
  std::optional<double> metric(std::string_view name) const {
    const auto r = get(port_, "/metrics");
    if (r.status != 200) return std::nullopt;
    std::stringstream ss(r.body);
    for (std::string line; std::getline(ss, line);) {
      if (line.size() > name.size() && line.starts_with(name) && line[name.size()] == ' ')
        return std::stod(line.substr(name.size() + 1));
    }
    return std::nullopt;
  }

 private:
  static std::vector<std::string> argv(const std::vector<std::string>& args) {
    std::vector<std::string> v{SSE_HUB_PATH, "--port", "0"};
    v.insert(v.end(), args.begin(), args.end());
    return v;
  }

  std::filesystem::path log_path_;
  child_process proc_;
  unsigned short port_ = 0;
};

/// POST /publish/{topic}[?event=type]; returns the id from the 202 answer ("" on failure).
inline std::string publish_event(unsigned short port, std::string_view topic, std::string_view data,
                                 std::string_view type = {}) {
  std::string path = "/publish/" + std::string(topic);
  if (!type.empty()) path += "?event=" + std::string(type);
  const auto r = post(port, path, data);
  const auto p = r.body.find("\"id\":\"");
  if (r.status != 202 || p == std::string::npos) return {};
  return r.body.substr(p + 6, r.body.find('"', p + 6) - p - 6);
}

}  // namespace sse_test

// Test support: a private nginx (never the system service) in front of an upstream port, rendered
// from tests/proxy/nginx.conf.in into its own temp dir (config, pid, logs, temp paths), listening on a
// free loopback port, in the foreground (`daemon off;`) so that child_process stops it.
#pragma once

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../support/process.hpp"
#include "hub_process.hpp"

namespace sse_test {

struct nginx_options {
  unsigned short upstream_port = 0;
  std::string http_version = "1.1";          ///< proxy_http_version (nginx's own default is 1.0)
  std::string read_timeout = "5s";           ///< proxy_read_timeout
  bool gzip = false;                         ///< gzip on; gzip_types text/event-stream;
  bool ignore_accel_buffering = false;       ///< proxy_ignore_headers X-Accel-Buffering; (the control)
};

/// The nginx binary, or "" when it is not installed.
inline std::string nginx_executable() {
  return find_tool(SSE_NGINX_EXECUTABLE, {"nginx"}, {"/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"});
}

inline constexpr std::string_view nginx_missing =
    "nginx is not installed (looked for " SSE_NGINX_EXECUTABLE ", on PATH and in /usr/sbin); "
    "install nginx-light (scripts/test.sh does) - this test does not skip";

class nginx_process {
 public:
  /// Starts nginx in `dir` (which must exist and be empty of other nginx files). Throws with nginx's
  /// error log when it does not come up.
  nginx_process(const std::filesystem::path& dir, const nginx_options& o) : dir_(dir) {
    const std::string exe = nginx_executable();
    if (exe.empty()) throw std::runtime_error(std::string(nginx_missing));
    std::string last_error;
    // A free port can be taken between free_port() and nginx's bind: try a few.
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = free_port();
      config_ = render(o);
      const auto conf = dir_ / "nginx.conf";
      std::ofstream(conf) << config_;
      proc_ = std::make_unique<child_process>(
          std::vector<std::string>{exe, "-p", prefix(), "-c", conf.string(), "-e", (dir_ / "error.log").string(),
                                   "-g", "daemon off; master_process on;"},
          dir_ / "nginx.out");
      if (eventually([&] { return !proc_->running() || wait_for_port(port_, 50ms); }, 10s) && proc_->running())
        return;
      last_error = proc_->log() + read_text(dir_ / "error.log");
      proc_.reset();
    }
    throw std::runtime_error("nginx did not start; its output:\n" + last_error);
  }
  ~nginx_process() = default;
  nginx_process(const nginx_process&) = delete;
  nginx_process& operator=(const nginx_process&) = delete;

  unsigned short port() const { return port_; }
  const std::string& config() const { return config_; }
  std::string error_log() const { return read_text(dir_ / "error.log"); }
  std::string access_log() const { return read_text(dir_ / "access.log"); }
  bool running() { return proc_ && proc_->running(); }

 private:
  std::string prefix() const { return dir_.string() + "/"; }

  std::string render(const nginx_options& o) const {
    std::string text = read_text(SSE_NGINX_CONF_IN);
    if (text.empty()) throw std::runtime_error("cannot read " SSE_NGINX_CONF_IN);
    // As root, workers would run as `nobody`, which cannot enter the 0700 temp dir (proxy_temp).
    const std::string user = ::geteuid() == 0 ? "user root;" : "";
    std::string server_extra = o.gzip ? "gzip on; gzip_types text/event-stream;" : "";
    std::string location_extra = o.ignore_accel_buffering ? "proxy_ignore_headers X-Accel-Buffering;" : "";
    const std::pair<std::string_view, std::string> vars[] = {
        {"@PREFIX@", prefix()},
        {"@PORT@", std::to_string(port_)},
        {"@UPSTREAM_PORT@", std::to_string(o.upstream_port)},
        {"@HTTP_VERSION@", o.http_version},
        {"@READ_TIMEOUT@", o.read_timeout},
        {"@USER@", user},
        {"@SERVER_EXTRA@", server_extra},
        {"@LOCATION_EXTRA@", location_extra},
    };
    for (const auto& [key, value] : vars)
      for (auto p = text.find(key); p != std::string::npos; p = text.find(key, p + value.size()))
        text.replace(p, key.size(), value);
    if (text.find('@') != std::string::npos)
      throw std::runtime_error("nginx.conf.in has an unknown placeholder:\n" + text);
    return text;
  }

  std::filesystem::path dir_;
  unsigned short port_ = 0;
  std::string config_;
  std::unique_ptr<child_process> proc_;
};

}  // namespace sse_test

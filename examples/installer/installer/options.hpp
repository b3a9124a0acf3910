// sse-installer's settings (main.cpp fills them from the command line).
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <sse/server.hpp>

#include "backend.hpp"

namespace installer {

struct options {
  std::string bind = "127.0.0.1";
  unsigned short port = 8080;
  std::size_t threads = 2;
  std::filesystem::path data_dir = "installer-data";
  std::filesystem::path catalog_file;
  std::filesystem::path web_dir;
  std::filesystem::path client_dir;   ///< the browser client package (clients/js), served under /client/ ("" = not served)
  std::filesystem::path log_dir;      ///< "" = data_dir
  std::filesystem::path install_dir;  ///< where components go ("" = data_dir/installed); share it between instances
  std::chrono::milliseconds ping_interval = std::chrono::seconds(10);
  sse::ping_form ping_form = sse::ping_form::event;
  std::string token;
  /// Host names answered besides localhost, 127.0.0.1, [::1] and `bind` (others: 421); "*" = any.
  std::vector<std::string> allowed_hosts = {};
  /// Origins (scheme://host[:port]) whose pages may use the API: CORS, and their POSTs are accepted.
  std::vector<std::string> allow_origins = {};
  sse::log_level log_level = sse::log_level::info;
  std::chrono::milliseconds step_delay = std::chrono::milliseconds(200);
  std::size_t max_body_bytes = 16 * 1024;
  bool echo_log = true;  ///< also write log lines to stderr
  /// Where jobs, locks, installed components and the jobs' events are kept: local_backend
  /// (installer.db + events.db in data_dir, this instance alone; the default when nullptr) or
  /// cluster (Redis, several instances as one service). main.cpp chooses.
  std::shared_ptr<job_backend> backend = {};
};

}  // namespace installer

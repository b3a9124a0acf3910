// sse-installer: the wiring of sse::server, the job backend (local: SQLite; or shared: Redis), the
// job runner, the HTTP API and the daily log. See examples/installer/README.md for the API.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include <sse/server.hpp>

#include "backend.hpp"
#include "catalog.hpp"
#include "daily_log.hpp"
#include "jobs.hpp"
#include "local_backend.hpp"
#include "options.hpp"
#include "routes.hpp"

namespace installer {

class app {
 public:
  explicit app(options o) : opts_(std::move(o)) {
    if (opts_.log_dir.empty()) opts_.log_dir = opts_.data_dir;
    if (opts_.install_dir.empty()) opts_.install_dir = opts_.data_dir / "installed";
    fs::create_directories(opts_.data_dir);
    fs::create_directories(opts_.install_dir);
    log_ = std::make_unique<daily_log>(opts_.log_dir, opts_.log_level, sys_clock_fn{}, opts_.echo_log);
    catalog_ = load_catalog(opts_.catalog_file);
    backend_ = opts_.backend ? opts_.backend : std::make_shared<local_backend>(opts_.data_dir);

    sse::server_options so;
    so.bind = opts_.bind;
    so.port = opts_.port;
    so.threads = opts_.threads;
    so.max_body_bytes = opts_.max_body_bytes;
    so.allowed_hosts = allowed_hosts(opts_);
    so.allow_origins = opts_.allow_origins;
    so.cors_allow_headers = {"X-Installer-Request"};  // a cross-origin page (--allow-origin) may send the CSRF marker
    so.shutdown_grace = 2s;
    so.hub.keepalive = sse::keepalive_options{.interval = opts_.ping_interval, .form = opts_.ping_form};
    backend_->configure(so.hub, log_->hook());
    so.on_log = log_->hook();
    server_ = std::make_unique<sse::server>(std::move(so));
    backend_->attach(server_->hub());
    log(sse::log_level::info, fmt::format("catalog {}: {} components; data in {}", opts_.catalog_file.string(),
                                          catalog_.components.size(), opts_.data_dir.string()));
    log(sse::log_level::info, backend_->describe());
    runner_ = std::make_unique<job_runner>(*backend_, server_->hub(), *log_, opts_.install_dir, opts_.step_delay);
    // Orphaned jobs: a backend that looks for them once (the local one: jobs a previous process left
    // running) has them ended now, before the server serves; otherwise the runner's warden starts.
    runner_->start();
    api_ = std::make_unique<http_api>(opts_, catalog_, *backend_, *runner_, *log_);
    api_->add_routes(*server_);
  }

  /// Stops everything; the runner goes before the server, the server (and its hub) before the
  /// backend it publishes through.
  ~app() {
    shutdown();
    api_.reset();
    runner_.reset();
    server_.reset();
  }
  app(const app&) = delete;
  app& operator=(const app&) = delete;

  sse::server& server() { return *server_; }
  unsigned short port() const { return server_->port(); }
  daily_log& logfile() { return *log_; }

  void start() { server_->start(); }

  /// Blocks until SIGINT/SIGTERM, then stops the server and the jobs.
  void run() {
    server_->run();
    shutdown();
  }

  /// Cancels running jobs (they end as failed: "interrupted: the server is shutting down"), waits
  /// for them, stops the server and closes the backend. Idempotent.
  void shutdown() {
    if (shut_.exchange(true)) return;
    runner_->shutdown();
    server_->stop(0ms);
    backend_->close();
    log(sse::log_level::info, "stopped");
  }

 private:
  void log(sse::log_level l, std::string_view msg) { log_->write(l, msg); }

  options opts_;
  std::unique_ptr<daily_log> log_;
  catalog catalog_;
  std::shared_ptr<job_backend> backend_;
  std::unique_ptr<sse::server> server_;
  std::unique_ptr<job_runner> runner_;
  std::unique_ptr<http_api> api_;
  std::atomic<bool> shut_{false};
};

}  // namespace installer

// Test support: a private redis-server (Debian's /usr/bin/redis-server, never the system service)
// on a free loopback port, without persistence, that a test can kill and start again on the same
// port. Stopped on destruction.
#pragma once

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../support/process.hpp"

namespace sse_test {

inline std::string redis_server_path() {
  for (const char* p : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

class redis_process {
 public:
  explicit redis_process(const std::filesystem::path& dir, std::string password = {})
      : dir_(dir), password_(std::move(password)), port_(free_port()) {
    start();
  }
  ~redis_process() { stop(); }
  redis_process(const redis_process&) = delete;
  redis_process& operator=(const redis_process&) = delete;

  unsigned short port() const { return port_; }
  std::string url(int db = 0) const {
    return "redis://" + (password_.empty() ? std::string() : ":" + password_ + "@") + "127.0.0.1:" +
           std::to_string(port_) + "/" + std::to_string(db);
  }

  /// Starts redis-server on port() (again, after stop()); waits until it accepts connections.
  void start() {
    const std::string bin = redis_server_path();
    if (bin.empty()) throw std::runtime_error("redis-server not found: apt-get install redis-server");
    std::vector<std::string> argv{bin, "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--daemonize", "no",
                                  "--dir", dir_.string(), "--protected-mode", "no", "--loglevel", "warning"};
    if (!password_.empty()) {
      argv.push_back("--requirepass");
      argv.push_back(password_);
    }
    proc_ = std::make_unique<child_process>(argv, dir_ / ("redis-" + std::to_string(starts_++) + ".log"));
    if (!wait_for_port(port_, std::chrono::seconds(10)))
      throw std::runtime_error("redis-server did not start on port " + std::to_string(port_) + ": " + proc_->log());
  }
  /// Kills it at once (SIGKILL: no goodbye to clients, nothing saved).
  void kill() {
    if (!proc_) return;
    proc_->signal(SIGCONT);
    proc_->signal(SIGKILL);
    proc_->wait(std::chrono::seconds(5));
    proc_.reset();
  }
  void stop() {
    if (proc_) proc_->signal(SIGCONT);
    if (proc_) proc_->stop();
    proc_.reset();
  }
  void pause() {
    if (proc_) proc_->signal(SIGSTOP);
  }
  void resume() {
    if (proc_) proc_->signal(SIGCONT);
  }
  bool running() const { return proc_ != nullptr; }

 private:
  std::filesystem::path dir_;
  std::string password_;
  unsigned short port_;
  int starts_ = 0;
  std::unique_ptr<child_process> proc_;
};

}  // namespace sse_test

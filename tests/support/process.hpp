// Test support: child processes that are always cleaned up, free loopback ports, bounded waits.
// POSIX only (the tests run on Linux). Not part of the library.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace sse_test {

/// A port that was free on 127.0.0.1 a moment ago (bind to 0, read it back, close).
inline unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind() failed");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// True once something accepts TCP connections on 127.0.0.1:port, false after `timeout`.
inline bool wait_for_port(unsigned short port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

/// A fresh directory under the system temp dir, removed with everything in it on destruction.
class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "sse-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// A child process, started with an argument vector (never a shell string), its stdout and stderr
/// sent to a log file. The destructor stops it: SIGTERM, then SIGKILL after a grace period. If the
/// test process dies first (a crash, a sanitizer's abort), the kernel kills the child too
/// (PR_SET_PDEATHSIG), so no server outlives its test. Start children from the thread that lives
/// as long as they should (the test's own thread): the signal follows the thread that forked.
class child_process {
 public:
  child_process(std::vector<std::string> argv, std::filesystem::path log_file)
      : log_(std::move(log_file)) {
    // Everything the child needs is prepared here: after fork() it only calls async-signal-safe
    // functions (this process has threads).
    const int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || in < 0) {
      if (out >= 0) ::close(out);
      if (in >= 0) ::close(in);
      throw std::runtime_error("cannot open " + log_.string());
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::execvp(args[0], args.data());
      static const char msg[] = "child_process: exec failed\n";
      (void)!::write(2, msg, sizeof msg - 1);
      ::_exit(127);
    }
    ::close(out);
    ::close(in);
    if (pid_ < 0) throw std::runtime_error("cannot start " + argv[0]);
  }
  ~child_process() { stop(); }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = status;
      pid_ = -1;
      return false;
    }
    return true;
  }
  /// Sends a signal (e.g. SIGTERM for a graceful-shutdown test).
  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  /// Waits up to `timeout` for the process to exit; returns its wait status, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exit_status_;
  }
  /// SIGTERM, then SIGKILL after `grace`.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000)) {
    if (!running()) return;
    ::kill(pid_, SIGTERM);
    if (wait(grace) == -1 && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait(std::chrono::milliseconds(2000));
    }
  }
  std::string log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  pid_t pid_ = -1;
  int exit_status_ = 0;
  std::filesystem::path log_;
};

}  // namespace sse_test

// Test support for the sse-doctor matrix: real intermediaries in front of an upstream port, each in
// its own temp dir on a free loopback port - nginx and HAProxy (configurations written here, with
// the cell's "problem" at one level and the doctor's advice at a level that overrides it), and a TCP
// relay that goes silent (forwards nothing more, closes nothing) once a connection was idle a while,
// like a NAT or a firewall forgetting it. Start processes from the test's own thread (see
// child_process).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../proxy/hub_process.hpp"
#include "../support/process.hpp"

namespace sse_test {

inline std::string haproxy_executable() {
  return find_tool(SSE_HAPROXY_EXECUTABLE, {"haproxy"}, {"/usr/sbin", "/usr/local/sbin"});
}

/// A proxy process (nginx or HAProxy) from a configuration text with @PORT@ for its listen port.
class proxy_process {
 public:
  proxy_process(const std::filesystem::path& dir, const std::string& kind, const std::string& config_template,
                const std::vector<std::string>& argv_tail_with_conf)
      : dir_(dir) {
    std::filesystem::create_directories(dir_);
    const std::string exe = kind == "nginx" ? find_tool(SSE_NGINX_EXECUTABLE, {"nginx"}, {"/usr/sbin", "/usr/local/sbin"})
                                            : haproxy_executable();
    if (exe.empty())
      throw std::runtime_error(kind + " is not installed (scripts/packages-test.txt lists it) - this test does not skip");
    std::string last;
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = free_port();
      config_ = config_template;
      for (auto p = config_.find("@PORT@"); p != std::string::npos; p = config_.find("@PORT@"))
        config_.replace(p, 6, std::to_string(port_));
      const auto conf = dir_ / "proxy.conf";
      std::ofstream(conf) << config_;
      std::vector<std::string> argv{exe};
      for (const auto& a : argv_tail_with_conf) argv.push_back(a == "@CONF@" ? conf.string() : a == "@DIR@" ? dir_.string() + "/" : a);
      proc_ = std::make_unique<child_process>(argv, dir_ / "proxy.out");
      if (eventually([&] { return !proc_->running() || wait_for_port(port_, std::chrono::milliseconds(50)); },
                     std::chrono::seconds(10)) &&
          proc_->running())
        return;
      last = proc_->log() + read_text(dir_ / "error.log");
      proc_.reset();
    }
    throw std::runtime_error(kind + " did not start; its output:\n" + last + "\nconfig:\n" + config_);
  }
  unsigned short port() const { return port_; }
  const std::string& config() const { return config_; }
  std::string log() const { return proc_ ? proc_->log() + read_text(dir_ / "error.log") : std::string(); }

 private:
  std::filesystem::path dir_;
  unsigned short port_ = 0;
  std::string config_;
  std::unique_ptr<child_process> proc_;
};

/// nginx in front of `upstream`: `server_level` holds the cell's settings, `location_level` the
/// advice applied (nginx lets the location override the server). `http11`: proxy_http_version 1.1
/// (and an empty Connection header) in the location; else nginx's default, HTTP/1.0 upstream.
inline std::unique_ptr<proxy_process> start_nginx(const std::filesystem::path& dir, unsigned short upstream,
                                                  const std::string& server_level, const std::string& location_level,
                                                  bool http11 = true) {
  std::filesystem::create_directories(dir);
  const std::string p = dir.string() + "/";
  const std::string conf = std::string(::geteuid() == 0 ? "user root;\n" : "") +
                           "worker_processes 1;\npid " + p + "nginx.pid;\nerror_log " + p + "error.log info;\n"
                           "events { worker_connections 128; }\nhttp {\n  access_log " + p + "access.log;\n"
                           "  client_body_temp_path " + p + "cbt;\n  proxy_temp_path " + p + "pt;\n"
                           "  fastcgi_temp_path " + p + "ft;\n  uwsgi_temp_path " + p + "ut;\n  scgi_temp_path " + p + "st;\n"
                           "  server {\n    listen 127.0.0.1:@PORT@;\n    " + server_level + "\n"
                           "    location / {\n      proxy_pass http://127.0.0.1:" + std::to_string(upstream) + ";\n"
                           + (http11 ? "      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n" : "") +
                           "      " + location_level + "\n    }\n  }\n}\n";
  return std::make_unique<proxy_process>(dir, "nginx", conf,
                                         std::vector<std::string>{"-p", "@DIR@", "-c", "@CONF@", "-e", p + "error.log",
                                                                  "-g", "daemon off; master_process on;"});
}

/// HAProxy in front of `upstream`: `defaults_level` holds the cell's settings, `listen_level` the
/// advice applied (a listen section overrides the defaults).
inline std::unique_ptr<proxy_process> start_haproxy(const std::filesystem::path& dir, unsigned short upstream,
                                                    const std::string& defaults_level, const std::string& listen_level) {
  const std::string conf = "global\n  maxconn 200\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n"
                           "  timeout server 30s\n  " + defaults_level + "\nlisten sse\n  bind 127.0.0.1:@PORT@\n"
                           "  server hub 127.0.0.1:" + std::to_string(upstream) + "\n  " + listen_level + "\n";
  return std::make_unique<proxy_process>(dir, "haproxy", conf, std::vector<std::string>{"-db", "-f", "@CONF@"});
}

/// A TCP relay that relays until a connection has been idle (no byte either way) for `stall_after`,
/// then relays nothing more on it in either direction and closes nothing: a silent stall.
class stalling_relay {
 public:
  stalling_relay(unsigned short upstream, std::chrono::milliseconds stall_after)
      : upstream_(upstream), stall_after_(stall_after) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      if (listener_ >= 0) ::close(listener_);
      throw std::runtime_error("stalling_relay: cannot listen");
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~stalling_relay() {
    stop_ = true;
    thread_.join();
    for (auto& p : pairs_) {
      ::close(p.a);
      ::close(p.b);
    }
    ::close(listener_);
  }
  stalling_relay(const stalling_relay&) = delete;
  stalling_relay& operator=(const stalling_relay&) = delete;

  unsigned short port() const { return port_; }
  std::size_t stalled() const { return stalled_; }

 private:
  struct pair {
    int a = -1, b = -1;
    std::chrono::steady_clock::time_point last;
    bool stalled = false, closed = false;
  };
  static sockaddr_in loopback(unsigned short port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return a;
  }
  void run() {
    char buf[16384];
    while (!stop_) {
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      for (auto& p : pairs_)
        if (!p.stalled && !p.closed) {
          fds.push_back({p.a, POLLIN, 0});
          fds.push_back({p.b, POLLIN, 0});
        }
      ::poll(fds.data(), fds.size(), 20);
      const auto now = std::chrono::steady_clock::now();
      if (fds[0].revents & POLLIN) {
        const int c = ::accept(listener_, nullptr, nullptr);
        if (c >= 0) {
          const int s = ::socket(AF_INET, SOCK_STREAM, 0);
          sockaddr_in up = loopback(upstream_);
          if (s >= 0 && ::connect(s, reinterpret_cast<sockaddr*>(&up), sizeof up) == 0) {
            pairs_.push_back({c, s, now, false, false});
          } else {
            ::close(c);
            if (s >= 0) ::close(s);
          }
        }
      }
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        for (auto& p : pairs_) {
          if (p.stalled || p.closed || (fds[i].fd != p.a && fds[i].fd != p.b)) continue;
          const int to = fds[i].fd == p.a ? p.b : p.a;
          const ssize_t n = ::recv(fds[i].fd, buf, sizeof buf, 0);
          if (n <= 0) {
            ::shutdown(p.a, SHUT_RDWR);
            ::shutdown(p.b, SHUT_RDWR);
            p.closed = true;
          } else {
            (void)!::send(to, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
            p.last = now;
          }
        }
      }
      for (auto& p : pairs_)
        if (!p.stalled && !p.closed && now - p.last >= stall_after_) {
          p.stalled = true;
          ++stalled_;
        }
    }
  }

  unsigned short upstream_;
  std::chrono::milliseconds stall_after_;
  int listener_ = -1;
  unsigned short port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> stalled_{0};
  std::vector<pair> pairs_;  // the relay thread's own
};

}  // namespace sse_test

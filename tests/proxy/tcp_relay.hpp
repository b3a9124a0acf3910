// Test support: a loopback TCP relay in front of a server that a test can cut, like a proxy or a
// network dropping a long-lived stream.
//  - cut():      closes every relayed connection, both sides (the client sees its stream end);
//  - hold(true): accepts new connections but parks them, unconnected to the server, until
//                hold(false) - so a test can publish while a client is certainly disconnected,
//                and then let its reconnect through.
// One thread with poll(); every socket is owned by that thread, commands go through a mutex.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sse_test {

class tcp_relay {
 public:
  explicit tcp_relay(unsigned short upstream_port) : upstream_port_(upstream_port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listener_, 16) != 0 || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      if (listener_ >= 0) ::close(listener_);
      throw std::runtime_error("tcp_relay: cannot listen");
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~tcp_relay() {
    stop_ = true;
    thread_.join();
    for (auto& p : pairs_) close_pair(p);
    for (int fd : parked_) ::close(fd);
    ::close(listener_);
  }
  tcp_relay(const tcp_relay&) = delete;
  tcp_relay& operator=(const tcp_relay&) = delete;

  unsigned short port() const { return port_; }
  /// Connections accepted so far (relayed or parked).
  std::size_t accepted() const { return accepted_; }
  /// Connections parked by hold(true) and not yet let through.
  std::size_t parked() const { return parked_count_; }
  /// Connections currently relayed.
  std::size_t active() const { return active_count_; }

  void hold(bool on) {
    std::lock_guard lock(mutex_);
    holding_ = on;
  }

  /// Closes every relayed connection (both sides) and returns how many; waits up to 2 s for the
  /// relay thread to do it.
  std::size_t cut() {
    std::unique_lock lock(mutex_);
    const auto ticket = ++cut_requested_;
    cv_.wait_for(lock, std::chrono::seconds(2), [&] { return cut_done_ >= ticket; });
    if (cut_done_ < ticket) throw std::runtime_error("tcp_relay: cut() timed out");
    return last_cut_;
  }

 private:
  struct pair {
    int client = -1, server = -1;
  };

  static sockaddr_in loopback(unsigned short port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return a;
  }
  static void close_pair(pair& p) {
    for (int* fd : {&p.client, &p.server}) {
      if (*fd >= 0) {
        ::shutdown(*fd, SHUT_RDWR);
        ::close(*fd);
      }
      *fd = -1;
    }
  }
  /// Copies what is readable on `from` to `to`; false when the connection is over.
  static bool forward(int from, int to) {
    char buf[65536];
    const auto n = ::recv(from, buf, sizeof buf, 0);
    if (n <= 0) return false;
    for (ssize_t sent = 0; sent < n;) {
      const auto w = ::send(to, buf + sent, static_cast<std::size_t>(n - sent), MSG_NOSIGNAL);
      if (w <= 0) return false;
      sent += w;
    }
    return true;
  }

  void connect_upstream(int client) {
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    const sockaddr_in a = loopback(upstream_port_);
    if (s < 0 || ::connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
      if (s >= 0) ::close(s);
      ::close(client);
      return;
    }
    pairs_.push_back({client, s});
  }

  void run() {
    while (!stop_) {
      {
        std::lock_guard lock(mutex_);
        if (cut_requested_ > cut_done_) {
          last_cut_ = pairs_.size();
          for (auto& p : pairs_) close_pair(p);
          pairs_.clear();
          cut_done_ = cut_requested_;
          cv_.notify_all();
        }
        if (!holding_) {
          for (int fd : parked_) connect_upstream(fd);
          parked_.clear();
        }
        parked_count_ = parked_.size();
        active_count_ = pairs_.size();
      }
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      for (const auto& p : pairs_) {
        fds.push_back({p.client, POLLIN, 0});
        fds.push_back({p.server, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), 10) <= 0) continue;
      std::lock_guard lock(mutex_);
      if (fds[0].revents & POLLIN) {
        const int c = ::accept(listener_, nullptr, nullptr);
        if (c >= 0) {
          ++accepted_;
          if (holding_) parked_.push_back(c);
          else connect_upstream(c);
        }
      }
      // fds[1 + 2i] and fds[2 + 2i] belong to pairs_[i] as it was before any accept above.
      const std::size_t polled = (fds.size() - 1) / 2;
      for (std::size_t i = 0; i < polled; ++i) {
        auto& p = pairs_[i];
        const bool ok = (!(fds[1 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR)) || forward(p.client, p.server)) &&
                        (!(fds[2 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR)) || forward(p.server, p.client));
        if (!ok) close_pair(p);
      }
      std::erase_if(pairs_, [](const pair& p) { return p.client < 0; });
    }
  }

  unsigned short upstream_port_;
  unsigned short port_ = 0;
  int listener_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> accepted_{0}, parked_count_{0}, active_count_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool holding_ = false;
  std::size_t cut_requested_ = 0, cut_done_ = 0, last_cut_ = 0;
  std::vector<pair> pairs_;
  std::vector<int> parked_;
};

}  // namespace sse_test

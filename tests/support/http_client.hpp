// Test support: a deliberately simple blocking HTTP/SSE client on POSIX sockets, independent of the
// library's own client, so server tests do not test the library with itself. Every read has a deadline.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sse/parser.hpp"
#include "sse_collect.hpp"

namespace sse_test {

using namespace std::chrono_literals;

class raw_socket {
 public:
  explicit raw_socket(unsigned short port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect to port " + std::to_string(port) + " failed");
    }
  }
  explicit raw_socket(const std::string& unix_path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    unix_path.copy(a.sun_path, sizeof a.sun_path - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect to " + unix_path + " failed");
    }
  }
  ~raw_socket() { close(); }
  raw_socket(const raw_socket&) = delete;
  raw_socket& operator=(const raw_socket&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  /// Shrinks the receive buffer (before reading) so that a client that stops reading fills up fast.
  void small_receive_buffer(int bytes) { ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes); }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  /// Appends what arrives within `timeout` (at least one read if data is there). Returns false on
  /// EOF or error, true otherwise (also when nothing arrived).
  bool read_some(std::string& out, std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return true;
    char buf[65536];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    out.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  bool eof() const { return eof_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool eof_ = false;
};

/// A complete HTTP response read from a socket (Content-Length body or until close).
struct http_response {
  int status = 0;
  std::string head;
  std::string body;
  std::string header(std::string_view name) const {
    std::string lower_head;
    for (char c : head) lower_head.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    std::string key = "\r\n";
    for (char c : name) key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    key += ":";
    const auto p = lower_head.find(key);
    if (p == std::string::npos) return {};
    auto v = p + key.size();
    while (v < head.size() && head[v] == ' ') ++v;
    return head.substr(v, head.find("\r\n", v) - v);
  }
};

/// Sends raw request bytes and reads one response (until Content-Length is satisfied or EOF).
inline http_response request_raw(unsigned short port, std::string_view request,
                                 std::chrono::milliseconds timeout = 5s) {
  raw_socket s(port);
  s.send(request);
  std::string in;
  http_response r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!s.read_some(in, 50ms)) break;
    const auto end = in.find("\r\n\r\n");
    if (end == std::string::npos) continue;
    r.head = in.substr(0, end + 2);
    r.body = in.substr(end + 4);
    const std::string cl = r.header("Content-Length");
    if (!cl.empty() && r.body.size() >= std::stoul(cl)) break;
  }
  if (r.head.empty()) r.head = in;
  if (r.head.size() > 12 && r.head.starts_with("HTTP/1.")) r.status = std::stoi(r.head.substr(9, 3));
  const std::string cl = r.header("Content-Length");
  if (!cl.empty() && r.body.size() > std::stoul(cl)) r.body.resize(std::stoul(cl));
  return r;
}

inline http_response post(unsigned short port, std::string_view path, std::string_view body,
                          std::string_view extra_headers = {}) {
  std::string req = "POST " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += extra_headers;
  req += "\r\n";
  req += body;
  return request_raw(port, req);
}

inline http_response get(unsigned short port, std::string_view path, std::string_view extra_headers = {}) {
  return request_raw(port, "GET " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
                               std::string(extra_headers) + "\r\n");
}

/// Publishes through POST /publish/{topic}; returns the id from the JSON answer ("" on failure).
inline std::string publish(unsigned short port, std::string_view topic, std::string_view data) {
  const auto r = post(port, "/publish/" + std::string(topic), data);
  const auto p = r.body.find("\"id\":\"");
  if (r.status != 202 || p == std::string::npos) return {};
  return r.body.substr(p + 6, r.body.find('"', p + 6) - p - 6);
}

/// Moves every complete chunk of a chunked body from `raw` to `out`; sets `ended` at the last chunk.
inline void take_chunks(std::string& raw, std::string& out, bool& ended) {
  for (;;) {
    const auto crlf = raw.find("\r\n");
    if (crlf == std::string::npos) return;
    const std::size_t size = std::stoul(raw.substr(0, crlf), nullptr, 16);
    if (raw.size() < crlf + 2 + size + 2) return;
    if (raw.compare(crlf + 2 + size, 2, "\r\n") != 0) throw std::runtime_error("bad chunk framing");
    if (size == 0) ended = true;
    out.append(raw, crlf + 2, size);
    raw.erase(0, crlf + 2 + size + 2);
  }
}

/// An SSE subscriber: sends the GET, checks the head, de-chunks the body, parses events.
class sse_subscriber {
 public:
  sse_subscriber(unsigned short port, std::string_view path, std::string_view extra_headers = {},
                 bool http10 = false)
      : sock_(port) {
    std::string req = "GET " + std::string(path) + (http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n") +
                      "Host: 127.0.0.1\r\nAccept: text/event-stream\r\n";
    req += extra_headers;
    req += "\r\n";
    sock_.send(req);
  }

  raw_socket& socket() { return sock_; }
  int status() const { return status_; }
  const std::string& head() const { return head_; }
  /// The de-chunked body so far (comments and pings included).
  const std::string& body() const { return body_; }
  const std::vector<collected_event>& events() const { return events_; }
  bool closed() const { return sock_.eof(); }
  bool chunked() const { return chunked_; }
  /// True once the terminating zero-size chunk arrived.
  bool ended() const { return ended_; }

  /// Reads until `done()` holds, EOF, or the deadline. Returns done().
  bool read_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      if (!sock_.read_some(raw_, 20ms)) {
        process();
        return done();
      }
      process();
    }
    return true;
  }
  bool wait_events(std::size_t n, std::chrono::milliseconds timeout = 5s) {
    return read_until([&] { return events_.size() >= n; }, timeout);
  }
  bool wait_closed(std::chrono::milliseconds timeout = 5s) {
    return read_until([&] { return sock_.eof(); }, timeout);
  }

 private:
  void process() {
    if (status_ == 0) {
      const auto end = raw_.find("\r\n\r\n");
      if (end == std::string::npos) return;
      head_ = raw_.substr(0, end + 2);
      raw_.erase(0, end + 4);
      status_ = std::stoi(head_.substr(9, 3));
      chunked_ = head_.find("Transfer-Encoding: chunked") != std::string::npos;
    }
    std::string fresh;
    if (!chunked_) {
      fresh.swap(raw_);
    } else {
      take_chunks(raw_, fresh, ended_);
    }
    body_ += fresh;
    const auto ec = parser_.feed(fresh, [&](const sse::received_event& ev) {
      events_.push_back({std::string(ev.type), std::string(ev.data), std::string(ev.id),
                         ev.retry ? std::optional<long long>(ev.retry->count()) : std::nullopt});
    });
    if (ec) throw std::runtime_error("SSE parse error: " + ec.message());
  }

  raw_socket sock_;
  std::string raw_, head_, body_;
  int status_ = 0;
  bool chunked_ = false, ended_ = false;
  sse::parser parser_;
  std::vector<collected_event> events_;
};

}  // namespace sse_test

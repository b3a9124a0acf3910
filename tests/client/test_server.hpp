// Test support: a small scriptable SSE server (TCP or Unix socket) for the client tests.
// Each connection's request is recorded, then a handler decides the reply: status, headers,
// framing (chunked, close-delimited, Content-Length), body pieces written one by one, and whether
// the connection is then ended or held open.
#pragma once

#include <asio/experimental/as_tuple.hpp>
#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/read_until.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sse/encoder.hpp"
#include "sse/http/response_parser.hpp"

namespace sse_test {

inline constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

struct request {
  std::string method, target;
  std::vector<std::pair<std::string, std::string>> headers;
  /// The value of a header (case-insensitive), "" when absent.
  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (sse::http::iequals(n, name)) return v;
    return {};
  }
  bool has_header(std::string_view name) const {
    for (const auto& h : headers)
      if (sse::http::iequals(h.first, name)) return true;
    return false;
  }
};

enum class framing { chunked, close_delimited, content_length };

struct reply {
  int status = 200;
  std::string reason = "OK";
  std::string content_type = "text/event-stream";
  std::vector<std::pair<std::string, std::string>> headers{};
  framing body = framing::chunked;
  /// Body pieces, each written separately (one chunk each when chunked).
  std::vector<std::string> pieces{};
  std::chrono::milliseconds piece_delay{0};
  /// After the pieces, keep the connection open instead of ending the body.
  bool hold_open = false;
  /// Send nothing at all (the client's response timeout must fire).
  bool no_response = false;
};

/// The wire form of events id=first..last with data "event <id>".
inline std::string numbered_events(int first, int last) {
  std::string out;
  for (int i = first; i <= last; ++i)
    sse::encode_to(out, sse::event{.data = "event " + std::to_string(i), .id = std::to_string(i)});
  return out;
}

class test_server {
 public:
  using handler = std::function<reply(const request&, std::size_t index)>;

  test_server(asio::io_context& io, handler h) : io_(io), handler_(std::move(h)), tcp_(io) {
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    tcp_.open(ep.protocol());
    tcp_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    tcp_.bind(ep);
    tcp_.listen();
    asio::co_spawn(io_, accept_loop(tcp_), asio::detached);
  }
  test_server(asio::io_context& io, std::string unix_path, handler h)
      : io_(io), handler_(std::move(h)), tcp_(io), unix_(std::in_place, io), unix_path_(std::move(unix_path)) {
    std::remove(unix_path_.c_str());
    unix_->open();
    unix_->bind(asio::local::stream_protocol::endpoint(unix_path_));
    unix_->listen();
    asio::co_spawn(io_, accept_loop(*unix_), asio::detached);
  }
  ~test_server() {
    stop();
    if (!unix_path_.empty()) std::remove(unix_path_.c_str());
  }

  std::uint16_t port() const { return tcp_.local_endpoint().port(); }
  std::string url(std::string_view target = "/events") const {
    return "http://127.0.0.1:" + std::to_string(port()) + std::string(target);
  }
  const std::vector<request>& requests() const { return requests_; }

  void stop() {
    std::error_code ignored;
    tcp_.close(ignored);
    if (unix_) unix_->close(ignored);
  }

 private:
  template <class Acceptor>
  asio::awaitable<void> accept_loop(Acceptor& acceptor) {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
      if (ec) co_return;
      asio::co_spawn(io_, session(std::move(socket), accepted_++), asio::detached);
    }
  }

  template <class Socket>
  asio::awaitable<void> session(Socket socket, std::size_t index) {
    std::string in;
    auto [ec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(in), "\r\n\r\n",
                                                   use_tuple);
    if (ec) co_return;
    request req = parse_request(std::string_view(in).substr(0, n));
    requests_.push_back(req);
    const reply r = handler_(req, index);
    asio::steady_timer timer(socket.get_executor());
    if (r.no_response) {
      co_await drain(socket);
      co_return;
    }
    std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + r.reason + "\r\n";
    if (!r.content_type.empty()) head += "Content-Type: " + r.content_type + "\r\n";
    head += "Cache-Control: no-cache\r\n";
    for (const auto& [name, value] : r.headers) head += name + ": " + value + "\r\n";
    if (r.body == framing::chunked) {
      head += "Transfer-Encoding: chunked\r\n";
    } else if (r.body == framing::content_length) {
      std::size_t total = 0;
      for (const auto& p : r.pieces) total += p.size();
      head += "Content-Length: " + std::to_string(total) + "\r\n";
    }
    head += "\r\n";
    std::tie(ec, n) = co_await asio::async_write(socket, asio::buffer(head), use_tuple);
    if (ec) co_return;
    for (const auto& piece : r.pieces) {
      if (r.piece_delay.count() > 0) {
        timer.expires_after(r.piece_delay);
        co_await timer.async_wait(use_tuple);
      }
      std::string out;
      if (r.body == framing::chunked) {
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        out = size + piece + "\r\n";
      } else {
        out = piece;
      }
      std::tie(ec, n) = co_await asio::async_write(socket, asio::buffer(out), use_tuple);
      if (ec) co_return;
    }
    if (r.hold_open) {
      co_await drain(socket);
      co_return;
    }
    if (r.body == framing::chunked) {
      std::tie(ec, n) =
          co_await asio::async_write(socket, asio::buffer("0\r\n\r\n", 5), use_tuple);
    }
    std::error_code ignored;
    socket.shutdown(Socket::shutdown_send, ignored);
    co_await drain(socket);
  }

  // Reads until the peer closes (or the server is destroyed with the io_context).
  template <class Socket>
  static asio::awaitable<void> drain(Socket& socket) {
    char buf[512];
    for (;;) {
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), use_tuple);
      if (ec) co_return;
    }
  }

  static request parse_request(std::string_view head) {
    request req;
    std::size_t eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = line.find(' ', sp1 + 1);
    req.method = std::string(line.substr(0, sp1));
    req.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
    head.remove_prefix(eol + 2);
    while ((eol = head.find("\r\n")) != std::string_view::npos && eol > 0) {
      const std::string_view h = head.substr(0, eol);
      const std::size_t colon = h.find(':');
      req.headers.emplace_back(std::string(h.substr(0, colon)),
                               std::string(sse::http::detail::trim_ows(h.substr(colon + 1))));
      head.remove_prefix(eol + 2);
    }
    return req;
  }

  asio::io_context& io_;
  handler handler_;
  asio::ip::tcp::acceptor tcp_;
  std::optional<asio::local::stream_protocol::acceptor> unix_;
  std::string unix_path_;
  std::vector<request> requests_;
  std::size_t accepted_ = 0;
};

}  // namespace sse_test

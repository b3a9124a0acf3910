// Test support: a fault-injecting TCP proxy between the client and the test server.
// For each accepted connection a policy picks a fault:
// - cut_after:   forward exactly this many bytes downstream (server to client), then close both sides;
// - stall_after: forward this many bytes downstream, then silently forward nothing more while
//                keeping both connections open (a half-dead proxy);
// - answer_502:  read the request and answer 502 Bad Gateway without contacting the server.
#pragma once

#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <string>

namespace sse_test {

struct fault {
  static constexpr std::size_t never = std::numeric_limits<std::size_t>::max();
  std::size_t cut_after = never;
  std::size_t stall_after = never;
  bool answer_502 = false;
};

class fault_proxy {
 public:
  using policy = std::function<fault(std::size_t index)>;

  fault_proxy(asio::io_context& io, std::uint16_t upstream_port, policy p)
      : io_(io), upstream_(asio::ip::make_address("127.0.0.1"), upstream_port), policy_(std::move(p)), acceptor_(io) {
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    asio::co_spawn(io_, accept_loop(), asio::detached);
  }
  ~fault_proxy() {
    std::error_code ignored;
    acceptor_.close(ignored);
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url(std::string_view target = "/events") const {
    return "http://127.0.0.1:" + std::to_string(port()) + std::string(target);
  }
  /// Connections accepted so far.
  std::size_t connections() const { return accepted_; }

 private:
  static constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

  struct pair_state {
    explicit pair_state(asio::io_context& io, asio::ip::tcp::socket c) : client(std::move(c)), server(io) {}
    asio::ip::tcp::socket client;
    asio::ip::tcp::socket server;
    void close() {
      std::error_code ignored;
      client.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
      client.close(ignored);
      server.close(ignored);
    }
  };

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (ec) co_return;
      const fault f = policy_ ? policy_(accepted_) : fault{};
      ++accepted_;
      auto st = std::make_shared<pair_state>(io_, std::move(socket));
      if (f.answer_502) {
        asio::co_spawn(io_, answer_502(st), asio::detached);
      } else {
        asio::co_spawn(io_, connect_and_pump(st, f), asio::detached);
      }
    }
  }

  static asio::awaitable<void> answer_502(std::shared_ptr<pair_state> st) {
    std::string in;
    auto [ec, n] = co_await asio::async_read_until(st->client, asio::dynamic_buffer(in), "\r\n\r\n", use_tuple);
    if (!ec) {
      static constexpr std::string_view reply =
          "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      co_await asio::async_write(st->client, asio::buffer(reply), use_tuple);
    }
    st->close();
  }

  asio::awaitable<void> connect_and_pump(std::shared_ptr<pair_state> st, fault f) {
    auto [ec] = co_await st->server.async_connect(upstream_, use_tuple);
    if (ec) {
      st->close();
      co_return;
    }
    asio::co_spawn(io_, pump_up(st), asio::detached);
    co_await pump_down(st, f);
  }

  // Client to server, unchanged.
  static asio::awaitable<void> pump_up(std::shared_ptr<pair_state> st) {
    char buf[4096];
    for (;;) {
      auto [ec, n] = co_await st->client.async_read_some(asio::buffer(buf), use_tuple);
      if (ec) break;
      auto [wec, wn] = co_await asio::async_write(st->server, asio::buffer(buf, n), use_tuple);
      if (wec) break;
    }
    st->close();
  }

  // Server to client, with the fault applied.
  static asio::awaitable<void> pump_down(std::shared_ptr<pair_state> st, fault f) {
    char buf[4096];
    std::size_t sent = 0;
    const std::size_t limit = std::min(f.cut_after, f.stall_after);
    for (;;) {
      auto [ec, n] = co_await st->server.async_read_some(asio::buffer(buf), use_tuple);
      if (ec) break;
      const std::size_t pass = std::min(n, limit - sent);
      if (pass > 0) {
        auto [wec, wn] = co_await asio::async_write(st->client, asio::buffer(buf, pass), use_tuple);
        if (wec) break;
        sent += pass;
      }
      if (sent == f.cut_after) break;
      // Stalled: keep reading from the server and drop everything.
    }
    st->close();
  }

  asio::io_context& io_;
  asio::ip::tcp::endpoint upstream_;
  policy policy_;
  asio::ip::tcp::acceptor acceptor_;
  std::size_t accepted_ = 0;
};

}  // namespace sse_test

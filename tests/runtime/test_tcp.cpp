#include "sse/transport/tcp.hpp"

#include <doctest/doctest.h>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <sys/ioctl.h>

#include <array>

#include <memory>
#include <string>

#include "../support/net.hpp"
#include "sse/hub.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_tcp_cases {

using asio::ip::tcp;

namespace {

/// One accepted TCP stream and its client, on one io_context: the stream is created with `opts`
/// (the fixture's metrics added), its close reason kept, and started.
struct tcp_pair {
  asio::io_context ioc;
  sse::metrics m;
  tcp::acceptor acc{ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0)};
  std::shared_ptr<sse::tcp_stream> server;
  std::error_code reason;
  tcp::socket client{ioc};

  /// Accepts, connects, and runs until the stream has written its head. `server_sndbuf` /
  /// `client_rcvbuf`: socket buffer sizes (0 = the system's).
  void open(sse::stream_options opts, int server_sndbuf = 0, int client_rcvbuf = 0) {
    opts.metrics = &m;
    acc.async_accept([this, opts = std::move(opts), server_sndbuf](std::error_code ec, tcp::socket s) mutable {
      REQUIRE_FALSE(ec);
      if (server_sndbuf) s.set_option(asio::socket_base::send_buffer_size(server_sndbuf));
      server = sse::tcp_stream::create(sse::tcp_transport(std::move(s)), std::move(opts));
      server->on_close([this](std::error_code e) { reason = e; });
      server->start();
    });
    client.open(tcp::v4());
    if (client_rcvbuf) client.set_option(asio::socket_base::receive_buffer_size(client_rcvbuf));
    client.connect(acc.local_endpoint());
    REQUIRE(sse_test::run_until(ioc, [&] { return server && m.bytes_written > 0; }));
  }

  /// Runs until `done(received)`, appending what the client can read without waiting.
  template <class Done>
  bool read_until(std::string& received, Done done) {
    return sse_test::run_until(ioc, [&] {
      std::error_code ec;
      std::array<char, 65536> b;
      if (client.available(ec) > 0) received.append(b.data(), client.read_some(asio::buffer(b), ec));
      return done(received);
    });
  }

  /// Closes the client; runs until the stream noticed, without a write.
  void close_client() {
    client.close();
    REQUIRE(sse_test::run_until(ioc, [&] { return server->is_closed(); }));
    // EOF, or a reset because the client closed with our bytes unread.
    CHECK((reason == asio::error::eof || reason == asio::error::connection_reset));
    CHECK(m.connections_open == 0);
  }
};

}  // namespace
using namespace std::chrono_literals;

TEST_SUITE("runtime.net.tcp") {
  TEST_CASE("a TCP client reads the exact stream: head, preamble, replay, live, graceful end") {
    asio::io_context ioc;
    sse::metrics m;
    sse::hub hub(ioc, {.history = {.epoch = "ep"}, .keepalive = std::nullopt, .metrics = &m});
    hub.publish("t", sse::event{.data = "before"});
    tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    std::shared_ptr<sse::tcp_stream> server;
    acc.async_accept([&](std::error_code ec, tcp::socket s) {
      REQUIRE_FALSE(ec);
      server = sse::tcp_stream::create(sse::tcp_transport(std::move(s)),
                                       {.head = sse_test::net_head, .metrics = &m});
      hub.subscribe(server, "t", "ep-0");
    });
    tcp::socket client(ioc);
    std::string received;
    std::error_code read_ec;
    bool eof = false;
    client.async_connect(acc.local_endpoint(), [&](std::error_code ec) {
      REQUIRE_FALSE(ec);
      asio::async_read(client, asio::dynamic_buffer(received), [&](std::error_code e, std::size_t) {
        read_ec = e;
        eof = true;
      });
    });
    sse_test::round_trip(ioc, hub, [&] { return server; }, [&] { return received; }, [&] { return eof; });
    CHECK(read_ec == asio::error::eof);
    CHECK(received == sse_test::expected_round_trip());
    CHECK(m.connections_total == 1);
    CHECK(m.connections_open == 0);
    CHECK(m.events_delivered == 3);
    CHECK(m.bytes_written == received.size());
  }

  TEST_CASE("Nagle is off, and a client that goes away is noticed without a write") {
    tcp_pair p;
    p.open({.head = sse_test::net_head});
    tcp::no_delay nd;
    p.server->transport().socket().get_option(nd);
    CHECK(nd.value());
    p.close_client();
  }

  TEST_CASE("writes that do not fit in the socket's buffer go on asynchronously: every byte, in order") {
    static_assert(sse::immediate_transport<sse::tcp_transport>);
    tcp_pair p;
    p.open({.head = sse_test::net_head, .initial_comment = std::nullopt, .max_queued_bytes = std::size_t{8} << 20}, 4096,
           4096);
    // 40 events of 30 000 bytes while the client reads nothing: the socket takes a few KiB, the
    // rest waits in asynchronous writes (each taking what was queued meanwhile).
    for (int i = 0; i < 40; ++i) {
      const std::string data = std::to_string(i) + std::string(30000, static_cast<char>('a' + i % 26));
      p.server->send(sse::event{.data = data});
    }
    p.ioc.poll();
    CHECK(p.m.bytes_written < 40 * 30000);  // not everything fitted at once
    std::string got;
    REQUIRE(p.read_until(got, [&](const std::string& r) { return p.m.events_delivered == 40 && r.size() == p.m.bytes_written; }));
    // Decode the chunks and compare the events, byte for byte and in order.
    std::string body;
    std::size_t pos = sse_test::net_head.size();
    REQUIRE(got.compare(0, pos, sse_test::net_head) == 0);
    while (pos < got.size()) {
      const std::size_t eol = got.find("\r\n", pos);
      REQUIRE(eol != std::string::npos);
      const std::size_t len = std::stoul(got.substr(pos, eol - pos), nullptr, 16);
      body += got.substr(eol + 2, len);
      pos = eol + 2 + len + 2;
    }
    std::string expected;
    for (int i = 0; i < 40; ++i)
      expected += "data: " + std::to_string(i) + std::string(30000, static_cast<char>('a' + i % 26)) + "\n\n";
    CHECK(body.size() == expected.size());
    CHECK(body == expected);
    CHECK(p.server->is_open());
  }

  TEST_CASE("bytes a client sends are read and dropped, without a buffer held; its close is then noticed") {
    static_assert(sse::waitable_transport<sse::tcp_transport>);
    tcp_pair p;
    p.open({.head = sse_test::net_head, .initial_comment = std::nullopt});
    // 20 000 bytes: several wake-ups of at most 4 KiB each; the stream stays open.
    asio::write(p.client, asio::buffer(std::string(20000, 'x')));
    REQUIRE(sse_test::run_until(p.ioc, [&] {
      int pending = 0;
      return ::ioctl(p.server->transport().socket().native_handle(), FIONREAD, &pending) == 0 && pending == 0;
    }));
    CHECK(p.server->is_open());
    p.server->send(sse::event{.data = "after"});
    std::string got;
    const std::string want = sse_test::net_head + "d\r\ndata: after\n\n\r\n";
    REQUIRE(p.read_until(got, [&](const std::string& r) { return r.size() >= want.size(); }));
    CHECK(got == want);
    p.close_client();
  }
}

}  // namespace test_tcp_cases

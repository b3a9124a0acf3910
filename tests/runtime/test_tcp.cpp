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

using asio::ip::tcp;
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
    asio::io_context ioc;
    sse::metrics m;
    tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    std::shared_ptr<sse::tcp_stream> server;
    std::error_code reason;
    acc.async_accept([&](std::error_code ec, tcp::socket s) {
      REQUIRE_FALSE(ec);
      server = sse::tcp_stream::create(sse::tcp_transport(std::move(s)), {.head = sse_test::net_head, .metrics = &m});
      server->on_close([&](std::error_code e) { reason = e; });
      server->start();
    });
    tcp::socket client(ioc);
    client.connect(acc.local_endpoint());
    REQUIRE(sse_test::run_until(ioc, [&] { return server && m.bytes_written > 0; }));
    tcp::no_delay nd;
    server->transport().socket().get_option(nd);
    CHECK(nd.value());
    client.close();
    REQUIRE(sse_test::run_until(ioc, [&] { return server->is_closed(); }));
    // EOF, or a reset because the client closed with our bytes unread.
    CHECK((reason == asio::error::eof || reason == asio::error::connection_reset));
    CHECK(m.connections_open == 0);
  }

  TEST_CASE("bytes a client sends are read and dropped, without a buffer held; its close is then noticed") {
    static_assert(sse::waitable_transport<sse::tcp_transport>);
    asio::io_context ioc;
    sse::metrics m;
    tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    std::shared_ptr<sse::tcp_stream> server;
    std::error_code reason;
    acc.async_accept([&](std::error_code ec, tcp::socket s) {
      REQUIRE_FALSE(ec);
      server = sse::tcp_stream::create(sse::tcp_transport(std::move(s)),
                                       {.head = sse_test::net_head, .initial_comment = std::nullopt, .metrics = &m});
      server->on_close([&](std::error_code e) { reason = e; });
      server->start();
    });
    tcp::socket client(ioc);
    client.connect(acc.local_endpoint());
    REQUIRE(sse_test::run_until(ioc, [&] { return server && m.bytes_written > 0; }));
    // 20 000 bytes: several wake-ups of at most 4 KiB each; the stream stays open.
    asio::write(client, asio::buffer(std::string(20000, 'x')));
    REQUIRE(sse_test::run_until(ioc, [&] {
      int pending = 0;
      return ::ioctl(server->transport().socket().native_handle(), FIONREAD, &pending) == 0 && pending == 0;
    }));
    CHECK(server->is_open());
    server->send(sse::event{.data = "after"});
    std::string got;
    const std::string want = sse_test::net_head + "d\r\ndata: after\n\n\r\n";
    REQUIRE(sse_test::run_until(ioc, [&] {
      std::error_code ec;
      std::array<char, 256> b;
      if (client.available(ec) > 0) got.append(b.data(), client.read_some(asio::buffer(b), ec));
      return got.size() >= want.size();
    }));
    CHECK(got == want);
    client.close();
    REQUIRE(sse_test::run_until(ioc, [&] { return server->is_closed(); }));
    CHECK((reason == asio::error::eof || reason == asio::error::connection_reset));
    CHECK(m.connections_open == 0);
  }
}

#include "sse/transport/unix.hpp"

#include <doctest/doctest.h>

#include <asio/io_context.hpp>
#include <asio/read.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <unistd.h>

#include "../support/net.hpp"
#include "sse/hub.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_unix_cases {

using asio::local::stream_protocol;

TEST_SUITE("runtime.net.unix") {
  TEST_CASE("a Unix-domain client reads the exact stream") {
    const std::string path =
        (std::filesystem::temp_directory_path() / ("sse-rt-" + std::to_string(::getpid()) + ".sock")).string();
    std::remove(path.c_str());
    asio::io_context ioc;
    sse::metrics m;
    sse::hub hub(ioc, {.history = {.epoch = "ep"}, .keepalive = std::nullopt, .metrics = &m});
    hub.publish("t", sse::event{.data = "before"});
    stream_protocol::acceptor acc(ioc, stream_protocol::endpoint(path));
    std::shared_ptr<sse::unix_stream> server;
    acc.async_accept([&](std::error_code ec, stream_protocol::socket s) {
      REQUIRE_FALSE(ec);
      server = sse::unix_stream::create(sse::unix_transport(std::move(s)), {.head = sse_test::net_head, .metrics = &m});
      hub.subscribe(server, "t", "ep-0");
    });
    stream_protocol::socket client(ioc);
    std::string received;
    std::error_code read_ec;
    bool eof = false;
    client.async_connect(stream_protocol::endpoint(path), [&](std::error_code ec) {
      REQUIRE_FALSE(ec);
      asio::async_read(client, asio::dynamic_buffer(received), [&](std::error_code e, std::size_t) {
        read_ec = e;
        eof = true;
      });
    });
    sse_test::round_trip(ioc, hub, [&] { return server; }, [&] { return received; }, [&] { return eof; });
    CHECK(read_ec == asio::error::eof);
    CHECK(received == sse_test::expected_round_trip());
    CHECK(m.connections_open == 0);
    CHECK(m.events_delivered == 3);
    std::remove(path.c_str());
  }
}

}  // namespace test_unix_cases

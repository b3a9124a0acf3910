// The socket round trip shared by the TCP, Unix-domain and TLS tests.
#pragma once

#include <memory>
#include <string>

#include <fmt/format.h>

#include "runtime.hpp"
#include "sse/hub.hpp"

namespace sse_test {

inline const std::string net_head =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n";

inline std::string chunk(const std::string& s) { return fmt::format("{:x}\r\n{}\r\n", s.size(), s); }

inline std::string wire(const std::string& id, const std::string& data) {
  return "id: " + id + "\ndata: " + data + "\n\n";
}

/// The exact bytes a client must read in the round trip below.
inline std::string expected_round_trip() {
  return net_head + chunk(": ok\n") + chunk(wire("ep-1", "before")) + chunk(wire("ep-2", "live1")) +
         chunk(wire("ep-3", "live2")) + chunk("retry: 1000\n\n") + "0\r\n\r\n";
}

/// Publishes one event before the server stream exists (replayed from ep-0), two live ones, then
/// closes gracefully. `server()` returns the accepted stream (null until accepted); `received()` what
/// the client read so far; `eof()` whether the client saw the end.
template <class Server, class Received, class Eof>
void round_trip(asio::io_context& ioc, sse::hub& hub, Server server, Received received, Eof eof) {
  REQUIRE(run_until(ioc, [&] { return server() && received().find("before") != std::string::npos; }));
  hub.publish("t", sse::event{.data = "live1"});
  hub.publish("t", sse::event{.data = "live2"});
  REQUIRE(run_until(ioc, [&] { return received().find("live2") != std::string::npos; }));
  hub.close_all(std::chrono::milliseconds(1000));
  REQUIRE(run_until(ioc, [&] { return eof() && server()->is_closed(); }));
}

}  // namespace sse_test

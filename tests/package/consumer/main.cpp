// Consumes the library through sse::sse and checks it works, including its Asio dependency.
#include <sse/sse.hpp>

#include <asio.hpp>
#include <fmt/core.h>

int main() {
  const std::string wire = sse::encode({.type = "t", .data = "a\rb", .id = "7"});
  if (wire != "id: 7\nevent: t\ndata: a\ndata: b\n\n") return 1;
  int events = 0;
  sse::parser p;
  p.feed(wire, [&](const sse::received_event& ev) { events += (ev.data == "a\nb" && ev.id == "7"); });
  asio::io_context io;
  asio::post(io, [&] { ++events; });
  io.run();
  fmt::print("consumer: {} checks passed\n", events);
  return events == 2 ? 0 : 1;
}

// The smallest use of the library: encode events to the wire format and parse them back.
#include <sse/core.hpp>  // the sans-io core only: neither Asio nor {fmt} is compiled

#include <iostream>

int main() {
  // A server encodes events; data with line breaks becomes several `data:` lines.
  std::string wire = sse::encode({.type = "greeting", .data = "hello\nworld", .id = "1"});
  wire += sse::encode({.data = "second", .id = "2"});
  std::cout << wire;

  // A client feeds whatever bytes arrive, in chunks of any size, and gets whole events.
  sse::parser parser;
  for (std::size_t i = 0; i < wire.size(); i += 5) {
    parser.feed(std::string_view(wire).substr(i, 5), [](const sse::received_event& ev) {
      std::cout << "[" << ev.type << " #" << ev.id << "] " << ev.data << "\n";
    });
  }
  std::cout << "resume from Last-Event-ID " << parser.last_event_id() << "\n";

  // An id with a line break would inject a field: it is rejected, never repaired.
  try {
    (void)sse::encode({.data = "x", .id = "1\nevent: admin"});
  } catch (const sse::invalid_event& e) {
    std::cout << "rejected: " << e.what() << "\n";
  }
}

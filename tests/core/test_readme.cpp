// The code samples of README.md, compiled here so that the README cannot drift from the API.
// They are not run (the server sample loops forever); building this file is the check.
#include "sse/sse.hpp"

#include <iostream>
#include <thread>

namespace readme {

int server_sample() {
  sse::server server({.port = 8080, .threads = 2});
  server.sse_route("/events/{topic}");              // GET: text/event-stream, Last-Event-ID resumes
  server.start();                                   // binds and starts the executor threads
  for (int i = 0;; ++i) {                           // publish from any thread; encoded once for all
    server.hub().publish("clock", {.type = "tick", .data = std::to_string(i)});
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

void core_sample() {
  std::string wire = sse::encode({.type = "greeting", .data = "hello\nworld", .id = "1"});
  sse::parser parser;                     // feed bytes as they arrive, split anywhere
  parser.feed(wire, [](const sse::received_event& ev) {
    std::cout << ev.type << " #" << ev.id << ": " << ev.data << "\n";
  });
  parser.finish();                        // end of stream: an unterminated event is discarded
}

void client_sample() {
  asio::io_context io;
  sse::client client(io, "http://127.0.0.1:8080/events/clock", {.idle_timeout = std::chrono::seconds(45)});
  client.on_event([](const sse::received_event& ev) { std::cout << ev.id << " " << ev.data << "\n"; });
  client.on_retrying([](const sse::client_error& e, auto) { std::cerr << e.message << "\n"; });
  client.start();
  io.run();
}

}  // namespace readme

// sse inside a third-party HTTP server. cpp-httplib owns the sockets, the HTTP parsing and the
// chunked framing; an sse::pull_source subscribed to an sse::hub produces the event bytes (replay,
// live events, keepalive pings), and cpp-httplib's content provider pulls them from its own thread.
// The hand-over is bounded: the stream's next write starts only when the previous one was pulled
// (back-pressure), so a slow client is handled by the stream's queue bound and policy.
//
//   GET  /events/{topic}   SSE (Last-Event-ID header or ?lastEventId= resumes)
//   POST /publish/{topic}  body = data, ?event=type; answers 202 {"id":"..."}
#include <sse/hub.hpp>
#include <sse/transport/pull.hpp>

#include <httplib.h>

#include <cstdio>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8090;

  asio::io_context io;
  auto work = asio::make_work_guard(io);
  sse::hub hub(io, {.keepalive = sse::keepalive_options{.interval = std::chrono::seconds(15)}});
  std::thread io_thread([&] { io.run(); });

  httplib::Server http;
  http.Get(R"(/events/([A-Za-z0-9._-]+))", [&](const httplib::Request& req, httplib::Response& res) {
    const std::string topic = req.matches[1];
    std::string last = req.get_header_value("Last-Event-ID");
    if (last.empty()) last = req.get_param_value("lastEventId");
    auto src = sse::pull_source::create(io.get_executor());
    hub.subscribe(src->stream(), topic, last);
    for (const auto& [name, value] : sse::pull_source::headers())
      if (name != "Content-Type") res.set_header(std::string(name), std::string(value));
    res.set_chunked_content_provider(
        std::string(sse::pull_source::content_type),
        [src](size_t, httplib::DataSink& sink) {
          std::string bytes;
          switch (src->pull(bytes, std::chrono::seconds(1))) {
            case sse::pull_status::closed: sink.done(); return false;
            case sse::pull_status::idle: return true;  // keepalive pings come from the stream
            case sse::pull_status::data: break;
          }
          if (sink.write(bytes.data(), bytes.size())) return true;
          src->cancel();
          return false;
        },
        [src](bool) { src->cancel(); });  // the client went away
  });
  http.Post(R"(/publish/([A-Za-z0-9._-]+))", [&](const httplib::Request& req, httplib::Response& res) {
    sse::event ev{.data = req.body};
    if (req.has_param("event")) ev.type = req.get_param_value("event");
    std::error_code ec;
    const std::string id = hub.publish(req.matches[1].str(), std::move(ev), ec);
    if (ec) {
      res.status = 400;
      res.set_content(ec.message() + "\n", "text/plain");
      return;
    }
    res.status = 202;
    res.set_content("{\"id\":\"" + id + "\"}", "application/json");
  });

  const int bound = port == 0 ? http.bind_to_any_port("127.0.0.1") : (http.bind_to_port("127.0.0.1", port) ? port : -1);
  if (bound < 0) {
    std::fprintf(stderr, "cannot listen on port %d\n", port);
    return 1;
  }
  std::printf("sse-httplib-sink listening on http://127.0.0.1:%d\n", bound);
  std::fflush(stdout);
  http.listen_after_bind();

  hub.close_all();
  work.reset();
  io_thread.join();
}

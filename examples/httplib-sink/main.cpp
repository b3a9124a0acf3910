// sse inside a third-party HTTP server. cpp-httplib owns the sockets, the HTTP parsing and the
// chunked framing; an sse::sink_stream subscribed to an sse::hub produces the event bytes (replay,
// live events, keepalive pings) and hands them over through sse::sink_transport. The bridge below is
// bounded: the stream's next write starts only when cpp-httplib's thread has taken the previous
// one (back-pressure), so a slow client is handled by the stream's queue bound and policy.
//
//   GET  /events/{topic}   SSE (Last-Event-ID header or ?lastEventId= resumes)
//   POST /publish/{topic}  body = data, ?event=type; answers 202 {"id":"..."}
#include <sse/hub.hpp>
#include <sse/transport/sink.hpp>

#include <httplib.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace {

/// One connection's hand-over point between the stream (on the hub's executor) and cpp-httplib's
/// worker thread. Holds at most one gathered write at a time.
class bridge {
 public:
  /// Called on the stream's executor with one gathered write.
  void put(std::span<const std::string_view> pieces, sse::sink_done done) {
    std::lock_guard lk(mu_);
    if (closed_) return;  // `done` destroyed unfired: the write fails, the stream closes
    for (auto p : pieces) pending_.append(p);
    done_ = std::move(done);
    cv_.notify_all();
  }
  void close() {
    std::lock_guard lk(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  /// Called on cpp-httplib's thread: waits up to `timeout` for bytes. Returns false when closed.
  bool take(std::string& out, sse::sink_done& done, std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, timeout, [&] { return closed_ || !pending_.empty(); });
    out.swap(pending_);
    pending_.clear();
    done = std::move(done_);
    return !closed_ || !out.empty();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;
  sse::sink_done done_;
  bool closed_ = false;
};

}  // namespace

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
    res.set_header("Cache-Control", "no-cache, no-store, no-transform");
    res.set_header("X-Accel-Buffering", "no");
    auto b = std::make_shared<bridge>();
    // cpp-httplib writes the head and the chunk framing; the stream writes only the body.
    auto stream = sse::sink_stream::create(
        sse::sink_transport(io.get_executor(),
                            [b](std::span<const std::string_view> pieces, sse::sink_done done) {
                              b->put(pieces, std::move(done));
                            },
                            [b] { b->close(); }),
        {.body_framing = sse::framing::close_delimited});
    hub.subscribe(stream, topic, last);
    res.set_chunked_content_provider(
        "text/event-stream; charset=utf-8",
        [b](size_t, httplib::DataSink& sink) {
          std::string bytes;
          sse::sink_done done;
          if (!b->take(bytes, done, std::chrono::seconds(1))) {
            sink.done();
            return false;
          }
          if (bytes.empty()) return true;  // nothing yet; keepalive pings come from the stream
          if (!sink.write(bytes.data(), bytes.size())) {
            done(asio::error::broken_pipe);
            return false;
          }
          done();  // taken: the stream may start its next write
          return true;
        },
        [b, stream](bool) { stream->abort(); });  // the client went away
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

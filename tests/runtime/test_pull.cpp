// sse::pull_source (embedding in pull-style servers): the host's thread pulls exactly the bytes the
// stream wrote (replay, live events), one gathered write at a time (a client that never pulls meets
// the stream's bound and policy), the end of the stream and the host's cancel() both end it cleanly.
#include "sse/transport/pull.hpp"

#include <doctest/doctest.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <thread>

#include "sse/hub.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_pull_cases {

using namespace std::chrono_literals;

namespace {

struct running_hub {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  sse::hub hub{io, {.history = {.epoch = "ep"}, .keepalive = std::nullopt}};
  std::thread thread{[this] { io.run(); }};
  ~running_hub() {
    hub.close_all();
    work.reset();
    thread.join();
  }
};

/// Pulls until `want` bytes arrived, the stream ended, or 5 s passed.
std::string pull_until(sse::pull_source& src, std::size_t want, sse::pull_status* last = nullptr) {
  std::string out;
  const auto end = std::chrono::steady_clock::now() + 5s;
  sse::pull_status st = sse::pull_status::idle;
  while (out.size() < want && std::chrono::steady_clock::now() < end) {
    st = src.pull(out, 50ms);
    if (st == sse::pull_status::closed) break;
  }
  if (last) *last = st;
  return out;
}

}  // namespace

TEST_CASE("pull_source: the headers, then exactly the stream's bytes: replay, live, in order") {
  running_hub h;
  for (int i = 1; i <= 3; ++i) h.hub.publish("t", {.data = "old " + std::to_string(i)});
  auto src = sse::pull_source::create(h.io.get_executor());
  h.hub.subscribe(src->stream(), "t", "ep-1");
  const std::string replay = ": ok\nid: ep-2\ndata: old 2\n\nid: ep-3\ndata: old 3\n\n";
  CHECK(pull_until(*src, replay.size()) == replay);
  h.hub.publish("t", {.type = "n", .data = "new"});
  const std::string live = "id: ep-4\nevent: n\ndata: new\n\n";
  CHECK(pull_until(*src, live.size()) == live);
  std::string nothing;
  CHECK(src->pull(nothing, 50ms) == sse::pull_status::idle);
  CHECK(nothing.empty());

  const auto& fields = sse::pull_source::headers();
  REQUIRE(fields.size() == 3);
  CHECK(fields[0] == std::pair<std::string_view, std::string_view>("Content-Type", "text/event-stream; charset=utf-8"));
  CHECK(fields[1].second == "no-cache, no-store, no-transform");
  CHECK(fields[2] == std::pair<std::string_view, std::string_view>("X-Accel-Buffering", "no"));
}

TEST_CASE("pull_source: a host that never pulls holds one write; the stream's bound closes it; pull then says closed") {
  running_hub h;
  sse::stream_options o;
  o.max_queued_bytes = 4096;
  auto src = sse::pull_source::create(h.io.get_executor(), o);
  h.hub.subscribe(src->stream(), "t", "ep-0");  // from the start: "ready" comes whether it is published before or after
  const std::string ready = h.hub.publish("t", {.data = "ready"});
  CHECK(pull_until(*src, 5 + 22) == ": ok\nid: " + ready + "\ndata: ready\n\n");  // subscribed and flowing
  // Now the host stops pulling: the next write waits in its hands, the rest queues in the stream.
  for (int i = 0; i < 200; ++i) h.hub.publish("t", {.data = std::string(100, 'x')});
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (!src->stream()->is_closed() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
  CHECK(src->stream()->is_closed());  // slow consumer: disconnected (it resumes with Last-Event-ID)
  // What the host already had is still its to send; then the stream is over.
  sse::pull_status last = sse::pull_status::idle;
  const std::string got = pull_until(*src, std::size_t(-1), &last);
  CHECK(last == sse::pull_status::closed);
  CHECK(got.size() <= 4096);  // at most the one write it held, never the 20 KB published
  CHECK(got.find("id: ep-2\ndata: xxx") == 0);
}

TEST_CASE("pull_source: cancel() from the host ends the stream and frees its subscription") {
  running_hub h;
  auto src = sse::pull_source::create(h.io.get_executor());
  h.hub.subscribe(src->stream(), "t", "");
  CHECK(pull_until(*src, 5) == ": ok\n");
  src->cancel();
  std::string out;
  CHECK(src->pull(out, 10ms) == sse::pull_status::closed);
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (!src->stream()->is_closed() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
  CHECK(src->stream()->is_closed());
  h.hub.publish("t", {.data = "after"});
  CHECK(src->pull(out, 50ms) == sse::pull_status::closed);
  CHECK(out.empty());
}

}  // namespace test_pull_cases

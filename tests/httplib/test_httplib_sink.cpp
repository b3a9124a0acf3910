// The sink transport inside cpp-httplib (examples/httplib-sink): cpp-httplib owns the sockets and
// the chunked framing, the library's stream produces the bytes. Events arrive exactly, resume with
// Last-Event-ID is exact, and a client that goes away releases its stream.
#include <doctest/doctest.h>

#include <thread>

#include "../support/http_client.hpp"
#include "../support/process.hpp"

using namespace std::chrono_literals;

namespace {

unsigned short start(sse_test::child_process& p) {
  for (int i = 0; i < 200; ++i) {
    const std::string out = p.log();
    const auto at = out.find("listening on http://127.0.0.1:");
    if (at != std::string::npos && out.find('\n', at) != std::string::npos)
      return static_cast<unsigned short>(std::stoi(out.substr(at + 30)));
    std::this_thread::sleep_for(20ms);
  }
  FAIL("sse-httplib-sink did not start: " << p.log());
  return 0;
}

}  // namespace

TEST_CASE("events through cpp-httplib with sse::sink_transport, resumable") {
  sse_test::temp_dir dir;
  sse_test::child_process server({SSE_HTTPLIB_SINK_PATH, "0"}, dir.path() / "server.log");
  const unsigned short port = start(server);

  sse_test::sse_subscriber first(port, "/events/news");
  REQUIRE(first.read_until([&] { return first.body().size() >= 5; }));
  CHECK(first.status() == 200);
  CHECK(first.chunked());  // cpp-httplib's framing
  CHECK(first.head().find("Content-Type: text/event-stream; charset=utf-8\r\n") != std::string::npos);
  CHECK(first.head().find("X-Accel-Buffering: no\r\n") != std::string::npos);
  CHECK(first.body() == ": ok\n");

  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    ids.push_back(sse_test::publish(port, "news", "line " + std::to_string(i) + "\nsecond"));
    REQUIRE_FALSE(ids.back().empty());
  }
  REQUIRE(first.wait_events(20));
  for (int i = 0; i < 20; ++i) {
    CHECK(first.events()[i].data == "line " + std::to_string(i) + "\nsecond");
    CHECK(first.events()[i].id == ids[i]);
  }

  // Resume from the 7th event: exactly the 13 after it.
  sse_test::sse_subscriber resumed(port, "/events/news", "Last-Event-ID: " + ids[6] + "\r\n");
  REQUIRE(resumed.wait_events(13));
  resumed.read_until([] { return false; }, 200ms);  // nothing more may come
  REQUIRE(resumed.events().size() == 13);
  for (int i = 0; i < 13; ++i) CHECK(resumed.events()[i].id == ids[7 + i]);

  // Clients that go away release their streams; the server keeps serving the others.
  first.socket().close();
  resumed.socket().close();
  sse_test::sse_subscriber later(port, "/events/news");
  REQUIRE(later.read_until([&] { return later.body().size() >= 5; }));
  const std::string id = sse_test::publish(port, "news", "after");
  REQUIRE(later.wait_events(1));
  CHECK(later.events()[0].id == id);
  CHECK(server.running());
}

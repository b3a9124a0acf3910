#include "sse/transport/sink.hpp"

#include <doctest/doctest.h>

#include <asio/io_context.hpp>

#include <optional>
#include <string>
#include <system_error>
#include <vector>

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_sink_cases {

using namespace std::chrono_literals;

TEST_SUITE("runtime.sink") {
  TEST_CASE("bytes go to the callback; done() is the back-pressure") {
    asio::io_context ioc;
    std::string got;
    std::vector<std::size_t> writes;
    std::optional<sse::sink_done> held;
    bool closed = false;
    sse::sink_transport t(
        ioc.get_executor(),
        [&](std::span<const std::string_view> pieces, sse::sink_done done) {
          std::size_t n = 0;
          for (auto p : pieces) {
            got.append(p);
            n += p.size();
          }
          writes.push_back(n);
          held.emplace(std::move(done));  // not ready for more yet
        },
        [&] { closed = true; });
    static_assert(sse::transport<sse::sink_transport>);
    auto s = sse::sink_stream::create(std::move(t), {.head = "H\r\n\r\n", .body_framing = sse::framing::close_delimited});
    s->start();
    ioc.run();
    CHECK(got == "H\r\n\r\n: ok\n");
    CHECK(writes.size() == 1);
    s->send(sse::event{.data = "1"});
    s->send(sse::event{.data = "2"});
    ioc.restart();
    ioc.run();
    CHECK(writes.size() == 1);  // held back until done()
    (*held)();
    held.reset();
    ioc.restart();
    ioc.run();
    CHECK(writes.size() == 2);  // both events in one write
    CHECK(got == "H\r\n\r\n: ok\ndata: 1\n\ndata: 2\n\n");
    CHECK(writes[1] == 18);
    (*held)();
    held.reset();
    s->close();
    ioc.restart();
    ioc.run();
    CHECK(closed);
    CHECK(s->is_closed());
  }

  TEST_CASE("done(error) closes the stream; a dropped done aborts the write") {
    asio::io_context ioc;
    int calls = 0;
    sse::sink_transport t(ioc.get_executor(), [&](std::span<const std::string_view>, sse::sink_done done) {
      ++calls;
      if (calls == 1) done();
      if (calls == 2) done(asio::error::broken_pipe);
    });
    auto s = sse::sink_stream::create(std::move(t), {});
    std::error_code reason;
    s->on_close([&](std::error_code ec) { reason = ec; });
    s->start();
    s->send(sse::event{.data = "x"});
    ioc.run();
    CHECK(calls == 2);
    CHECK(reason == asio::error::broken_pipe);

    sse::sink_transport t2(ioc.get_executor(), [](std::span<const std::string_view>, sse::sink_done) {});
    auto s2 = sse::sink_stream::create(std::move(t2), {});
    std::error_code reason2;
    s2->on_close([&](std::error_code ec) { reason2 = ec; });
    s2->start();
    ioc.restart();
    ioc.run();
    CHECK(reason2 == asio::error::operation_aborted);
  }
}

}  // namespace test_sink_cases

#include "sse/transport/memory.hpp"

#include <doctest/doctest.h>

#include <asio/io_context.hpp>
#include <asio/write.hpp>

#include <string>
#include <system_error>

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_memory_transport_cases {

TEST_SUITE("runtime.memory_transport") {
  TEST_CASE("models the transport concepts") {
    static_assert(sse::transport<sse::memory_transport>);
    static_assert(sse::readable_transport<sse::memory_transport>);
  }

  TEST_CASE("short writes, completion never inline") {
    asio::io_context ioc;
    sse::memory_transport t(ioc.get_executor(), {.max_write_size = 3});
    std::size_t done = 0;
    std::error_code result;
    asio::async_write(t, asio::buffer(std::string_view("hello world")), [&](std::error_code ec, std::size_t n) {
      result = ec;
      done = n;
    });
    CHECK(done == 0);  // not inline
    ioc.run();
    CHECK_FALSE(result);
    CHECK(done == 11);
    CHECK(t.data() == "hello world");
    CHECK(t.write_ops() == 4);
    CHECK(t.write_sizes() == std::vector<std::size_t>{3, 3, 3, 2});
  }

  TEST_CASE("fails the N-th write with the given error") {
    asio::io_context ioc;
    sse::memory_transport t(ioc.get_executor(), {.fail_write = 2, .fail_error = asio::error::broken_pipe});
    std::error_code e1, e2;
    t.async_write_some(asio::buffer(std::string_view("a")), [&](std::error_code ec, std::size_t) { e1 = ec; });
    ioc.run();
    ioc.restart();
    t.async_write_some(asio::buffer(std::string_view("b")), [&](std::error_code ec, std::size_t) { e2 = ec; });
    ioc.run();
    CHECK_FALSE(e1);
    CHECK(e2 == asio::error::broken_pipe);
    CHECK(t.data() == "a");
  }

  TEST_CASE("stall holds a write until release; close aborts it") {
    asio::io_context ioc;
    sse::memory_transport t(ioc.get_executor(), {.stalled = true});
    int calls = 0;
    std::size_t got = 0;
    t.async_write_some(asio::buffer(std::string_view("xyz")), [&](std::error_code, std::size_t n) {
      ++calls;
      got = n;
    });
    ioc.run();
    CHECK(calls == 0);
    CHECK(t.write_pending());
    t.release();
    ioc.restart();
    ioc.run();
    CHECK(calls == 1);
    CHECK(got == 3);

    t.stall();
    std::error_code ec2;
    t.async_write_some(asio::buffer(std::string_view("q")), [&](std::error_code ec, std::size_t) { ec2 = ec; });
    t.close();
    ioc.restart();
    ioc.run();
    CHECK(ec2 == asio::error::operation_aborted);
    CHECK(t.data() == "xyz");
    CHECK_FALSE(t.is_open());
  }

  TEST_CASE("peer_close completes a pending read with eof") {
    asio::io_context ioc;
    sse::memory_transport t(ioc.get_executor());
    char buf[4];
    std::error_code ec;
    t.async_read_some(asio::buffer(buf), [&](std::error_code e, std::size_t) { ec = e; });
    ioc.run();
    CHECK_FALSE(ec);
    t.peer_close();
    ioc.restart();
    ioc.run();
    CHECK(ec == asio::error::eof);
  }
}

}  // namespace test_memory_transport_cases

// Every runtime header (TLS aside) in one translation unit; test_rt_headers_b.cpp includes them in
// another order, so a missing `inline` or include shows up as a link or compile error.
#include "sse/transport.hpp"
#include "sse/hub.hpp"
#include "sse/keepalive.hpp"
#include "sse/log.hpp"
#include "sse/metrics.hpp"
#include "sse/stream.hpp"
#include "sse/transport/memory.hpp"
#include "sse/transport/sink.hpp"
#include "sse/transport/tcp.hpp"
#include "sse/transport/unix.hpp"

#include <doctest/doctest.h>

TEST_CASE("runtime headers: concepts hold for every transport") {
  static_assert(sse::transport<sse::tcp_transport> && sse::readable_transport<sse::tcp_transport>);
  static_assert(sse::transport<sse::unix_transport> && sse::readable_transport<sse::unix_transport>);
  static_assert(sse::transport<sse::memory_transport>);
  static_assert(sse::transport<sse::sink_transport> && !sse::readable_transport<sse::sink_transport>);
  static_assert(sse::transport<asio::ip::tcp::socket>);
  CHECK(sse::make_error_code(sse::stream_errc::slow_consumer).message() == "slow consumer: write queue bound exceeded");
  CHECK(std::string(sse::stream_category().name()) == "sse.stream");
}

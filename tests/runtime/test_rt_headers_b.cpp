#include "sse/transport/unix.hpp"
#include "sse/transport/tcp.hpp"
#include "sse/transport/sink.hpp"
#include "sse/transport/memory.hpp"
#include "sse/stream.hpp"
#include "sse/metrics.hpp"
#include "sse/log.hpp"
#include "sse/keepalive.hpp"
#include "sse/hub.hpp"
#include "sse/transport.hpp"

#include <doctest/doctest.h>

TEST_CASE("runtime headers: error categories") {
  CHECK(std::string(sse::hub_category().name()) == "sse.hub");
  CHECK(sse::make_error_code(sse::hub_errc::too_many_topics).message() == "too many topics");
  CHECK(sse::to_string(sse::log_level::debug) == "debug");
}

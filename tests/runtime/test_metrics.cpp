#include "sse/metrics.hpp"

#include <doctest/doctest.h>

#include <string>

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_metrics_cases {

TEST_SUITE("runtime.metrics") {
  TEST_CASE("prometheus text exposition") {
    sse::metrics m;
    sse::metrics::add(m.connections_open, std::int64_t{3});
    sse::metrics::add(m.connections_total, 7);
    sse::metrics::add(m.events_published, 11);
    const std::string text = sse::render_prometheus(m);
    CHECK(text.find("# HELP sse_connections_open Streams currently open.\n"
                    "# TYPE sse_connections_open gauge\n"
                    "sse_connections_open 3\n") == 0);
    CHECK(text.find("# TYPE sse_connections_total counter\nsse_connections_total 7\n") != std::string::npos);
    CHECK(text.find("\nsse_events_published_total 11\n") != std::string::npos);
    CHECK(text.find("\nsse_pings_sent_total 0\n") != std::string::npos);
    CHECK(text.find("\nsse_slow_consumer_disconnects_total 0\n") != std::string::npos);
    CHECK(text.find("\nsse_resets_total 0\n") != std::string::npos);
    sse::metrics::add(m.history_bytes, std::int64_t{1234});
    sse::metrics::add(m.history_trimmed_events, 5);
    sse::metrics::add(m.subscribed_only_topics, std::int64_t{2});
    sse::metrics::add(m.topics_refused, 3);
    const std::string more = sse::render_prometheus(m);
    CHECK(more.find("# TYPE sse_history_bytes gauge\nsse_history_bytes 1234\n") != std::string::npos);
    CHECK(more.find("# TYPE sse_history_trimmed_events_total counter\nsse_history_trimmed_events_total 5\n") !=
          std::string::npos);
    CHECK(more.find("# TYPE sse_subscribed_only_topics gauge\nsse_subscribed_only_topics 2\n") != std::string::npos);
    CHECK(more.find("# TYPE sse_topics_refused_total counter\nsse_topics_refused_total 3\n") != std::string::npos);
    // Every sample line is preceded by its HELP and TYPE lines, and every name starts with sse_.
    std::size_t samples = 0, helps = 0, types = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
      const auto nl = text.find('\n', pos);
      const std::string line = text.substr(pos, nl - pos);
      pos = nl + 1;
      if (line.rfind("# HELP sse_", 0) == 0) ++helps;
      else if (line.rfind("# TYPE sse_", 0) == 0) ++types;
      else if (line.rfind("sse_", 0) == 0) ++samples;
      else FAIL("unexpected line: " << line);
    }
    CHECK(samples == 19);
    CHECK(helps == 19);
    CHECK(types == 19);
    CHECK(text.back() == '\n');
  }
}

}  // namespace test_metrics_cases

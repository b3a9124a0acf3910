// Test support for the Redis tests over HTTP: subscribe to an SSE route and check Redis stream ids.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../support/http_client.hpp"
#include "sse/redis/streams.hpp"

namespace sse_test {

using namespace std::chrono_literals;

/// Subscribes and waits for the head and the initial comment.
inline std::unique_ptr<sse_subscriber> subscribe(unsigned short port, const std::string& topic, const std::string& last = {}) {
  auto s = std::make_unique<sse_subscriber>(port, "/events/" + topic,
                                            last.empty() ? std::string() : "Last-Event-ID: " + last + "\r\n");
  REQUIRE(s->read_until([&] { return s->body().find(": ok") != std::string::npos; }, 5s));
  CHECK(s->status() == 200);
  return s;
}

inline bool strictly_increasing(const std::vector<sse_test::collected_event>& evs) {
  std::optional<sse::redis::stream_id> prev;
  for (const auto& e : evs) {
    if (e.type == "reset") continue;
    const auto id = sse::redis::stream_id::parse(e.id);
    if (!id || (prev && !(*prev < *id))) return false;
    prev = id;
  }
  return true;
}

inline std::vector<sse_test::collected_event> without_resets(const std::vector<sse_test::collected_event>& evs) {
  std::vector<sse_test::collected_event> out;
  for (const auto& e : evs)
    if (e.type != "reset") out.push_back(e);
  return out;
}

}  // namespace sse_test

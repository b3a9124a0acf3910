// Test support for sse::client: record every callback (run_until is in tests/support/runtime.hpp).
#pragma once

#include "sse/client.hpp"

#include <asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "../support/runtime.hpp"

namespace sse_test {

struct rec_event {
  std::string type, data, id;
  bool operator==(const rec_event&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const rec_event& e) {
  return os << "{type=" << e.type << " data=" << e.data << " id=" << e.id << "}";
}

/// The events id=first..last with data "event <id>", as the client should see them.
inline std::vector<rec_event> expected_numbered(int first, int last) {
  std::vector<rec_event> out;
  for (int i = first; i <= last; ++i) out.push_back({"message", "event " + std::to_string(i), std::to_string(i)});
  return out;
}

struct recorder {
  using clock = std::chrono::steady_clock;
  std::vector<rec_event> events;
  std::vector<int> opens;
  std::vector<sse::client_error> retries;
  std::vector<std::chrono::milliseconds> delays;
  std::vector<clock::time_point> retry_times, connect_times;
  std::vector<std::string> connect_urls;
  std::optional<sse::client_error> closed;

  void attach(sse::client& c) {
    c.on_connecting([this](const sse::url& u, unsigned) {
       connect_times.push_back(clock::now());
       connect_urls.push_back(u.to_string());
     })
        .on_open([this](const sse::http::response_head& h) { opens.push_back(h.status); })
        .on_event([this](const sse::received_event& ev) {
          events.push_back({std::string(ev.type), std::string(ev.data), std::string(ev.id)});
        })
        .on_retrying([this](const sse::client_error& e, std::chrono::milliseconds d) {
          retries.push_back(e);
          delays.push_back(d);
          retry_times.push_back(clock::now());
        })
        .on_closed([this](const sse::client_error& e) { closed = e; });
  }
};

}  // namespace sse_test

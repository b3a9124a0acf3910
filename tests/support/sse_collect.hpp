// Test support: run an sse::parser over chunks and collect what it dispatches.
#pragma once

#include "sse/parser.hpp"

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace sse_test {

struct collected_event {
  std::string type, data, id;
  std::optional<long long> retry;
  bool operator==(const collected_event&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const collected_event& e) {
  os << "{type=" << e.type << " data=" << e.data << " id=" << e.id << " retry=";
  if (e.retry) os << *e.retry; else os << "none";
  return os << "}";
}

struct parse_result {
  std::vector<collected_event> events;
  std::string last_event_id;
  std::optional<long long> retry;
  std::error_code error;
  bool operator==(const parse_result&) const = default;
};

/// Feeds `input` split at the given ascending offsets, then finish().
inline parse_result parse_chunks(std::string_view input, const std::vector<std::size_t>& cuts,
                                 sse::parser_limits limits = {}) {
  sse::parser p(limits);
  parse_result r;
  auto on_event = [&](const sse::received_event& ev) {
    r.events.push_back({std::string(ev.type), std::string(ev.data), std::string(ev.id),
                        ev.retry ? std::optional<long long>(ev.retry->count()) : std::nullopt});
  };
  std::size_t pos = 0;
  auto feed_to = [&](std::size_t end) {
    if (!r.error) r.error = p.feed(input.substr(pos, end - pos), on_event);
    pos = end;
  };
  for (const auto c : cuts) feed_to(c);
  feed_to(input.size());
  p.finish();
  r.last_event_id = p.last_event_id();
  if (p.retry()) r.retry = p.retry()->count();
  return r;
}

inline parse_result parse_whole(std::string_view input) { return parse_chunks(input, {}); }

inline parse_result parse_bytewise(std::string_view input) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < input.size(); ++i) cuts.push_back(i);
  return parse_chunks(input, cuts);
}

}  // namespace sse_test

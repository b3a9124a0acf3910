// parse(encode(e)) gives back the type and the data exactly, for random events whose data holds
// CR, LF, NUL and multi-byte UTF-8. The encoder splits CRLF and lone CR into LF, so the data that
// comes back is the original with every line break normalised to LF.
#include "sse/encoder.hpp"
#include "sse/parser.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>

namespace {

std::string normalise_breaks(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("random events survive encode then parse, fed in random chunks") {
  std::mt19937 rng(20261127);
  const char* pieces[] = {"a", "b", " ", ":", "\r", "\n", "\r\n", std::string_view("\0", 1).data(),
                          "\xE2\x82\xAC", "\xF0\x9F\xA5\x8C", "\xC3\xA9", "data: x", "id: 1",
                          "\xEF\xBB\xBF", "event: admin", "retry: 1"};
  const std::size_t piece_len[] = {1, 1, 1, 1, 1, 1, 2, 1, 3, 4, 2, 7, 5, 3, 12, 8};
  std::uniform_int_distribution<int> pick(0, 15), len(0, 40), type_len(0, 8), chunk(1, 17);

  std::string wire;
  std::vector<std::pair<std::string, std::string>> sent;  // (expected type, expected data)
  int metadata_only = 0;
  for (int n = 0; n < 5000; ++n) {
    sse::event ev;
    for (int i = type_len(rng); i > 0; --i) ev.type.push_back(static_cast<char>('a' + pick(rng)));
    for (int i = len(rng); i > 0; --i) {
      const int k = pick(rng);
      ev.data.append(pieces[k], piece_len[k]);
    }
    if (n % 3 == 0) ev.id = std::to_string(n);
    REQUIRE_FALSE(sse::encode_to(wire, ev));
    // A block with only an id (no type, no data) sets Last-Event-ID and dispatches nothing.
    if (ev.data.empty() && ev.type.empty() && ev.id) {
      ++metadata_only;
      continue;
    }
    sent.emplace_back(ev.type.empty() ? "message" : ev.type, normalise_breaks(ev.data));
  }

  sse::parser p({.max_line_bytes = 1 << 20, .max_event_bytes = 1 << 20});
  std::size_t i = 0, mismatches = 0;
  auto on = [&](const sse::received_event& got) {
    REQUIRE(i < sent.size());
    if (got.type != sent[i].first || got.data != sent[i].second) ++mismatches;
    ++i;
  };
  std::string_view rest = wire;
  while (!rest.empty()) {
    const auto n = std::min<std::size_t>(rest.size(), static_cast<std::size_t>(chunk(rng)));
    REQUIRE_FALSE(p.feed(rest.substr(0, n), on));
    rest.remove_prefix(n);
  }
  CHECK(i == sent.size());
  CHECK(mismatches == 0);
  CHECK(i + static_cast<std::size_t>(metadata_only) == 5000);
  CHECK(metadata_only > 0);  // the case was exercised
  CHECK(p.last_event_id() == "4998");  // the last id written (4998 is the last multiple of 3)
}

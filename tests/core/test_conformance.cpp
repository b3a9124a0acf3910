// Table tests over the committed conformance vectors (tests/conformance/, see its README):
// every parser case whole, at its own chunks, one byte at a time and split at every offset;
// every writer case exactly, with the wire parsed back and checked for injected fields.
#include "sse/parser.hpp"
#include "sse/encoder.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "../support/sse_collect.hpp"

using json = nlohmann::json;
using sse_test::collected_event;
using sse_test::parse_result;

namespace {

json load(const char* file) {
  std::ifstream in(std::string(SSE_TEST_DATA_DIR) + "/conformance/" + file, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open ", file);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

parse_result expected_result(const json& events, const json& final_state) {
  parse_result r;
  for (const auto& e : events) {
    collected_event ce{e.at("type"), e.at("data"), e.at("id"), {}};
    if (e.contains("retry") && !e["retry"].is_null()) ce.retry = e["retry"].get<long long>();
    r.events.push_back(ce);
  }
  r.last_event_id = final_state.at("last_event_id");
  if (!final_state.at("retry").is_null()) r.retry = final_state["retry"].get<long long>();
  return r;
}

}  // namespace

TEST_CASE("parser conformance vectors") {
  const json cases = load("parser-cases.json");
  REQUIRE(cases.size() >= 61);
  std::size_t runs = 0;
  for (const auto& c : cases) {
    const std::string name = c.at("name");
    CAPTURE(name);
    const std::string input =
        c.contains("input_hex") ? from_hex(c["input_hex"]) : c.at("input").get<std::string>();
    const parse_result expected = expected_result(c.at("expected"), c.at("final_state"));

    CHECK(sse_test::parse_whole(input) == expected);
    if (c.contains("chunks")) CHECK(sse_test::parse_chunks(input, c["chunks"]) == expected);
    CHECK(sse_test::parse_bytewise(input) == expected);
    // Every split point into two chunks. For the few inputs above 4 KiB (the long-line cases),
    // every 97th offset plus every offset next to a line break, to keep the run short.
    const bool all = input.size() <= 4096;
    for (std::size_t cut = 1; cut < input.size(); ++cut) {
      const bool near_break = input[cut] == '\n' || input[cut] == '\r' || input[cut - 1] == '\r';
      if (!all && cut % 97 != 0 && !near_break) continue;
      CAPTURE(cut);
      const auto got = sse_test::parse_chunks(input, {cut});
      if (got != expected) CHECK(got == expected);  // report only failures: thousands of splits
      ++runs;
    }
  }
  MESSAGE("parser cases: ", cases.size(), ", two-chunk runs: ", runs);
}

TEST_CASE("writer conformance vectors") {
  const json cases = load("writer-cases.json");
  REQUIRE(cases.size() >= 25);
  for (const auto& c : cases) {
    const std::string name = c.at("name");
    CAPTURE(name);
    const json& in = c.at("event");
    sse::event ev;
    bool representable = true;  // our API takes retry as std::chrono::milliseconds
    if (in.contains("event")) ev.type = in["event"];
    if (in.contains("data")) ev.data = in["data"];
    if (in.contains("id")) ev.id = in["id"].get<std::string>();
    if (in.contains("comment")) ev.comment = in["comment"];
    if (in.contains("retry")) {
      if (in["retry"].is_number_integer()) {
        ev.retry = std::chrono::milliseconds(in["retry"].get<long long>());
      } else {
        // A retry given as text goes through sse::parse_retry, the one way to get text into it.
        auto r = sse::parse_retry(in["retry"].get<std::string>());
        if (r) ev.retry = *r; else representable = false;
      }
    }
    const json& expected = c.at("expected");
    std::string wire;
    const std::error_code ec = representable ? sse::encode_to(wire, ev) : sse::errc::invalid_retry;
    if (expected.value("error", false)) {
      CHECK_MESSAGE(ec, "must be rejected: ", expected.value("reason", ""));
      CHECK(wire.empty());
      continue;
    }
    REQUIRE_FALSE(ec);
    if (c.at("strictness") == "exact") CHECK(wire == expected.at("wire").get<std::string>());

    // No line of the output may start with anything but a known field or a comment.
    std::size_t start = 0;
    while (start < wire.size()) {
      std::size_t end = wire.find_first_of("\r\n", start);
      const std::string_view line(wire.data() + start, end - start);
      const bool ok = line.empty() || line.starts_with(": ") || line == ":" ||
                      line.starts_with("id: ") || line.starts_with("event: ") ||
                      line.starts_with("retry: ") || line.starts_with("data: ");
      CHECK_MESSAGE(ok, "bad line: ", std::string(line));
      start = end + ((wire[end] == '\r' && end + 1 < wire.size() && wire[end + 1] == '\n') ? 2 : 1);
    }
    if (c.contains("parsed")) {
      const parse_result want = expected_result(c["parsed"].at("events"), c["parsed"].at("final_state"));
      CHECK(sse_test::parse_whole(wire) == want);
    }
  }
}

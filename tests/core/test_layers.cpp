// The layers of include/sse/ (see docs/architecture.md): a header includes only headers of its own
// layer and of the layers below it. Every header must belong to a layer, so a new one is placed
// on purpose.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

const std::filesystem::path include_dir = std::filesystem::path(SSE_TEST_DATA_DIR) / ".." / "include";

/// The layer of a header (path relative to include/), or "" when it has none.
std::string layer_of(const std::string& h) {
  static const std::set<std::string> core = {
      "sse/error_category.hpp",
      "sse/core.hpp",     "sse/version.hpp", "sse/error.hpp",  "sse/event.hpp",
      "sse/encoder.hpp",  "sse/parser.hpp",  "sse/url.hpp",    "sse/backoff.hpp", "sse/reconnect.hpp"};
  if (core.count(h) || h.starts_with("sse/http/")) return "core";
  if (h.starts_with("sse/detail/") || h == "sse/metrics.hpp" || h == "sse/logger.hpp" || h == "sse/shared_event.hpp")
    return "support";
  if (h == "sse/transport.hpp" || h.starts_with("sse/transport/") || h == "sse/stream.hpp" ||
      h == "sse/stream_writer.hpp" ||
      h == "sse/keepalive.hpp" || h == "sse/log.hpp")
    return "stream";
  if (h == "sse/hub.hpp" || h.starts_with("sse/hub/") || h == "sse/store.hpp" || h == "sse/broker.hpp") return "hub";
  if (h == "sse/server.hpp" || h.starts_with("sse/server/") || h == "sse/probe.hpp") return "server";
  if (h == "sse/client.hpp" || h == "sse/client_tls.hpp") return "client";
  if (h.starts_with("sse/sqlite/")) return "sqlite";
  if (h.starts_with("sse/redis/")) return "redis";
  if (h == "sse/sse.hpp") return "umbrella";
  return {};
}

/// What each layer may include (itself included).
const std::map<std::string, std::set<std::string>> may_include = {
    {"core", {"core"}},
    {"support", {"core", "support"}},
    {"stream", {"core", "support", "stream"}},
    {"hub", {"core", "support", "stream", "hub"}},
    {"server", {"core", "support", "stream", "hub", "server"}},
    {"client", {"core", "support", "stream", "client"}},
    {"sqlite", {"core", "support", "stream", "hub", "sqlite"}},
    {"redis", {"core", "support", "stream", "hub", "redis"}},
    {"umbrella", {"core", "support", "stream", "hub", "server", "client"}},
};

}  // namespace

TEST_CASE("every header belongs to a layer and includes only its own layer and those below") {
  const std::regex include_line(R"re(#\s*include\s*"(sse/[^"]+)")re");
  std::size_t headers = 0, edges = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(include_dir / "sse")) {
    if (!entry.is_regular_file() || entry.path().extension() != ".hpp") continue;
    const std::string rel = std::filesystem::relative(entry.path(), include_dir).generic_string();
    CAPTURE(rel);
    const std::string layer = layer_of(rel);
    REQUIRE_MESSAGE(!layer.empty(), "a header outside every layer: place it in tests/core/test_layers.cpp");
    ++headers;
    std::ifstream in(entry.path());
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    for (std::sregex_iterator it(text.begin(), text.end(), include_line), end; it != end; ++it) {
      const std::string inc = (*it)[1];
      CAPTURE(inc);
      const std::string to = layer_of(inc);
      CHECK_MESSAGE(may_include.at(layer).count(to) == 1, rel, " (", layer, ") includes ", inc, " (", to, ")");
      ++edges;
    }
  }
  CHECK(headers > 40);  // the walk really found the headers
  CHECK(edges > 80);
}

TEST_CASE("layer_of classifies by path") {
  CHECK(layer_of("sse/http/request_parser.hpp") == "core");
  CHECK(layer_of("sse/server/router.hpp") == "server");
  CHECK(layer_of("sse/hub/mirror.hpp") == "hub");
  CHECK(layer_of("sse/redis/broker.hpp") == "redis");
  CHECK(layer_of("sse/nowhere.hpp").empty());
}

// The sans-io state machines above the core (tests/core/test_sans_io.cpp checks the core itself):
// no Asio and no fmt, directly or through any sse header they include.
TEST_CASE("sans-io headers above the core include neither Asio nor fmt, even indirectly") {
  const std::regex include_line(R"re(#\s*include\s*[<"]([^>"]+)[>"])re");
  std::vector<std::string> todo = {"sse/stream_writer.hpp"};
  std::set<std::string> seen;
  std::size_t includes = 0;
  while (!todo.empty()) {
    const std::string h = todo.back();
    todo.pop_back();
    if (!seen.insert(h).second) continue;
    CAPTURE(h);
    std::ifstream in(include_dir / h);
    REQUIRE_MESSAGE(in.good(), "cannot open include/", h);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    for (std::sregex_iterator it(text.begin(), text.end(), include_line), end; it != end; ++it) {
      const std::string inc = (*it)[1];
      CAPTURE(inc);
      ++includes;
      CHECK_FALSE(inc.starts_with("asio"));
      CHECK_FALSE(inc.starts_with("fmt"));
      if (inc.starts_with("sse/")) todo.push_back(inc);
      else CHECK(inc.find('/') == std::string::npos);  // <string>, <span>, ...: the standard library
    }
  }
  CHECK(seen.count("sse/shared_event.hpp") == 1);  // the walk followed the includes
  CHECK(seen.count("sse/encoder.hpp") == 1);
  CHECK(includes > 25);
}

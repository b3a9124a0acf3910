// A real third-party client against sse-hub: Node's `eventsource` package (tests/node) loses its
// connection mid-stream, reconnects after the server's `retry:` with Last-Event-ID, and receives
// exactly the events it missed - each once, in order - then the live ones.
//
// The connection is cut by a small TCP relay (tcp_relay.hpp) between the client and the hub. The
// relay then parks the client's reconnect while the test publishes, so the missed events are
// certainly published while the client is disconnected, not raced against its reconnect.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "hub_process.hpp"
#include "tcp_relay.hpp"

using namespace std::chrono_literals;
using namespace sse_test;

namespace {

struct node_line {
  std::string kind, type, data, last_event_id;
};

/// The JSON lines the node script wrote so far (anything else, e.g. a Node warning, is skipped).
std::vector<node_line> node_lines(const child_process& node) {
  std::vector<node_line> out;
  std::stringstream ss(node.log());
  for (std::string line; std::getline(ss, line);) {
    if (!line.starts_with("{")) continue;
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("kind")) continue;
    node_line l{j["kind"].get<std::string>(), {}, {}, {}};
    if (l.kind == "event") {
      l.type = j.value("type", "");
      l.data = j.value("data", "");
      l.last_event_id = j.value("lastEventId", "");
    }
    out.push_back(std::move(l));
  }
  return out;
}

std::size_t count_kind(const std::vector<node_line>& lines, std::string_view kind) {
  std::size_t n = 0;
  for (const auto& l : lines) n += l.kind == kind;
  return n;
}

struct expected_event {
  std::string type, data, id;
};

}  // namespace

TEST_CASE("node eventsource@4 resumes after a dropped connection and gets every missed event once, in order") {
  const std::string node = find_tool(SSE_NODE_EXECUTABLE, {"node", "nodejs"});
  REQUIRE_MESSAGE(!node.empty(), "Node.js is not installed (looked for " SSE_NODE_EXECUTABLE
                                 " and on PATH); scripts/test-setup.sh installs it - this test does not skip");
  const std::filesystem::path node_dir = SSE_NODE_DIR;
  REQUIRE_MESSAGE(std::filesystem::exists(node_dir / "node_modules/eventsource/package.json"),
                  "the npm package `eventsource` is not installed in " SSE_NODE_DIR
                  "/node_modules; run `npm ci` there (scripts/test-setup.sh does) - this test does not skip");

  temp_dir dir("sse-proxy-node");
  // retry: 200 ms so the client comes back quickly; pings far apart so the byte stream holds only events.
  hub_process hub(dir.path(), {"--retry", "200", "--ping-interval", "60", "--log-level", "debug", "--threads", "2"});
  tcp_relay relay(hub.port());

  constexpr std::size_t total = 10;
  const std::string url = "http://127.0.0.1:" + std::to_string(relay.port()) + "/events/t";
  child_process client({node, (node_dir / "eventsource-client.mjs").string(), url, std::to_string(total), "20000",
                        "message", "update"},
                       dir.path() / "node.log");

  auto events_seen = [&] { return count_kind(node_lines(client), "event"); };
  auto diagnostics = [&] { return "node:\n" + client.log() + "\nsse-hub:\n" + hub.log(); };

  REQUIRE_MESSAGE(eventually([&] { return count_kind(node_lines(client), "open") == 1; }, 15s), diagnostics());
  REQUIRE(eventually([&] { return hub.metric("sse_connections_open") == 1.0; }, 5s));

  // Data with what a careless implementation breaks: several lines, UTF-8, a colon, leading space.
  const std::vector<std::pair<std::string, std::string>> to_publish = {
      {"", "one"},
      {"update", "two\nlines"},
      {"", "drei: \xC3\xA9t\xC3\xA9 \xE2\x9C\x93"},
      {"update", " leading space"},
      // published while the client is disconnected:
      {"", "five"},
      {"update", "six\r\nseven"},
      {"", "eight"},
      {"", "nine"},
      // live again:
      {"update", "ten"},
      {"", "eleven"},
  };
  REQUIRE(to_publish.size() == total);
  std::vector<expected_event> expected;
  auto publish_range = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      const auto& [type, data] = to_publish[i];
      const std::string id = publish_event(hub.port(), "t", data, type);
      REQUIRE_MESSAGE(!id.empty(), "publish ", i, " failed");
      // The client joins data lines with LF, whatever line break the publisher used.
      // (Built by appending, not std::string::replace, which trips g++ 12's -Wrestrict at -O2/-O3.)
      std::string want_data;
      for (std::size_t k = 0; k < data.size(); ++k) {
        if (data[k] == '\r' && k + 1 < data.size() && data[k + 1] == '\n') continue;
        want_data.push_back(data[k]);
      }
      expected.push_back({type.empty() ? "message" : type, want_data, id});
    }
  };

  // 1. Live events through the relay.
  publish_range(0, 4);
  REQUIRE_MESSAGE(eventually([&] { return events_seen() == 4; }, 5s), diagnostics());

  // 2. The relay drops the stream; the client's reconnect is parked until we let it through.
  relay.hold(true);
  REQUIRE(relay.cut() == 1);
  REQUIRE_MESSAGE(eventually([&] { return relay.parked() == 1; }, 5s), "the client did not reconnect\n",
                  diagnostics());

  // 3. Published while the client is disconnected.
  publish_range(4, 8);
  CHECK(events_seen() == 4);
  relay.hold(false);
  REQUIRE_MESSAGE(eventually([&] { return events_seen() == 8; }, 5s), diagnostics());

  // 4. Live again; the script exits by itself after `total` events.
  publish_range(8, 10);
  const int status = client.wait(10s);
  REQUIRE_MESSAGE(status != -1, "the node client did not finish\n", diagnostics());
  CHECK_MESSAGE(WIFEXITED(status), diagnostics());
  CHECK_MESSAGE(WEXITSTATUS(status) == 0, diagnostics());

  // Client side: every event exactly once, in order, with its id; one drop, one reconnect.
  const auto lines = node_lines(client);
  std::vector<node_line> got;
  for (const auto& l : lines)
    if (l.kind == "event") got.push_back(l);
  REQUIRE(got.size() == total);
  for (std::size_t i = 0; i < total; ++i) {
    CAPTURE(i);
    CHECK(got[i].type == expected[i].type);
    CHECK(got[i].data == expected[i].data);
    CHECK(got[i].last_event_id == expected[i].id);
  }
  CHECK(count_kind(lines, "open") == 2);
  CHECK(count_kind(lines, "error") == 1);
  CHECK(count_kind(lines, "timeout") == 0);
  CHECK(relay.accepted() == 2);

  // Server side: the second subscription carried the last id seen before the cut, and the hub
  // replayed exactly the four missed events from its log.
  const std::string log = hub.log();
  CHECK_MESSAGE(count_occurrences(log, "subscribed to 't' (Last-Event-ID '')") == 1, log);
  CHECK_MESSAGE(count_occurrences(log, "subscribed to 't' (Last-Event-ID '" + expected[3].id + "')") == 1, log);
  CHECK(count_occurrences(log, "subscribed to 't'") == 2);
  CHECK(hub.metric("sse_replays_total") == 1.0);
  CHECK(hub.metric("sse_replayed_events_total") == 4.0);
  CHECK(hub.metric("sse_connections_total") == 2.0);
}

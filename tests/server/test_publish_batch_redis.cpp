// Batch publishing through a broker (sse::redis, a real redis-server on a free port): the events of
// one topic in a batch get increasing Redis stream ids in line order, and each subscriber receives
// exactly its topic's events in that order with the ids the answer gave.
#include "sse/server/publish_batch.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../redis/redis_process.hpp"
#include "../redis/redis_sse_util.hpp"
#include "../redis/redis_test_util.hpp"
#include "../support/http_client.hpp"
#include "sse/redis/broker.hpp"
#include "sse/server.hpp"

using namespace std::chrono_literals;

TEST_CASE("through Redis: a batch's events of one topic keep line order, ids and delivery") {
  sse_test::temp_dir dir("sse-batch-redis");
  sse_test::redis_process redis(dir.path());
  sse::server_options o;
  o.port = 0;
  o.threads = 2;
  o.hub.keepalive = std::nullopt;
  o.max_body_bytes = 1 << 20;
  sse::redis::broker_options bo;
  bo.server = sse::redis::parse_url(redis.url());
  bo.prefix = "batch:";
  o.hub.broker = sse::redis::broker::create(bo);
  sse::server srv(o);
  srv.sse_route("/events/{topic}");
  sse::add_publish_batch_route(srv, "/publish");
  srv.start();
  auto& broker = dynamic_cast<sse::redis::broker&>(*srv.hub().options().broker);
  REQUIRE(sse_test::eventually([&] { return broker.is_up(); }, 5s));

  auto a = sse_test::subscribe(srv.port(), "a");
  auto b = sse_test::subscribe(srv.port(), "b");
  // 300 events over three topics (c has no subscriber), interleaved unevenly.
  const std::vector<std::string> topics = {"a", "b", "c"};
  std::string body;
  std::vector<std::string> line_topic, line_data;
  for (int i = 0; i < 300; ++i) {
    const std::string& t = topics[static_cast<std::size_t>((i * 7 + i / 5) % 3)];
    line_topic.push_back(t);
    line_data.push_back(t + "-" + std::to_string(i));
    body += "{\"topic\":\"" + t + "\",\"event\":\"e-" + t + "\",\"data\":\"" + line_data.back() + "\"}\n";
  }
  const auto r = sse_test::post(srv.port(), "/publish", body);
  REQUIRE(r.status == 200);
  std::vector<std::string> ids;
  for (std::size_t p = 0; p < r.body.size();) {
    const auto lf = r.body.find('\n', p);
    REQUIRE(lf != std::string::npos);
    const std::string line = r.body.substr(p, lf - p);
    REQUIRE(line.starts_with("{\"id\":\""));
    ids.push_back(line.substr(7, line.size() - 9));
    p = lf + 1;
  }
  REQUIRE(ids.size() == 300);

  std::map<std::string, std::vector<sse_test::collected_event>> want;
  for (std::size_t i = 0; i < ids.size(); ++i)
    want[line_topic[i]].push_back({"e-" + line_topic[i], line_data[i], ids[i], {}});
  for (const auto& [t, evs] : want) CHECK(sse_test::strictly_increasing(evs));  // Redis ids in line order
  REQUIRE(a->wait_events(want["a"].size(), 10s));
  REQUIRE(b->wait_events(want["b"].size(), 10s));
  CHECK(a->events() == want["a"]);
  CHECK(b->events() == want["b"]);
  srv.stop(300ms);
}

// Issue 11, item 6, end to end over real sockets: with max_topics 100 and a publish token, 120
// unauthenticated GETs to new topics used to take every topic slot, and the authenticated publish to
// a new topic then failed with 503 until restart. Now subscribers only get the smaller
// max_subscribed_topics (10 here): the rest get 503 with the reason, and the publisher is served.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "../support/http_client.hpp"
#include "../support/runtime.hpp"
#include "sse/server.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_hub_server_cases {

using namespace std::chrono_literals;

TEST_CASE("120 unauthenticated subscriptions to new topics never lock out an authenticated publisher") {
  sse::metrics m;
  sse::server_options o;
  o.port = 0;
  o.threads = 2;
  o.hub.max_topics = 100;
  o.hub.keepalive = std::nullopt;
  o.hub.metrics = &m;
  sse::server srv(o);
  srv.sse_route("/events/{topic}");
  srv.publish_route("/publish/{topic}", sse::bearer_token("T"));
  srv.start();

  std::vector<std::unique_ptr<sse_test::sse_subscriber>> open;
  std::size_t refused = 0;
  const std::string reason = sse::make_error_code(sse::hub_errc::too_many_subscribed_topics).message();
  for (int i = 0; i < 120; ++i) {
    auto s = std::make_unique<sse_test::sse_subscriber>(srv.port(), "/events/new-" + std::to_string(i));
    REQUIRE(s->read_until([&] { return s->status() != 0 && (s->status() != 200 || !s->body().empty()); }, 5s));
    if (s->status() == 200) {
      open.push_back(std::move(s));
      continue;
    }
    CHECK(s->status() == 503);
    CHECK(s->wait_closed(5s));
    CHECK(s->body().find(reason) != std::string::npos);
    ++refused;
  }
  CHECK(open.size() == 10);  // max_subscribed_topics: max_topics / 10 by default
  CHECK(refused == 110);

  const std::string auth = "Authorization: Bearer T\r\n";
  const auto published = sse_test::post(srv.port(), "/publish/fresh", "hello", auth);
  CHECK(published.status == 202);
  CHECK(published.body.find("\"id\":\"") != std::string::npos);
  // A subscribed topic becomes an ordinary one at its first publish; its subscriber gets the event.
  CHECK(sse_test::post(srv.port(), "/publish/new-0", "first", auth).status == 202);
  REQUIRE(open[0]->wait_events(1));
  CHECK(open[0]->events()[0].data == "first");
  const std::string metrics = sse_test::get(srv.port(), "/metrics").body;
  CHECK(metrics.find("\nsse_topics 11\n") != std::string::npos);
  CHECK(metrics.find("\nsse_subscribed_only_topics 9\n") != std::string::npos);
  // Subscribers leaving free their slots: a new subscription to a new topic is served again.
  open.resize(1);
  CHECK(sse_test::wait_until([&] { return srv.hub().subscribed_only_topic_count() == 0; }, 5s));
  sse_test::sse_subscriber again(srv.port(), "/events/another-new-one");
  CHECK(again.read_until([&] { return again.status() != 0; }, 5s));
  CHECK(again.status() == 200);
  srv.stop(std::chrono::milliseconds(300));
}

}  // namespace test_hub_server_cases

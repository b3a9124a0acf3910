// Issue 11, item 10: with a Redis broker, hub::publish and hub::seal (the blocking forms) called from
// a handler running on the hub's executor used to wait forever (the broker's I/O runs on that very
// executor). Now they fail at once with hub_errc::would_block; async_publish / async_seal work
// there. One server thread, so the handler always runs where the broker's I/O runs. A real
// redis-server (started here on a free port, no persistence). Runs under TSan (label threaded).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "../support/http_client.hpp"
#include "redis_process.hpp"
#include "redis_sse_util.hpp"
#include "redis_test_util.hpp"
#include "sse/redis/broker.hpp"
#include "sse/server.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_redis_blocking_cases {

using namespace std::chrono_literals;

namespace {

sse::response answer(std::error_code ec, const std::string& id) {
  if (ec == sse::hub_errc::would_block) return sse::response::text(409, "would_block: " + ec.message());
  if (ec) return sse::response::text(500, ec.message());
  return sse::response::text(202, id);
}

bool redis_up(sse::server& s) { return dynamic_cast<sse::redis::broker&>(*s.hub().options().broker).is_up(); }

}  // namespace

TEST_CASE("a handler on the hub's executor: blocking publish and seal fail with would_block, the async forms work") {
  sse_test::temp_dir dir("sse-redis-blocking");
  sse_test::redis_process redis(dir.path());
  sse::server_options o;
  o.port = 0;
  o.threads = 1;  // the handlers run on the executor that runs the broker's Redis I/O
  o.hub.keepalive = std::nullopt;
  sse::redis::broker_options bo;
  bo.server = sse::redis::parse_url(redis.url());
  bo.prefix = "blocking:";
  bo.block = 200ms;
  o.hub.broker = sse::redis::broker::create(bo);
  auto srv = std::make_unique<sse::server>(o);
  sse::server* s = srv.get();
  s->sse_route("/events/{topic}");
  s->route("POST", "/blocking/{topic}", [s](const sse::request_context& c) {
    std::error_code ec;
    const std::string id = s->hub().publish(c.param("topic"), {.data = std::string(c.body)}, ec);
    return answer(ec, id);
  });
  s->route("POST", "/blocking-seal/{topic}", [s](const sse::request_context& c) {
    try {
      s->hub().seal(c.param("topic"));
      return answer({}, "sealed");
    } catch (const sse::hub_error& e) {
      return answer(e.code(), {});
    }
  });
  s->async_route("POST", "/async/{topic}", [s](const sse::request_context& c, std::function<void(sse::response)> respond) {
    s->hub().async_publish(c.param("topic"), {.data = std::string(c.body)},
                           [respond](std::error_code ec, std::string id) { respond(answer(ec, id)); });
  });
  s->async_route("POST", "/async-seal/{topic}", [s](const sse::request_context& c, std::function<void(sse::response)> respond) {
    s->hub().async_seal(c.param("topic"), std::nullopt, [respond](std::error_code ec) { respond(answer(ec, "sealed")); });
  });
  s->start();
  REQUIRE(sse_test::eventually([&] { return redis_up(*s); }, 5s));

  auto sub = sse_test::subscribe(s->port(), "t");
  // The blocking form on the hub's executor: an error at once (request_raw gives up after 5 s).
  const auto blocked = sse_test::post(s->port(), "/blocking/t", "never");
  CHECK(blocked.status == 409);
  CHECK(blocked.body == "would_block: " + sse::make_error_code(sse::hub_errc::would_block).message() + "\n");
  const auto blocked_seal = sse_test::post(s->port(), "/blocking-seal/t", "");
  CHECK(blocked_seal.status == 409);
  // The async form on the same executor goes through Redis.
  const auto published = sse_test::post(s->port(), "/async/t", "through redis");
  REQUIRE(published.status == 202);
  const std::string id = published.body.substr(0, published.body.size() - 1);
  CHECK(sse::redis::stream_id::parse(id));
  REQUIRE(sub->wait_events(1));
  CHECK(sub->events()[0].id == id);
  CHECK(sub->events()[0].data == "through redis");
  // From a thread that is not one of the hub's, the blocking form still waits and works.
  const std::string second = s->hub().publish("t", {.data = "from a test thread"});
  REQUIRE(sub->wait_events(2));
  CHECK(sub->events()[1].id == second);
  CHECK(sub->events().size() == 2);  // the refused publish never reached the stream
  // The async seal ends the stream (the refused blocking seal did not).
  CHECK(sse_test::post(s->port(), "/async-seal/t", "").status == 202);
  CHECK(sub->wait_closed(5s));
  CHECK(sub->events().size() == 2);
  srv->stop(std::chrono::milliseconds(300));
}

TEST_CASE("broker_options::own_thread: a blocking publish from another thread does not wait for a busy shard") {
  sse_test::temp_dir dir("sse-redis-own-thread");
  sse_test::redis_process redis(dir.path());
  sse::server_options o;
  o.port = 0;
  o.threads = 1;
  o.hub.keepalive = std::nullopt;
  sse::redis::broker_options bo;
  bo.server = sse::redis::parse_url(redis.url());
  bo.prefix = "own-thread:";
  bo.block = 200ms;
  bo.own_thread = true;  // the Redis I/O runs on the broker's thread, not on the (only) shard
  o.hub.broker = sse::redis::broker::create(bo);
  auto srv = std::make_unique<sse::server>(o);
  sse::server* s = srv.get();
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> holding{false}, released_in_time{false};
  s->sse_route("/events/{topic}");
  s->route("POST", "/hold", [&](const sse::request_context&) {
    holding = true;  // the only shard is busy until the test releases it (or 10 s pass)
    released_in_time = released.wait_for(10s) == std::future_status::ready;
    return sse::response::text(200, "held");
  });
  s->start();
  REQUIRE(sse_test::eventually([&] { return redis_up(*s); }, 5s));
  auto sub = sse_test::subscribe(s->port(), "u");
  auto& broker = dynamic_cast<sse::redis::broker&>(*s->hub().options().broker);
  CHECK_FALSE(broker.running_in_io_thread());

  sse_test::http_response held;
  std::thread holder([&] { held = sse_test::request_raw(s->port(), "POST /hold HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                                                   "Content-Length: 0\r\n\r\n", 15s); });
  REQUIRE(sse_test::eventually([&] { return holding.load(); }, 5s));
  // The shard is held: the publish completes through the broker's own thread all the same.
  const std::string id = s->hub().publish("u", {.data = "while the shard is busy"});
  release.set_value();
  holder.join();
  CHECK(released_in_time);  // released by the test, after the publish returned: no wait for the shard
  CHECK(held.status == 200);
  CHECK(sse::redis::stream_id::parse(id));
  REQUIRE(sub->wait_events(1));
  CHECK(sub->events()[0].id == id);
  srv->stop(std::chrono::milliseconds(300));
  srv.reset();  // the hub detaches the broker: its thread is joined
}

}  // namespace test_redis_blocking_cases

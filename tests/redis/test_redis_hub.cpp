// Several sse-hub instances (child processes) sharing topics through one redis-server (started
// here on a free port, no persistence): publish to one, receive on all; resume on another
// instance; Redis stopped mid-stream and started again. (The fan-out latency of two instances
// against one is a benchmark: benchmarks/run.sh --servers sse-hub,sse-hub-redis2.)
#include <doctest/doctest.h>

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../proxy/hub_process.hpp"
#include "../support/http_client.hpp"
#include "redis_process.hpp"
#include "redis_sse_util.hpp"
#include "sse/redis/streams.hpp"

using namespace std::chrono_literals;
using sse_test::hub_process;
using sse_test::publish_event;
using sse_test::sse_subscriber;
using sse_test::strictly_increasing;
using sse_test::subscribe;
using sse_test::without_resets;

namespace {

std::vector<std::string> redis_args(const sse_test::redis_process& r, std::vector<std::string> more = {}) {
  std::vector<std::string> a{"--threads", "2", "--redis", r.url(), "--redis-prefix", "test:", "--log-level", "debug"};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

}  // namespace

TEST_CASE("two instances: publish to either, both receive the same events with the same Redis ids") {
  sse_test::temp_dir dir("sse-redis-hub");
  sse_test::redis_process redis(dir.path());
  hub_process a(dir.path(), redis_args(redis), "a"), b(dir.path(), redis_args(redis), "b");
  REQUIRE(sse_test::eventually([&] { return a.metric("sse_redis_up") == 1.0 && b.metric("sse_redis_up") == 1.0; }, 5s));
  auto sa = subscribe(a.port(), "news");
  auto sb = subscribe(b.port(), "news");
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    const std::string id = publish_event(i % 2 ? b.port() : a.port(), "news", "item " + std::to_string(i), i == 3 ? "special" : "");
    CHECK(sse::redis::stream_id::parse(id));
    ids.push_back(id);
  }
  REQUIRE(sa->wait_events(20));
  REQUIRE(sb->wait_events(20));
  std::this_thread::sleep_for(100ms);
  sa->read_until([] { return false; }, 50ms);
  sb->read_until([] { return false; }, 50ms);
  REQUIRE(sa->events().size() == 20);
  REQUIRE(sb->events().size() == 20);
  int same = 0;
  for (int i = 0; i < 20; ++i) {
    const auto& ea = sa->events()[static_cast<std::size_t>(i)];
    const auto& eb = sb->events()[static_cast<std::size_t>(i)];
    if (ea.id == eb.id && ea.data == eb.data && ea.type == eb.type && ea.id == ids[static_cast<std::size_t>(i)] &&
        ea.data == "item " + std::to_string(i))
      ++same;
  }
  CHECK(same == 20);
  CHECK(sa->events()[3].type == "special");
  CHECK(strictly_increasing(sa->events()));
  // The stream in Redis holds the same ids.
  CHECK(a.metric("sse_redis_entries_read_total") == 20.0);
  CHECK(b.metric("sse_redis_entries_read_total") == 20.0);
  CHECK(a.metric("sse_events_published_total").value_or(0) + b.metric("sse_events_published_total").value_or(0) == 20.0);
}

TEST_CASE("resume on instance B from an id received on A: exactly the missed events, then live") {
  sse_test::temp_dir dir("sse-redis-hub");
  sse_test::redis_process redis(dir.path());
  hub_process a(dir.path(), redis_args(redis), "a"), b(dir.path(), redis_args(redis), "b");
  REQUIRE(sse_test::eventually([&] { return a.metric("sse_redis_up") == 1.0 && b.metric("sse_redis_up") == 1.0; }, 5s));
  auto sa = subscribe(a.port(), "job");
  for (int i = 0; i < 10; ++i) CHECK_FALSE(publish_event(a.port(), "job", "line " + std::to_string(i)).empty());
  REQUIRE(sa->wait_events(10));
  const std::string fifth = sa->events()[4].id;

  auto sb = subscribe(b.port(), "job", fifth);
  REQUIRE(sb->wait_events(5));
  for (int i = 0; i < 3; ++i) CHECK_FALSE(publish_event(a.port(), "job", "live " + std::to_string(i)).empty());
  REQUIRE(sb->wait_events(8));
  REQUIRE(sa->wait_events(13));
  sb->read_until([] { return false; }, 100ms);
  REQUIRE(sb->events().size() == 8);
  for (std::size_t i = 0; i < 8; ++i) {
    CHECK(sb->events()[i].id == sa->events()[i + 5].id);
    CHECK(sb->events()[i].data == sa->events()[i + 5].data);
  }
  CHECK(b.metric("sse_redis_reads_total") == 1.0);  // B held no "job": its history came from Redis
  CHECK(b.metric("sse_replays_total") == 1.0);      // through B's hub, like any resume
  CHECK(b.metric("sse_topics") == 1.0);

  // Race at the boundary: publish on A and resume on B at once from the id A just gave, many times.
  int exact = 0;
  for (int round = 0; round < 10; ++round) {
    const std::string last = publish_event(a.port(), "job", "race " + std::to_string(round));
    auto s = subscribe(b.port(), "job", last);
    const std::string next = publish_event(a.port(), "job", "after " + std::to_string(round));
    if (s->wait_events(1) && (s->read_until([] { return false; }, 30ms), s->events().size() == 1) &&
        s->events()[0].id == next)
      ++exact;
  }
  CHECK(exact == 10);

  // An id that is not in the stream: reset (unknown-id) first, then what Redis retains.
  auto sg = subscribe(b.port(), "job", "1-1");
  REQUIRE(sg->wait_events(2));
  CHECK(sg->events()[0].type == "reset");
  CHECK(sg->events()[0].data.find("\"reason\":") != std::string::npos);
  CHECK(sg->events()[0].id.empty());
  CHECK(sg->events()[1].id == sa->events()[0].id);
  auto sx = subscribe(b.port(), "job", "garbage");
  REQUIRE(sx->wait_events(1));
  CHECK(sx->events()[0].type == "reset");
  CHECK(sx->events()[0].data.find("unknown-id") != std::string::npos);
}

TEST_CASE("Redis stopped mid-stream: 503 with a reason, streams stay open, then live again without duplicates") {
  sse_test::temp_dir dir("sse-redis-hub");
  sse_test::redis_process redis(dir.path());
  const std::vector<std::string> more{"--ping-interval", "0.2"};
  hub_process a(dir.path(), redis_args(redis, more), "a"), b(dir.path(), redis_args(redis, more), "b");
  REQUIRE(sse_test::eventually([&] { return a.metric("sse_redis_up") == 1.0 && b.metric("sse_redis_up") == 1.0; }, 5s));
  auto sa = subscribe(a.port(), "feed");
  auto sb = subscribe(b.port(), "feed");
  for (int i = 0; i < 5; ++i) CHECK_FALSE(publish_event(a.port(), "feed", "before " + std::to_string(i)).empty());
  REQUIRE(sa->wait_events(5));
  REQUIRE(sb->wait_events(5));

  redis.kill();
  REQUIRE(sse_test::eventually([&] { return a.metric("sse_redis_up") == 0.0 && b.metric("sse_redis_up") == 0.0; }, 5s));
  const auto r = sse_test::post(a.port(), "/publish/feed", "during");
  CHECK(r.status == 503);
  CHECK(r.body.find("redis unavailable") != std::string::npos);
  CHECK(r.header("Retry-After") == "1");
  CHECK(b.metric("sse_redis_errors_total").value_or(0) >= 1.0);
  CHECK(a.metric("sse_redis_publish_errors_total") == 1.0);
  // Streams stay open and keep being pinged; a new subscriber gets its head too.
  const std::size_t body_before = sa->body().size();
  sa->read_until([] { return false; }, 600ms);
  sb->read_until([] { return false; }, 50ms);
  CHECK_FALSE(sa->closed());
  CHECK_FALSE(sb->closed());
  CHECK(sa->body().size() > body_before);  // pings
  CHECK(sse_test::count_occurrences(sa->body(), ": ping") >= 1);
  auto late = subscribe(b.port(), "feed", sb->events().back().id);

  redis.start();
  REQUIRE(sse_test::eventually([&] { return a.metric("sse_redis_up") == 1.0 && b.metric("sse_redis_up") == 1.0; }, 10s));
  CHECK(a.metric("sse_redis_reconnects_total").value_or(0) >= 1.0);
  std::vector<std::string> after;
  for (int i = 0; i < 5; ++i) {
    const std::string id = publish_event(i % 2 ? b.port() : a.port(), "feed", "after " + std::to_string(i));
    CHECK_FALSE(id.empty());
    after.push_back(id);
  }
  for (auto* s : {sa.get(), sb.get()}) {
    REQUIRE(s->read_until([&] { return without_resets(s->events()).size() >= 10; }, 5s));
    s->read_until([] { return false; }, 100ms);
    const auto evs = without_resets(s->events());
    CHECK(evs.size() == 10);
    std::set<std::string> unique;
    for (const auto& e : evs) unique.insert(e.id);
    CHECK(unique.size() == evs.size());  // no duplicate
    CHECK(strictly_increasing(s->events()));
    CHECK(evs.back().id == after.back());
    // Redis came back empty (no persistence): the streams are told that entries may be lost.
    std::size_t resets = 0;
    for (const auto& e : s->events()) resets += e.type == "reset";
    CHECK(resets == 1);
    CHECK_FALSE(s->closed());
  }
  REQUIRE(late->read_until([&] { return without_resets(late->events()).size() >= 5; }, 5s));
  CHECK(without_resets(late->events()).back().id == after.back());
}

// Two sse::server in this process sharing topics through one redis-server (started here on a free
// port, no persistence) with sse::redis::broker: Redis restarted mid-stream, seal through the
// stream, replay from the start, topics leaving the reader when idle. No example binary needed, so
// this also runs under TSan (label threaded).
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "../support/http_client.hpp"
#include "redis_process.hpp"
#include "redis_sse_util.hpp"
#include "redis_test_util.hpp"
#include "sse/redis/broker.hpp"
#include "sse/server.hpp"
#ifdef SSE_TEST_HAS_BATCH
#include <map>

#include "sse/server/publish_batch.hpp"
#endif

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_redis_broker_cases {

using namespace std::chrono_literals;
using sse_test::sse_subscriber;
using sse_test::strictly_increasing;
using sse_test::subscribe;
using sse_test::without_resets;

namespace {

/// An sse::server (2 threads, port 0) whose hub shares its topics through Redis under `prefix`, with
/// /events/{topic}, /publish/{topic} and /finished/{topic} (close_after_replay); started.
std::unique_ptr<sse::server> redis_server(const sse_test::redis_process& redis, const std::string& prefix,
                                          std::chrono::milliseconds idle_topic_ttl = std::chrono::seconds(30),
                                          std::size_t history_events = 1000, std::size_t readers = 0) {
  sse::server_options o;
  o.hub.history.max_events = history_events;  // what each topic's mirror of its shared log keeps
  o.port = 0;
  o.threads = 2;
  o.hub.keepalive = sse::keepalive_options{.interval = std::chrono::milliseconds(100)};
  o.hub.idle_topic_ttl = idle_topic_ttl;  // how long a topic without subscribers stays held (and read)
  sse::redis::broker_options bo;
  bo.server = sse::redis::parse_url(redis.url());
  bo.prefix = prefix;
  bo.reconnect_initial = 20ms;
  bo.reconnect_max = 100ms;
  bo.block = 200ms;  // the reader looks at its topics at least this often
  if (readers > 0) bo.readers = readers;  // else the default
  o.hub.broker = sse::redis::broker::create(bo);
  auto s = std::make_unique<sse::server>(o);
  s->sse_route("/events/{topic}");
  s->sse_route("/finished/{topic}", [](const sse::request_context& c) -> std::variant<sse::subscription, sse::response> {
    return sse::subscription{.topic = std::string(c.param("topic")), .close_after_replay = true};
  });
  s->publish_route("/publish/{topic}");
  s->start();
  return s;
}

bool redis_up(sse::server& s) { return dynamic_cast<sse::redis::broker&>(*s.hub().options().broker).is_up(); }

sse::redis::broker& broker_of(sse::server& s) { return dynamic_cast<sse::redis::broker&>(*s.hub().options().broker); }

std::vector<std::string> ids_of(const std::vector<sse_test::collected_event>& evs) {
  std::vector<std::string> out;
  for (const auto& e : evs) out.push_back(e.id);
  return out;
}

std::vector<std::string> ids_of(const sse::resume_result& r) {
  std::vector<std::string> out;
  for (const auto& e : r.entries) out.push_back(e.event->id);
  return out;
}

}  // namespace

TEST_CASE("in-process: two sse::server sharing Redis through sse::redis::broker, Redis restarted") {
  sse_test::temp_dir dir("sse-redis-hub");
  sse_test::redis_process redis(dir.path());
  auto a = redis_server(redis, "inproc:"), b = redis_server(redis, "inproc:");
  REQUIRE(sse_test::eventually([&] { return redis_up(*a) && redis_up(*b); }, 5s));
  auto sa = subscribe(a->port(), "t");
  auto sb = subscribe(b->port(), "t");
  for (int i = 0; i < 5; ++i) CHECK_FALSE(sse_test::publish(b->port(), "t", "e" + std::to_string(i)).empty());
  REQUIRE(sa->wait_events(5));
  REQUIRE(sb->wait_events(5));
  // hub::publish (synchronous) from this thread goes through Redis too.
  const std::string id = a->hub().publish("t", {.data = "sync"});
  CHECK(sse::redis::stream_id::parse(id));
  REQUIRE(sb->wait_events(6));
  CHECK(sb->events()[5].id == id);

  redis.kill();
  REQUIRE(sse_test::eventually([&] { return !redis_up(*a) && !redis_up(*b); }, 5s));
  std::error_code ec;
  (void)a->hub().publish("t", {.data = "down"}, ec);
  CHECK(sse::redis::is_unavailable(ec));
  CHECK(sse_test::post(a->port(), "/publish/t", "x").status == 503);
  redis.start();
  REQUIRE(sse_test::eventually([&] { return redis_up(*a) && redis_up(*b); }, 10s));
  for (int i = 0; i < 3; ++i) CHECK_FALSE(sse_test::publish(a->port(), "t", "again" + std::to_string(i)).empty());
  REQUIRE(sa->read_until([&] { return without_resets(sa->events()).size() >= 9; }, 5s));
  REQUIRE(sb->read_until([&] { return without_resets(sb->events()).size() >= 9; }, 5s));
  CHECK(strictly_increasing(sa->events()));
  CHECK(strictly_increasing(sb->events()));
  // Redis came back empty (no persistence): what was published while the streams' positions were
  // gone may be lost, so each stream got an in-band reset (through its hub's inbox) before "again0".
  for (auto* s : {sa.get(), sb.get()}) {
    const auto evs = s->events();
    REQUIRE(evs.size() == 10);
    CHECK(evs[6].type == "reset");
    CHECK(evs[6].data.find("too-old") != std::string::npos);
    CHECK(evs[7].data == "again0");
  }
  CHECK(sse_test::get(a->port(), "/metrics").body.find("sse_redis_up 1") != std::string::npos);
  a->stop(std::chrono::milliseconds(500));
  b->stop(std::chrono::milliseconds(500));
  CHECK(sa->wait_closed(3s));
  a.reset();
  b.reset();
}

TEST_CASE("in-process: seal through Redis ends the topic's streams on every instance; 0-0 replays from the start") {
  sse_test::temp_dir dir("sse-redis-seal");
  sse_test::redis_process redis(dir.path());
  auto a = redis_server(redis, "seal:"), b = redis_server(redis, "seal:");
  REQUIRE(sse_test::eventually([&] { return redis_up(*a) && redis_up(*b); }, 5s));

  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(a->hub().publish("job", {.type = "log", .data = "line" + std::to_string(i)}));
  auto live_a = subscribe(a->port(), "job");
  auto from_start_b = subscribe(b->port(), "job", "0-0");
  REQUIRE(from_start_b->wait_events(3));
  CHECK(from_start_b->events()[0].id == ids[0]);  // no reset: 0-0 is "from the start"
  CHECK(from_start_b->events()[2].data == "line2");
  ids.push_back(b->hub().publish("job", {.type = "log", .data = "line3"}));
  REQUIRE(live_a->wait_events(1));
  REQUIRE(from_start_b->wait_events(4));

  CHECK(b->hub().seal("job", std::chrono::milliseconds(1500)));
  CHECK(live_a->wait_closed(5s));
  CHECK(from_start_b->wait_closed(5s));
  CHECK(live_a->events().size() == 1);
  CHECK(from_start_b->events().size() == 4);
  CHECK(from_start_b->events().back().id == ids[3]);
  CHECK(live_a->body().find("retry: 1500\n") != std::string::npos);  // the seal's hint, written last

  // After the seal: a resume gets the rest of the replay and is closed; a live-only subscriber is
  // closed at once; a publish through an instance that has read the seal is refused.
  sse_subscriber resumed(b->port(), "/events/job", "Last-Event-ID: " + ids[1] + "\r\n");
  CHECK(resumed.wait_closed(5s));
  REQUIRE(resumed.events().size() == 2);
  CHECK(resumed.events()[0].id == ids[2]);
  CHECK(resumed.events()[1].id == ids[3]);
  sse_subscriber late(a->port(), "/events/job");
  CHECK(late.wait_closed(5s));
  CHECK(late.status() == 200);
  CHECK(late.events().empty());
  std::error_code ec;
  (void)a->hub().publish("job", {.data = "after the end"}, ec);
  CHECK(ec == sse::hub_errc::topic_sealed);

  // close_after_replay (a finished topic without a seal) waits for the broker's replay.
  for (int i = 0; i < 2; ++i) (void)a->hub().publish("done-topic", {.data = "d" + std::to_string(i)});
  sse_subscriber fin(b->port(), "/finished/done-topic", "Last-Event-ID: 0-0\r\n");
  CHECK(fin.wait_closed(5s));
  REQUIRE(fin.events().size() == 2);
  CHECK(fin.events()[1].data == "d1");
  a->stop(std::chrono::milliseconds(300));
  b->stop(std::chrono::milliseconds(300));
}

TEST_CASE("in-process: a topic without subscribers stops being read, and is read again for the next one") {
  sse_test::temp_dir dir("sse-redis-idle");
  sse_test::redis_process redis(dir.path());
  auto a = redis_server(redis, "idle:", 100ms), b = redis_server(redis, "idle:", 100ms);
  REQUIRE(sse_test::eventually([&] { return redis_up(*a) && redis_up(*b); }, 5s));
  auto& broker_b = dynamic_cast<sse::redis::broker&>(*b->hub().options().broker);
  std::string first;
  {
    auto sb = subscribe(b->port(), "t");
    CHECK(broker_b.watched_topics() == 1);
    first = a->hub().publish("t", {.data = "one"});
    REQUIRE(sb->wait_events(1));
  }  // the subscriber leaves
  REQUIRE(sse_test::eventually([&] { return broker_b.watched_topics() == 0; }, 5s));
  CHECK(sse_test::get(b->port(), "/metrics").body.find("sse_redis_topics 0\n") != std::string::npos);
  const std::string second = a->hub().publish("t", {.data = "two"});  // nobody on B reads "t" now
  auto live = subscribe(b->port(), "t");
  auto resumed = subscribe(b->port(), "t", first);
  CHECK(broker_b.watched_topics() == 1);
  const std::string third = a->hub().publish("t", {.data = "three"});
  REQUIRE(live->wait_events(1));
  REQUIRE(resumed->wait_events(2));
  CHECK(live->events()[0].id == third);  // live only: from the newest entry on
  CHECK(resumed->events()[0].id == second);  // a resume replays from the stream, as always
  CHECK(resumed->events()[1].id == third);
  a->stop(std::chrono::milliseconds(300));
  b->stop(std::chrono::milliseconds(300));
}

TEST_CASE("one fan-out engine: with a broker, since, last_id and is_sealed answer from the mirror or the shared log") {
  sse_test::temp_dir dir("sse-redis-mirror");
  sse_test::redis_process redis(dir.path());
  auto a = redis_server(redis, "m:"), b = redis_server(redis, "m:");
  REQUIRE(sse_test::eventually([&] { return redis_up(*a) && redis_up(*b); }, 5s));
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(a->hub().publish("m", {.data = "e" + std::to_string(i)}));

  // B does not hold "m": each answer is a read of the shared log.
  auto& bb = broker_of(*b);
  const auto reads0 = bb.counters().reads.load();
  auto r = b->hub().since("m", ids[1]);
  REQUIRE(r);
  CHECK(r->status == sse::resume_status::replay);
  CHECK(ids_of(*r) == std::vector<std::string>{ids[2], ids[3]});
  CHECK(bb.counters().reads.load() == reads0 + 1);
  CHECK(b->hub().last_id("m") == ids[3]);
  CHECK_FALSE(b->hub().is_sealed("m"));
  r = b->hub().since("m", "1-0");  // before the first entry: trimmed, as far as anyone can tell
  REQUIRE(r);
  CHECK(r->status == sse::resume_status::reset);
  CHECK(r->reason == sse::reset_reason::too_old);
  CHECK(r->oldest_id == ids[0]);
  CHECK(ids_of(*r) == ids);
  r = b->hub().since("m", "not-an-id");
  REQUIRE(r);
  CHECK(r->reason == sse::reset_reason::unknown_id);
  CHECK(b->hub().topic_count() == 0);  // reading is not holding

  // A subscriber on B: B holds "m" and mirrors it; answers within the mirror need no read.
  auto sb = subscribe(b->port(), "m");
  CHECK(b->hub().topic_count() == 1);
  CHECK(bb.watched_topics() == 1);
  ids.push_back(a->hub().publish("m", {.data = "e4"}));
  REQUIRE(sb->wait_events(1));
  CHECK(sb->events()[0].id == ids[4]);
  const auto reads1 = bb.counters().reads.load();
  r = b->hub().since("m", ids[3]);  // where the mirror starts
  REQUIRE(r);
  CHECK(r->status == sse::resume_status::replay);
  CHECK(ids_of(*r) == std::vector<std::string>{ids[4]});
  r = b->hub().since("m", ids[4]);
  REQUIRE(r);
  CHECK(r->status == sse::resume_status::replay);
  CHECK(r->entries.empty());
  CHECK(b->hub().last_id("m") == ids[4]);
  CHECK_FALSE(b->hub().is_sealed("m"));
  CHECK(bb.counters().reads.load() == reads1);
  r = b->hub().since("m", ids[0]);  // older than the mirror: the shared log answers
  REQUIRE(r);
  CHECK(ids_of(*r) == std::vector<std::string>{ids[1], ids[2], ids[3], ids[4]});
  CHECK(bb.counters().reads.load() == reads1 + 1);

  // The seal ends B's stream after e4 (through the inbox, like an event) and both answer "sealed".
  CHECK(a->hub().seal("m"));
  CHECK(sb->wait_closed(5s));
  CHECK(ids_of(sb->events()) == std::vector<std::string>{ids[4]});
  CHECK(b->hub().is_sealed("m"));  // the mirror
  CHECK(a->hub().is_sealed("m"));  // A holds no "m": the shared log
  // B's hub holds the topic and its history like any other (they were the broker's, unseen, before).
  const auto m = sse_test::get(b->port(), "/metrics").body;
  CHECK(m.find("sse_topics 1\n") != std::string::npos);
  CHECK(m.find("sse_history_bytes 0\n") == std::string::npos);
  a->stop(std::chrono::milliseconds(300));
  b->stop(std::chrono::milliseconds(300));
}

TEST_CASE("one fan-out engine: a resume older than the mirror is joined to it exactly while events keep coming") {
  sse_test::temp_dir dir("sse-redis-join");
  sse_test::redis_process redis(dir.path());
  auto a = redis_server(redis, "j:");
  auto b = redis_server(redis, "j:", std::chrono::seconds(30), /*history_events=*/3);  // a short mirror
  REQUIRE(sse_test::eventually([&] { return redis_up(*a) && redis_up(*b); }, 5s));
  auto live = subscribe(b->port(), "j");  // B holds "j" from here
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(a->hub().publish("j", {.data = "e" + std::to_string(i)}));
  REQUIRE(live->wait_events(10));
  CHECK(ids_of(live->events()) == ids);  // B's mirror now keeps e7..e9 only

  // While A publishes 40 more, two clients resume on B: from e2 (the shared log's history joined
  // to the mirror) and from e8 (the mirror alone).
  std::vector<std::string> more(40);
  std::thread publisher([&] {
    for (int i = 0; i < 40; ++i) more[static_cast<std::size_t>(i)] = a->hub().publish("j", {.data = "p" + std::to_string(i)});
  });
  auto old = subscribe(b->port(), "j", ids[2]);
  auto recent = subscribe(b->port(), "j", ids[8]);
  publisher.join();
  std::vector<std::string> all = ids;
  all.insert(all.end(), more.begin(), more.end());
  const std::vector<std::string> want_old(all.begin() + 3, all.end()), want_recent(all.begin() + 9, all.end());
  REQUIRE(old->wait_events(want_old.size()));
  REQUIRE(recent->wait_events(want_recent.size()));
  REQUIRE(live->wait_events(all.size()));
  std::this_thread::sleep_for(200ms);  // a duplicate would come now
  CHECK(ids_of(old->events()) == want_old);  // no gap, no duplicate, no reset
  CHECK(ids_of(recent->events()) == want_recent);
  CHECK(ids_of(live->events()) == all);
  CHECK(old->events()[0].data == "e3");
  CHECK(old->events().back().data == "p39");
  a->stop(std::chrono::milliseconds(300));
  b->stop(std::chrono::milliseconds(300));
}

TEST_CASE("several readers: topics spread over 3 reader connections arrive in order, and after a Redis restart") {
  sse_test::temp_dir dir("sse-redis-readers");
  sse_test::redis_process redis(dir.path());
  auto a = redis_server(redis, "rd:", std::chrono::seconds(30), 1000, /*readers=*/1);
  auto b = redis_server(redis, "rd:", std::chrono::seconds(30), 1000, /*readers=*/3);
  REQUIRE(sse_test::eventually([&] { return redis_up(*a) && redis_up(*b); }, 5s));
  auto& bb = broker_of(*b);
  CHECK(bb.options().readers == 3);
  // Nine topics on B; their names hash to every one of its three readers.
  std::vector<std::string> topics;
  std::vector<std::unique_ptr<sse_subscriber>> subs;
  for (int i = 0; i < 9; ++i) {
    topics.push_back("r" + std::to_string(i));
    subs.push_back(subscribe(b->port(), topics.back()));
  }
  const auto per_reader = bb.watched_topics_per_reader();
  REQUIRE(per_reader.size() == 3);
  for (const auto n : per_reader) CHECK(n > 0);
  CHECK(per_reader[0] + per_reader[1] + per_reader[2] == 9);
  // Redis sees B's three readers by name, and A's one.
  {
    sse_test::io_thread io;
    auto c = sse_test::connect(io.executor(), redis.url());
    REQUIRE(sse_test::eventually([&] { return c->is_up(); }, 5s));
    const auto list = sse_test::run(*c, {"CLIENT", "LIST"}).r.str;
    for (const char* name : {"name=sse-reader-0 ", "name=sse-reader-1 ", "name=sse-reader-2 ", "name=sse-reader "})
      CHECK(list.find(name) != std::string::npos);
    sse_test::stop(c);
  }

  // Interleaved publishing (through A, and through B) over the nine topics: each stream gets its
  // topic's events, all of them, in order.
  std::vector<std::vector<std::string>> want(9);
  auto publish_round = [&](const std::string& tag) {
    for (int k = 0; k < 4; ++k)
      for (std::size_t i = 0; i < topics.size(); ++i) {
        auto& via = (k + static_cast<int>(i)) % 2 ? *a : *b;
        const std::string data = tag + std::to_string(k);
        CHECK_FALSE(via.hub().publish(topics[i], {.data = data}).empty());
        want[i].push_back(data);
      }
  };
  auto data_of = [](const std::vector<sse_test::collected_event>& evs) {
    std::vector<std::string> out;
    for (const auto& e : evs) out.push_back(e.data);
    return out;
  };
  publish_round("e");
  for (std::size_t i = 0; i < subs.size(); ++i) {
    REQUIRE(subs[i]->wait_events(4));
    CHECK(data_of(subs[i]->events()) == want[i]);
    CHECK(strictly_increasing(subs[i]->events()));
  }
  for (const auto x : bb.xreads_per_reader()) CHECK(x > 0);  // every reader read its share

  // Redis restarted empty: each reader reconnects, finds its topics' positions gone, and every
  // stream (whichever reader reads it) gets a reset before the events published afterwards.
  redis.kill();
  REQUIRE(sse_test::eventually([&] { return !redis_up(*a) && !redis_up(*b); }, 5s));
  redis.start();
  REQUIRE(sse_test::eventually([&] { return redis_up(*a) && redis_up(*b); }, 10s));
  publish_round("again");
  for (std::size_t i = 0; i < subs.size(); ++i) {
    REQUIRE(subs[i]->read_until([&] { return without_resets(subs[i]->events()).size() >= 8; }, 5s));
    const auto evs = subs[i]->events();
    REQUIRE(evs.size() == 9);
    CHECK(evs[4].type == "reset");
    CHECK(data_of(without_resets(evs)) == want[i]);
    CHECK(strictly_increasing(evs));
  }
  const auto m = sse_test::get(b->port(), "/metrics").body;
  CHECK(m.find("sse_redis_readers 3\n") != std::string::npos);
  CHECK(m.find("sse_redis_topics 9\n") != std::string::npos);
  CHECK(m.find("sse_redis_reader_topics{reader=\"2\"} " + std::to_string(per_reader[2]) + "\n") != std::string::npos);
  a->stop(std::chrono::milliseconds(300));
  b->stop(std::chrono::milliseconds(300));
}

#ifdef SSE_TEST_HAS_BATCH
// Batch publishing through the broker (sse::batch): the events of one topic in a batch get increasing
// Redis stream ids in line order, and each subscriber receives exactly its topic's events in that
// order with the ids the answer gave. Here rather than in its own file: one translation unit less to
// compile in each of the three builds of scripts/test.sh.
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
#endif  // SSE_TEST_HAS_BATCH

}  // namespace test_redis_broker_cases

// sse::redis::connection and the Streams layer against a real redis-server (started here on a free
// port, no persistence), including killing, pausing and restarting it mid-test.
#include "sse/redis/connection.hpp"
#include "sse/redis/streams.hpp"

#include <doctest/doctest.h>

#include <asio/ip/tcp.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "redis_process.hpp"
#include "redis_test_util.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_redis_connection_cases {

using namespace std::chrono_literals;
using sse::redis::errc;
using sse::redis::stream_entry;
using sse::redis::stream_id;
using sse_test::run;

TEST_CASE("redis url: host, port, password, user, db, errors") {
  auto c = sse::redis::parse_url("redis://127.0.0.1:6400/3");
  CHECK(c.host == "127.0.0.1");
  CHECK(c.port == 6400);
  CHECK(c.db == 3);
  CHECK(c.password.empty());
  c = sse::redis::parse_url("redis://:s%40cret@example.org");
  CHECK(c.host == "example.org");
  CHECK(c.port == 6379);
  CHECK(c.password == "s@cret");
  CHECK(c.username.empty());
  c = sse::redis::parse_url("redis://alice:pw@[::1]:7000/0");
  CHECK(c.username == "alice");
  CHECK(c.password == "pw");
  CHECK(c.host == "::1");
  CHECK(c.port == 7000);
  c = sse::redis::parse_url("redis://pw-only@host/2");
  CHECK(c.password == "pw-only");
  CHECK(c.db == 2);
  CHECK(sse::redis::to_display_url(sse::redis::parse_url("redis://:secret@h:1/2")) == "redis://:***@h:1/2");
  for (const char* bad : {"http://h", "redis://h:0", "redis://h:99999", "redis://h:x", "redis://h/db", "redis://:%zz@h",
                          "redis://[::1"}) {
    std::error_code ec;
    (void)sse::redis::parse_url(bad, ec);
    CHECK_MESSAGE(ec == errc::invalid_url, bad);
  }
  CHECK_THROWS_AS(sse::redis::parse_url("nope"), std::system_error);
}

TEST_CASE("stream ids parse strictly and order like Redis") {
  CHECK(stream_id::parse("1700000000000-0") == stream_id{1700000000000, 0});
  CHECK(stream_id::parse("5-12")->str() == "5-12");
  CHECK(*stream_id::parse("5-12") < *stream_id::parse("5-13"));
  CHECK(*stream_id::parse("5-99") < *stream_id::parse("6-0"));
  CHECK_FALSE(stream_id::parse("5"));
  CHECK_FALSE(stream_id::parse("-5-1"));
  CHECK_FALSE(stream_id::parse("5-"));
  CHECK_FALSE(stream_id::parse("a-1"));
  CHECK_FALSE(stream_id::parse("99999999999999999999999-1"));
  CHECK(sse::redis::exclusive("5-1") == "(5-1");
}

TEST_CASE("redis errors have clear messages and 'unavailable' classes") {
  std::error_code ec = errc::not_connected;
  CHECK(ec.message().find("redis unavailable") == 0);
  CHECK(sse::redis::is_unavailable(ec));
  CHECK(sse::redis::is_unavailable(errc::connection_lost));
  CHECK_FALSE(sse::redis::is_unavailable(errc::server_error));
  CHECK_FALSE(sse::redis::is_unavailable(std::make_error_code(std::errc::io_error)));
}

TEST_CASE("connection: commands, XADD with MAXLEN ~, XRANGE exclusive, XREVRANGE, XREAD BLOCK") {
  sse_test::temp_dir dir("sse-redis");
  sse_test::redis_process redis(dir.path());
  sse_test::io_thread io;
  sse::redis::stats st;
  auto c = sse_test::connect(io.executor(), redis.url(), &st, "cmd");
  auto reader = sse_test::connect(io.executor(), redis.url(), &st, "reader");
  REQUIRE(sse_test::eventually([&] { return c->is_up() && reader->is_up(); }, 5s));
  CHECK(c->client_id() > 0);
  CHECK(reader->client_id() != c->client_id());
  CHECK(st.connections_up.load() == 2);

  auto r = run(*c, {"PING"});
  CHECK_FALSE(r.ec);
  CHECK(r.r.str == "PONG");
  r = run(*c, {"CLIENT", "GETNAME"});
  CHECK(r.r.str == "cmd");
  r = run(*c, {"NO-SUCH-COMMAND"});
  CHECK(r.ec == errc::server_error);
  CHECK(r.r.str.find("unknown command") != std::string::npos);

  // XADD: ids from Redis, increasing; binary-safe values.
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto p = std::make_shared<std::promise<std::pair<std::error_code, std::string>>>();
    auto f = p->get_future();
    sse::redis::async_xadd(*c, "t:a", {{"d", "v" + std::to_string(i) + std::string("\0\r\n", 3)}}, {.maxlen = 1000},
                           [p](std::error_code ec, std::string id) { p->set_value({ec, id}); });
    auto [ec, id] = sse_test::wait_for(f);
    CHECK_FALSE(ec);
    REQUIRE(stream_id::parse(id));
    if (!ids.empty()) CHECK(*stream_id::parse(ids.back()) < *stream_id::parse(id));
    ids.push_back(id);
  }

  // XRANGE after ids[1] (exclusive): entries 2..4, fields intact.
  auto range = [&](std::string start, std::string end, std::size_t count, bool rev = false) {
    auto p = std::make_shared<std::promise<std::vector<stream_entry>>>();
    auto f = p->get_future();
    sse::redis::async_xrange(*c, "t:a", std::move(start), std::move(end), count,
                             [p](std::error_code ec, std::vector<stream_entry> es) {
                               CHECK_FALSE(ec);
                               p->set_value(std::move(es));
                             }, rev);
    return sse_test::wait_for(f);
  };
  auto es = range(sse::redis::exclusive(ids[1]), "+", 0);
  REQUIRE(es.size() == 3);
  CHECK(es[0].id == ids[2]);
  CHECK(es[2].id == ids[4]);
  REQUIRE(es[0].field("d"));
  CHECK(*es[0].field("d") == "v2" + std::string("\0\r\n", 3));
  CHECK(es[0].field("nope") == nullptr);
  CHECK(range("-", "+", 2).size() == 2);
  auto rev = range("+", "-", 1, true);
  REQUIRE(rev.size() == 1);
  CHECK(rev[0].id == ids[4]);
  CHECK(range(sse::redis::exclusive(ids[4]), "+", 0).empty());

  // MAXLEN ~ keeps at least N, and trims a long stream to about N.
  for (int i = 0; i < 300; ++i)
    sse::redis::async_xadd(*c, "t:trim", {{"d", "x"}}, {.maxlen = 50}, [](std::error_code, std::string) {});
  r = run(*c, {"XLEN", "t:trim"});
  CHECK(r.r.integer >= 50);
  CHECK(r.r.integer < 300);

  // XREAD BLOCK on two streams: wakes when the other connection appends.
  auto p = std::make_shared<std::promise<sse::redis::xread_result>>();
  auto f = p->get_future();
  sse::redis::async_xread(*reader, {{"t:a", ids[4]}, {"t:b", "0-0"}}, 2000ms, 100,
                          [p](std::error_code ec, sse::redis::xread_result res) {
                            CHECK_FALSE(ec);
                            p->set_value(std::move(res));
                          });
  std::this_thread::sleep_for(50ms);
  sse::redis::async_xadd(*c, "t:b", {{"d", "wake"}}, {}, [](std::error_code, std::string) {});
  auto res = sse_test::wait_for(f);
  REQUIRE(res.size() == 1);
  CHECK(res[0].first == "t:b");
  REQUIRE(res[0].second.size() == 1);
  CHECK(*res[0].second[0].field("d") == "wake");

  // A block that times out answers nil: an empty result, no error.
  auto p2 = std::make_shared<std::promise<std::pair<std::error_code, std::size_t>>>();
  auto f2 = p2->get_future();
  sse::redis::async_xread(*reader, {{"t:a", ids[4]}}, 100ms, 0, [p2](std::error_code ec, sse::redis::xread_result res) {
    p2->set_value({ec, res.size()});
  });
  auto [ec2, n2] = sse_test::wait_for(f2);
  CHECK_FALSE(ec2);
  CHECK(n2 == 0);

  // CLIENT UNBLOCK from the other connection interrupts a long block (how a reader adds streams).
  auto p3 = std::make_shared<std::promise<std::pair<std::error_code, std::size_t>>>();
  auto f3 = p3->get_future();
  sse::redis::async_xread(*reader, {{"t:a", ids[4]}}, 10000ms, 0, [p3](std::error_code ec, sse::redis::xread_result res) {
    p3->set_value({ec, res.size()});
  });
  std::this_thread::sleep_for(50ms);
  r = run(*c, {"CLIENT", "UNBLOCK", std::to_string(reader->client_id())});
  CHECK(r.r.integer == 1);
  auto [ec3, n3] = sse_test::wait_for(f3, 2s);
  CHECK_FALSE(ec3);
  CHECK(n3 == 0);

  // A reply much larger than one 16 KiB read of hiredis arrives whole (edge-triggered reactor).
  const std::string big(4000, 'z');
  for (int i = 0; i < 100; ++i)
    sse::redis::async_xadd(*c, "t:big", {{"d", big}}, {}, [](std::error_code, std::string) {});
  auto pb = std::make_shared<std::promise<std::size_t>>();
  auto fb = pb->get_future();
  sse::redis::async_xrange(*c, "t:big", "-", "+", 0, [pb](std::error_code ec, std::vector<stream_entry> es) {
    CHECK_FALSE(ec);
    std::size_t bytes = 0;
    for (auto& e : es) bytes += e.field("d") ? e.field("d")->size() : 0;
    pb->set_value(bytes);
  });
  CHECK(sse_test::wait_for(fb) == 100 * big.size());

  sse_test::stop(c);
  sse_test::stop(reader);
  CHECK(st.connections_up.load() == 0);
  CHECK(st.errors_total.load() == 0);
  auto after = run(*c, {"PING"});
  CHECK(after.ec == errc::closed);
}

TEST_CASE("connection: AUTH with a password from the URL, SELECT db, wrong password is a clear error") {
  sse_test::temp_dir dir("sse-redis");
  sse_test::redis_process redis(dir.path(), "p%ss w0rd");  // '%' and ' ' need percent-encoding in a URL
  sse_test::io_thread io;
  const std::string base = "redis://:p%25ss%20w0rd@127.0.0.1:" + std::to_string(redis.port());
  auto db3 = sse_test::connect(io.executor(), base + "/3");
  auto db0 = sse_test::connect(io.executor(), base + "/0");
  REQUIRE(sse_test::eventually([&] { return db3->is_up() && db0->is_up(); }, 5s));
  CHECK_FALSE(run(*db3, {"SET", "k", "in-3"}).ec);
  CHECK(run(*db3, {"GET", "k"}).r.str == "in-3");
  CHECK(run(*db0, {"GET", "k"}).r.is_nil());

  sse::redis::stats st;
  std::vector<std::string> lines;
  std::mutex mu;
  sse::redis::connection_options o;
  o.server = sse::redis::parse_url("redis://:wrong@127.0.0.1:" + std::to_string(redis.port()));
  o.reconnect_initial = 20ms;
  o.reconnect_max = 50ms;
  o.counters = &st;
  o.on_log = [&](sse::log_level, std::string_view m) {
    std::lock_guard lk(mu);
    lines.emplace_back(m);
  };
  auto bad = sse::redis::connection::create(io.executor(), o);
  bad->start();
  CHECK(sse_test::eventually([&] { return st.errors_total.load() >= 2; }, 5s));
  CHECK_FALSE(bad->is_up());
  CHECK(bad->last_error() == errc::auth_failed);
  CHECK(run(*bad, {"PING"}).ec == errc::not_connected);
  {
    std::lock_guard lk(mu);
    REQUIRE_FALSE(lines.empty());
    CHECK(lines.front().find("authentication failed") != std::string::npos);
    CHECK(lines.front().find("wrong") == std::string::npos);  // the password is never logged
    CHECK(lines.front().find(":***@") != std::string::npos);
  }
  sse_test::stop(bad);
  sse_test::stop(db3);
  sse_test::stop(db0);
}

TEST_CASE("connection: Redis killed mid-block and restarted: clear errors, then reconnect") {
  sse_test::temp_dir dir("sse-redis");
  sse_test::redis_process redis(dir.path());
  sse_test::io_thread io;
  sse::redis::stats st;
  auto c = sse_test::connect(io.executor(), redis.url(), &st, "cmd");
  REQUIRE(sse_test::eventually([&] { return c->is_up(); }, 5s));
  std::atomic<int> ups{0}, downs{0};
  std::error_code down_reason;
  std::mutex mu;
  // on_state is set before start() on a fresh connection.
  sse::redis::connection_options o = c->options();
  o.name = "watched";
  auto w = sse::redis::connection::create(io.executor(), o);
  w->on_state([&](bool up, std::error_code ec) {
    if (up) {
      ++ups;
    } else {
      std::lock_guard lk(mu);
      down_reason = ec;
      ++downs;
    }
  });
  w->start();
  REQUIRE(sse_test::eventually([&] { return ups.load() == 1; }, 5s));

  auto p = std::make_shared<std::promise<std::error_code>>();
  auto f = p->get_future();
  sse::redis::async_xread(*w, {{"t:x", "$"}}, 10000ms, 0,
                          [p](std::error_code ec, sse::redis::xread_result) { p->set_value(ec); });
  std::this_thread::sleep_for(50ms);
  redis.kill();
  CHECK(sse_test::wait_for(f, 3s) == errc::connection_lost);
  CHECK(sse_test::eventually([&] { return downs.load() == 1 && !c->is_up(); }, 3s));
  {
    std::lock_guard lk(mu);
    CHECK(down_reason == errc::connection_lost);
  }
  CHECK(run(*c, {"PING"}).ec == errc::not_connected);
  std::this_thread::sleep_for(300ms);  // a few failed attempts with backoff
  CHECK(st.errors_total.load() >= 2);
  CHECK_FALSE(c->is_up());

  redis.start();
  CHECK(sse_test::eventually([&] { return c->is_up() && ups.load() == 2; }, 5s));
  CHECK(st.reconnects_total.load() >= 1);
  CHECK(run(*c, {"PING"}).r.str == "PONG");
  CHECK(run(*w, {"PING"}).r.str == "PONG");
  sse_test::stop(c);
  sse_test::stop(w);
  CHECK(downs.load() == 2);  // the stop
}

TEST_CASE("connection: a hung Redis (SIGSTOP) is a command timeout, then recovery") {
  sse_test::temp_dir dir("sse-redis");
  sse_test::redis_process redis(dir.path());
  sse_test::io_thread io;
  auto c = sse_test::connect(io.executor(), redis.url());
  REQUIRE(sse_test::eventually([&] { return c->is_up(); }, 5s));
  redis.pause();
  const auto t0 = std::chrono::steady_clock::now();
  auto p = std::make_shared<std::promise<std::error_code>>();
  auto f = p->get_future();
  c->async_command({"PING"}, [p](std::error_code ec, sse::redis::reply) { p->set_value(ec); }, 200ms);
  CHECK(sse_test::wait_for(f, 3s) == errc::command_timeout);
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  CHECK_FALSE(c->is_up());
  redis.resume();
  CHECK(sse_test::eventually([&] { return c->is_up(); }, 5s));
  CHECK(run(*c, {"PING"}).r.str == "PONG");
  sse_test::stop(c);
}

TEST_CASE("connection: connect timeout against a listener that never answers; refused port") {
  sse_test::io_thread io;
  // A socket that listens but never accepts: the TCP handshake completes in the kernel, the Redis
  // handshake never does.
  asio::ip::tcp::acceptor silent(io.io(), asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  sse::redis::stats st;
  sse::redis::connection_options o;
  o.server = sse::redis::parse_url("redis://127.0.0.1:" + std::to_string(silent.local_endpoint().port()));
  o.connect_timeout = 150ms;
  o.reconnect_initial = 1000ms;
  o.counters = &st;
  auto c = sse::redis::connection::create(io.executor(), o);
  c->start();
  CHECK(sse_test::eventually([&] { return st.errors_total.load() >= 1; }, 3s));
  CHECK(c->last_error() == errc::connect_timeout);
  sse_test::stop(c);

  o.server.port = sse_test::free_port();  // nothing listens there
  sse::redis::stats st2;
  o.counters = &st2;
  auto r = sse::redis::connection::create(io.executor(), o);
  r->start();
  CHECK(sse_test::eventually([&] { return st2.errors_total.load() >= 1; }, 3s));
  CHECK(r->last_error() == errc::connect_failed);
  CHECK(run(*r, {"PING"}).ec == errc::not_connected);
  sse_test::stop(r);
  auto pc = std::make_shared<std::promise<void>>();
  auto fc = pc->get_future();
  asio::post(io.io(), [&silent, pc] {
    silent.close();
    pc->set_value();
  });
  fc.wait_for(2s);
}

TEST_CASE("connection: commands from many threads, replies in order per thread") {
  sse_test::temp_dir dir("sse-redis");
  sse_test::redis_process redis(dir.path());
  sse_test::io_thread io;
  auto c = sse_test::connect(io.executor(), redis.url());
  REQUIRE(sse_test::eventually([&] { return c->is_up(); }, 5s));
  constexpr int threads = 4, per = 200;
  std::atomic<int> ok{0}, out_of_order{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      auto last = std::make_shared<std::atomic<long long>>(0);
      auto done = std::make_shared<std::promise<void>>();
      auto f = done->get_future();
      for (int i = 1; i <= per; ++i)
        c->async_command({"INCR", "ctr:" + std::to_string(t)}, [&, last, done, i](std::error_code ec, sse::redis::reply r) {
          if (!ec && r.integer == i) ++ok;
          if (r.integer <= last->load()) ++out_of_order;
          last->store(r.integer);
          if (i == per) done->set_value();
        });
      f.wait_for(5s);
    });
  for (auto& t : ts) t.join();
  CHECK(ok.load() == threads * per);
  CHECK(out_of_order.load() == 0);
  sse_test::stop(c);
}

}  // namespace test_redis_connection_cases

// hub::async_publish / async_seal with completion tokens through a real Redis broker (the broker
// answers on its own strand, later: the completion is dispatched to the handler's executor; or at
// once when it fails: then posted). asio::use_future from a test thread, a C++20 coroutine
// (asio::use_awaitable) on the hub's executor, a handler bound to another io_context, and the
// immediate failure of a detached broker. A blocking publish on a hub executor
// (hub_errc::would_block): test_redis_blocking.cpp. A real redis-server on a free port, no
// persistence. Runs under TSan (label threaded).
#include <doctest/doctest.h>

#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "redis_process.hpp"
#include "redis_test_util.hpp"
// g++ 12 at -O1 and above warns -Wmismatched-new-delete inside every coroutine that Asio's
// awaitable frame allocates (asio::aligned_new, freed by the frame's own operator delete): a false
// positive of its coroutine lowering (clang has no such warning), not a mismatch in Asio or here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "sse/hub.hpp"
#include "sse/redis/broker.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_redis_async_cases {

#if !defined(ASIO_HAS_CO_AWAIT)
#error "test_redis_async needs asio::use_awaitable: define ASIO_HAS_CO_AWAIT=1 (see tests/redis/CMakeLists.txt)"
#endif

using namespace std::chrono_literals;

namespace {

/// The entries of a Redis stream, as "id d=<data>" or "id x=<marker>".
std::vector<std::string> entries_of(sse::redis::connection& c, const std::string& key) {
  auto p = std::make_shared<std::promise<std::vector<std::string>>>();
  auto f = p->get_future();
  sse::redis::async_xrange(c, key, "-", "+", 0, [p](std::error_code ec, std::vector<sse::redis::stream_entry> es) {
    std::vector<std::string> out;
    if (ec) out.push_back("error " + ec.message());
    for (const auto& e : es) {
      const auto* d = e.field("d");
      const auto* x = e.field("x");
      out.push_back(e.id + (d ? " d=" + *d : "") + (x ? " x=" + *x : ""));
    }
    p->set_value(std::move(out));
  });
  return sse_test::wait_for(f);
}

}  // namespace

TEST_CASE("async_publish / async_seal through a Redis broker: use_future, a coroutine, bind_executor") {
  sse_test::temp_dir dir("sse-redis-async");
  sse_test::redis_process redis(dir.path());
  sse_test::io_thread shard;  // the hub's only executor; the broker's Redis I/O runs there too
  sse::redis::broker_options bo;
  bo.server = sse::redis::parse_url(redis.url());
  bo.prefix = "async:";
  bo.block = 200ms;
  auto broker = sse::redis::broker::create(bo);
  sse::hub hub(std::vector<asio::any_io_executor>{shard.executor()}, {.keepalive = std::nullopt, .broker = broker});
  REQUIRE(sse_test::eventually([&] { return broker->is_up(); }, 5s));
  auto check = sse_test::connect(shard.executor(), redis.url());
  REQUIRE(sse_test::eventually([&] { return check->is_up(); }, 5s));

  // use_future from a thread that is none of the hub's.
  auto fa = hub.async_publish("t", sse::event{.data = "a"}, asio::use_future);
  const std::string a = sse_test::wait_for(fa);
  auto fb = hub.async_publish("t", sse::event{.data = "b"}, asio::use_future);
  const std::string b = sse_test::wait_for(fb);
  REQUIRE(sse::redis::stream_id::parse(a));
  REQUIRE(sse::redis::stream_id::parse(b));
  CHECK(*sse::redis::stream_id::parse(a) < *sse::redis::stream_id::parse(b));
  // (An error through use_future across threads: libstdc++'s exception_ptr is invisible to TSan, a
  // false race; the unit test rt_hub_async covers use_future's errors on one thread.)
  std::promise<std::error_code> bad;
  auto fbad = bad.get_future();
  hub.async_publish("bad topic", sse::event{.data = "c"}, [&bad](std::error_code ec, std::string) { bad.set_value(ec); });
  CHECK(sse_test::wait_for(fbad) == sse::hub_errc::invalid_topic);
  CHECK(entries_of(*check, "async:t") == std::vector<std::string>{a + " d=a", b + " d=b"});

  // A coroutine on the hub's executor: it resumes there, after the shared log answered.
  std::vector<std::string> ids;
  std::vector<std::string> notes;
  auto body = [&]() -> asio::awaitable<void> {
    for (const char* data : {"c", "d"}) {
      sse::event ev{.data = data};  // named: g++ 12 miscompiles a braced temporary in a co_await
      ids.push_back(co_await hub.async_publish("t", std::move(ev), asio::use_awaitable));
      notes.push_back(shard.io().get_executor().running_in_this_thread() ? "on shard" : "elsewhere");
    }
    sse::event e_ev{.data = "e"};
    auto [ec, id] = co_await hub.async_publish("", std::move(e_ev), asio::experimental::as_tuple(asio::use_awaitable));
    notes.push_back(ec == sse::hub_errc::invalid_topic && id.empty() ? "invalid_topic" : "wrong: " + ec.message());
    co_await hub.async_seal("t", 2500ms, asio::use_awaitable);
    notes.push_back(shard.io().get_executor().running_in_this_thread() ? "sealed on shard" : "sealed elsewhere");
  };
  auto done = asio::co_spawn(shard.io(), body(), asio::use_future);
  sse_test::wait_for(done);
  CHECK(notes == std::vector<std::string>{"on shard", "on shard", "invalid_topic", "sealed on shard"});
  REQUIRE(ids.size() == 2);
  const auto entries = entries_of(*check, "async:t");
  REQUIRE(entries.size() == 5);
  CHECK(entries[2] == ids[0] + " d=c");
  CHECK(entries[3] == ids[1] + " d=d");
  CHECK(entries[4].ends_with(" x=seal"));

  // A handler bound to a strand of an io_context the hub knows nothing of: it runs there, and that
  // io_context has work until it has (run() returns only after it).
  asio::io_context other;
  auto strand = asio::make_strand(other);
  std::vector<std::string> bound;
  hub.async_publish("u", sse::event{.data = "f"}, asio::bind_executor(strand, [&](std::error_code ec, std::string id) {
                      bound.push_back((ec ? "error " + ec.message() : id) +
                                      (strand.running_in_this_thread() ? " on strand" : " elsewhere"));
                    }));
  other.run();
  REQUIRE(bound.size() == 1);
  CHECK(bound[0].ends_with(" on strand"));
  const std::string f_id = bound[0].substr(0, bound[0].size() - std::string(" on strand").size());
  CHECK(entries_of(*check, "async:u") == std::vector<std::string>{f_id + " d=f"});

  // A detached broker fails at once, inside the initiation: the completion is posted all the same
  // (to the hub's executor, run by its own thread: never this one, which initiated).
  hub.stop();
  const auto initiator = std::this_thread::get_id();
  std::promise<std::string> failed;
  auto failure = failed.get_future();
  hub.async_publish("t", sse::event{.data = "g"}, [&](std::error_code ec, std::string id) {
    failed.set_value((std::this_thread::get_id() == initiator ? "inline: " : "posted: ") + ec.message() + id);
  });
  CHECK(sse_test::wait_for(failure) == "posted: " + sse::redis::make_error_code(sse::redis::errc::closed).message());
  sse_test::stop(check);
}

}  // namespace test_redis_async_cases

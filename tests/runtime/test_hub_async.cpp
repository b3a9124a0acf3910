// hub::async_publish and hub::async_seal are Asio asynchronous operations taking completion tokens
// (the "one async convention" of the architecture issue): a callback, asio::use_future,
// asio::use_awaitable (C++20 coroutines) and asio::experimental::deferred. For each: exact ids and
// errors, never inline, the handler's associated executor honoured (asio::bind_executor), and the
// hub keeping work on that executor until the handler has run. A hub without a broker (the Redis
// broker's path: tests/redis/test_redis_async.cpp).
//
// In the coroutines the events are named variables: g++ 12 miscompiles a braced aggregate temporary
// (`sse::event{.data = "a"}`) inside a co_await expression (free() of an invalid pointer when the
// temporary dies; clang 14 is fine, and so is a named event or a function's return value).
// g++ 12 at -O1 and above warns -Wmismatched-new-delete inside every coroutine that Asio's
// awaitable frame allocates (asio::aligned_new, freed by the frame's own operator delete): a false
// positive of its coroutine lowering (clang has no such warning), not a mismatch in Asio or here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "sse/hub.hpp"

#include <doctest/doctest.h>

#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_hub_async_cases {

#if !defined(ASIO_HAS_CO_AWAIT)
#error "test_hub_async needs asio::use_awaitable: define ASIO_HAS_CO_AWAIT=1 (see tests/runtime/CMakeLists.txt)"
#endif

using namespace std::chrono_literals;

namespace {

sse::hub_options options() { return {.history = {.epoch = "ep"}, .keepalive = std::nullopt}; }

/// The error a future holds (std::system_error's code), or none when it holds a value.
template <class T>
std::error_code error_of(std::future<T>& f) {
  try {
    f.get();
  } catch (const std::system_error& e) {
    return e.code();
  }
  return {};
}

template <class T>
bool is_ready(const std::future<T>& f) {
  return f.wait_for(0s) == std::future_status::ready;  // no wait: is the value there already?
}

/// The seqs the log holds after `after` (hub::since), in order.
std::vector<std::uint64_t> seqs_since(const sse::hub& hub, const std::string& topic, const std::string& after) {
  std::vector<std::uint64_t> out;
  if (auto r = hub.since(topic, after))
    for (const auto& e : r->entries) out.push_back(e.seq);
  return out;
}

}  // namespace

TEST_SUITE("hub async operations") {
  TEST_CASE("callback: exact ids and errors, in order, never inline, on the hub's executor") {
    asio::io_context ioc;
    sse::hub hub(ioc, options());
    bool returned = false;
    std::vector<std::string> log;
    auto on_publish = [&](std::string what) {
      return [&, what](std::error_code ec, std::string id) {
        CHECK(returned);
        CHECK(ioc.get_executor().running_in_this_thread());
        log.push_back(what + ":" + (ec ? "error " + ec.message() : id));
      };
    };
    auto on_seal = [&](std::string what) {
      return [&, what](std::error_code ec) {
        CHECK(returned);
        CHECK(ioc.get_executor().running_in_this_thread());
        log.push_back(what + ":" + (ec ? "error " + ec.message() : "ok"));
      };
    };
    hub.async_publish("t", sse::event{.data = "a"}, on_publish("a"));
    hub.async_publish("t", sse::event{.data = "b"}, on_publish("b"));
    hub.async_publish("bad topic", sse::event{.data = "c"}, on_publish("bad"));
    hub.async_publish("t", sse::event{.data = "d", .id = "x"}, on_publish("with-id"));
    hub.async_seal("bad topic", std::nullopt, on_seal("seal-bad"));
    hub.async_seal("none", std::nullopt, on_seal("seal-none"));  // no such topic: no error
    hub.async_seal("t", 1500ms, on_seal("seal"));
    hub.async_publish("t", sse::event{.data = "e"}, on_publish("after-seal"));
    returned = true;
    // Done at the initiation, reported later.
    CHECK(log.empty());
    CHECK(hub.last_id("t") == "ep-2");
    CHECK(seqs_since(hub, "t", "ep-0") == std::vector<std::uint64_t>{1, 2});
    CHECK(hub.is_sealed("t"));
    CHECK(hub.last_id("none").empty());
    ioc.run();
    const std::string invalid = sse::make_error_code(sse::hub_errc::invalid_topic).message();
    CHECK(log == std::vector<std::string>{"a:ep-1", "b:ep-2", "bad:error " + invalid,
                                          "with-id:error " + sse::make_error_code(sse::hub_errc::id_not_allowed).message(),
                                          "seal-bad:error " + invalid, "seal-none:ok", "seal:ok",
                                          "after-seal:error " + sse::make_error_code(sse::hub_errc::topic_sealed).message()});
  }

  TEST_CASE("callback: a std::function lvalue is a token too") {
    asio::io_context ioc;
    sse::hub hub(ioc, options());
    std::vector<std::string> ids;
    std::function<void(std::error_code, std::string)> done = [&](std::error_code ec, std::string id) {
      CHECK_FALSE(ec);
      ids.push_back(id);
    };
    hub.async_publish("t", sse::event{.data = "a"}, done);
    hub.async_publish("t", sse::event{.data = "b"}, done);
    CHECK(done);  // copied, not moved from
    CHECK(ids.empty());
    ioc.run();
    CHECK(ids == std::vector<std::string>{"ep-1", "ep-2"});
  }

  TEST_CASE("use_future: values and errors, not ready before the hub's executor ran the completion") {
    asio::io_context ioc;
    sse::hub hub(ioc, options());
    std::future<std::string> a = hub.async_publish("t", sse::event{.data = "a"}, asio::use_future);
    std::future<std::string> b = hub.async_publish("t", sse::event{.data = "b"}, asio::use_future);
    std::future<std::string> bad = hub.async_publish("bad topic", sse::event{.data = "c"}, asio::use_future);
    std::future<void> sealed = hub.async_seal("t", std::nullopt, asio::use_future);
    std::future<void> seal_bad = hub.async_seal("", std::nullopt, asio::use_future);
    std::future<std::string> late = hub.async_publish("t", sse::event{.data = "d"}, asio::use_future);
    // Nothing runs the io_context yet: a completion made inline would have set the promise already.
    CHECK_FALSE(is_ready(a));
    CHECK_FALSE(is_ready(bad));
    CHECK_FALSE(is_ready(sealed));
    CHECK_FALSE(is_ready(late));
    CHECK(hub.last_id("t") == "ep-2");
    ioc.run();
    REQUIRE(is_ready(a));
    CHECK(a.get() == "ep-1");
    CHECK(b.get() == "ep-2");
    CHECK(error_of(bad) == sse::hub_errc::invalid_topic);
    CHECK(error_of(sealed) == std::error_code());
    CHECK(error_of(seal_bad) == sse::hub_errc::invalid_topic);
    CHECK(error_of(late) == sse::hub_errc::topic_sealed);
    CHECK(hub.last_id("t") == "ep-2");
  }

  TEST_CASE("use_future from another thread while a thread runs the hub's io_context") {
    asio::io_context ioc;
    auto guard = asio::make_work_guard(ioc);
    std::thread runner([&] { ioc.run(); });
    {
      sse::hub hub(ioc, options());
      auto a = hub.async_publish("t", sse::event{.data = "a"}, asio::use_future);
      auto b = hub.async_publish("t", sse::event{.data = "b"}, asio::use_future);
      CHECK(a.wait_for(10s) == std::future_status::ready);  // a bound, not a timing assertion
      CHECK(b.wait_for(10s) == std::future_status::ready);
      CHECK(a.get() == "ep-1");
      CHECK(b.get() == "ep-2");
    }
    guard.reset();
    runner.join();
  }

  TEST_CASE("use_awaitable: a coroutine on the hub's executor co_awaits publish and seal") {
    asio::io_context ioc;
    sse::hub hub(ioc, options());
    std::vector<std::string> seen;
    auto body = [&]() -> asio::awaitable<void> {
      bool other_ran = false;
      asio::post(ioc, [&] { other_ran = true; });  // queued before the completion: it runs first
      sse::event a_ev{.data = "a"};  // named, not a braced temporary in the co_await: see the top
      const std::string a = co_await hub.async_publish("t", std::move(a_ev), asio::use_awaitable);
      CHECK(other_ran);  // the completion went through the queue: not inline
      CHECK(ioc.get_executor().running_in_this_thread());
      seen.push_back(a);
      sse::event b_ev{.data = "b"};
      seen.push_back(co_await hub.async_publish("t", std::move(b_ev), asio::use_awaitable));
      // Errors: thrown as std::system_error by use_awaitable, or as values through as_tuple.
      try {
        sse::event c_ev{.data = "c"};
        co_await hub.async_publish("bad topic", std::move(c_ev), asio::use_awaitable);
        seen.push_back("no exception");
      } catch (const std::system_error& e) {
        seen.push_back(e.code() == sse::hub_errc::invalid_topic ? "invalid_topic thrown" : e.what());
      }
      co_await hub.async_seal("t", std::nullopt, asio::use_awaitable);
      seen.push_back(hub.is_sealed("t") ? "sealed" : "not sealed");
      sse::event d_ev{.data = "d"};
      auto [ec, id] = co_await hub.async_publish("t", std::move(d_ev), asio::experimental::as_tuple(asio::use_awaitable));
      seen.push_back(ec == sse::hub_errc::topic_sealed && id.empty() ? "topic_sealed" : "wrong: " + ec.message() + id);
      auto [seal_ec] = co_await hub.async_seal("", std::nullopt, asio::experimental::as_tuple(asio::use_awaitable));
      seen.push_back(seal_ec == sse::hub_errc::invalid_topic ? "seal invalid_topic" : "wrong: " + seal_ec.message());
    };
    auto done = asio::co_spawn(ioc, body(), asio::use_future);
    ioc.run();
    REQUIRE(is_ready(done));
    done.get();  // rethrows what escaped the coroutine
    CHECK(seen == std::vector<std::string>{"ep-1", "ep-2", "invalid_topic thrown", "sealed", "topic_sealed",
                                           "seal invalid_topic"});
    CHECK(hub.last_id("t") == "ep-2");
  }

  TEST_CASE("use_awaitable: a coroutine on another io_context resumes there") {
    asio::io_context ioc;  // the hub's, run by a thread
    asio::io_context other;  // the coroutine's, run by this thread
    auto guard = asio::make_work_guard(ioc);
    std::thread runner([&] { ioc.run(); });
    {
      sse::hub hub(ioc, options());
      std::vector<std::string> seen;
      auto body = [&]() -> asio::awaitable<void> {
        for (const char* data : {"a", "b", "c"}) {
          sse::event ev{.data = data};  // named, not a braced temporary in the co_await: see the top
          seen.push_back(co_await hub.async_publish("t", std::move(ev), asio::use_awaitable));
          seen.push_back(other.get_executor().running_in_this_thread() ? "on other" : "elsewhere");
        }
        co_await hub.async_seal("t", std::nullopt, asio::use_awaitable);
        seen.push_back(other.get_executor().running_in_this_thread() ? "sealed on other" : "sealed elsewhere");
      };
      auto done = asio::co_spawn(other, body(), asio::use_future);
      other.run();  // returns once the coroutine is over
      REQUIRE(is_ready(done));
      done.get();
      CHECK(seen == std::vector<std::string>{"ep-1", "on other", "ep-2", "on other", "ep-3", "on other", "sealed on other"});
      CHECK(hub.is_sealed("t"));
    }
    guard.reset();
    runner.join();
  }

  TEST_CASE("experimental::deferred: nothing happens until the operation is invoked") {
    asio::io_context ioc;
    sse::hub hub(ioc, options());
    std::string topic = "t";
    auto publish = hub.async_publish(topic, sse::event{.data = "a"}, asio::experimental::deferred);
    auto seal = hub.async_seal(topic, std::nullopt, asio::experimental::deferred);
    topic = "changed";  // the operation copied the topic
    CHECK(hub.last_id("t").empty());
    CHECK_FALSE(hub.is_sealed("t"));
    bool returned = false;
    std::optional<std::string> got;
    std::move(publish)([&](std::error_code ec, std::string id) {
      CHECK(returned);
      got = ec ? "error " + ec.message() : id;
    });
    returned = true;
    CHECK(hub.last_id("t") == "ep-1");  // published when invoked
    CHECK_FALSE(got);
    std::future<void> sealed = std::move(seal)(asio::use_future);
    CHECK(hub.is_sealed("t"));
    CHECK_FALSE(is_ready(sealed));
    ioc.run();
    CHECK(got == "ep-1");
    CHECK(error_of(sealed) == std::error_code());
    CHECK(hub.last_id("changed").empty());
  }

  TEST_CASE("bind_executor: the handler runs on its strand of another io_context, which the hub keeps busy") {
    asio::io_context ioc;
    asio::io_context other;
    auto strand = asio::make_strand(other);
    sse::hub hub(ioc, options());
    int ran = 0;
    std::vector<std::string> seen;
    hub.async_publish("t", sse::event{.data = "a"}, asio::bind_executor(strand, [&](std::error_code ec, std::string id) {
                        CHECK(strand.running_in_this_thread());
                        CHECK_FALSE(ioc.get_executor().running_in_this_thread());
                        seen.push_back(ec ? ec.message() : id);
                        ++ran;
                      }));
    hub.async_seal("t", std::nullopt, asio::bind_executor(other.get_executor(), [&](std::error_code ec) {
                     CHECK(other.get_executor().running_in_this_thread());
                     CHECK_FALSE(ioc.get_executor().running_in_this_thread());
                     seen.push_back(ec ? ec.message() : "sealed");
                     ++ran;
                   }));
    // Pending: `other` has work (the hub's), so polling it does not stop it as an idle one would be.
    CHECK(other.poll() == 0);
    CHECK_FALSE(other.stopped());
    ioc.run();  // the hub's side: hands the completions to `other`
    CHECK(ran == 0);
    other.run();  // returns once both ran: the hub's work on it is released
    CHECK(ran == 2);
    CHECK(seen == std::vector<std::string>{"ep-1", "sealed"});
  }

  TEST_CASE("the handler's io_context, run by another thread, does not run out of work before the completion") {
    asio::io_context ioc;
    asio::io_context other;
    sse::hub hub(ioc, options());
    std::promise<std::string> got;
    auto result = got.get_future();
    hub.async_publish("t", sse::event{.data = "a"},
                      asio::bind_executor(other, [&](std::error_code ec, std::string id) {
                        got.set_value(ec ? ec.message() : other.get_executor().running_in_this_thread() ? id : "elsewhere");
                      }));
    // other.run() returns at once unless something holds work on `other`: here the hub must.
    std::thread t([&] { other.run(); });
    ioc.run();
    t.join();  // other.run() returned: after the handler ran, or (the bug) before
    REQUIRE(is_ready(result));
    CHECK(result.get() == "ep-1");
  }

  TEST_CASE("a handler on a hub executor of a multi-shard hub runs on the caller's shard") {
    asio::io_context a, b;
    sse::hub hub(std::vector<asio::any_io_executor>{a.get_executor(), b.get_executor()}, options());
    std::vector<std::string> seen;
    asio::post(b, [&] {
      hub.async_publish("t", sse::event{.data = "x"}, [&](std::error_code ec, std::string id) {
        seen.push_back((ec ? ec.message() : id) + (b.get_executor().running_in_this_thread() ? " on b" : " elsewhere"));
      });
    });
    b.run();
    a.run();
    CHECK(seen == std::vector<std::string>{"ep-1 on b"});
  }
}

}  // namespace test_hub_async_cases

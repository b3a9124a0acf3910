#include "sse/keepalive.hpp"

#include <doctest/doctest.h>

#include <asio/io_context.hpp>

#include <set>
#include <string>
#include <vector>

#include "../support/runtime.hpp"
#include "sse/transport/memory.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_keepalive_cases {

using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {
struct streams {
  asio::io_context ioc;
  sse::metrics m;
  std::vector<std::shared_ptr<sse::memory_stream>> all;
  std::vector<sse::memory_transport> ts;
  std::shared_ptr<sse::memory_stream> add(sse::memory_transport_options to = {}) {
    ts.emplace_back(ioc.get_executor(), to);
    all.push_back(sse::memory_stream::create(
        ts.back(), {.body_framing = sse::framing::close_delimited, .initial_comment = std::nullopt, .metrics = &m}));
    all.back()->start();
    return all.back();
  }
  void run() {
    ioc.restart();
    ioc.run();
  }
  ~streams() {
    for (auto& s : all) s->abort();
    run();
  }
};
}  // namespace

TEST_SUITE("runtime.keepalive") {
  TEST_CASE("ping ids are unique and time-based") {
    std::set<std::string> ids;
    for (int i = 0; i < 100000; ++i) ids.insert(sse::make_ping_id());
    CHECK(ids.size() == 100000);
    const std::string id = sse::make_ping_id();
    const auto dash = id.find('-');
    REQUIRE(dash != std::string::npos);
    const auto ms = std::stoull(id.substr(0, dash), nullptr, 16);
    const auto now = static_cast<unsigned long long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    CHECK(ms <= now);
    CHECK(ms + 60000 > now);
  }

  TEST_CASE("pings only idle streams; one shared ping per tick") {
    streams st;
    auto idle1 = st.add();
    auto idle2 = st.add();
    auto busy = st.add({.stalled = true});
    st.run();
    busy->send(sse::event{.data = "x"});  // its write is held: never idle
    st.run();
    std::vector<std::string> lines;
    auto ka = sse::keepalive_scheduler::create(
        st.ioc.get_executor(), {.interval = 1s, .timer = false},
        [&](sse::log_level l, std::string_view msg) { if (l == sse::log_level::debug) lines.emplace_back(msg); });
    for (auto& s : st.all) ka->add(s);
    st.run();
    const auto t0 = clk::now();
    CHECK(ka->tick(t0) == 0);                // nobody idle for 1 s yet
    CHECK(ka->tick(t0 + 2s) == 2);           // the two idle ones
    st.run();
    const auto p1 = st.ts[0].data(), p2 = st.ts[1].data();
    CHECK(p1.rfind(": ping ", 0) == 0);
    CHECK(p1.back() == '\n');
    CHECK(p1 == p2);                         // the same ping (same id) for both
    CHECK(st.ts[2].data().empty());
    CHECK(idle1->stats().pings_sent == 1);
    CHECK(busy->stats().pings_sent == 0);
    CHECK(st.m.pings_sent == 2);
    REQUIRE(lines.size() == 1);
    const std::string id = p1.substr(7, p1.size() - 8);
    CHECK(lines[0] == "keepalive: ping " + id + " sent to 2 of 3 streams, 0 timed out");
    CHECK(ka->tick(clk::now() + 500ms) == 0);  // they just wrote
    CHECK(ka->size() == 3);
    ka->stop();
    st.run();
  }

  TEST_CASE("ping ids never repeat over 1200 ticks; event form carries no id") {
    streams st;
    st.add();
    auto ka = sse::keepalive_scheduler::create(st.ioc.get_executor(), {.interval = 1s, .form = sse::ping_form::event, .timer = false});
    ka->add(st.all[0]);
    st.run();
    for (int i = 0; i < 1200; ++i) {
      REQUIRE(ka->tick(clk::now() + 2s) == 1);
      st.run();
    }
    const auto blocks = sse_test::blocks(st.ts[0].data());
    REQUIRE(blocks.size() == 1200);
    std::set<std::string> ids;
    for (const auto& b : blocks) {
      CHECK(b.type == "ping");
      CHECK_FALSE(b.has_id);
      CHECK(b.raw == "event: ping\ndata: " + b.data + "\n");
      ids.insert(b.data);
    }
    CHECK(ids.size() == 1200);
    CHECK(st.all[0]->stats().pings_sent == 1200);
    ka->stop();
    st.run();
  }

  TEST_CASE("a tick aborts a stream whose write is stuck past write_timeout") {
    streams st;
    auto s = st.add({.stalled = true});
    auto ka = sse::keepalive_scheduler::create(st.ioc.get_executor(), {.interval = 1s, .timer = false});
    ka->add(s);
    s->send(sse::event{.data = "x"});
    st.run();
    CHECK(ka->tick(clk::now() + 29s) == 0);
    CHECK(s->is_open());
    ka->tick(clk::now() + 31s);
    CHECK(s->is_closed());
    CHECK(st.m.write_timeouts == 1);
    st.run();
    CHECK(ka->tick(clk::now()) == 0);
    CHECK(ka->size() == 0);  // closed streams are forgotten
  }

  TEST_CASE("the timer pings an idle stream by itself (real time, bounded wait)") {
    streams st;
    auto s = st.add();
    auto ka = sse::keepalive_scheduler::create(st.ioc.get_executor(), {.interval = 300ms});
    ka->add(s);
    CHECK(sse_test::run_until(st.ioc, [&] { return s->stats().pings_sent >= 2; }, 5s));
    CHECK(st.ts[0].data().rfind(": ping ", 0) == 0);
    ka->stop();
    st.run();
  }
}

}  // namespace test_keepalive_cases

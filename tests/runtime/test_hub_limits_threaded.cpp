// The hub's global limits under concurrency (run under TSan too): publishers on several threads
// trimming the shared history budget while subscribers come and go on subscribed-only topics that
// publishes promote. At the end the accounting is exact and nothing is left behind.
#include "sse/hub.hpp"

#include <doctest/doctest.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <fmt/format.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../support/runtime.hpp"
#include "sse/transport/memory.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_hub_limits_threaded_cases {

using namespace std::chrono_literals;

namespace {

struct shard_threads {
  std::vector<std::unique_ptr<asio::io_context>> ctx;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;

  explicit shard_threads(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      ctx.push_back(std::make_unique<asio::io_context>(1));
      guards.push_back(asio::make_work_guard(*ctx.back()));
    }
    for (auto& c : ctx) threads.emplace_back([&c] { c->run(); });
  }
  std::vector<asio::any_io_executor> executors() const {
    std::vector<asio::any_io_executor> v;
    for (auto& c : ctx) v.push_back(c->get_executor());
    return v;
  }
  ~shard_threads() {
    for (auto& g : guards) g.reset();
    for (auto& c : ctx) {
      auto* p = c.get();
      sse_test::wait_until([p] { return p->stopped(); }, 5s);
      p->stop();
    }
    for (auto& t : threads) t.join();
  }
};

struct subscriber {
  std::unique_ptr<sse::memory_transport> transport;
  std::shared_ptr<sse::memory_stream> stream;
};

}  // namespace

TEST_SUITE("runtime.hub.limits.threaded") {
  TEST_CASE("concurrent publishers trim one history budget; subscribed-only topics come, get promoted and go") {
    shard_threads shards(2);
    sse::metrics m;
    constexpr std::size_t budget = 20000;
    std::vector<subscriber> subs;  // declared after the shards: destroyed (closed) before them
    {
      sse::hub hub(shards.executors(), {.max_topics = 1000, .max_subscribed_topics = 8, .history = {.epoch = "ep"},
                                        .keepalive = std::nullopt, .metrics = &m, .max_history_bytes = budget});
      std::atomic<bool> go{false};
      auto publisher = [&](int p) {
        while (!go) std::this_thread::yield();
        for (int k = 0; k < 2000; ++k) {
          const std::string topic = k % 5 == 0 ? fmt::format("sub-{}", (k / 5 + p) % 20) : fmt::format("pub-{}", (k + p) % 10);
          hub.publish(topic, sse::event{.data = std::string(static_cast<std::size_t>(50 + (k * 7 + p) % 100), 'x')});
        }
      };
      std::size_t refused = 0;
      std::thread p1(publisher, 1), p2(publisher, 2);
      go = true;
      for (int i = 0; i < 400; ++i) {
        const auto& ex = hub.shard(static_cast<std::size_t>(i) % 2);
        subscriber s{std::make_unique<sse::memory_transport>(ex), nullptr};
        s.stream = sse::memory_stream::create(*s.transport, {.body_framing = sse::framing::close_delimited,
                                                              .initial_comment = std::nullopt,
                                                              .max_queued_bytes = std::size_t{1} << 30});
        try {
          hub.subscribe(s.stream, fmt::format("sub-{}", (i * 7) % 20));
        } catch (const sse::hub_error& e) {
          CHECK(e.code() == sse::hub_errc::too_many_subscribed_topics);
          ++refused;
        }
        subs.push_back(std::move(s));
        if (i % 3 == 0) {  // one in three leaves again soon
          auto victim = subs[static_cast<std::size_t>(i) / 2].stream;
          asio::post(victim->get_executor(), [victim] { victim->abort(); });
        }
      }
      p1.join();
      p2.join();
      for (auto& s : subs) asio::post(s.stream->get_executor(), [st = s.stream] { st->abort(); });
      // Every subscriber gone: no subscribed-only topic stays behind.
      CHECK(sse_test::wait_until([&] { return hub.subscribed_only_topic_count() == 0; }, 10s));
      CHECK(sse_test::wait_until([&] { return m.connections_open == 0; }, 10s));

      // The budget holds, and the count is exact: the sum over every log, each a contiguous tail.
      std::size_t sum = 0, published_topics = 0;
      for (const auto* prefix : {"pub-", "sub-"})
        for (int i = 0; i < 20; ++i) {
          const std::string topic = fmt::format("{}{}", prefix, i);
          const auto r = hub.since(topic, "ep-0");
          if (!r) continue;
          if (hub.last_id(topic).empty()) continue;
          ++published_topics;
          for (std::size_t j = 0; j < r->entries.size(); ++j) {
            sum += r->entries[j].event->bytes.size();
            CHECK(r->entries[j].seq == r->head - (r->entries.size() - 1 - j));
          }
        }
      CHECK(hub.history_bytes() == sum);
      CHECK(sum <= budget);
      CHECK(sum > budget / 2);
      CHECK(m.history_bytes == static_cast<std::int64_t>(sum));
      CHECK(m.history_trimmed_events > 3000);
      CHECK(hub.topic_count() == published_topics);
      CHECK(m.topics == static_cast<std::int64_t>(published_topics));
      CHECK(m.subscribed_only_topics == 0);
      MESSAGE("refused subscriptions: ", refused, ", trimmed events: ", m.history_trimmed_events.load());
    }
  }
}

}  // namespace test_hub_limits_threaded_cases

// Why sse::redis::broker delivers with XREAD BLOCK rather than PUBLISH/SUBSCRIBE: the delivery
// latency of both mechanisms, measured here against the same redis-server in the same run
// (printed; the exit status is 1 only when events were lost), with plain synchronous hiredis on
// two threads so that only Redis' own wake-up path differs. XREAD BLOCK also resumes from an
// explicit id after a disconnect, where pub/sub loses what was published meanwhile.
// Run: build/<dir>/benchmarks/sse-bench-redis-latency (needs redis-server on PATH).
#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "../../tests/redis/redis_process.hpp"

namespace {

using clk = std::chrono::steady_clock;

long long now_ns() { return clk::now().time_since_epoch().count(); }

struct result {
  double p50 = 0, p99 = 0;
  std::size_t n = 0;
};

result summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return {};
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)], v.size()};
}

redisContext* connect(unsigned short port) {
  timeval tv{2, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c == nullptr || c->err != 0) {
    std::fprintf(stderr, "cannot connect to redis on port %u\n", static_cast<unsigned>(port));
    std::exit(2);
  }
  return c;
}

constexpr int events = 500;

result xread_latency(unsigned short port) {
  redisContext* pub = connect(port);
  redisContext* sub = connect(port);
  std::vector<double> lat;
  std::atomic<bool> ready{false};
  std::thread reader([&] {
    std::string last = "$";
    ready = true;
    while (static_cast<int>(lat.size()) < events) {
      auto* r = static_cast<redisReply*>(redisCommand(sub, "XREAD BLOCK 2000 STREAMS lat:x %s", last.c_str()));
      const long long t = now_ns();
      if (!r) break;
      if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        break;  // nothing for 2 s: give up
      }
      const redisReply* entries = r->element[0]->element[1];
      for (std::size_t i = 0; i < entries->elements; ++i) {
        const redisReply* e = entries->element[i];
        last = e->element[0]->str;
        lat.push_back(static_cast<double>(t - std::stoll(e->element[1]->element[1]->str)) / 1000.0);
      }
      freeReplyObject(r);
    }
  });
  while (!ready) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (int i = 0; i < events; ++i) {
    const std::string t = std::to_string(now_ns());
    freeReplyObject(redisCommand(pub, "XADD lat:x MAXLEN ~ 1000 * t %s", t.c_str()));
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  reader.join();
  redisFree(pub);
  redisFree(sub);
  return summarize(lat);
}

result pubsub_latency(unsigned short port) {
  redisContext* pub = connect(port);
  redisContext* sub = connect(port);
  freeReplyObject(redisCommand(sub, "SUBSCRIBE lat:ch"));
  std::vector<double> lat;
  timeval tv{2, 0};
  redisSetTimeout(sub, tv);
  std::thread reader([&] {
    while (static_cast<int>(lat.size()) < events) {
      void* out = nullptr;
      if (redisGetReply(sub, &out) != REDIS_OK || !out) break;
      const long long t = now_ns();
      auto* r = static_cast<redisReply*>(out);
      if (r->type == REDIS_REPLY_ARRAY && r->elements == 3)
        lat.push_back(static_cast<double>(t - std::stoll(r->element[2]->str)) / 1000.0);
      freeReplyObject(r);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (int i = 0; i < events; ++i) {
    const std::string t = std::to_string(now_ns());
    freeReplyObject(redisCommand(pub, "PUBLISH lat:ch %s", t.c_str()));
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  reader.join();
  redisFree(pub);
  redisFree(sub);
  return summarize(lat);
}

}  // namespace

int main() {
  sse_test::temp_dir dir("sse-redis-lat");
  sse_test::redis_process redis(dir.path());
  (void)xread_latency(redis.port());  // warm-up
  const auto x = xread_latency(redis.port());
  const auto p = pubsub_latency(redis.port());
  const auto x2 = xread_latency(redis.port());  // again, to see the noise
  const std::string report = fmt::format(
      "Redis delivery latency, {} events, publisher -> second connection:\n"
      "  XADD + XREAD BLOCK   p50 {:6.1f} us  p99 {:6.1f} us  (second run: p50 {:6.1f} p99 {:6.1f})\n"
      "  PUBLISH + SUBSCRIBE  p50 {:6.1f} us  p99 {:6.1f} us",
      events, x.p50, x.p99, x2.p50, x2.p99, p.p50, p.p99);
  std::printf("%s\n", report.c_str());
  const bool all = x.n == events && p.n == events && x2.n == events;
  if (!all) std::fprintf(stderr, "events lost: xread %zu, pubsub %zu, xread again %zu of %d\n", x.n, p.n, x2.n, events);
  return all ? 0 : 1;
}

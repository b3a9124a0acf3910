// sse-bench-micro: micro-benchmarks of the library's hot paths, plain timing loops.
//   encoder    encode_to() / encode() throughput, MB/s of wire bytes
//   parser     sse::parser::feed() throughput, MB/s, in 16 KiB and 1448-byte (one TCP segment) pieces
//   hub        publish cost per subscriber, ns: hub::publish + the shard's fan-out + each stream's
//              queue, gathered write and completion, over a transport that completes at once
//   keepalive  one keepalive_scheduler::tick() over 100k idle streams, with no ping due and with
//              every stream pinged; plus the library's resident memory per idle stream
// No sockets: what is measured is the library's user-space cost.
// Usage: sse-bench-micro [--quick] [encoder|parser|hub|keepalive]...
#include <sse/encoder.hpp>
#include <sse/hub.hpp>
#include <sse/keepalive.hpp>
#include <sse/parser.hpp>
#include <sse/stream.hpp>

#include <asio/async_result.hpp>
#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// Keeps the optimizer from dropping a computed value.
template <class T>
void keep(const T& v) {
  asm volatile("" : : "g"(&v) : "memory");
}

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return 0;
}

/// A transport whose writes complete at once (posted, as Asio requires): only the library's cost is left.
class null_transport {
 public:
  using executor_type = asio::any_io_executor;

  null_transport(executor_type ex, std::uint64_t* bytes) : ex_(std::move(ex)), bytes_(bytes) {}

  executor_type get_executor() const noexcept { return ex_; }

  template <class ConstBufferSequence, class WriteToken>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
    return asio::async_initiate<WriteToken, void(std::error_code, std::size_t)>(
        [this](auto handler, const ConstBufferSequence& b) {
          const std::size_t n = asio::buffer_size(b);
          *bytes_ += n;
          asio::post(ex_, [h = std::move(handler), n]() mutable { std::move(h)(std::error_code{}, n); });
        },
        token, buffers);
  }

  void close(std::error_code& ec) { ec = {}; }

 private:
  executor_type ex_;
  std::uint64_t* bytes_;
};

using null_stream = sse::basic_stream<null_transport>;

std::string payload(std::size_t n, std::size_t line = 0) {
  std::string s;
  s.reserve(n);
  for (std::size_t i = 0; i < n; ++i) s.push_back(line != 0 && i % line == line - 1 ? '\n' : static_cast<char>('a' + i % 26));
  return s;
}

void bench_encoder(double budget) {
  std::printf("encoder (sse::encode_to into a reused string; sse::encode allocating)\n");
  struct kase {
    const char* name;
    std::string data;
  };
  const kase cases[] = {{"128 B, 1 line", payload(128)},
                        {"1 KiB, 1 line", payload(1024)},
                        {"1 KiB, 16 lines", payload(1024, 64)},
                        {"16 KiB, 1 line", payload(16384)}};
  for (const auto& c : cases) {
    const sse::event ev{.data = c.data, .id = std::string("k3x9-12345")};
    std::string out;
    out.reserve(c.data.size() * 2 + 64);
    std::size_t iters = 0, bytes = 0;
    const auto t0 = clock_type::now();
    while (seconds_since(t0) < budget) {
      for (int k = 0; k < 1000; ++k) {
        out.clear();
        (void)sse::encode_to(out, ev);
        keep(out);
        bytes += out.size();
      }
      iters += 1000;
    }
    const double s = seconds_since(t0);
    std::size_t iters2 = 0, bytes2 = 0;
    const auto t1 = clock_type::now();
    while (seconds_since(t1) < budget) {
      for (int k = 0; k < 1000; ++k) {
        auto enc = sse::encode(ev);
        keep(enc);
        bytes2 += enc.size();
      }
      iters2 += 1000;
    }
    const double s2 = seconds_since(t1);
    std::printf("  %-16s encode_to %8.0f MB/s %7.1f ns/event | encode %8.0f MB/s %7.1f ns/event\n", c.name,
                static_cast<double>(bytes) / s / 1e6, s * 1e9 / static_cast<double>(iters),
                static_cast<double>(bytes2) / s2 / 1e6, s2 * 1e9 / static_cast<double>(iters2));
  }
}

void bench_parser(double budget) {
  std::printf("parser (sse::parser::feed, events as the hub writes them: id + data)\n");
  struct kase {
    const char* name;
    std::string data;
  };
  const kase cases[] = {{"128 B events", payload(128)}, {"1 KiB events", payload(1024)}, {"1 KiB, 16 lines", payload(1024, 64)}};
  for (const auto& c : cases) {
    std::string wire;
    for (int i = 0; wire.size() < (std::size_t{4} << 20); ++i)
      (void)sse::encode_to(wire, sse::event{.data = c.data, .id = "k3x9-" + std::to_string(i)});
    for (const std::size_t piece : {std::size_t{16384}, std::size_t{1448}}) {
      std::size_t bytes = 0, events = 0;
      const auto t0 = clock_type::now();
      while (seconds_since(t0) < budget) {
        sse::parser p;
        std::string_view rest = wire;
        while (!rest.empty()) {
          const std::string_view part = rest.substr(0, piece);
          (void)p.feed(part, [&](const sse::received_event& e) {
            ++events;
            keep(e.data);
          });
          rest.remove_prefix(part.size());
        }
        bytes += wire.size();
      }
      const double s = seconds_since(t0);
      std::printf("  %-16s %5zu-byte pieces %8.0f MB/s %7.1f ns/event\n", c.name, piece,
                  static_cast<double>(bytes) / s / 1e6, s * 1e9 / static_cast<double>(events));
    }
  }
}

std::vector<std::shared_ptr<null_stream>> make_streams(asio::io_context& ioc, std::size_t n, std::uint64_t* bytes,
                                                       const sse::stream_options& so) {
  std::vector<std::shared_ptr<null_stream>> v;
  v.reserve(n);
  for (std::size_t i = 0; i < n; ++i) v.push_back(null_stream::create(null_transport(ioc.get_executor(), bytes), so));
  return v;
}

sse::stream_options typical_stream_options() {
  sse::stream_options so;
  so.head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
            "Cache-Control: no-cache, no-store, no-transform\r\nX-Accel-Buffering: no\r\n"
            "Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n";
  return so;
}

void bench_hub(bool quick) {
  std::printf("hub (one shard, streams over a transport that completes at once)\n");
  for (const std::size_t subs : {std::size_t{1000}, std::size_t{10000}}) {
    for (const std::size_t size : {std::size_t{128}, std::size_t{1024}}) {
      asio::io_context ioc(1);
      std::uint64_t bytes = 0;
      sse::hub_options ho;
      ho.keepalive = std::nullopt;
      sse::hub hub(ioc, ho);
      auto streams = make_streams(ioc, subs, &bytes, typical_stream_options());
      for (auto& s : streams) hub.subscribe(s, "bench");
      ioc.run();
      ioc.restart();
      const std::string data = payload(size);
      const std::size_t events = quick ? 50 : 200;
      double publish_s = 0;
      const auto t0 = clock_type::now();
      for (std::size_t e = 0; e < events; ++e) {
        const auto tp = clock_type::now();
        hub.publish("bench", sse::event{.data = data});
        publish_s += seconds_since(tp);
        ioc.run();  // the fan-out: every stream queues, writes (gathered) and completes
        ioc.restart();
      }
      const double s = seconds_since(t0);
      const double per_sub = s * 1e9 / static_cast<double>(events * subs);
      std::printf("  %6zu subscribers, %4zu B: %7.1f ns per subscriber per event (publish() itself %6.2f us/event)\n",
                  subs, size, per_sub, publish_s * 1e6 / static_cast<double>(events));
      const auto tc = clock_type::now();
      for (auto& s : streams) s->abort();
      ioc.run();  // each close unsubscribes from the topic
      if (size == 128)
        std::printf("  %6zu subscribers: closing them all takes %.2f ms (%.0f ns each)\n", subs, seconds_since(tc) * 1e3,
                    seconds_since(tc) * 1e9 / static_cast<double>(subs));
    }
  }
}

void bench_keepalive(bool quick) {
  const std::size_t n = quick ? 20000 : 100000;
  std::printf("keepalive (one keepalive_scheduler, %zu idle streams)\n", n);
  asio::io_context ioc(1);
  std::uint64_t bytes = 0;
  const long rss0 = rss_kib();
  auto streams = make_streams(ioc, n, &bytes, typical_stream_options());
  auto ka = sse::keepalive_scheduler::create(ioc.get_executor(), sse::keepalive_options{.timer = false});
  for (auto& s : streams) {
    s->start();
    ka->add(s);
  }
  ioc.run();
  ioc.restart();
  const long rss1 = rss_kib();
  std::printf("  resident memory per started idle stream (library only, no socket, no HTTP layer): %.0f B "
              "(sizeof basic_stream %zu B)\n",
              static_cast<double>(rss1 - rss0) * 1024.0 / static_cast<double>(n), sizeof(null_stream));
  const auto now = std::chrono::steady_clock::now();
  const int reps = 20;
  auto t0 = clock_type::now();
  std::size_t pinged = 0;
  for (int r = 0; r < reps; ++r) pinged += ka->tick(now);
  const double idle_s = seconds_since(t0) / reps;
  std::printf("  tick, no ping due:  %8.3f ms per tick, %6.1f ns per stream (%zu pinged)\n", idle_s * 1e3,
              idle_s * 1e9 / static_cast<double>(n), pinged);
  t0 = clock_type::now();
  pinged = ka->tick(now + std::chrono::seconds(16));
  const double tick_s = seconds_since(t0);
  t0 = clock_type::now();
  ioc.run();
  const double write_s = seconds_since(t0);
  std::printf("  tick, all pinged:   %8.3f ms per tick, %6.1f ns per stream (%zu pinged); writing the pings %.1f ns per stream\n",
              tick_s * 1e3, tick_s * 1e9 / static_cast<double>(n), pinged, write_s * 1e9 / static_cast<double>(n));
  ioc.restart();
  for (auto& s : streams) s->abort();
  ioc.run();
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::vector<std::string> only;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else if (argv[i][0] != '-') only.emplace_back(argv[i]);
    else {
      std::fprintf(stderr, "usage: sse-bench-micro [--quick] [encoder|parser|hub|keepalive]...\n");
      return 2;
    }
  }
  auto want = [&](const char* name) { return only.empty() || std::find(only.begin(), only.end(), name) != only.end(); };
  const double budget = quick ? 0.05 : 0.3;
  std::printf("sse micro-benchmarks%s\n", quick ? " (--quick)" : "");
  if (want("encoder")) bench_encoder(budget);
  if (want("parser")) bench_parser(budget);
  if (want("keepalive")) bench_keepalive(quick);  // first: its memory figure wants a fresh heap
  if (want("hub")) bench_hub(quick);
  return 0;
}

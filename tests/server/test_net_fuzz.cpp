// A network fuzz test of sse::server: several client threads send request streams over real
// loopback sockets — valid requests pipelined, and mutated ones (bytes flipped, inserted, deleted,
// control and non-ASCII bytes, lying Content-Length, Expect: 100-continue, headers far too long) —
// in random pieces, with random read stalls and random early closes, for a bounded time. Built in
// the ASan+UBSan and TSan builds, where a use-after-free, a race or a second write in flight fails
// it. Checks: a valid pipeline gets exactly its responses, in order; any answer to garbage starts as
// an HTTP/1.1 response; afterwards the server still answers and every connection is gone.
//
// SSE_NET_FUZZ_SECONDS (default 6) bounds the run; SSE_NET_FUZZ_SEED replays one run.
#include "sse/server.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <thread>

#include "../support/http_client.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_net_fuzz_cases {

using namespace std::chrono_literals;

namespace {

std::vector<std::string> seed_requests() {
  return {
      "GET /n/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "HEAD /n/2 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello",
      "POST /publish/fz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc",
      "POST /publish/fz?event=x HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nwxyz",
      "GET /later/3 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /events/fz HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nLast-Event-ID: x-1\r\n\r\n",
      "OPTIONS /publish/fz HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://a.example\r\n"
      "Access-Control-Request-Method: POST\r\n\r\n",
      "GET /n/4 HTTP/1.0\r\n\r\n",
      "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  };
}

std::string mutate(std::string s, std::mt19937_64& rng) {
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % (n ? n : 1)); };
  static const std::string specials = std::string("\r\n\0\x7f\x80\xff: \t%/?#", 14);
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 8) {
      case 0: if (!s.empty()) s[pick(s.size())] = static_cast<char>(rng()); break;
      case 1: s.insert(pick(s.size() + 1), 1, specials[pick(specials.size())]); break;
      case 2: if (!s.empty()) s.erase(pick(s.size()), 1 + pick(8)); break;
      case 3: s.insert(s.find("\r\n") == std::string::npos ? 0 : s.find("\r\n") + 2,
                       "X-Big: " + std::string(1000 + pick(20000), 'a') + "\r\n"); break;
      case 4: s.insert(s.find("\r\n") == std::string::npos ? 0 : s.find("\r\n") + 2,
                       "Content-Length: " + std::to_string(pick(100000)) + "\r\n"); break;
      case 5: s.insert(s.find("\r\n") == std::string::npos ? 0 : s.find("\r\n") + 2, "Expect: 100-continue\r\n"); break;
      case 6: s = s.substr(0, pick(s.size() + 1)); break;  // cut short
      default: s += s.substr(0, pick(s.size() + 1)); break;  // a second, partial request
    }
  }
  return s;
}

/// Splits `in` into complete Content-Length responses; returns their statuses, `bodies` their bodies.
std::vector<int> statuses_of(std::string_view in, std::vector<std::string>* bodies = nullptr) {
  std::vector<int> out;
  for (;;) {
    const auto end = in.find("\r\n\r\n");
    if (end == std::string_view::npos || !in.starts_with("HTTP/1.1 ") || in.size() < 12) break;
    const int status = std::atoi(std::string(in.substr(9, 3)).c_str());
    if (status == 100) {  // interim: no body
      in.remove_prefix(end + 4);
      continue;
    }
    const std::string_view head = in.substr(0, end + 2);
    const auto cl = head.find("Content-Length: ");
    if (cl == std::string_view::npos) break;
    const std::size_t len = std::strtoul(std::string(head.substr(cl + 16, 12)).c_str(), nullptr, 10);
    const std::size_t body = len;
    if (in.size() < end + 4 + body) break;
    out.push_back(status);
    if (bodies) bodies->emplace_back(in.substr(end + 4, body));
    in.remove_prefix(end + 4 + body);
  }
  return out;
}

}  // namespace

TEST_CASE("network fuzz: mutated, pipelined, stalled request streams over real sockets") {
  const char* secs_env = std::getenv("SSE_NET_FUZZ_SECONDS");
  const auto budget = std::chrono::milliseconds(static_cast<long long>(1000 * (secs_env ? std::atof(secs_env) : 6.0)));
  const char* seed_env = std::getenv("SSE_NET_FUZZ_SEED");
  const std::uint64_t seed = seed_env ? std::strtoull(seed_env, nullptr, 10) : std::random_device{}();
  MESSAGE("seed " << seed << " (SSE_NET_FUZZ_SEED=" << seed << " replays it)");

  sse::server_options o;
  o.port = 0;
  o.threads = 2;
  o.head_timeout = 300ms;
  o.idle_timeout = 500ms;
  o.write_timeout = 400ms;
  o.max_body_bytes = 16 << 10;
  o.allow_origins = {"https://a.example"};
  o.hub.keepalive = sse::keepalive_options{.interval = 100ms};
  o.stream.max_queued_bytes = 64 << 10;
  o.shutdown_grace = 1s;
  sse::server srv(o);
  srv.route("GET", "/n/{i}", [](const sse::request_context& c) { return sse::response::text(200, "n" + std::string(c.param("i"))); });
  srv.route("POST", "/echo", [](const sse::request_context& c) { return sse::response::text(200, std::string(c.body)); });
  srv.async_route("GET", "/later/{i}", [&](const sse::request_context& c, std::function<void(sse::response)> respond) {
    std::string i(c.param("i"));
    std::thread([respond = std::move(respond), i] {
      std::this_thread::sleep_for(2ms);
      respond(sse::response::text(200, "later" + i));
    }).detach();
  });
  srv.sse_route("/events/{topic}");
  srv.publish_route("/publish/{topic}");
  srv.start();
  const auto port = srv.port();
  const auto seeds = seed_requests();

  std::atomic<std::uint64_t> connections{0}, valid_pipelines{0}, bad_heads{0}, wrong_valid{0};
  std::atomic<bool> stop_publishing{false};
  std::thread publisher([&] {  // live events for the streams among the requests
    for (int i = 0; !stop_publishing; ++i) {
      std::error_code ec;
      srv.hub().publish("fz", sse::event{.data = std::to_string(i)}, ec);
      std::this_thread::sleep_for(1ms);
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + budget;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 31 + static_cast<std::uint64_t>(t));
      while (std::chrono::steady_clock::now() < deadline) {
        ++connections;
        const bool valid = rng() % 2 == 0;
        std::string stream;
        std::vector<std::string> expected;  // bodies, for a valid pipeline
        const int n = 1 + static_cast<int>(rng() % 12);
        for (int i = 0; i < n; ++i) {
          if (valid) {
            const int k = static_cast<int>(rng() % 3);
            const std::string id = std::to_string(rng() % 1000);
            if (k == 0) stream += "GET /n/" + id + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", expected.push_back("n" + id + "\n");
            if (k == 1) stream += "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + std::to_string(id.size()) + "\r\n\r\n" + id,
                    expected.push_back(id + "\n");
            if (k == 2) stream += "GET /later/" + id + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", expected.push_back("later" + id + "\n");
          } else {
            stream += rng() % 3 == 0 ? seeds[rng() % seeds.size()] : mutate(seeds[rng() % seeds.size()], rng);
          }
        }
        try {
          sse_test::raw_socket c(port);
          if (rng() % 4 == 0) c.small_receive_buffer(2048);
          std::string in;
          std::size_t off = 0;
          while (off < stream.size()) {
            const std::size_t piece = std::min(stream.size() - off, 1 + static_cast<std::size_t>(rng() % 700));
            c.send(std::string_view(stream).substr(off, piece));
            off += piece;
            if (rng() % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
            if (rng() % 4 == 0) c.read_some(in, 0ms);
          }
          if (!valid && rng() % 5 == 0) continue;  // close at once, responses unread
          if (rng() % 3 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 600));  // stall
          const auto until = std::chrono::steady_clock::now() + (valid ? 3s : 700ms);
          while (std::chrono::steady_clock::now() < until) {
            if (valid && statuses_of(in).size() >= expected.size()) break;
            if (!c.read_some(in, 20ms)) break;
          }
          if (!in.empty() && !in.starts_with("HTTP/1.1 ") && !in.starts_with("HTTP/1.0 ")) ++bad_heads;
          if (valid) {
            std::vector<std::string> bodies;
            const auto st = statuses_of(in, &bodies);
            if (st.size() != expected.size() || bodies != expected ||
                std::any_of(st.begin(), st.end(), [](int s) { return s != 200; }))
              ++wrong_valid;
            ++valid_pipelines;
          }
        } catch (const std::exception&) {
          // connect or send refused (the server closed first): fine for garbage
          if (valid) ++wrong_valid;
        }
      }
    });
  }
  for (auto& c : clients) c.join();
  stop_publishing = true;
  publisher.join();
  MESSAGE(connections.load() << " connections, " << valid_pipelines.load() << " valid pipelines");
  CHECK(connections.load() > 100);
  CHECK(bad_heads.load() == 0);
  CHECK(wrong_valid.load() == 0);
  CHECK(sse_test::get(port, "/healthz").status == 200);
  // Streams among the requests stay open (pinged) until the hub closes them; everything else ends.
  srv.hub().close_all();
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (srv.open_connections() > 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  CHECK(srv.open_connections() == 0);
}

}  // namespace test_net_fuzz_cases

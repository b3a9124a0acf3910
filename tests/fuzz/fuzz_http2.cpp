// libFuzzer target for sse::server's HTTP/2 glue (sse/server/http2_connection.hpp): mutated frame
// sequences from a client, in memory (a socketpair, no network), through the real nghttp2 session,
// routes, SSE streams and limits of a server on a borrowed io_context.
//
// The first input byte picks a prologue: nothing (the bytes after it are the whole client stream,
// preface excepted), or a valid SETTINGS and requests (an ordinary route, SSE streams, a publish with
// a body, /healthz), so that the mutated frames that follow meet open streams. An event is published
// to the streams' topic half-way. Then the client's side closes and the connection must end, every
// stream with it (LeakSanitizer checks nothing stays behind).
//   scripts/fuzz.sh builds it with the flags on the fuzz-flags line below.
// fuzz-flags: -DASIO_STANDALONE -DASIO_NO_DEPRECATED -DFMT_HEADER_ONLY -pthread -lnghttp2
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "sse/server/http2_connection.hpp"

namespace {

struct fixture {
  asio::io_context ioc;
  sse::server srv;

  static sse::server_options options() {
    sse::server_options o;
    o.http2 = sse::h2c({.max_concurrent_streams = 8, .max_client_resets = 20});
    o.stream.max_queued_bytes = 8 << 10;
    o.request_limits.max_head_bytes = 2048;
    o.max_body_bytes = 1024;
    return o;
  }

  fixture() : srv(ioc, options()) {
    srv.sse_route("/events/{topic}");
    srv.publish_route("/publish/{topic}");
    srv.route("GET", "/hello", [](const sse::request_context&) { return sse::response::text(200, "hello"); });
    srv.route("GET", "/big", [](const sse::request_context&) { return sse::response::text(200, std::string(40000, 'b')); });
  }
};

fixture& the_fixture() {
  static fixture* f = new fixture();  // lives for the whole run
  return *f;
}

/// A client's first flight, made by an nghttp2 client session: SETTINGS and a few requests.
std::string prologue() {
  static const std::string bytes = [] {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session* s = nullptr;
    nghttp2_session_client_new(&s, cbs, nullptr);
    nghttp2_session_callbacks_del(cbs);
    const nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 100}};
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, 1);
    auto request = [&](std::string method, std::string path, std::string body) {
      std::string scheme = "http", authority = "127.0.0.1", m = ":method", p = ":path", sc = ":scheme", a = ":authority";
      std::vector<nghttp2_nv> nv = {
          {reinterpret_cast<std::uint8_t*>(m.data()), reinterpret_cast<std::uint8_t*>(method.data()), m.size(), method.size(), 0},
          {reinterpret_cast<std::uint8_t*>(p.data()), reinterpret_cast<std::uint8_t*>(path.data()), p.size(), path.size(), 0},
          {reinterpret_cast<std::uint8_t*>(sc.data()), reinterpret_cast<std::uint8_t*>(scheme.data()), sc.size(), scheme.size(), 0},
          {reinterpret_cast<std::uint8_t*>(a.data()), reinterpret_cast<std::uint8_t*>(authority.data()), a.size(), authority.size(), 0}};
      static std::string data;
      data = body;
      static std::size_t off;
      off = 0;
      nghttp2_data_provider prd{};
      prd.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t len, std::uint32_t* flags,
                             nghttp2_data_source*, void*) -> ssize_t {
        const std::size_t n = std::min(len, data.size() - off);
        std::memcpy(buf, data.data() + off, n);
        off += n;
        if (off == data.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
      };
      nghttp2_submit_request(s, nullptr, nv.data(), nv.size(), body.empty() ? nullptr : &prd, nullptr);
      std::string out;
      for (;;) {
        const std::uint8_t* d = nullptr;
        const auto n = nghttp2_session_mem_send(s, &d);
        if (n <= 0) break;
        out.append(reinterpret_cast<const char*>(d), static_cast<std::size_t>(n));
      }
      return out;
    };
    std::string out;
    out += request("GET", "/hello", "");
    out += request("GET", "/events/t", "");
    out += request("GET", "/events/t?lastEventId=x", "");
    out += request("POST", "/publish/t", "posted");
    out += request("GET", "/big", "");
    out += request("GET", "/healthz", "");
    nghttp2_session_del(s);
    return out.substr(NGHTTP2_CLIENT_MAGIC_LEN);  // the preface is sent by the fixture
  }();
  return bytes;
}

/// Runs ready handlers until none is left (at most `rounds` polls), reading and dropping what the
/// server wrote.
void settle(asio::io_context& ioc, int peer, int rounds) {
  char buf[65536];
  for (int i = 0; i < rounds; ++i) {
    ioc.restart();
    const std::size_t ran = ioc.poll();
    bool read_any = false;
    while (::recv(peer, buf, sizeof buf, MSG_DONTWAIT) > 0) read_any = true;
    if (ran == 0 && !read_any) return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto& f = the_fixture();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
  const bool with_prologue = data[0] & 1;
  const std::string_view fuzzed(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::uint64_t requests_before = f.srv.http_metrics().http_requests_total.load();
  {
    asio::ip::tcp::socket sock(f.ioc);
    sock.assign(asio::ip::tcp::v4(), sv[0]);  // a stream socket: what the glue reads and writes
    sse::server::http2_connection::start(f.srv, std::move(sock), "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  }
  // The prologue and half the mutated bytes, an event, the other half.
  const std::size_t half = fuzzed.size() / 2;
  auto send_all = [&](std::string_view b) {
    while (!b.empty()) {
      const auto n = ::send(sv[1], b.data(), b.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n <= 0) {
        settle(f.ioc, sv[1], 4);  // let the server read; give up if it does not
        if (::send(sv[1], b.data(), b.size(), MSG_NOSIGNAL | MSG_DONTWAIT) <= 0) return;
        continue;
      }
      b.remove_prefix(static_cast<std::size_t>(n));
    }
  };
  send_all((with_prologue ? prologue() : std::string()) + std::string(fuzzed.substr(0, half)));
  settle(f.ioc, sv[1], 50);
  if (with_prologue && f.srv.http_metrics().http_requests_total.load() - requests_before < 6) {
    std::fprintf(stderr, "fuzz_http2: the prologue's six requests did not all reach the routes\n");
    std::abort();  // frames are handled in order: what follows the prologue cannot undo it
  }
  f.srv.hub().publish("t", {.data = "half-way"});
  send_all(fuzzed.substr(half));
  settle(f.ioc, sv[1], 50);
  ::close(sv[1]);  // the client goes away: the connection and its streams must end
  settle(f.ioc, -1, 200);
  if (f.srv.metrics().connections_open.load() != 0) {
    std::fprintf(stderr, "fuzz_http2: %lld streams still open after the connection closed\n",
                 static_cast<long long>(f.srv.metrics().connections_open.load()));
    std::abort();
  }
  return 0;
}

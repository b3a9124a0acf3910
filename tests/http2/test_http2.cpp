// HTTP/2 with prior knowledge (h2c) in sse::server, over real loopback sockets: curl and nghttp as
// real clients (ordinary routes, /healthz, publish, SSE replay multiplexed on one connection,
// Last-Event-ID resume), and an in-process nghttp2 client session for what those cannot do on
// demand (live events on several streams of one connection, RST_STREAM, a flow-control window
// that never opens, rapid reset, the concurrent-stream limit, GOAWAY on stop). HTTP/1.1 on the
// same port is unchanged. `sse-hub --http2` as a real process when the examples are built.
#include "sse/server/http2_connection.hpp"

#include <doctest/doctest.h>

#include <nghttp2/nghttp2.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "../support/http_client.hpp"
#include "../support/process.hpp"
#ifdef SSE_HUB_PATH
#include "../proxy/hub_process.hpp"  // sse-hub as a child process (needs SSE_HUB_PATH)
#endif

using namespace std::chrono_literals;

namespace {

sse::server_options h2_test_options() {
  sse::server_options o;
  o.port = 0;
  o.threads = 2;
  o.hub.keepalive = sse::keepalive_options{.interval = 10s};
  o.shutdown_grace = 2s;
  o.http2 = sse::h2c();
  if (std::getenv("SSE_TEST_LOG"))
    o.on_log = [](sse::log_level, std::string_view m) { std::fprintf(stderr, "[server] %.*s\n", int(m.size()), m.data()); };
  return o;
}

struct h2_server {
  explicit h2_server(sse::server_options o = h2_test_options()) : srv(std::move(o)) {
    srv.sse_route("/events/{topic}");
    srv.sse_route("/replay/{topic}", [](const sse::request_context& ctx) -> std::variant<sse::subscription, sse::response> {
      sse::subscription s{std::string(ctx.param("topic"))};
      s.close_after_replay = true;
      return s;
    });
    srv.publish_route("/publish/{topic}");
    srv.route("GET", "/hello", [](const sse::request_context& ctx) {
      return sse::response::text(200, "hello over HTTP/" + std::to_string(ctx.request.version_major));
    });
    srv.route("GET", "/big", [](const sse::request_context&) { return sse::response{200, "text/plain", std::string(100000, 'b'), {}}; });
    srv.start();
  }
  unsigned short port() const { return srv.port(); }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port()) + path; }
  std::uint64_t connections() const { return srv.http_metrics().http_connections_total.load(); }
  sse::server srv;
};

/// `: ok\n`, then each (id, data) as the server writes it.
std::string sse_body(const std::vector<std::pair<std::string, std::string>>& events, std::size_t from = 0) {
  std::string out = ": ok\n";
  for (std::size_t i = from; i < events.size(); ++i) out += "id: " + events[i].first + "\ndata: " + events[i].second + "\n\n";
  return out;
}

std::vector<std::pair<std::string, std::string>> publish_n(sse::server& srv, const std::string& topic, int n,
                                                           const std::string& prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < n; ++i) {
    std::string data = prefix + std::to_string(i);
    out.emplace_back(srv.hub().publish(topic, {.data = data}), data);
  }
  return out;
}

bool has_tool(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

/// Runs a command with a deadline; returns its output (stdout and stderr) or nullopt on timeout or
/// a non-zero exit.
struct run_result {
  int status = -1;
  std::string output;
};
run_result run(const std::vector<std::string>& argv, const sse_test::temp_dir& dir, const std::string& name,
               std::chrono::milliseconds timeout = 10s) {
  sse_test::child_process p(argv, dir.path() / (name + ".log"));
  run_result r;
  r.status = p.wait(timeout);
  if (r.status == -1) p.stop();
  r.output = p.log();
  return r;
}

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

/// An HTTP/2 client: an nghttp2 client session over a blocking loopback socket, pumped by the
/// test's thread with bounded waits.
class h2_client {
 public:
  struct stream_state {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> fields;  // response fields, :status excepted
    std::string body;
    bool closed = false;
    std::uint32_t error = 0;  // RST_STREAM / close error code
  };

  /// `settings` are sent with the preface; `manual_window`: the client opens flow-control windows
  /// itself (see stall()).
  explicit h2_client(unsigned short port, std::vector<nghttp2_settings_entry> settings = {}, bool manual_window = false)
      : sock_(port) {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &on_frame);
    nghttp2_option* opt = nullptr;
    nghttp2_option_new(&opt);
    if (manual_window) nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_session_client_new2(&session_, cbs, this, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  }
  ~h2_client() { nghttp2_session_del(session_); }
  h2_client(const h2_client&) = delete;
  h2_client& operator=(const h2_client&) = delete;

  /// Submits a GET, or what `extra` makes of it (not sent until send() or pump()).
  std::int32_t get(const std::string& path, std::vector<std::pair<std::string, std::string>> extra = {}) {
    std::vector<std::pair<std::string, std::string>> h = {
        {":method", "GET"}, {":scheme", "http"}, {":authority", "127.0.0.1"}, {":path", path}};
    for (auto& e : extra) {  // a pseudo-header given replaces the default (":method", "HEAD")
      auto same = std::find_if(h.begin(), h.end(), [&](const auto& f) { return e.first[0] == ':' && f.first == e.first; });
      if (same != h.end()) same->second = std::move(e.second);
      else h.push_back(std::move(e));
    }
    std::vector<nghttp2_nv> nv;
    for (auto& [n, v] : h)
      nv.push_back({reinterpret_cast<std::uint8_t*>(n.data()), reinterpret_cast<std::uint8_t*>(v.data()), n.size(),
                    v.size(), NGHTTP2_NV_FLAG_NONE});
    const std::int32_t id = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(), nullptr, nullptr);
    streams_[id];
    return id;
  }

  void rst(std::int32_t id) { nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL); }

  /// Data of stream `id` is taken at the connection level only: its own window never reopens.
  void stall(std::int32_t id) { stalled_.insert(id); }
  /// Opens a stream's (or with 0 the connection's) receive window to `size`.
  bool open_window(std::int32_t id, std::int32_t size) {
    return nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, id, size) == 0;
  }

  /// Writes everything nghttp2 has queued.
  void send() {
    for (;;) {
      const std::uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) return;
      sock_.send(std::string_view(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n)));
    }
  }

  /// Sends and receives until `done()` or the connection ends or `timeout` passes; true if done.
  bool pump(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      send();
      if (done()) return true;
      if (eof_ || std::chrono::steady_clock::now() >= deadline) return false;
      std::string in;
      if (!sock_.read_some(in, 20ms)) {
        eof_ = true;  // the server closed
        continue;
      }
      if (in.empty()) continue;
      if (nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(in.data()), in.size()) < 0) eof_ = true;
    }
  }

  stream_state& stream(std::int32_t id) { return streams_[id]; }
  bool eof() const { return eof_; }
  bool goaway() const { return goaway_; }
  std::uint32_t goaway_error() const { return goaway_error_; }
  nghttp2_session* session() { return session_; }

 private:
  static h2_client& self(void* u) { return *static_cast<h2_client*>(u); }
  static int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* u) {
    auto& st = self(u).streams_[f->hd.stream_id];
    const std::string n(reinterpret_cast<const char*>(name), namelen), v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") st.status = std::stoi(v);
    else st.fields.emplace_back(n, v);
    return 0;
  }
  static int on_data(nghttp2_session* s, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t len, void* u) {
    auto& c = self(u);
    c.streams_[id].body.append(reinterpret_cast<const char*>(data), len);
    if (c.stalled_.count(id)) nghttp2_session_consume_connection(s, len);
    else nghttp2_session_consume(s, id, len);  // no effect with automatic window updates
    return 0;
  }
  static int on_close(nghttp2_session*, std::int32_t id, std::uint32_t error, void* u) {
    auto& st = self(u).streams_[id];
    st.closed = true;
    st.error = error;
    return 0;
  }
  static int on_frame(nghttp2_session*, const nghttp2_frame* f, void* u) {
    if (f->hd.type == NGHTTP2_GOAWAY) {
      self(u).goaway_ = true;
      self(u).goaway_error_ = f->goaway.error_code;
    }
    return 0;
  }

  sse_test::raw_socket sock_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, stream_state> streams_;
  std::set<std::int32_t> stalled_;
  bool eof_ = false;
  bool goaway_ = false;
  std::uint32_t goaway_error_ = 0;
};

}  // namespace

TEST_CASE("curl --http2-prior-knowledge: an ordinary route, /healthz, publish and 404 over h2c") {
  if (!has_tool("curl")) {
    MESSAGE("curl is not installed: skipped");
    return;
  }
  h2_server s;
  sse_test::temp_dir dir("sse-h2");
  const std::vector<std::string> curl = {"curl", "--http2-prior-knowledge", "-s", "--max-time", "10",
                                         "-w", "|%{http_version} %{http_code}"};
  auto with = [&](std::vector<std::string> extra) {
    auto argv = curl;
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  };
  auto r = run(with({s.url("/hello")}), dir, "hello");
  CHECK(r.status == 0);
  CHECK(r.output == "hello over HTTP/2\n|2 200");
  r = run(with({s.url("/healthz")}), dir, "healthz");
  CHECK(r.output == "ok\n|2 200");
  r = run(with({"-d", "published over h2", s.url("/publish/pub")}), dir, "publish");
  CHECK(r.output.starts_with("{\"id\":\""));
  CHECK(r.output.ends_with("-1\"}|2 202"));
  r = run(with({s.url("/nope")}), dir, "404");
  CHECK(r.output.substr(r.output.size() - 6) == "|2 404");
  CHECK(s.connections() == 4);
  CHECK(s.srv.hub().publish("pub", {.data = "next"}).ends_with("-2"));  // the one published over h2 came first
  // HTTP/1.1 on the same port is unchanged.
  auto h1 = sse_test::get(s.port(), "/hello");
  CHECK(h1.status == 200);
  CHECK(h1.body == "hello over HTTP/1\n");
}

TEST_CASE("curl: Last-Event-ID resume over h2c, from the header and from the query, exact bytes") {
  if (!has_tool("curl")) {
    MESSAGE("curl is not installed: skipped");
    return;
  }
  h2_server s;
  sse_test::temp_dir dir("sse-h2");
  const auto a = publish_n(s.srv, "a", 5, "alpha ");
  auto r = run({"curl", "--http2-prior-knowledge", "-s", "--max-time", "10", "-H", "Last-Event-ID: " + a[1].first,
                s.url("/replay/a")},
               dir, "resume");
  CHECK(r.status == 0);
  CHECK(r.output == sse_body(a, 2));
  r = run({"curl", "--http2-prior-knowledge", "-s", "--max-time", "10", s.url("/replay/a?lastEventId=" + a[3].first)}, dir,
          "resume-query");
  CHECK(r.output == sse_body(a, 4));
}

// Debian 12's curl (7.88.1) does not send a second request on a reused h2c connection (curl PR
// 10643, fixed in 8.0): nghttp multiplexes instead.
TEST_CASE("nghttp: two SSE replays multiplexed on one connection, and the server's SETTINGS") {
  if (!has_tool("nghttp")) {
    MESSAGE("nghttp (Debian nghttp2-client) is not installed: skipped");
    return;
  }
  h2_server s;
  sse_test::temp_dir dir("sse-h2");
  const auto b = publish_n(s.srv, "b", 7, "beta ");
  const auto c = publish_n(s.srv, "c", 3, "gamma ");
  auto r = run({"nghttp", "-t", "10", s.url("/replay/b?lastEventId=" + b[0].first), s.url("/replay/c?lastEventId=" + c[0].first)},
               dir, "multiplexed");
  CHECK(r.status == 0);
  CHECK(s.connections() == 1);
  // Each stream writes its initial comment, then its replay in one write (one DATA frame each):
  // frames of the two streams may interleave, the replays may not be cut.
  std::string rest = r.output;
  int comments = 0;
  for (auto p = rest.find(": ok\n"); p != std::string::npos; p = rest.find(": ok\n")) {
    rest.erase(p, 5);
    ++comments;
  }
  CHECK(comments == 2);
  const std::string rb = sse_body(b, 1).substr(5), rc = sse_body(c, 1).substr(5);
  CHECK((rest == rb + rc || rest == rc + rb));
  r = run({"nghttp", "-n", "-v", "-t", "10", s.url("/replay/c"), s.url("/healthz")}, dir, "verbose");
  CHECK(r.output.find("[SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100]") != std::string::npos);
  CHECK(r.output.find("[SETTINGS_MAX_HEADER_LIST_SIZE(0x06):8192]") != std::string::npos);
  CHECK(r.output.find("(stream_id=13) :status: 200") != std::string::npos);
  CHECK(r.output.find("(stream_id=15) :status: 200") != std::string::npos);
  CHECK(r.output.find("(stream_id=15) content-length: 3") != std::string::npos);
  CHECK(s.connections() == 2);
}

TEST_CASE("live events on three SSE streams of one connection; a header list too large is 431") {
  h2_server s;
  h2_client c(s.port());
  const auto x1 = c.get("/events/x"), x2 = c.get("/events/x"), y = c.get("/events/y");
  REQUIRE(c.pump([&] { return c.stream(x1).body == ": ok\n" && c.stream(x2).body == ": ok\n" && c.stream(y).body == ": ok\n"; }));
  CHECK(c.stream(x1).status == 200);
  CHECK(s.srv.metrics().connections_open.load() == 3);
  const auto xs = publish_n(s.srv, "x", 20, "x");
  const auto ys = publish_n(s.srv, "y", 30, "y");
  REQUIRE(c.pump([&] {
    return c.stream(x1).body == sse_body(xs) && c.stream(x2).body == sse_body(xs) && c.stream(y).body == sse_body(ys);
  }));
  CHECK(s.connections() == 1);
  const auto big = c.get("/hello", {{"x-big", std::string(9000, 'b')}});
  const auto ok = c.get("/hello");
  REQUIRE(c.pump([&] { return c.stream(big).closed && c.stream(ok).closed; }));
  CHECK(c.stream(big).status == 431);
  CHECK(c.stream(ok).status == 200);
  CHECK(c.stream(ok).body == "hello over HTTP/2\n");
  CHECK_FALSE(c.stream(x1).closed);
}

TEST_CASE("the SSE response head over h2 (fields, CORS), keepalive pings, HEAD") {
  auto o = h2_test_options();
  o.hub.keepalive = sse::keepalive_options{.interval = 100ms};
  o.allow_origins = {"https://app.example"};
  h2_server s(o);
  h2_client c(s.port());
  const auto id = c.get("/events/k", {{"origin", "https://app.example"}});
  const auto head = c.get("/events/k", {{":method", "HEAD"}});
  REQUIRE(c.pump([&] { return c.stream(id).body.find("\n: ping ") != std::string::npos && c.stream(head).closed; }));
  using fields = std::vector<std::pair<std::string, std::string>>;
  CHECK(c.stream(id).fields == fields{{"content-type", "text/event-stream; charset=utf-8"},
                                      {"cache-control", "no-cache, no-store, no-transform"},
                                      {"x-accel-buffering", "no"},
                                      {"access-control-allow-origin", "https://app.example"},
                                      {"vary", "Origin"}});
  CHECK(c.stream(id).body.starts_with(": ok\n: ping "));
  CHECK(c.stream(head).status == 200);
  CHECK(c.stream(head).body.empty());
  // Counted when the write completes, which may run after the client has the bytes.
  CHECK(wait_for([&] { return s.srv.metrics().pings_sent.load() >= 1; }));
}

TEST_CASE("a client's RST_STREAM frees the stream at once; the connection goes on") {
  h2_server s;
  h2_client c(s.port());
  const auto id = c.get("/events/r");
  REQUIRE(c.pump([&] { return c.stream(id).body == ": ok\n"; }));
  REQUIRE(s.srv.metrics().connections_open.load() == 1);
  c.rst(id);
  c.send();
  CHECK(wait_for([&] { return s.srv.metrics().connections_open.load() == 0; }));
  const auto h = c.get("/healthz");
  REQUIRE(c.pump([&] { return c.stream(h).closed; }));
  CHECK(c.stream(h).status == 200);
  CHECK(c.stream(h).body == "ok\n");
  CHECK(s.srv.open_connections() == 1);
}

TEST_CASE("a stream whose window never opens is ended as a slow consumer; another on the connection keeps receiving") {
  auto o = h2_test_options();
  // 32 KiB: the fast stream may hold one batch in flight (its completion not yet run) when the next
  // comes (16 KiB at most); the slow one passes the bound after four batches.
  o.stream.max_queued_bytes = 32 << 10;
  h2_server s(o);
  h2_client c(s.port(), {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1024}}, /*manual_window=*/true);
  REQUIRE(c.open_window(0, 1 << 22));
  const auto slow = c.get("/events/w"), fast = c.get("/events/w");
  c.stall(slow);
  REQUIRE(c.pump([&] { return c.stream(slow).body == ": ok\n" && c.stream(fast).body == ": ok\n"; }));
  REQUIRE(c.open_window(fast, 1 << 22));  // once the stream is open
  std::vector<std::pair<std::string, std::string>> all;
  for (int batch = 0; batch < 10; ++batch) {
    for (int i = 0; i < 8; ++i) {
      std::string data = std::to_string(batch * 8 + i) + std::string(1000, 'w');
      all.emplace_back(s.srv.hub().publish("w", {.data = data}), data);
    }
    const bool got = c.pump([&] { return c.stream(fast).body == sse_body(all); });
    INFO("batch " << batch << ": fast closed " << c.stream(fast).closed << " (error " << c.stream(fast).error << "), "
                  << c.stream(fast).body.size() << " of " << sse_body(all).size() << " bytes; slow closed "
                  << c.stream(slow).closed);
    REQUIRE(got);
  }
  REQUIRE(c.pump([&] { return c.stream(slow).closed; }));
  CHECK(c.stream(slow).error == NGHTTP2_CANCEL);
  CHECK(c.stream(slow).body.size() <= 1024);
  CHECK_FALSE(c.stream(fast).closed);
  CHECK(s.srv.metrics().slow_consumer_disconnects.load() == 1);
  CHECK(s.srv.metrics().connections_open.load() == 1);
}

TEST_CASE("a body the client's window never lets out is reset after write_timeout; the connection goes on") {
  auto o = h2_test_options();
  o.write_timeout = 300ms;
  h2_server s(o);
  h2_client c(s.port(), {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1000}}, /*manual_window=*/true);
  const auto big = c.get("/big");
  c.stall(big);
  REQUIRE(c.pump([&] { return c.stream(big).closed; }));
  CHECK(c.stream(big).status == 200);
  CHECK(c.stream(big).error == NGHTTP2_CANCEL);
  CHECK(c.stream(big).body == std::string(1000, 'b'));
  CHECK(s.srv.http_metrics().http_timeouts.load() == 1);
  const auto h = c.get("/healthz");
  REQUIRE(c.pump([&] { return c.stream(h).closed; }));
  CHECK(c.stream(h).body == "ok\n");
  CHECK(s.srv.open_connections() == 1);
}

TEST_CASE("rapid reset: one RST_STREAM more than max_client_resets ends the connection with GOAWAY(ENHANCE_YOUR_CALM)") {
  auto o = h2_test_options();
  o.http2.max_client_resets = 10;
  h2_server s(o);
  h2_client c(s.port());
  REQUIRE(c.pump([&] { return nghttp2_session_get_remote_settings(c.session(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) == 100; }));
  for (int i = 0; i < 10; ++i) {
    const auto id = c.get("/events/rr");
    c.send();
    c.rst(id);
    c.send();
  }
  CHECK_FALSE(c.pump([&] { return c.goaway(); }, 300ms));  // ten are allowed
  const auto id = c.get("/events/rr");
  c.send();
  c.rst(id);
  REQUIRE(c.pump([&] { return c.goaway() && c.eof(); }));
  CHECK(c.goaway_error() == NGHTTP2_ENHANCE_YOUR_CALM);
  CHECK(wait_for([&] { return s.srv.open_connections() == 0; }));
}

TEST_CASE("SETTINGS_MAX_CONCURRENT_STREAMS: a stream beyond it is refused, the others go on") {
  auto o = h2_test_options();
  o.http2.max_concurrent_streams = 2;
  h2_server s(o);
  h2_client c(s.port());
  // All three requests leave before the client has seen the server's SETTINGS.
  const auto a = c.get("/events/m"), b = c.get("/events/m"), third = c.get("/events/m");
  c.send();
  REQUIRE(c.pump([&] { return c.stream(a).body == ": ok\n" && c.stream(b).body == ": ok\n" && c.stream(third).closed; }));
  CHECK(c.stream(third).error == NGHTTP2_REFUSED_STREAM);
  CHECK(c.stream(third).status == 0);
  const auto ev = publish_n(s.srv, "m", 2, "m");
  REQUIRE(c.pump([&] { return c.stream(a).body == sse_body(ev) && c.stream(b).body == sse_body(ev); }));
  CHECK(s.srv.metrics().connections_open.load() == 2);
}

TEST_CASE("stop(): every stream ends with its retry hint and END_STREAM, then GOAWAY(NO_ERROR) and close") {
  auto o = h2_test_options();
  o.shutdown_retry = 1500ms;
  h2_server s(o);
  h2_client c(s.port());
  const auto a = c.get("/events/s"), b = c.get("/events/t");
  REQUIRE(c.pump([&] { return c.stream(a).body == ": ok\n" && c.stream(b).body == ": ok\n"; }));
  std::thread stopper([&] { s.srv.stop(); });
  const bool ended = c.pump([&] { return c.eof(); });
  stopper.join();
  REQUIRE(ended);
  CHECK(c.goaway());
  CHECK(c.goaway_error() == NGHTTP2_NO_ERROR);
  for (auto id : {a, b}) {
    CHECK(c.stream(id).closed);
    CHECK(c.stream(id).error == NGHTTP2_NO_ERROR);
    CHECK(c.stream(id).body == ": ok\nretry: 1500\n\n");
  }
  CHECK(s.srv.open_connections() == 0);
}

TEST_CASE("HAProxy in front (HTTP/1.1 from the client, h2c to the server: `proto h2`) serves an SSE stream") {
  if (!has_tool("haproxy") || !has_tool("curl")) {
    MESSAGE("haproxy or curl is not installed: skipped");
    return;
  }
  h2_server s;
  std::atomic<int> version{0};
  s.srv.sse_route("/seen/{topic}", [&](const sse::request_context& ctx) -> std::variant<sse::subscription, sse::response> {
    version = ctx.request.version_major;
    sse::subscription sub{std::string(ctx.param("topic"))};
    sub.close_after_replay = true;
    return sub;
  });
  sse_test::temp_dir dir("sse-h2");
  const unsigned short front = sse_test::free_port();
  {
    std::ofstream cfg(dir.path() / "haproxy.cfg");
    cfg << "defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n"
        << "frontend fe\n  bind 127.0.0.1:" << front << "\n  default_backend be\n"
        << "backend be\n  server s1 127.0.0.1:" << s.port() << " proto h2\n";
  }
  sse_test::child_process haproxy({"haproxy", "-f", (dir.path() / "haproxy.cfg").string()}, dir.path() / "haproxy.log");
  const bool up = sse_test::wait_for_port(front, 5s);
  INFO("haproxy's output: " << haproxy.log());
  REQUIRE(up);
  const auto ev = publish_n(s.srv, "px", 4, "through haproxy ");
  const auto r = run({"curl", "-s", "--max-time", "10", "-w", "|%{http_version}",
                      "http://127.0.0.1:" + std::to_string(front) + "/seen/px?lastEventId=" + ev[0].first},
                     dir, "via-haproxy");
  CHECK(r.output == sse_body(ev, 1) + "|1.1");  // HTTP/1.1 to the client...
  CHECK(version.load() == 2);                    // ...HTTP/2 to the server
  haproxy.stop();
}

TEST_CASE("without h2c the preface is an HTTP/1.1 request like any other; with it, HTTP/1.1 POST still works") {
  sse::server_options o = h2_test_options();
  o.http2 = {};
  h2_server off(o);
  auto r = sse_test::request_raw(off.port(), "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  CHECK(r.status == 505);
  h2_server on;
  const std::string id = sse_test::publish(on.port(), "p", "over HTTP/1.1");
  CHECK(id.ends_with("-1"));
}

#ifdef SSE_HUB_PATH
TEST_CASE("sse-hub --http2: an h2c stream receives what HTTP/1.1 publishes; without the flag the preface is HTTP/1.1") {
  sse_test::temp_dir dir("sse-h2");
  sse_test::hub_process hub(dir.path(), {"--http2", "--threads", "1"});
  h2_client c(hub.port());
  const auto id = c.get("/events/hub");
  REQUIRE(c.pump([&] { return c.stream(id).body == ": ok\n"; }));
  const std::string ev = sse_test::publish_event(hub.port(), "hub", "from HTTP/1.1");
  REQUIRE_FALSE(ev.empty());
  REQUIRE(c.pump([&] { return c.stream(id).body == sse_body({{ev, "from HTTP/1.1"}}); }));
  const auto m = c.get("/metrics");
  REQUIRE(c.pump([&] { return c.stream(m).closed; }));
  CHECK(c.stream(m).status == 200);
  CHECK(c.stream(m).body.find("\nsse_http_connections_total 2\n") != std::string::npos);
  sse_test::hub_process plain(dir.path(), {"--threads", "1"}, "plain");
  CHECK(sse_test::request_raw(plain.port(), "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").status == 505);
}
#endif

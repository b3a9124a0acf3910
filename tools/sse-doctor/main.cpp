// sse-doctor: find out what the proxies between this client and an SSE server do to a stream, and
// say how to fix it. Runs the server's probe route (include/sse/probe.hpp) through the real path,
// several connections at once, measures, and hands the measurements to diagnose() (diagnosis.hpp).
#include "../../examples/common/cli.hpp"
#include "diagnosis.hpp"
#include "report.hpp"
#include "sse/client.hpp"
#if SSE_DOCTOR_TLS
#include "sse/client_tls.hpp"
#endif

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using sse_doctor::arrival;
using sse_doctor::end_kind;
using sse_doctor::header;

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

/// Bytes from the network made printable for the report: printable ASCII kept, the rest as \xNN,
/// at most 300 bytes.
std::string clean(std::string_view v) {
  std::string out;
  for (const char c : v.substr(0, 300)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') out.push_back(c);
    else out += fmt::format("\\x{:02x}", u);
  }
  if (v.size() > 300) out += "...";
  return out;
}

/// One probe connection: a client, a deadline, and what it measured.
struct probe_conn {
  sse_doctor::run r;
  std::unique_ptr<sse::client> client;
  std::unique_ptr<asio::steady_timer> timer;
  clock_type::time_point t0;
  double wait_after_open_ms = 0;  // when nothing (more) is expected: stall
  bool done = false;

  void finish(end_kind how, std::string detail) {
    if (done) return;
    done = true;
    if (r.end == end_kind::none || how != end_kind::none) r.end = how;
    r.end_detail = clean(detail);
    r.end_ms = ms_since(t0);
    if (timer) timer->cancel();
    if (client) client->close();
  }

  void on_event(const sse::received_event& ev) {
    arrival a;
    a.type = clean(ev.type);
    a.at_ms = ms_since(t0);
    a.bytes = ev.data.size() + ev.type.size() + ev.id.size() + 20;
    const auto j = nlohmann::json::parse(ev.data, nullptr, false);
    if (j.is_object()) {
      if (j.contains("seq") && j["seq"].is_number_integer()) a.seq = j["seq"].get<std::int64_t>();
      if (j.contains("t_us") && j["t_us"].is_number()) a.sent_ms = j["t_us"].get<double>() / 1000;
      if (a.type == "hello") read_hello(j);
    }
    r.events.push_back(std::move(a));
    if (r.events.back().type == "end") finish(end_kind::finished, {});
  }

  void read_hello(const nlohmann::json& j) {
    auto& e = r.hello;
    e.present = true;
    auto text = [&](const char* k) { return j.contains(k) && j[k].is_string() ? clean(j[k].get<std::string>()) : std::string(); };
    e.http = text("http");
    e.peer = text("peer");
    if (j.contains("keepalive_ms") && j["keepalive_ms"].is_number()) e.keepalive_ms = j["keepalive_ms"].get<double>();
    auto pairs = [&](const char* k, std::vector<header>& out) {
      if (!j.contains(k) || !j[k].is_object()) return;
      for (const auto& [name, value] : j[k].items())
        if (value.is_string() && out.size() < 100) out.push_back({clean(name), clean(value.get<std::string>())});
    };
    pairs("headers", e.request_headers);
    pairs("response_headers", e.response_headers_sent);
    if (j.contains("header_names") && j["header_names"].is_array())
      for (const auto& n : j["header_names"])
        if (n.is_string() && e.request_header_names.size() < 100) e.request_header_names.push_back(clean(n.get<std::string>()));
  }
};

end_kind classify(const sse::client_error& why) {
  if (why.code == sse::client_errc::stream_ended) return end_kind::clean_close;
  if (why.code == sse::client_errc::connection_lost || why.code == asio::error::eof) return end_kind::closed;
  if (why.code == asio::error::connection_reset || why.code == asio::error::broken_pipe) return end_kind::reset;
  if (why.status >= 400) return end_kind::http_status;
  return end_kind::error;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::string url_text;
  bool json = false, quick = false, insecure = false, version = false;
  double max_idle_s = 120;
  std::vector<std::string> headers;

  sse_example::command_line args(
      "sse-doctor", "sse-doctor URL [options]",
      "Finds out what the proxies between here and an SSE server do to a stream, and says how to fix\n"
      "it. The server must serve the probe route (sse::add_probe_route; sse-hub and sse-installer:\n"
      "--probe). URL: the server's base URL (the probe is at /.well-known/sse-probe) or the probe's URL.\n\n"
      "Probes, several connections at once: timed events, a burst and padding (buffering, compression,\n"
      "headers both ways, Last-Event-ID, HTTP versions, time to headers and first event); silent gaps\n"
      "growing to --max-idle (idle timeout, and how the stream ends: clean close, 502/504, reset,\n"
      "silent stall); the longest gap again with pings. Then advice: the ping interval, and\n"
      "configuration lines for nginx and HAProxy.\n\n"
      "exit status: 0 the path carries streams; 1 the path would break a stream; 2 bad usage;\n"
      "             3 the probe could not be run (unreachable, no probe at that URL).\n");
  args.app().add_option("URL", url_text, "the server's or the probe's URL")->option_text("URL");
  args.flag("--json", json, "print one JSON object instead of the report");
  args.flag("--quick", quick, "a check of about 10 seconds (silent gaps up to 8 s)");
  args.seconds("--max-idle", [&](std::chrono::milliseconds v) { max_idle_s = static_cast<double>(v.count()) / 1000; },
               "longest silent gap to try (default 120; --quick: 8)", 0.5, 600);
  args.texts("-H,--header", headers, "'Name: value'", "add a request header, e.g. -H 'Authorization: Bearer x'");
  args.flag("--insecure", insecure, "https: accept any certificate (testing only)");
  args.flag("--version", version, "show the version");
  args.parse(argc, argv);
  if (version) {
    std::printf("sse-doctor %s\n", SSE_VERSION_STRING);
    return 0;
  }
  if (url_text.empty()) args.die("missing URL");
  if (quick && args.app().count("--max-idle") == 0) max_idle_s = 8;

  sse::client_options base;
  for (const auto& h : headers) {
    const auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0) args.die("header must be 'Name: value', got '" + h + "'");
    std::string v = h.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
    base.headers.emplace_back(h.substr(0, colon), v);
  }
  std::error_code ec;
  auto target = sse::parse_url(url_text, ec);
  if (!target) args.die("invalid URL '" + url_text + "': " + ec.message());
#if SSE_DOCTOR_TLS
  base.https = sse::https_transport(sse::make_tls_client_context(!insecure));
#else
  if (insecure) args.die("--insecure: this sse-doctor was built without TLS");
#endif
  // The probe's path: the URL's own when it names the probe, else the base path + the well-known one.
  std::string probe_path = target->target.substr(0, target->target.find('?'));
  if (!probe_path.ends_with("sse-probe")) {
    while (!probe_path.empty() && probe_path.back() == '/') probe_path.pop_back();
    probe_path += "/.well-known/sse-probe";
  }
  base.idle_timeout = std::chrono::milliseconds(0);  // the doctor keeps its own deadlines
  base.max_retries = 1;

  sse_doctor::measurements m;
  m.url = target->to_string();  // as given (the probe's own URL or the base)
  m.max_idle_ms = max_idle_s * 1000;
  {
    std::mt19937_64 rng{std::random_device{}()};
    m.sent_last_event_id = fmt::format("doctor-{:012x}", rng() & 0xffffffffffffULL);
  }

  asio::io_context io;
  std::vector<std::unique_ptr<probe_conn>> conns;
  auto add = [&](std::string name, std::string query, double gap_ms, double ping_ms, double wait_ms, bool stream) {
    auto c = std::make_unique<probe_conn>();
    c->r.name = std::move(name);
    c->r.gap_ms = gap_ms;
    c->r.ping_ms = ping_ms;
    c->wait_after_open_ms = wait_ms;
    sse::url u = *target;
    u.target = probe_path + "?" + query;
    sse::client_options o = base;
    o.response_timeout = std::chrono::milliseconds(static_cast<long long>(wait_ms) + 15000);
    if (stream) {
      o.last_event_id = m.sent_last_event_id;
      o.headers.emplace_back("Accept-Encoding", "gzip, deflate, br");  // as browsers do: a compressing proxy shows
    }
    try {
      c->client = std::make_unique<sse::client>(io, u, o);
    } catch (const std::invalid_argument& e) {
      args.die(e.what());
    }
    c->timer = std::make_unique<asio::steady_timer>(io);
    auto* p = c.get();
    p->client->on_open([p](const sse::http::response_head& h) {
      p->r.status = h.status;
      p->r.http_minor = h.version_minor;
      p->r.headers_ms = ms_since(p->t0);
      for (const auto& f : h.headers)
        if (p->r.response_headers.size() < 100) p->r.response_headers.push_back({clean(f.name), clean(f.value)});
      p->timer->expires_after(std::chrono::milliseconds(static_cast<long long>(p->wait_after_open_ms)));
      p->timer->async_wait([p](std::error_code e) {
        if (!e) p->finish(p->r.name == "stream" ? end_kind::none : end_kind::stall, "nothing arrived in time");
      });
    });
    p->client->on_event([p](const sse::received_event& ev) {
      if (!p->done) p->on_event(ev);
    });
    p->client->on_retrying([p](const sse::client_error& why, std::chrono::milliseconds) {
      if (why.status) p->r.status = why.status;
      p->finish(classify(why), why.message);
    });
    p->client->on_closed([p](const sse::client_error& why) {
      if (why.status) p->r.status = why.status;
      p->finish(classify(why), why.message);
    });
    conns.push_back(std::move(c));
    return p;
  };

  // The stream run: 10 timed events 200 ms apart, a burst of 5, padding of growing sizes.
  const double stream_ms = 15 * 200;
  auto* stream = add("stream", "events=10&interval=200&burst=5&pad=256,1024,4096,16384,32768", 0, 0, stream_ms + 5000, true);
  // Silent gaps growing to the maximum, each its own connection (all at once), and the longest again with pings.
  const double max_ms = m.max_idle_ms;
  std::vector<probe_conn*> idle;
  for (const double f : {0.125, 0.25, 0.5, 1.0}) {
    const double g = std::max(100.0, std::floor(max_ms * f));
    const double margin = std::max(1500.0, g * 0.15);
    idle.push_back(add("idle", fmt::format("events=0&gap={:.0f}", g), g, 0, g + margin, false));
  }
  const double ping = std::max(100.0, std::min(1000.0, std::floor(max_ms / 4)));
  auto* pinged = add("pinged", fmt::format("events=0&gap={:.0f}&ping={:.0f}", max_ms, ping), max_ms, ping,
                     max_ms + std::max(1500.0, max_ms * 0.15), false);

  if (!json)
    std::fprintf(stderr, "sse-doctor: probing %s through %zu connections at once (about %.0f s)...\n",
                 m.url.c_str(), conns.size(), (max_ms + std::max(1500.0, max_ms * 0.15)) / 1000);
  for (auto& c : conns) {
    c->t0 = clock_type::now();
    c->client->start();
  }
  io.run();

  m.stream = stream->r;
  for (auto* c : idle) m.idle.push_back(c->r);
  m.pinged = pinged->r;
  const auto d = sse_doctor::diagnose(m);
  const std::string out = json ? sse_doctor::render_json(m, d) : sse_doctor::render_text(m, d);
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (!d.reachable) return 3;
  return d.breaks_stream ? 1 : 0;
}

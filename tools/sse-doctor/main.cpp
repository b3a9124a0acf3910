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

/// The restart run: a short stream ending with the probe's `away` event (the server "goes away" for
/// away_ms), then reconnects with Last-Event-ID, one at a time: every 500 ms through the first half
/// of the window (the clocks are not synchronised and the event may have been held on the way, so
/// the second half is left alone), then from just after the window until the stream answers (5 s at
/// most). Each connection is bounded by its own deadline.
class restart_probe {
 public:
  restart_probe(asio::io_context& io, sse::url u, sse::client_options base, std::string probe_path, double away_ms,
                std::string fallback_last_event_id)
      : io_(io), url_(std::move(u)), base_(std::move(base)), path_(std::move(probe_path)), timer_(io), deadline_(io) {
    r.away_ms = away_ms;
    r.last_event_id_sent = std::move(fallback_last_event_id);
  }

  sse_doctor::restart_run r;

  void start() {
    t0_ = clock_type::now();
    connect(fmt::format("events=2&interval=100&away={:.0f}", r.away_ms), {}, 10000);
  }

 private:
  /// One connection; callbacks of an earlier one are ignored (gen_).
  void connect(const std::string& query, std::optional<std::string> lei, double deadline_ms) {
    const std::uint64_t gen = ++gen_;
    sse::url u = url_;
    u.target = path_ + "?" + query;
    sse::client_options o = base_;
    o.response_timeout = std::chrono::milliseconds(static_cast<long long>(deadline_ms));
    if (lei) o.last_event_id = *lei;
    clients_.push_back(std::make_unique<sse::client>(io_, u, o));  // kept: never destroyed in its own callback
    auto& c = *clients_.back();
    c.on_open([this, gen](const sse::http::response_head& h) {
      if (gen == gen_ && attempting_) cur_.status = h.status;
    });
    c.on_event([this, gen](const sse::received_event& ev) {
      if (gen == gen_) on_event(ev);
    });
    auto failed = [this, gen](const sse::client_error& why) {
      if (gen != gen_) return;
      if (!attempting_) {
        r.first_end = clean(why.message);
        return done();
      }
      cur_.status = why.status ? why.status : cur_.status;
      cur_.how = classify(why);
      cur_.detail = clean(why.message);
      end_attempt();
    };
    c.on_retrying([failed](const sse::client_error& why, std::chrono::milliseconds) { failed(why); });
    c.on_closed([failed](const sse::client_error& why) { failed(why); });
    deadline_.expires_after(std::chrono::milliseconds(static_cast<long long>(deadline_ms)));
    deadline_.async_wait([this, gen](std::error_code e) {
      if (e || gen != gen_) return;
      if (!attempting_) {
        r.first_end = "nothing arrived in time";
        return done();
      }
      if (cur_.how == sse_doctor::end_kind::none && !cur_.hello && cur_.status == 0) cur_.how = sse_doctor::end_kind::stall;
      cur_.detail = cur_.detail.empty() ? "no answer in time" : cur_.detail;
      end_attempt();
    });
    c.start();
  }

  void on_event(const sse::received_event& ev) {
    const auto j = nlohmann::json::parse(ev.data, nullptr, false);
    if (!attempting_) {
      if (ev.type == "end") {
        r.first_end = "the stream ended with 'end'";
        return done();
      }
      if (ev.type != "away" || !j.is_object() || !j.contains("probe") || !j["probe"].is_string()) return;
      away_at_ = clock_type::now();
      r.away_seen = true;
      if (j.contains("away_ms") && j["away_ms"].is_number()) r.away_ms = j["away_ms"].get<double>();
      probe_id_ = j["probe"].get<std::string>();
      if (!ev.id.empty()) r.last_event_id_sent = clean(ev.id);
      attempting_ = true;
      close_current();
      return next(0);
    }
    if (ev.type != "hello") return;
    cur_.hello = true;
    if (j.is_object() && j.contains("headers") && j["headers"].is_object() && j["headers"].contains("Last-Event-ID") &&
        j["headers"]["Last-Event-ID"].is_string())
      cur_.last_event_id_got = clean(j["headers"]["Last-Event-ID"].get<std::string>());
    end_attempt();
  }

  /// The next reconnect, `delay_ms` from now.
  void next(double delay_ms) {
    timer_.expires_after(std::chrono::milliseconds(static_cast<long long>(delay_ms)));
    timer_.async_wait([this](std::error_code e) {
      if (e) return;
      cur_ = {};
      cur_.at_ms = ms_since(away_at_);
      cur_.in_window = cur_.at_ms < r.away_ms / 2;
      started_ = clock_type::now();
      // The probe id is 32 hex digits (checked by the server too); the script: the hello and the end.
      connect("resume=" + clean(probe_id_) + "&events=0", r.last_event_id_sent, 5000);
    });
  }

  void end_attempt() {
    close_current();
    r.attempts.push_back(cur_);
    const auto& a = r.attempts.back();
    const double now = ms_since(away_at_);
    if (a.in_window) {
      const double planned = ms_since(away_at_) - ms_since(started_) + 500;  // 500 ms after this one started
      if (planned < r.away_ms / 2 && r.attempts.size() < 20) return next(std::max(0.0, planned - now));
      return next(std::max(0.0, r.away_ms + 300 - now));  // just after the window
    }
    if (sse_doctor::answer_of(a) == "stream" || now > r.away_ms + 5000 || r.attempts.size() >= 30) return done();
    next(500);
  }

  void close_current() {
    ++gen_;
    deadline_.cancel();
    if (!clients_.empty()) clients_.back()->close();
  }

  void done() {
    close_current();
    timer_.cancel();
  }

  asio::io_context& io_;
  sse::url url_;
  sse::client_options base_;
  std::string path_;
  asio::steady_timer timer_, deadline_;
  std::vector<std::unique_ptr<sse::client>> clients_;
  std::uint64_t gen_ = 0;
  bool attempting_ = false;
  std::string probe_id_;
  clock_type::time_point t0_, away_at_, started_;
  sse_doctor::attempt cur_;
};

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::string url_text;
  bool json = false, quick = false, insecure = false, version = false, no_restart = false;
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
      "silent stall); the longest gap again with pings; the upstream going away for 3 s (what the\n"
      "path answers meanwhile - 502, 503, 504, a reset - and whether a reconnect afterwards resumes\n"
      "with Last-Event-ID). Then advice: the ping interval, and configuration lines for nginx and\n"
      "HAProxy.\n\n"
      "exit status: 0 the path carries streams; 1 the path would break a stream; 2 bad usage;\n"
      "             3 the probe could not be run (unreachable, no probe at that URL).\n");
  args.app().add_option("URL", url_text, "the server's or the probe's URL")->option_text("URL");
  args.flag("--json", json, "print one JSON object instead of the report");
  args.flag("--quick", quick, "a check of about 10 seconds (silent gaps up to 8 s)");
  args.seconds("--max-idle", [&](std::chrono::milliseconds v) { max_idle_s = static_cast<double>(v.count()) / 1000; },
               "longest silent gap to try (default 120; --quick: 8)", 0.5, 600);
  args.flag("--no-restart", no_restart, "skip the restart probe (the upstream away for 3 s)");
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
  base.https = sse::https_connections(sse::make_tls_client_context(!insecure));
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

  // The upstream away for 3 s: what the path answers meanwhile, and the reconnect afterwards.
  constexpr double away_ms = 3000;
  std::unique_ptr<restart_probe> restart;
  if (!no_restart) {
    sse::url u = *target;
    restart = std::make_unique<restart_probe>(io, u, base, probe_path, away_ms, m.sent_last_event_id);
  }

  if (!json)
    std::fprintf(stderr, "sse-doctor: probing %s through %zu connections at once (about %.0f s)...\n",
                 m.url.c_str(), conns.size() + (restart ? 1 : 0),
                 std::max(max_ms + std::max(1500.0, max_ms * 0.15), restart ? away_ms + 1500 : 0.0) / 1000);
  for (auto& c : conns) {
    c->t0 = clock_type::now();
    c->client->start();
  }
  if (restart) restart->start();
  io.run();
  if (restart) m.restart = restart->r;

  m.stream = stream->r;
  for (auto* c : idle) m.idle.push_back(c->r);
  m.pinged = pinged->r;
  const auto d = sse_doctor::diagnose(m);
  const std::string out = json ? sse_doctor::render_json(m, d) : sse_doctor::render_text(m, d);
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (!d.reachable) return 3;
  return d.breaks_stream ? 1 : 0;
}

/**
 * @file probe.hpp
 * @brief sse::add_probe_route: a diagnostic SSE route that streams a scripted sequence (timed
 *        events, bursts, padding, idle gaps with or without pings) and echoes what reached the
 *        server, so a client (tools/sse-doctor, the installer's Proxy panel) can tell what the
 *        proxies on the way do to a stream.
 *
 * Off by default: nothing is served until add_probe_route() is called (sse-hub and sse-installer:
 * `--probe`). Every parameter is bounded (an attacker may call the route): see probe_limits.
 *
 * The script (query parameters, all optional):
 *   events=N     timed events (`event: tick`), default 10        interval=MS  between them, default 200
 *   burst=N      events written back to back after them          pad=B,B,...  padding events of B bytes,
 *                                                                             `interval` apart
 *   gap=MS,...   idle gaps, each followed by an `event: gap`     ping=MS      an `event: ping` every MS
 *                                                                             during the gaps (0: silent)
 *   away=MS      the upstream "goes away" at the end: see below  resume=ID    a reconnect to an away probe
 * The stream starts with `event: hello` (the echo: HTTP version, peer, selected request headers,
 * the response head the server sent, the server's own ping interval, the script) and ends with
 * `event: end`, after which the server closes the stream cleanly. Every event's data is one JSON
 * object with `seq` (0, 1, ...) and `t_us` (microseconds since the probe started, server's steady
 * clock, taken when the event is handed to the hub): a client compares arrival gaps with these, so
 * no synchronised clocks are needed.
 *
 * `away=MS` (probe_limits::min_away to max_away, 10 s) plays a restarting upstream: the stream ends
 * with `event: away` instead of `end` (data: `away_ms` and the probe's id, `probe`) and closes (as
 * any probe: gracefully - what matters is the reconnects), and for MS from that event every request
 * carrying `resume=<that id>` is dropped without an answer (response::drop(): a TCP reset, as a
 * dead upstream looks to a proxy, which then answers its own 502). Afterwards `resume=<id>` is
 * ignored and the request runs its script as any other (its hello echoes the Last-Event-ID that
 * reached the server). One window per probe, tied to its random id: nobody else's requests are
 * refused; the windows are this server instance's own (behind a load balancer, a reconnect that
 * reaches another instance is served); at most probe_limits::max_away_windows at once (beyond, the
 * window ending soonest is forgotten early).
 *
 * Implementation: each probe is a private hub topic (`sse-probe.<random>`) that the route
 * subscribes the request to, fed by a timer on one of the hub's executors and erased at the end.
 * With a durable store (sse/sqlite) the probe's events are stored like any other (bounded per
 * probe); with a broker (Redis) they go through it, as real events would.
 */
#pragma once

#include <asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "sse/detail/json.hpp"
#include "sse/http/response.hpp"
#include "sse/server.hpp"

namespace sse {

/// Bounds of a probe script (the route answers 400 with the reason beyond them) and of probes at once.
struct probe_limits {
  std::size_t max_events = 200;                                     ///< `events` and `burst`, each
  std::chrono::milliseconds min_interval{10};                       ///< `interval` at least
  std::chrono::milliseconds max_interval{10000};                    ///< `interval` at most
  std::size_t max_pads = 16;                                        ///< entries of `pad`
  std::size_t max_pad_bytes = 64 * 1024;                            ///< one padding event
  std::size_t max_total_pad_bytes = 256 * 1024;                     ///< all padding of a probe
  std::size_t max_gaps = 8;                                         ///< entries of `gap`
  std::chrono::milliseconds max_gap{std::chrono::seconds(600)};     ///< one gap
  std::chrono::milliseconds min_ping{std::chrono::milliseconds(100)};  ///< `ping` at least (when not 0)
  std::size_t max_steps = 900;                                      ///< events of a probe in all (pings included)
  std::chrono::milliseconds max_duration{std::chrono::seconds(660)};  ///< a whole probe
  std::size_t max_concurrent = 16;                                  ///< probes at once; beyond: 503
  std::chrono::milliseconds min_away{500};                          ///< `away` at least (when not 0)
  std::chrono::milliseconds max_away{std::chrono::seconds(10)};     ///< `away` at most
  std::size_t max_away_windows = 64;                                ///< away windows open at once
};

/// One step of a probe script: what to send, and when (since the probe started).
struct probe_step {
  enum class kind { hello, tick, pad, ping, gap, end, away };
  kind what = kind::tick;
  std::chrono::milliseconds at{0};
  std::size_t pad_bytes = 0;      ///< kind::pad
  std::chrono::milliseconds gap{0};  ///< kind::gap: the idle gap that ended
};

inline std::string_view to_string(probe_step::kind k) noexcept {
  switch (k) {
    case probe_step::kind::hello: return "hello";
    case probe_step::kind::tick: return "tick";
    case probe_step::kind::pad: return "pad";
    case probe_step::kind::ping: return "ping";
    case probe_step::kind::gap: return "gap";
    case probe_step::kind::end: return "end";
    case probe_step::kind::away: return "away";
  }
  return "tick";
}

/// A parsed probe script (sans-io).
struct probe_script {
  std::size_t events = 10;
  std::chrono::milliseconds interval{200};
  std::size_t burst = 0;
  std::vector<std::size_t> pads = {};
  std::vector<std::chrono::milliseconds> gaps = {};
  std::chrono::milliseconds ping{0};
  std::chrono::milliseconds away{0};  ///< 0: the stream ends with `end`; else with `away` and a window
  std::string resume = {};            ///< the `resume` parameter (a probe id), "" when none

  /// The steps in order, hello first and end (or away) last.
  std::vector<probe_step> steps() const {
    using std::chrono::milliseconds;
    std::vector<probe_step> out;
    out.push_back({probe_step::kind::hello, milliseconds(0), 0, {}});
    milliseconds t{0};
    for (std::size_t i = 0; i < events; ++i) {
      t += interval;
      out.push_back({probe_step::kind::tick, t, 0, {}});
    }
    for (std::size_t i = 0; i < burst; ++i) out.push_back({probe_step::kind::tick, t, 0, {}});
    for (const auto b : pads) {
      t += interval;
      out.push_back({probe_step::kind::pad, t, b, {}});
    }
    for (const auto g : gaps) {
      const milliseconds start = t;
      if (ping.count() > 0)
        for (milliseconds p = ping; p < g; p += ping) out.push_back({probe_step::kind::ping, start + p, 0, {}});
      t = start + g;
      out.push_back({probe_step::kind::gap, t, 0, g});
    }
    out.push_back({away.count() > 0 ? probe_step::kind::away : probe_step::kind::end, t, 0, {}});
    return out;
  }

  std::chrono::milliseconds duration() const {
    using std::chrono::milliseconds;
    milliseconds t = interval * static_cast<long>(events + pads.size());
    for (const auto g : gaps) t += g;
    return t;
  }

  /// How many events (pings included) the script sends, without building it.
  std::size_t step_count() const {
    std::size_t n = 2 + events + burst + pads.size() + gaps.size();
    if (ping.count() > 0)
      for (const auto g : gaps) n += static_cast<std::size_t>(std::max<long long>(0, (g.count() - 1) / ping.count()));
    return n;
  }
};

namespace detail {

inline bool probe_parse_uint(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 12) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

inline bool probe_parse_list(std::string_view s, std::size_t max_entries, std::vector<std::uint64_t>& out) {
  out.clear();
  while (true) {
    const auto comma = s.find(',');
    std::uint64_t v = 0;
    if (!probe_parse_uint(s.substr(0, comma), v)) return false;
    if (out.size() >= max_entries) return false;
    out.push_back(v);
    if (comma == std::string_view::npos) return true;
    s.remove_prefix(comma + 1);
  }
}

}  // namespace detail

/// Parses a probe script from the request's query. Returns the script, or the reason it is refused.
inline std::variant<probe_script, std::string> parse_probe_script(const http::request& req, const probe_limits& lim = {}) {
  using std::chrono::milliseconds;
  probe_script s;
  std::uint64_t v = 0;
  auto number = [&](const char* key, std::uint64_t min, std::uint64_t max, std::uint64_t& out) -> std::optional<std::string> {
    const auto q = req.query(key);
    if (!q) return std::nullopt;
    if (!detail::probe_parse_uint(*q, out) || out < min || out > max)
      return fmt::format("'{}' must be a whole number from {} to {}", key, min, max);
    return std::nullopt;
  };
  if (auto e = number("events", 0, lim.max_events, v)) return *e;
  if (req.query("events")) s.events = static_cast<std::size_t>(v);
  if (auto e = number("burst", 0, lim.max_events, v)) return *e;
  if (req.query("burst")) s.burst = static_cast<std::size_t>(v);
  if (auto e = number("interval", static_cast<std::uint64_t>(lim.min_interval.count()),
                      static_cast<std::uint64_t>(lim.max_interval.count()), v))
    return *e;
  if (req.query("interval")) s.interval = milliseconds(v);
  if (auto e = number("ping", 0, static_cast<std::uint64_t>(lim.max_gap.count()), v)) return *e;
  if (req.query("ping")) {
    if (v != 0 && v < static_cast<std::uint64_t>(lim.min_ping.count()))
      return fmt::format("'ping' must be 0 or at least {} ms", lim.min_ping.count());
    s.ping = milliseconds(v);
  }
  std::vector<std::uint64_t> list;
  if (const auto q = req.query("pad")) {
    if (!detail::probe_parse_list(*q, lim.max_pads, list))
      return fmt::format("'pad' must be at most {} comma-separated byte counts", lim.max_pads);
    std::size_t total = 0;
    for (const auto b : list) {
      if (b < 1 || b > lim.max_pad_bytes) return fmt::format("each 'pad' must be 1 to {} bytes", lim.max_pad_bytes);
      total += static_cast<std::size_t>(b);
      s.pads.push_back(static_cast<std::size_t>(b));
    }
    if (total > lim.max_total_pad_bytes) return fmt::format("'pad' adds up to more than {} bytes", lim.max_total_pad_bytes);
  }
  if (auto e = number("away", 0, static_cast<std::uint64_t>(lim.max_away.count()), v)) return *e;
  if (req.query("away")) {
    if (v != 0 && v < static_cast<std::uint64_t>(lim.min_away.count()))
      return fmt::format("'away' must be 0 or at least {} ms", lim.min_away.count());
    s.away = milliseconds(v);
  }
  if (const auto q = req.query("resume")) {
    const bool hex32 = q->size() == 32 && std::all_of(q->begin(), q->end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    });
    if (!hex32) return std::string("'resume' must be a probe id (32 hex digits, from an 'away' event)");
    s.resume = std::string(*q);
  }
  if (const auto q = req.query("gap")) {
    if (!detail::probe_parse_list(*q, lim.max_gaps, list))
      return fmt::format("'gap' must be at most {} comma-separated durations in ms", lim.max_gaps);
    for (const auto g : list) {
      if (g > static_cast<std::uint64_t>(lim.max_gap.count()))
        return fmt::format("each 'gap' must be at most {} ms", lim.max_gap.count());
      s.gaps.emplace_back(static_cast<long long>(g));
    }
  }
  if (s.duration() > lim.max_duration)
    return fmt::format("the script would last {} ms, more than {} ms", s.duration().count(), lim.max_duration.count());
  if (s.step_count() > lim.max_steps)
    return fmt::format("the script would send {} events, more than {}", s.step_count(), lim.max_steps);
  return s;
}

namespace detail {

/// The request headers a probe echoes by value (others by name only; credentials never by value).
inline constexpr std::string_view probe_echoed_headers[] = {
    "Via", "Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
    "X-Real-IP", "Accept-Encoding", "Last-Event-ID", "Connection", "TE", "Cache-Control", "Pragma",
    "User-Agent", "Host", "Accept", "CDN-Loop", "X-Request-Id", "True-Client-IP", "CF-Connecting-IP"};

inline void probe_json_field(std::string& out, std::string_view key, std::string_view value) {
  json_string_to(out, log_escape(key, 100));
  out.push_back(':');
  json_string_to(out, log_escape(value, 300));
}

/// The `hello` event's data: what reached the server.
inline std::string probe_hello(const request_context& ctx, const probe_script& s, std::chrono::milliseconds keepalive,
                               std::string_view head_sent) {
  const auto& req = ctx.request;
  const auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  std::string out = fmt::format("{{\"seq\":0,\"t_us\":0,\"wall_ms\":{},\"http\":\"{}.{}\",", wall, req.version_major,
                                req.version_minor);
  probe_json_field(out, "peer", ctx.remote);
  out.push_back(',');
  probe_json_field(out, "method", req.method);
  out.push_back(',');
  probe_json_field(out, "target", req.target);
  out += ",\"headers\":{";
  bool first = true;
  for (const auto name : probe_echoed_headers) {
    const auto all = req.find_all(name);
    if (all.empty()) continue;
    std::string joined;
    for (const auto& x : all) joined += (joined.empty() ? "" : ", ") + std::string(x);
    if (!first) out.push_back(',');
    first = false;
    probe_json_field(out, name, joined);
  }
  out += "},\"header_names\":[";
  for (std::size_t i = 0; i < req.headers.size() && i < 64; ++i) {
    if (i) out.push_back(',');
    json_string_to(out, log_escape(req.headers[i].name, 100));
  }
  out += "],\"response_headers\":{";
  // The response head the server wrote (status line skipped), so a client can diff what arrived.
  first = true;
  std::string_view h = head_sent;
  while (!h.empty()) {
    const auto eol = h.find("\r\n");
    const std::string_view line = h.substr(0, eol);
    h.remove_prefix(eol == std::string_view::npos ? h.size() : eol + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || line.starts_with("HTTP/")) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (!first) out.push_back(',');
    first = false;
    probe_json_field(out, line.substr(0, colon), value);
  }
  out += fmt::format("}},\"keepalive_ms\":{},\"script\":{{\"events\":{},\"interval_ms\":{},\"burst\":{},\"pads\":[",
                     keepalive.count(), s.events, s.interval.count(), s.burst);
  for (std::size_t i = 0; i < s.pads.size(); ++i) out += fmt::format("{}{}", i ? "," : "", s.pads[i]);
  out += "],\"gaps_ms\":[";
  for (std::size_t i = 0; i < s.gaps.size(); ++i) out += fmt::format("{}{}", i ? "," : "", s.gaps[i].count());
  out += fmt::format("],\"ping_ms\":{},\"away_ms\":{},\"duration_ms\":{}}}}}", s.ping.count(), s.away.count(),
                     s.duration().count());
  return out;
}

/// Padding that compresses poorly (so a compressing proxy cannot hide how much was sent).
inline std::string probe_padding(std::size_t n, std::uint64_t seed) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string s(n, 'x');
  std::uint64_t x = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = alphabet[x & 63];
  }
  return s;
}

/// The open `away` windows: probe id -> when its window ends. Bounded (probe_limits::max_away_windows:
/// beyond, the window ending soonest goes); expired ones are dropped on every call. Any thread.
class probe_away_windows {
 public:
  explicit probe_away_windows(std::size_t max) : max_(std::max<std::size_t>(1, max)) {}

  void open(std::string id, std::chrono::steady_clock::time_point until) {
    std::lock_guard lk(mu_);
    prune(std::chrono::steady_clock::now());
    if (windows_.size() >= max_)
      windows_.erase(std::min_element(windows_.begin(), windows_.end(),
                                      [](const auto& a, const auto& b) { return a.second < b.second; }));
    windows_.emplace_back(std::move(id), until);
  }

  /// True while `id`'s window is open.
  bool away(std::string_view id) {
    std::lock_guard lk(mu_);
    prune(std::chrono::steady_clock::now());
    return std::any_of(windows_.begin(), windows_.end(), [&](const auto& w) { return w.first == id; });
  }

 private:
  void prune(std::chrono::steady_clock::time_point now) {
    std::erase_if(windows_, [&](const auto& w) { return w.second <= now; });
  }

  std::mutex mu_;
  std::size_t max_;
  std::vector<std::pair<std::string, std::chrono::steady_clock::time_point>> windows_;
};

/// One running probe: walks its steps on one executor with one timer.
class probe_run : public std::enable_shared_from_this<probe_run> {
 public:
  probe_run(sse::hub& h, asio::any_io_executor ex, std::string topic, std::vector<probe_step> steps,
            std::string hello, std::shared_ptr<std::atomic<std::size_t>> running,
            std::shared_ptr<probe_away_windows> windows = {}, std::chrono::milliseconds away = {})
      : hub_(h), timer_(std::move(ex)), topic_(std::move(topic)), steps_(std::move(steps)), hello_(std::move(hello)),
        running_(std::move(running)), windows_(std::move(windows)), away_(away),
        start_(std::chrono::steady_clock::now()) {}

  /// The probe's id (what `resume` names): its topic's random part.
  std::string id() const { return topic_.substr(topic_.find('.') + 1); }
  ~probe_run() { running_->fetch_sub(1, std::memory_order_relaxed); }

  /// Sends the steps due now (the hello at once) and schedules the rest.
  void start(std::chrono::milliseconds delay) {
    start_ = std::chrono::steady_clock::now() + delay;
    if (delay.count() == 0) return step();
    schedule();
  }

 private:
  void schedule() {
    timer_.expires_at(start_ + steps_[next_].at);
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (!ec) self->step();
    });
  }

  void step() {
    const auto now = std::chrono::steady_clock::now();
    while (next_ < steps_.size() && start_ + steps_[next_].at <= now) send(steps_[next_++]);
    if (next_ < steps_.size()) return schedule();
    // Erasing the topic closes the probe's stream gracefully: a little after the last event (whose
    // delivery is still on its way to the stream), and never before the subscription that follows
    // the route's handler is surely in place (a script of no length ends at once).
    const auto at = std::max(now + std::chrono::milliseconds(300), start_ + std::chrono::seconds(1));
    timer_.expires_at(at);
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (!ec) self->hub_.erase_topic(self->topic_);
    });
  }

  void send(const probe_step& st) {
    const auto seq = next_ - 1;
    const auto t_us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start_).count();
    event ev;
    ev.type = std::string(to_string(st.what));
    if (st.what == probe_step::kind::hello) {
      ev.data = hello_;
    } else {
      ev.data = fmt::format("{{\"seq\":{},\"t_us\":{}", seq, std::max<long long>(0, t_us));
      if (st.what == probe_step::kind::pad)
        ev.data += fmt::format(",\"pad\":\"{}\"", probe_padding(st.pad_bytes, seq));
      if (st.what == probe_step::kind::gap) ev.data += fmt::format(",\"gap_ms\":{}", st.gap.count());
      if (st.what == probe_step::kind::away) {
        // The window opens now: reconnects naming this probe are dropped until it ends.
        ev.data += fmt::format(",\"away_ms\":{},\"probe\":\"{}\"", away_.count(), id());
        if (windows_) windows_->open(id(), std::chrono::steady_clock::now() + away_);
      }
      ev.data += "}";
    }
    hub_.async_publish(topic_, std::move(ev), [](std::error_code, std::string) {});
  }

  sse::hub& hub_;
  asio::steady_timer timer_;
  std::string topic_;
  std::vector<probe_step> steps_;
  std::string hello_;
  std::shared_ptr<std::atomic<std::size_t>> running_;
  std::shared_ptr<probe_away_windows> windows_;
  std::chrono::milliseconds away_;
  std::chrono::steady_clock::time_point start_;
  std::size_t next_ = 0;
};

inline std::string probe_topic_name() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("sse-probe.{:016x}{:016x}", rng(), rng());
}

}  // namespace detail

/// Serves the probe at `path` on `srv` (GET; HEAD answers the head only), behind `auth` when set.
/// Call before or after start(). See the file comment for the script and the events.
inline void add_probe_route(server& srv, std::string_view path = "/.well-known/sse-probe", auth_hook auth = {},
                            probe_limits limits = {}) {
  auto running = std::make_shared<std::atomic<std::size_t>>(0);
  auto windows = std::make_shared<detail::probe_away_windows>(limits.max_away_windows);
  sse::hub& h = srv.hub();
  const auto keepalive = h.options().keepalive ? h.options().keepalive->interval : std::chrono::milliseconds(0);
  const bool brokered = static_cast<bool>(h.options().broker);
  logger log = srv.options().on_log;
  srv.sse_route(
      path,
      [&h, running, windows, limits, keepalive, brokered, log](const request_context& ctx) -> std::variant<subscription, response> {
        if (ctx.request.method == "HEAD") return subscription{"sse-probe.head"};  // the head only: nothing runs
        auto parsed = parse_probe_script(ctx.request, limits);
        if (auto* why = std::get_if<std::string>(&parsed)) return response::text(400, "probe: " + *why);
        const auto& script = std::get<probe_script>(parsed);
        // A reconnect to a probe whose upstream is "away": no answer at all, as a dead upstream.
        if (!script.resume.empty() && windows->away(script.resume)) return response::drop();
        if (running->fetch_add(1, std::memory_order_relaxed) >= limits.max_concurrent) {
          running->fetch_sub(1, std::memory_order_relaxed);
          response r = response::text(503, "probe: too many probes at once, retry later");
          r.headers.emplace_back("Retry-After", "5");
          return r;
        }
        std::string topic = detail::probe_topic_name();
        std::error_code ec;
        http::sse_head_options ho;
        ho.version_minor = ctx.request.version_minor;
        const std::string head = http::sse_response_head(ho, ec);
        auto run = std::make_shared<detail::probe_run>(h, h.next_executor(), topic, script.steps(),
                                                       detail::probe_hello(ctx, script, keepalive, head), running,
                                                       windows, script.away);
        if (log)
          log(log_level::info,
              fmt::format("probe from {}: {}", log_escape(ctx.remote, 100), log_escape(ctx.request.target, 300)));
        subscription sub{topic};
        if (brokered) {
          // The shared log is read from "now": give the subscription time to be in place.
          sub.last_event_id = std::string();
          run->start(std::chrono::milliseconds(300));
          return sub;
        }
        try {
          sub.last_event_id = h.open_topic(topic) + "-0";  // replays from the first event: no race
        } catch (const std::exception& e) {
          return response::text(503, std::string("probe: ") + e.what());  // `run` ends unstarted
        }
        run->start(std::chrono::milliseconds(0));
        return sub;
      },
      std::move(auth));
}

}  // namespace sse

/**
 * @file diagnosis.hpp
 * @brief sse-doctor's verdicts, sans-io: a pure function from what the probes measured (arrival
 *        times against the server's send times, headers both ways, how each stream ended) to
 *        findings, the intermediaries seen, and advice. No sockets, no clocks: tests drive it with a
 *        table (tests/doctor/test_doctor_verdicts.cpp).
 * @see include/sse/probe.hpp for the probe route that produces the measured streams.
 */
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace sse_doctor {

struct header {
  std::string name;
  std::string value;
};

/// The first value of `name` (case-insensitive) in `hs`.
inline std::optional<std::string> find_header(const std::vector<header>& hs, std::string_view name) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  for (const auto& h : hs) {
    if (h.name.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i) same = lower(h.name[i]) == lower(name[i]);
    if (same) return h.value;
  }
  return std::nullopt;
}

inline bool icontains(std::string_view hay, std::string_view needle) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    bool same = true;
    for (std::size_t j = 0; j < needle.size() && same; ++j) same = lower(hay[i + j]) == lower(needle[j]);
    if (same) return true;
  }
  return false;
}

/// One event as it arrived.
struct arrival {
  std::string type;          ///< hello, tick, pad, ping, gap, end (or anything else the path made up)
  std::int64_t seq = -1;     ///< the probe's sequence number (-1: none)
  double sent_ms = -1;       ///< the server's send time, ms since the probe started (-1: none)
  double at_ms = 0;          ///< arrival, ms since this run started (the doctor's clock)
  std::size_t bytes = 0;     ///< about the bytes it took on the wire
};

/// The `hello` event: what reached the server.
struct echo {
  bool present = false;
  std::string http;                              ///< "1.1", "1.0"
  std::string peer;                              ///< address:port the server saw
  std::vector<header> request_headers;           ///< selected ones, by value
  std::vector<std::string> request_header_names; ///< all names, in order
  std::vector<header> response_headers_sent;     ///< the head the server wrote
  double keepalive_ms = 0;                       ///< the server's own ping interval (0: none)
};

/// How a run ended.
enum class end_kind {
  none,          ///< still open when the doctor stopped waiting for nothing in particular
  finished,      ///< the probe's `end` event arrived
  clean_close,   ///< the response ended properly, but early (no `end` event)
  closed,        ///< the connection closed in the middle of the response
  reset,         ///< connection reset
  http_status,   ///< an error status (502, 504...) instead of the stream
  stall,         ///< nothing arrived past the expected time, connection still open
  error,         ///< could not connect, bad content type, parse error...
};

inline std::string_view to_string(end_kind k) {
  switch (k) {
    case end_kind::none: return "still open";
    case end_kind::finished: return "finished";
    case end_kind::clean_close: return "clean close";
    case end_kind::closed: return "connection closed mid-stream";
    case end_kind::reset: return "connection reset";
    case end_kind::http_status: return "HTTP error status";
    case end_kind::stall: return "silent stall";
    case end_kind::error: return "error";
  }
  return "?";
}

/// One probe connection.
struct run {
  std::string name;                       ///< "stream", "idle", "pinged"
  double gap_ms = 0;                      ///< idle runs: the silent gap asked for
  double ping_ms = 0;                     ///< pinged run: the probe's ping interval
  int status = 0;                         ///< HTTP status of the response (0: none)
  int http_minor = 1;                     ///< of the response the client got
  std::vector<header> response_headers;   ///< as they arrived
  double headers_ms = -1;                 ///< time to the response head (since the run started)
  std::vector<arrival> events;
  echo hello;
  end_kind end = end_kind::none;
  std::string end_detail;                 ///< the error message, the status line...
  double end_ms = -1;                     ///< when it ended (since the run started)
};

/// One reconnect of the restart run.
struct attempt {
  double at_ms = 0;                ///< when it started, since the `away` event arrived
  bool in_window = true;           ///< started while the upstream was away (else: after it came back)
  end_kind how = end_kind::none;   ///< finished or none: the event stream answered
  int status = 0;                  ///< HTTP status (0: none)
  std::string detail;              ///< the error message, the status line...
  std::optional<std::string> last_event_id_got;  ///< stream answers: the Last-Event-ID the server got
  bool hello = false;              ///< stream answers: the probe's hello arrived
};

/// The restart run: a stream that ends with the probe's `away` event (the upstream goes away for
/// `away_ms`), then reconnects with Last-Event-ID during the window and after it.
struct restart_run {
  bool away_seen = false;          ///< the `away` event arrived (a server without it ends with `end`)
  double away_ms = 0;              ///< the window the server announced
  std::string first_end;           ///< how the first stream ended when no `away` came
  std::string last_event_id_sent;  ///< on every reconnect: the `away` event's id
  std::vector<attempt> attempts;
};

/// What an attempt got, in one word: "502", "reset", "closed", "stream", "no answer", "error".
inline std::string answer_of(const attempt& a) {
  switch (a.how) {
    case end_kind::http_status: return fmt::format("{}", a.status);
    case end_kind::reset: return "reset";
    case end_kind::closed: return "closed";
    case end_kind::stall: return "no answer";
    case end_kind::error: return a.status >= 400 ? fmt::format("{}", a.status) : "error";
    default: return a.status == 200 || a.hello ? "stream" : "error";
  }
}

struct measurements {
  std::string url;
  std::string sent_last_event_id;  ///< sent on the stream run
  double max_idle_ms = 120000;
  run stream;                      ///< timed events, a burst, padding; Accept-Encoding sent
  std::vector<run> idle;           ///< silent gaps, growing
  std::optional<run> pinged;       ///< the longest gap, with the probe's pings
  std::optional<restart_run> restart;  ///< the upstream away and back
};

enum class level { ok, info, warn, fail };

inline std::string_view to_string(level l) {
  switch (l) {
    case level::ok: return "ok";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::fail: return "FAIL";
  }
  return "?";
}

struct finding {
  std::string probe;     ///< buffering, compression, headers, idle, reconnection, http, timing...
  level lvl = level::ok;
  std::string measured;  ///< what was measured, with numbers
  std::string verdict;   ///< what it means
};

struct advice_line {
  std::string target;  ///< "server", "nginx", "haproxy", "any proxy", "client"
  std::string text;    ///< a configuration line or an instruction
  std::string why;
};

struct diagnosis {
  std::vector<finding> findings;
  std::vector<std::string> intermediaries;  ///< evidence, one line each
  std::string proxy_kind;                   ///< "nginx", "haproxy", "unknown", "none seen"
  std::vector<advice_line> advice;
  bool reachable = false;       ///< the probe answered a stream
  bool breaks_stream = false;   ///< the path would break a stream: the doctor exits non-zero
  bool buffered = false;
  bool delayed = false;         ///< small writes coalesced on the way (a warning, not a break)
  bool compressed = false;
  bool stalled = false;
  std::optional<double> idle_cut_ms;         ///< measured (closed) or lower bound (stall)
  std::optional<double> idle_cut_upper_ms;   ///< stall: the shortest gap that stalled
  bool cut_despite_pings = false;
  std::optional<double> ping_advice_ms;
  std::optional<bool> last_event_id_ok;
  std::optional<std::string> away_answer;    ///< what the path answered while the upstream was away ("502", "reset, 502")
  std::optional<bool> resumed_after_away;    ///< a reconnect after the window got the stream
  std::optional<bool> away_last_event_id_ok; ///< and the server got its Last-Event-ID
  bool away_status_fatal = false;            ///< answered a status a client gives up on (not 502/503/504)
  double holdup_ms = 0;                      ///< longest time an event was held on the way
};

/// Thresholds of the verdicts.
struct thresholds {
  double buffering_ms = 400;        ///< an event held longer than this (relative to the fastest) = buffered
  double delay_ms = 150;            ///< held longer than this, in bursts, but below buffering_ms = delayed
  double burst_window_ms = 25;      ///< arrivals this close together are one burst
};

namespace detail {

inline std::string seconds(double ms) {
  if (ms < 1000) return fmt::format("{:.0f} ms", ms);
  if (ms >= 10000) return fmt::format("{:.0f} s", ms / 1000);
  return fmt::format("{:.1f} s", ms / 1000);
}

/// The largest "nice" ping interval not above `ms`.
inline double nice_ping(double ms) {
  static constexpr double nice[] = {60000, 45000, 30000, 20000, 15000, 10000, 5000, 3000, 2000, 1000, 500, 250};
  for (const double n : nice)
    if (n <= ms) return n;
  return 250;
}

inline bool is_hop_by_hop(std::string_view name) {
  for (const char* h : {"Connection", "Transfer-Encoding", "Keep-Alive", "Date", "Content-Length"})
    if (find_header({{h, ""}}, name)) return true;
  return false;
}

inline void analyse_buffering(const run& r, const thresholds& th, diagnosis& d) {
  std::vector<const arrival*> timed;
  for (const auto& a : r.events)
    if (a.sent_ms >= 0) timed.push_back(&a);
  if (timed.size() < 3) {
    d.findings.push_back({"buffering", level::warn, fmt::format("{} timed events arrived", timed.size()),
                          "cannot judge buffering"});
    return;
  }
  double lo = 1e300, hi = -1e300;
  for (const auto* a : timed) {
    lo = std::min(lo, a->at_ms - a->sent_ms);
    hi = std::max(hi, a->at_ms - a->sent_ms);
  }
  d.holdup_ms = hi - lo;
  // Bursts: events sent apart that arrived together.
  std::size_t bursts = 0;
  for (std::size_t i = 0; i < timed.size();) {
    std::size_t j = i + 1;
    while (j < timed.size() && timed[j]->at_ms - timed[j - 1]->at_ms <= th.burst_window_ms) ++j;
    const double sent_span = timed[j - 1]->sent_ms - timed[i]->sent_ms;
    if (j - i > 1 && sent_span > 2 * th.burst_window_ms + 50) {
      ++bursts;
    }
    i = j;
  }
  const std::string measured = fmt::format(
      "{} timed events over {:.1f} s; longest hold {:.0f} ms; {} burst(s) of events sent apart", timed.size(),
      (timed.back()->sent_ms - timed.front()->sent_ms) / 1000, d.holdup_ms, bursts);
  if (d.holdup_ms <= th.buffering_ms && d.holdup_ms > th.delay_ms && bursts >= 2) {
    d.delayed = true;
    d.findings.push_back({"buffering", level::warn, measured,
                          "DELAYED: small writes are held back and sent together on the way (Nagle's algorithm: "
                          "TCP_NODELAY off)"});
    return;
  }
  if (d.holdup_ms <= th.buffering_ms) {
    d.findings.push_back({"buffering", level::ok, measured, "events arrive one by one as they are sent"});
    return;
  }
  d.buffered = true;
  // How were they released? Find the first release: the first arrival, and what had been sent by then.
  const double first_at = timed.front()->at_ms;
  double sent_by_first_release = 0;
  std::size_t bytes_before = 0;
  bool end_in_first = false, pad_in_first = false;
  for (const auto* a : timed)
    if (a->at_ms <= first_at + th.burst_window_ms) {
      sent_by_first_release = std::max(sent_by_first_release, a->sent_ms);
      bytes_before += a->bytes;
      end_in_first = end_in_first || a->type == "end";
      pad_in_first = pad_in_first || a->type == "pad";
    }
  std::string how;
  if (end_in_first)
    how = "held until the response ended";
  else if (pad_in_first)
    how = fmt::format("released by size: the first bytes came after about {} bytes had been sent", bytes_before);
  else
    how = fmt::format("released in bursts by time (first after {:.0f} ms)", sent_by_first_release);
  d.findings.push_back({"buffering", level::fail, measured, "BUFFERED: " + how});
}

}  // namespace detail

/// The verdicts and advice for a set of measurements. Pure.
inline diagnosis diagnose(const measurements& m, const thresholds& th = {}) {
  using detail::seconds;
  diagnosis d;
  const run& s = m.stream;
  const echo& e = s.hello.present ? s.hello : [&]() -> const echo& {
    for (const auto& r : m.idle)
      if (r.hello.present) return r.hello;
    return s.hello;
  }();

  // Reachability.
  d.reachable = s.status == 200;
  if (!d.reachable) {
    std::string why = s.status ? fmt::format("HTTP {}", s.status) : s.end_detail;
    if (s.status == 404)
      why += ": no probe here (start the server with --probe, or give the probe's URL)";
    d.findings.push_back({"reach", level::fail, why.empty() ? "no response" : why, "the probe did not answer a stream"});
    d.breaks_stream = true;
    return d;
  }
  d.findings.push_back({"timing", level::info,
                        fmt::format("response head after {:.0f} ms, first event after {}", s.headers_ms,
                                    s.events.empty() ? std::string("(none)")
                                                     : fmt::format("{:.0f} ms", s.events.front().at_ms)),
                        "time to headers and to the first event, from the start of the connection"});

  // Compression and transformation.
  const auto ce = find_header(s.response_headers, "Content-Encoding");
  if (ce && !icontains(*ce, "identity")) {
    d.compressed = true;
    d.findings.push_back({"compression", level::fail, "Content-Encoding: " + *ce + " (the doctor sent Accept-Encoding)",
                          "COMPRESSED: a compressor holds events back until its buffer fills"});
  } else {
    d.findings.push_back({"compression", level::ok, "no Content-Encoding (the doctor sent Accept-Encoding)",
                          "not compressed"});
  }
  std::vector<std::string> stripped, changed, added;
  bool accel_consumed = false;
  if (e.present) {
    for (const auto& h : e.response_headers_sent) {
      if (detail::is_hop_by_hop(h.name)) continue;
      const auto got = find_header(s.response_headers, h.name);
      if (!got) {
        stripped.push_back(h.name);
        if (h.name == "X-Accel-Buffering") accel_consumed = true;
      } else if (*got != h.value) {
        changed.push_back(fmt::format("{}: '{}' -> '{}'", h.name, h.value, *got));
      }
    }
    for (const auto& h : s.response_headers)
      if (!detail::is_hop_by_hop(h.name) && !find_header(e.response_headers_sent, h.name))
        added.push_back(h.name + ": " + h.value);
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : "; ") + x;
    return out;
  };
  if (!e.present) {
    d.findings.push_back({"headers", level::warn, "the probe's hello event was not readable",
                          "cannot compare headers (compressed or transformed body?)"});
  } else if (stripped.empty() && changed.empty() && added.empty()) {
    d.findings.push_back({"headers", level::ok, "response headers arrived as sent", "no transformation seen"});
  } else {
    std::string what;
    if (!stripped.empty()) what += "stripped: " + join(stripped);
    if (!changed.empty()) what += std::string(what.empty() ? "" : "; ") + "changed: " + join(changed);
    if (!added.empty()) what += std::string(what.empty() ? "" : "; ") + "added: " + join(added);
    const bool bad = std::any_of(changed.begin(), changed.end(), [](const std::string& c) {
      return c.starts_with("Content-Type") || c.starts_with("Cache-Control");
    });
    d.findings.push_back({"headers", bad ? level::warn : level::info, what,
                          bad ? "the path rewrites headers that matter to a stream" : "an intermediary touched the headers"});
  }

  // Intermediaries, from headers both ways.
  bool nginx = false, haproxy = false;
  for (const char* name : {"Server", "Via", "X-Cache", "CF-Ray", "X-Served-By", "X-Amz-Cf-Id", "X-Envoy-Upstream-Service-Time"})
    if (auto v = find_header(s.response_headers, name)) {
      d.intermediaries.push_back(fmt::format("response {}: {}", name, *v));
      nginx = nginx || icontains(*v, "nginx") || icontains(*v, "openresty");
      haproxy = haproxy || icontains(*v, "haproxy");
    }
  if (accel_consumed) {
    d.intermediaries.push_back("X-Accel-Buffering consumed on the way (nginx does this)");
    nginx = true;
  }
  if (e.present) {
    for (const char* name : {"Via", "Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-IP", "CDN-Loop"})
      if (auto v = find_header(e.request_headers, name)) {
        d.intermediaries.push_back(fmt::format("request {}: {}", name, *v));
        nginx = nginx || icontains(*v, "nginx");
        haproxy = haproxy || icontains(*v, "haproxy");
      }
    if (e.http != "1.1" && s.http_minor == 1)
      d.intermediaries.push_back(fmt::format("the server got HTTP/{} while the doctor spoke HTTP/1.1", e.http));
  }
  d.proxy_kind = nginx ? "nginx" : haproxy ? "haproxy" : d.intermediaries.empty() ? "none seen" : "unknown";

  // HTTP versions.
  if (e.present) {
    const bool downgraded = e.http == "1.0";
    d.findings.push_back({"http", downgraded ? level::warn : level::ok,
                          fmt::format("client side HTTP/1.{}, server side HTTP/{}", s.http_minor, e.http),
                          downgraded ? "the proxy talks HTTP/1.0 to the server: a new connection per stream, the end "
                                       "of the stream is the end of the connection"
                                     : "HTTP/1.1 on both sides"});
  }

  // Buffering.
  if (d.compressed)
    d.findings.push_back({"buffering", level::warn, "compressed stream", "cannot time events through a compressor"});
  else
    detail::analyse_buffering(s, th, d);

  // Reconnection: does Last-Event-ID reach the server?
  if (e.present && &e == &s.hello && !m.sent_last_event_id.empty()) {
    const auto got = find_header(e.request_headers, "Last-Event-ID");
    d.last_event_id_ok = got && *got == m.sent_last_event_id;
    d.findings.push_back({"reconnection", *d.last_event_id_ok ? level::ok : level::fail,
                          got ? fmt::format("sent Last-Event-ID '{}', the server got '{}'", m.sent_last_event_id, *got)
                              : fmt::format("sent Last-Event-ID '{}', the server got none", m.sent_last_event_id),
                          *d.last_event_id_ok ? "a reconnecting client resumes where it left"
                                              : "LAST-EVENT-ID LOST: a reconnecting client cannot resume"});
  }

  // Idle timeout.
  const double keepalive = e.keepalive_ms;
  double survived = 0;
  std::optional<double> stalled_at;
  for (const auto& r : m.idle) {
    const bool got_gap = std::any_of(r.events.begin(), r.events.end(), [](const arrival& a) { return a.type == "gap"; });
    const double effective = keepalive > 0 ? std::min(r.gap_ms, keepalive) : r.gap_ms;
    if (got_gap && r.end != end_kind::stall) {
      survived = std::max(survived, effective);
      continue;
    }
    if (r.end == end_kind::stall) {
      stalled_at = stalled_at ? std::min(*stalled_at, effective) : effective;
      continue;
    }
    if (r.end == end_kind::none || r.end == end_kind::error) continue;
    // The silence before the end, from the server's send times (an event held on the way and
    // released by the cut does not make the silence shorter): the server's clock starts when the
    // request arrives, about when this run started (a one-way trip later: over-estimated by that).
    double last_sent = -1;
    for (const auto& a : r.events) last_sent = std::max(last_sent, a.sent_ms);
    const double silence = r.end_ms - std::max(0.0, last_sent);
    if (!d.idle_cut_ms || silence < *d.idle_cut_ms) d.idle_cut_ms = silence;
    d.findings.push_back({"idle", level::info,
                          fmt::format("silent gap of {}: cut after {} of silence: {}{}", seconds(r.gap_ms),
                                      seconds(silence), to_string(r.end),
                                      r.end_detail.empty() ? "" : " (" + r.end_detail + ")"),
                          "an idle stream is cut"});
  }
  if (stalled_at && !d.idle_cut_ms) {
    d.stalled = true;
    d.idle_cut_ms = survived;
    d.idle_cut_upper_ms = *stalled_at;
  }
  std::string ka_note = keepalive > 0 ? fmt::format(" (the server pings every {})", seconds(keepalive)) : "";
  if (d.stalled) {
    d.findings.push_back({"idle", level::fail,
                          fmt::format("a silent gap of {} survived; after {} nothing more arrived and the connection "
                                      "stayed open{}",
                                      seconds(survived), seconds(*stalled_at), ka_note),
                          fmt::format("SILENT STALL: something drops idle connections without telling either side "
                                      "(a NAT or firewall), between {} and {} of silence",
                                      seconds(survived), seconds(*stalled_at))});
  } else if (d.idle_cut_ms) {
    const bool server_pings_in_time = keepalive > 0 && keepalive < *d.idle_cut_ms;
    d.findings.push_back({"idle", server_pings_in_time ? level::warn : level::fail,
                          fmt::format("idle streams are cut after {} of silence{}", seconds(*d.idle_cut_ms), ka_note),
                          server_pings_in_time ? "IDLE TIMEOUT, but the server's pings come sooner"
                                               : "IDLE TIMEOUT: a quiet stream is cut"});
  } else if (!m.idle.empty()) {
    d.findings.push_back({"idle", level::ok, fmt::format("silent gaps up to {} survived{}", seconds(survived), ka_note),
                          "no idle timeout up to the longest gap tried"});
  }
  if (m.pinged) {
    const auto& p = *m.pinged;
    const bool got_gap = std::any_of(p.events.begin(), p.events.end(), [](const arrival& a) { return a.type == "gap"; });
    if (!got_gap && p.end != end_kind::none) {
      d.cut_despite_pings = true;
      d.findings.push_back({"idle", level::fail,
                            fmt::format("a stream pinged every {} was still ended ({}) within {}", seconds(p.ping_ms),
                                        to_string(p.end), seconds(p.gap_ms)),
                            "CUT DESPITE PINGS: a limit on the response's duration, not on idleness"});
    } else if (got_gap && (d.idle_cut_ms || d.stalled)) {
      d.findings.push_back({"idle", level::ok,
                            fmt::format("a stream pinged every {} survived {}", seconds(p.ping_ms), seconds(p.gap_ms)),
                            "pings keep the stream alive"});
    }
  }
  if (d.idle_cut_ms) {
    const double basis = *d.idle_cut_ms;
    d.ping_advice_ms = detail::nice_ping(std::max(250.0, basis / 2));
  }

  // Reconnection while the upstream is away (the probe's `away` window) and after it comes back.
  if (m.restart) {
    const auto& rs = *m.restart;
    if (!rs.away_seen) {
      d.findings.push_back({"restart", level::info,
                            "the probe did not go away" + (rs.first_end.empty() ? std::string() : " (" + rs.first_end + ")"),
                            "not measured: the server's probe has no 'away' (an older server?)"});
    } else {
      std::vector<std::string> answers;
      std::size_t in_window = 0;
      for (const auto& a : rs.attempts) {
        if (!a.in_window) continue;
        ++in_window;
        const auto w = answer_of(a);
        if (std::find(answers.begin(), answers.end(), w) == answers.end()) answers.push_back(w);
        if (a.how == end_kind::http_status && a.status != 502 && a.status != 503 && a.status != 504)
          d.away_status_fatal = true;
        if (a.how == end_kind::error && a.status >= 400) d.away_status_fatal = true;
      }
      std::string joined;
      for (const auto& w : answers) joined += (joined.empty() ? "" : ", ") + w;
      d.away_answer = joined;
      const bool statuses = std::all_of(answers.begin(), answers.end(),
                                        [](const std::string& w) { return w == "502" || w == "503" || w == "504"; });
      const bool network = std::all_of(answers.begin(), answers.end(),
                                       [](const std::string& w) { return w == "reset" || w == "closed"; });
      const std::string measured =
          fmt::format("upstream away for {}: {} reconnect(s) answered {}", seconds(rs.away_ms), in_window,
                      joined.empty() ? std::string("(none made)") : joined);
      if (in_window == 0) {
        d.findings.push_back({"restart", level::warn, measured, "no reconnect was made while the upstream was away"});
      } else if (d.away_status_fatal) {
        d.findings.push_back({"restart", level::fail, measured,
                              "FATAL STATUS: a client stops for good on this answer (only 502, 503 and 504 are "
                              "retried); the path should answer 502/503/504 while the upstream is away"});
      } else if (statuses) {
        d.findings.push_back({"restart", level::info, measured,
                              "the proxy answers for the missing upstream: a client must take 502/503/504 as "
                              "temporary and reconnect (sse::client and clients/js do; a bare EventSource stops)"});
      } else if (network) {
        d.findings.push_back({"restart", level::ok, measured,
                              "a network error while the upstream is away: every client reconnects"});
      } else {
        d.findings.push_back({"restart", level::info, measured,
                              "the path answered while the upstream was away (held the request, or another "
                              "upstream served it)"});
      }
      // After the window: the stream again, resuming from Last-Event-ID.
      const attempt* back = nullptr;
      std::size_t after = 0;
      for (const auto& a : rs.attempts) {
        if (a.in_window) continue;
        ++after;
        if (answer_of(a) == "stream") {
          back = &a;
          break;
        }
      }
      if (!back)  // a reconnect made in the window may have been held until the upstream was back
        for (const auto& a : rs.attempts)
          if (answer_of(a) == "stream" && a.hello) back = &a;
      d.resumed_after_away = back != nullptr;
      if (!back) {
        d.findings.push_back({"restart", level::fail,
                              fmt::format("{} reconnect(s) after the upstream came back: none got the stream", after),
                              "NO RECOVERY: the path keeps failing after the upstream is back"});
      } else if (back->hello) {
        const auto& got = back->last_event_id_got;
        d.away_last_event_id_ok = got && *got == rs.last_event_id_sent;
        d.findings.push_back(
            {"restart", *d.away_last_event_id_ok ? level::ok : level::fail,
             fmt::format("reconnected {} after the upstream went away; sent Last-Event-ID '{}', the server got {}",
                         seconds(back->at_ms), rs.last_event_id_sent, got ? "'" + *got + "'" : std::string("none")),
             *d.away_last_event_id_ok ? "the stream resumes where it left after the upstream restarts"
                                      : "LAST-EVENT-ID LOST on the reconnect: the client cannot resume"});
        if (!*d.away_last_event_id_ok) d.last_event_id_ok = false;
      }
    }
  }

  // Verdict and advice.
  const bool idle_breaks = d.stalled || d.cut_despite_pings ||
                           (d.idle_cut_ms && (keepalive <= 0 || keepalive >= *d.idle_cut_ms));
  d.breaks_stream = d.buffered || d.compressed || idle_breaks || (d.last_event_id_ok && !*d.last_event_id_ok) ||
                    d.away_status_fatal || (d.resumed_after_away && !*d.resumed_after_away);
  const bool all = d.proxy_kind == "unknown" || d.proxy_kind == "none seen";
  const bool for_nginx = nginx || all, for_haproxy = haproxy || all;
  auto add = [&](std::string target, std::string text, std::string why) {
    d.advice.push_back({std::move(target), std::move(text), std::move(why)});
  };
  if (d.buffered) {
    add("server", "send 'X-Accel-Buffering: no' and 'Cache-Control: no-transform' (sse::server does)", "asks proxies not to buffer");
    if (for_nginx) {
      add("nginx", "proxy_buffering off;", "in the location of the stream: events are passed on as they come");
      add("nginx", "(or remove 'proxy_ignore_headers X-Accel-Buffering;' so the server's 'X-Accel-Buffering: no' counts)", "");
    }
    if (for_haproxy) add("haproxy", "option http-no-delay", "in the backend: no waiting to fill packets");
    add("any proxy", "turn response buffering off for text/event-stream", "");
  }
  if (d.delayed) {
    if (for_haproxy) add("haproxy", "option http-no-delay", "in the backend: each event leaves at once");
    add("any proxy", "send small writes at once (TCP_NODELAY) toward clients", "");
  }
  if (d.compressed) {
    if (for_nginx) add("nginx", "gzip off;", "in the location of the stream (or drop text/event-stream from gzip_types)");
    if (for_haproxy) add("haproxy", "compression type text/html text/plain text/css", "list types without text/event-stream");
    add("any proxy", "do not compress text/event-stream", "a compressor holds events until its buffer fills");
  }
  if (d.idle_cut_ms && idle_breaks) {
    const double ping = d.ping_advice_ms.value_or(15000);
    add("server", fmt::format("ping every {} or less (sse-hub --ping-interval {:g}; keepalive_options::interval)",
                              seconds(ping), ping / 1000),
        fmt::format("below the measured cut of {}", seconds(*d.idle_cut_ms)));
    if (!d.stalled) {
      if (for_nginx) add("nginx", "proxy_read_timeout 3600s;", "in the location of the stream: the upstream may be quiet for long");
      if (for_haproxy) {
        add("haproxy", "timeout server 1h", "in the backend (or defaults): a quiet server is not a dead one");
        add("haproxy", "timeout client 1h", "and on the client side");
        add("haproxy", "timeout tunnel 1h", "if the connection is switched to tunnel mode");
      }
      add("any proxy", "raise the idle/read timeout above the ping interval", "");
    } else {
      add("client", "reconnect when nothing arrived for 2-3 ping intervals (sse::client idle_timeout)",
          "a silent stall is otherwise never noticed");
    }
  }
  if (d.last_event_id_ok && !*d.last_event_id_ok) {
    if (for_nginx) add("nginx", "proxy_set_header Last-Event-ID $http_last_event_id;", "pass the header on");
    add("client", "send the id as ?lastEventId= too (client_options::send_last_event_id_query)", "");
  }
  const bool away_5xx = d.away_answer && (d.away_answer->find("502") != std::string::npos ||
                                          d.away_answer->find("503") != std::string::npos ||
                                          d.away_answer->find("504") != std::string::npos);
  if (away_5xx && !d.away_status_fatal) {
    add("client", "take 502, 503 and 504 as temporary: reconnect with backoff (sse::client and clients/js do)",
        "the proxy answers them while the upstream restarts; a native EventSource gives up on them");
  }
  if (d.away_status_fatal) {
    if (for_nginx) add("nginx", "proxy_intercept_errors off;", "and no error_page turning a 502 into another status");
    add("any proxy", "answer 502, 503 or 504 while the upstream is down", "clients retry those, not others");
  }
  if (d.resumed_after_away && !*d.resumed_after_away) {
    if (for_nginx) add("nginx", "(an upstream group: max_fails/fail_timeout keep a failed server out for a while)", "");
    add("any proxy", "let a server that failed back in at once (health checks, fail timeouts)", "");
  }
  for (const auto& f : d.findings)
    if (f.probe == "http" && f.lvl == level::warn && for_nginx) {
      add("nginx", "proxy_http_version 1.1;", "with proxy_set_header Connection \"\";");
      add("nginx", "proxy_set_header Connection \"\";", "");
    }
  return d;
}

}  // namespace sse_doctor

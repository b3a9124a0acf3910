/**
 * @file report.hpp
 * @brief sse-doctor's output: the diagnosis as text for a human, or as one JSON object. Pure.
 */
#pragma once

#include <string>

#include <fmt/format.h>

#include "diagnosis.hpp"
#include "sse/detail/json.hpp"

namespace sse_doctor {

using sse::detail::json_string_to;  // the library's JSON string escaping

inline std::string render_text(const measurements& m, const diagnosis& d) {
  std::string out = fmt::format("sse-doctor: {}\n\n", m.url);
  std::size_t width = 0;
  for (const auto& f : d.findings) width = std::max(width, f.probe.size());
  for (const auto& f : d.findings) {
    out += fmt::format("  [{:>4}] {:<{}}  {}\n", to_string(f.lvl), f.probe, width, f.measured);
    out += fmt::format("         {:<{}}  -> {}\n", "", width, f.verdict);
  }
  out += "\nintermediaries: ";
  if (d.intermediaries.empty()) {
    out += "none seen in the headers (a TCP relay, NAT or firewall would not show)\n";
  } else {
    out += fmt::format("{}\n", d.proxy_kind == "unknown" ? "present, not recognised" : d.proxy_kind);
    for (const auto& i : d.intermediaries) out += "  - " + i + "\n";
  }
  if (!d.advice.empty()) {
    out += "\nadvice:\n";
    for (const auto& a : d.advice)
      out += fmt::format("  {:<10} {}{}\n", a.target + ":", a.text, a.why.empty() ? "" : "   # " + a.why);
  }
  out += fmt::format("\nverdict: {}\n", d.breaks_stream ? "this path BREAKS event streams (see above)"
                                                       : "this path carries event streams fine");
  return out;
}

inline std::string render_json(const measurements& m, const diagnosis& d) {
  std::string o = "{\"url\":";
  json_string_to(o, m.url);
  o += fmt::format(",\"reachable\":{},\"breaks_stream\":{},\"buffered\":{},\"delayed\":{},\"compressed\":{},"
                   "\"stalled\":{},\"cut_despite_pings\":{},\"holdup_ms\":{:.0f}",
                   d.reachable, d.breaks_stream, d.buffered, d.delayed, d.compressed, d.stalled, d.cut_despite_pings,
                   d.holdup_ms);
  auto opt = [&](const char* k, const std::optional<double>& v) {
    o += fmt::format(",\"{}\":", k);
    o += v ? fmt::format("{:.0f}", *v) : "null";
  };
  opt("idle_cut_ms", d.idle_cut_ms);
  opt("idle_cut_upper_ms", d.idle_cut_upper_ms);
  opt("ping_advice_ms", d.ping_advice_ms);
  o += ",\"last_event_id_ok\":";
  o += d.last_event_id_ok ? (*d.last_event_id_ok ? "true" : "false") : "null";
  o += ",\"away_answer\":";
  if (d.away_answer) json_string_to(o, *d.away_answer);
  else o += "null";
  auto opt_bool = [&](const char* k, const std::optional<bool>& v) {
    o += fmt::format(",\"{}\":{}", k, v ? (*v ? "true" : "false") : "null");
  };
  opt_bool("resumed_after_away", d.resumed_after_away);
  opt_bool("away_last_event_id_ok", d.away_last_event_id_ok);
  o += ",\"proxy_kind\":";
  json_string_to(o, d.proxy_kind);
  o += ",\"intermediaries\":[";
  for (std::size_t i = 0; i < d.intermediaries.size(); ++i) {
    if (i) o += ",";
    json_string_to(o, d.intermediaries[i]);
  }
  o += "],\"findings\":[";
  for (std::size_t i = 0; i < d.findings.size(); ++i) {
    const auto& f = d.findings[i];
    o += i ? ",{\"probe\":" : "{\"probe\":";
    json_string_to(o, f.probe);
    o += ",\"level\":";
    json_string_to(o, to_string(f.lvl));
    o += ",\"measured\":";
    json_string_to(o, f.measured);
    o += ",\"verdict\":";
    json_string_to(o, f.verdict);
    o += "}";
  }
  o += "],\"advice\":[";
  for (std::size_t i = 0; i < d.advice.size(); ++i) {
    const auto& a = d.advice[i];
    o += i ? ",{\"target\":" : "{\"target\":";
    json_string_to(o, a.target);
    o += ",\"text\":";
    json_string_to(o, a.text);
    o += ",\"why\":";
    json_string_to(o, a.why);
    o += "}";
  }
  o += "],\"runs\":[";
  auto run_json = [&](const run& r) {
    o += "{\"name\":";
    json_string_to(o, r.name);
    o += fmt::format(",\"gap_ms\":{:.0f},\"ping_ms\":{:.0f},\"status\":{},\"headers_ms\":{:.1f},\"events\":{},\"end\":",
                     r.gap_ms, r.ping_ms, r.status, r.headers_ms, r.events.size());
    json_string_to(o, to_string(r.end));
    o += ",\"end_detail\":";
    json_string_to(o, r.end_detail);
    o += fmt::format(",\"end_ms\":{:.1f}}}", r.end_ms);
  };
  run_json(m.stream);
  for (const auto& r : m.idle) {
    o += ",";
    run_json(r);
  }
  if (m.pinged) {
    o += ",";
    run_json(*m.pinged);
  }
  o += "]";
  if (m.restart) {
    o += fmt::format(",\"restart\":{{\"away_seen\":{},\"away_ms\":{:.0f},\"last_event_id_sent\":", m.restart->away_seen,
                     m.restart->away_ms);
    json_string_to(o, m.restart->last_event_id_sent);
    o += ",\"attempts\":[";
    for (std::size_t i = 0; i < m.restart->attempts.size(); ++i) {
      const auto& a = m.restart->attempts[i];
      o += fmt::format("{}{{\"at_ms\":{:.0f},\"in_window\":{},\"answer\":", i ? "," : "", a.at_ms, a.in_window);
      json_string_to(o, answer_of(a));
      o += ",\"detail\":";
      json_string_to(o, a.detail);
      o += ",\"last_event_id_got\":";
      if (a.last_event_id_got) json_string_to(o, *a.last_event_id_got);
      else o += "null";
      o += "}";
    }
    o += "]}";
  }
  o += "}\n";
  return o;
}

}  // namespace sse_doctor

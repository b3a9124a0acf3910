/**
 * @file encoder.hpp
 * @brief The wire encoder: sse::event to bytes, comments, retry hints, padding.
 *
 * Canonical layout: comment lines, `id`, `event`, `retry`, `data` lines, then an empty line; every
 * line is `name: value` followed by LF. Data and comments are split on CRLF, LF and lone CR, so no
 * payload can ever inject a field. Event types and ids with CR, LF or NUL are rejected, never repaired.
 * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream
 */
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "sse/error.hpp"
#include "sse/event.hpp"

namespace sse {

namespace detail {

inline bool has_line_break_or_nul(std::string_view s) noexcept {
  // memchr is vectorised by the C library: several GB/s, where find_first_of walks byte by byte.
  return std::memchr(s.data(), '\n', s.size()) || std::memchr(s.data(), '\r', s.size()) ||
         std::memchr(s.data(), '\0', s.size());
}

/// The offset of the first CR or LF in `s`, or npos. CR is rare in practice, so look for LF first
/// and then for a CR only before it.
inline std::size_t find_line_break(std::string_view s) noexcept {
  const void* lf = std::memchr(s.data(), '\n', s.size());
  const std::size_t limit = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - s.data()) : s.size();
  if (const void* cr = std::memchr(s.data(), '\r', limit))
    return static_cast<std::size_t>(static_cast<const char*>(cr) - s.data());
  return lf ? limit : std::string_view::npos;
}

/// Appends `prefix piece LF` for each piece of `text` split on CRLF, LF and lone CR.
inline void append_split_lines(std::string& out, std::string_view prefix, std::string_view text) {
  for (;;) {
    const std::size_t brk = find_line_break(text);
    out.append(prefix);
    if (brk == std::string_view::npos) {
      out.append(text);
      out.push_back('\n');
      return;
    }
    out.append(text.substr(0, brk));
    out.push_back('\n');
    std::size_t next = brk + 1;
    if (text[brk] == '\r' && next < text.size() && text[next] == '\n') ++next;
    text.remove_prefix(next);
  }
}

inline void append_decimal(std::string& out, std::uint64_t v) {
  char buf[20];
  char* p = buf + sizeof buf;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  out.append(p, static_cast<std::size_t>(buf + sizeof buf - p));
}

}  // namespace detail

/// Checks that `ev` can be written without corrupting the stream.
inline std::error_code validate(const event& ev) noexcept {
  if (detail::has_line_break_or_nul(ev.type)) return errc::invalid_event_type;
  if (ev.id && detail::has_line_break_or_nul(*ev.id)) return errc::invalid_id;
  if (ev.retry && ev.retry->count() < 0) return errc::invalid_retry;
  return {};
}

/// Parses a retry value as the wire carries it: ASCII digits only, at least one, no sign or space.
/// Values beyond the range of milliseconds saturate instead of overflowing.
inline std::optional<std::chrono::milliseconds> parse_retry(std::string_view s) noexcept {
  if (s.empty()) return std::nullopt;
  constexpr std::int64_t max = std::chrono::milliseconds::max().count();
  std::int64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const int d = c - '0';
    v = (v > (max - d) / 10) ? max : v * 10 + d;
  }
  return std::chrono::milliseconds(v);
}

/// Appends the wire form of `ev` to `out`. On error `out` is left unchanged.
/// No allocation happens beyond `out`'s own growth (reserve it to avoid that too).
inline std::error_code encode_to(std::string& out, const event& ev) {
  if (const auto ec = validate(ev)) return ec;
  if (!ev.comment.empty()) detail::append_split_lines(out, ": ", ev.comment);
  if (ev.id) {
    out.append("id: ");
    out.append(*ev.id);
    out.push_back('\n');
  }
  if (!ev.type.empty()) {
    out.append("event: ");
    out.append(ev.type);
    out.push_back('\n');
  }
  if (ev.retry) {
    out.append("retry: ");
    detail::append_decimal(out, static_cast<std::uint64_t>(ev.retry->count()));
    out.push_back('\n');
  }
  // Every event gets at least one (possibly empty) data line, so that a named event with empty data
  // still dispatches. The one exception is a pure metadata block (only an id and/or retry, no type,
  // no data): it sets the client's Last-Event-ID or reconnection time without dispatching anything.
  const bool data_line = !ev.data.empty() || !ev.type.empty() || (!ev.id && !ev.retry);
  if (data_line) detail::append_split_lines(out, "data: ", ev.data);
  out.push_back('\n');
  return {};
}

/// Returns the wire form of `ev`; throws sse::invalid_event (a std::invalid_argument) on bad input.
inline std::string encode(const event& ev) {
  std::string out;
  out.reserve(ev.data.size() + ev.comment.size() + (ev.id ? ev.id->size() : 0) + ev.type.size() + 32);
  if (const auto ec = encode_to(out, ev)) throw invalid_event(ec);
  return out;
}

/// Appends a comment (`: text` lines, split on line breaks). Comments are invisible to EventSource
/// but keep proxies from timing the stream out.
inline void encode_comment_to(std::string& out, std::string_view text) {
  detail::append_split_lines(out, text.empty() ? std::string_view(":") : std::string_view(": "), text);
}

inline std::string encode_comment(std::string_view text) {
  std::string out;
  encode_comment_to(out, text);
  return out;
}

/// Appends a lone `retry:` line as its own block.
inline std::error_code encode_retry_to(std::string& out, std::chrono::milliseconds retry) {
  if (retry.count() < 0) return errc::invalid_retry;
  out.append("retry: ");
  detail::append_decimal(out, static_cast<std::uint64_t>(retry.count()));
  out.append("\n\n");
  return {};
}

/// Appends a comment line of exactly `bytes` bytes (at least 3: ":" + filler + LF), used to push
/// old buffering proxies and browsers past their first-flush threshold.
inline void encode_padding_to(std::string& out, std::size_t bytes) {
  if (bytes < 2) bytes = 2;
  out.push_back(':');
  out.append(bytes - 2, ' ');
  out.push_back('\n');
}

}  // namespace sse

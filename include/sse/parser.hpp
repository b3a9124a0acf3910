/**
 * @file parser.hpp
 * @brief sse::parser, an incremental event-stream parser exactly per WHATWG HTML 9.2.5 and 9.2.6.
 *
 * Sans-io: feed it bytes as they arrive, in chunks of any size split at any offset (inside a CRLF
 * pair, a UTF-8 sequence or the BOM), and it calls back with each dispatched event.
 * - one leading BOM (EF BB BF) is skipped; CR, LF and CRLF end lines; a CR is acted on at once;
 * - each line is decoded as UTF-8 with U+FFFD for invalid or truncated sequences (line breaks
 *   are ASCII, so decoding per line equals decoding the stream);
 * - field/value split at the first colon, one leading space removed, a line without a colon is a
 *   field with an empty value, unknown fields are ignored, `id` containing NUL is ignored,
 *   `retry` takes ASCII digits only (64-bit, saturating);
 * - a blank line dispatches; the type defaults to "message"; no data means no dispatch;
 * - an unterminated final event is discarded by finish().
 * Limits on line length and event size report an error instead of growing memory without bound.
 * The verbs are those of the HTTP parsers (sse::http::request_parser, sse::http::response_parser):
 * feed() returns the bytes consumed and sets an error_code, error() is the sticky error, reset()
 * starts over; there is no head here, so no done().
 * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream
 */
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "sse/encoder.hpp"
#include "sse/error.hpp"
#include "sse/event.hpp"

namespace sse {

struct parser_limits {
  /// Longest line accepted, in bytes, without its line break.
  std::size_t max_line_bytes = std::size_t{1} << 20;
  /// Largest data buffer of one event, in bytes.
  std::size_t max_event_bytes = std::size_t{4} << 20;
};

namespace detail {

/// Appends `in` to `out`, replacing each maximal invalid UTF-8 subpart with U+FFFD
/// (the WHATWG decoder's behaviour). Returns false if nothing needed replacing.
inline void append_utf8_sanitized(std::string& out, std::string_view in) {
  static constexpr char replacement[] = "\xEF\xBF\xBD";
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const auto* end = p + in.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      const auto* start = p;
      while (p < end && *p < 0x80) ++p;
      out.append(reinterpret_cast<const char*>(start), static_cast<std::size_t>(p - start));
      continue;
    }
    int need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      out.append(replacement, 3);
      ++p;
      continue;
    }
    const auto* q = p + 1;
    int got = 0;
    while (got < need && q < end && *q >= lo && *q <= hi) {
      ++q;
      ++got;
      lo = 0x80;
      hi = 0xBF;
    }
    if (got == need) {
      out.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(q - p));
    } else {
      out.append(replacement, 3);  // the maximal subpart [p, q) becomes one U+FFFD
    }
    p = q;
  }
}

inline bool is_ascii(std::string_view s) noexcept {
  // Eight bytes at a time, without an early exit, so the compiler can vectorise it.
  std::uint64_t acc = 0;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    acc |= w;
  }
  for (; i < s.size(); ++i) acc |= static_cast<unsigned char>(s[i]);
  return (acc & 0x8080808080808080ULL) == 0;
}

}  // namespace detail

/// Incremental WHATWG event-stream parser. Not thread-safe; one per stream.
class parser {
 public:
  explicit parser(parser_limits limits = {}) : limits_(limits) {}

  /// Feeds bytes as they arrive, in pieces of any size, and calls
  /// `on_event(const sse::received_event&)` for each event dispatched. Returns how many bytes it
  /// consumed: all of them, unless an error stops it. On error `ec` is set, the count includes the
  /// byte at which the error was found (the same whatever the split), and the error is sticky: later
  /// calls return 0 with the same error until reset() (or finish()). Otherwise `ec` is cleared.
  /// Errors: sse::errc::line_too_long and sse::errc::event_too_large (the parser_limits).
  template <class OnEvent>
  std::size_t feed(std::string_view bytes, OnEvent&& on_event, std::error_code& ec) {
    ec = failed_;
    if (ec) return 0;
    const std::size_t size = bytes.size();
    // Bytes consumed so far plus `more` bytes of what is left.
    const auto consumed = [&](std::size_t more) { return size - bytes.size() + more; };
    while (!bytes.empty()) {
      if (bom_state_ < 3) {
        if (!consume_bom(bytes)) return size;
        continue;
      }
      if (skip_lf_) {
        skip_lf_ = false;
        if (bytes.front() == '\n') {
          bytes.remove_prefix(1);
          continue;
        }
      }
      const std::size_t brk = detail::find_line_break(bytes);
      const std::size_t len = brk == std::string_view::npos ? bytes.size() : brk;  // of the line, here
      if (line_.size() + len > limits_.max_line_bytes) {
        // At the first byte beyond the limit (at the next one when bytes held back as a possible
        // BOM already exceed a tiny limit).
        const std::size_t room =
            line_.size() < limits_.max_line_bytes ? limits_.max_line_bytes - line_.size() : 0;
        return fail(errc::line_too_long, ec, consumed(room + 1));
      }
      if (brk == std::string_view::npos) {
        line_.append(bytes);
        return size;
      }
      skip_lf_ = bytes[brk] == '\r';
      std::error_code line_ec;
      if (line_.empty()) {
        line_ec = process_line(bytes.substr(0, brk), on_event);
      } else {
        line_.append(bytes.substr(0, brk));
        line_ec = process_line(line_, on_event);
        line_.clear();
      }
      if (line_ec) return fail(line_ec, ec, consumed(brk + 1));  // at the line break
      bytes.remove_prefix(brk + 1);
    }
    return size;
  }

  /// Feeds bytes as they arrive, like the overload above, for a caller that does not count bytes
  /// (an event stream has no end inside it: all the bytes are consumed unless an error occurs).
  /// Returns the error, sticky until reset() (or finish()), or no error.
  template <class OnEvent>
  std::error_code feed(std::string_view bytes, OnEvent&& on_event) {
    std::error_code ec;
    feed(bytes, on_event, ec);
    return ec;
  }

  /// Signals end of stream: an unterminated event is discarded (the spec's behaviour), and the
  /// parser is reset for a new connection. last_event_id() and retry() are kept, as a
  /// reconnecting EventSource keeps them.
  void finish() noexcept {
    line_.clear();
    data_.clear();
    type_.clear();
    id_buffer_ = last_event_id_;
    skip_lf_ = false;
    bom_state_ = 0;
    failed_ = {};
  }

  /// Forgets everything but the limits, last_event_id() and retry() included: ready for another
  /// stream. (finish() is the end of one connection of the same stream.)
  void reset() noexcept {
    last_event_id_.clear();
    retry_.reset();
    finish();
  }

  /// The last event ID in effect (set at dispatch), "" when none was ever set.
  const std::string& last_event_id() const noexcept { return last_event_id_; }
  /// The reconnection time the stream asked for, if any.
  std::optional<std::chrono::milliseconds> retry() const noexcept { return retry_; }
  /// Sets the last event ID, e.g. when a client resumes from an id it stored elsewhere.
  void set_last_event_id(std::string id) {
    last_event_id_ = id;
    id_buffer_ = std::move(id);
  }
  const parser_limits& limits() const noexcept { return limits_; }
  /// The error that stopped the parser (sticky until reset() or finish()), or no error.
  std::error_code error() const noexcept { return failed_; }

 private:
  std::size_t fail(std::error_code e, std::error_code& ec, std::size_t consumed) {
    failed_ = e;
    ec = e;
    line_.clear();
    data_.clear();
    return consumed;
  }

  // Returns false when more bytes are needed to decide about the BOM.
  bool consume_bom(std::string_view& bytes) {
    static constexpr unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    while (bom_state_ < 3 && !bytes.empty()) {
      if (static_cast<unsigned char>(bytes.front()) != bom[bom_state_]) {
        // Not a BOM: the bytes held back so far are ordinary line content.
        line_.append(reinterpret_cast<const char*>(bom), bom_state_);
        bom_state_ = 3;
        return true;
      }
      bytes.remove_prefix(1);
      ++bom_state_;
    }
    return bom_state_ == 3;
  }

  template <class OnEvent>
  std::error_code process_line(std::string_view raw, OnEvent& on_event) {
    if (raw.empty()) return dispatch(on_event);
    if (raw.front() == ':') return {};  // comment
    std::string_view line = raw;
    if (!detail::is_ascii(raw)) {
      decoded_.clear();
      detail::append_utf8_sanitized(decoded_, raw);
      line = decoded_;
    }
    std::string_view field = line, value;
    if (const auto colon = line.find(':'); colon != std::string_view::npos) {
      field = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
      if (data_.size() + value.size() + 1 > limits_.max_event_bytes) return errc::event_too_large;
      data_.append(value);
      data_.push_back('\n');
    } else if (field == "event") {
      type_.assign(value);
    } else if (field == "id") {
      if (value.find('\0') == std::string_view::npos) id_buffer_.assign(value);
    } else if (field == "retry") {
      if (auto r = parse_retry(value)) retry_ = r;
    }
    return {};
  }

  template <class OnEvent>
  std::error_code dispatch(OnEvent& on_event) {
    last_event_id_ = id_buffer_;
    if (data_.empty()) {
      type_.clear();
      return {};
    }
    data_.pop_back();  // the single trailing LF
    received_event ev{type_.empty() ? std::string_view("message") : std::string_view(type_),
                      data_, last_event_id_, retry_};
    on_event(std::as_const(ev));
    data_.clear();
    type_.clear();
    return {};
  }

  parser_limits limits_;
  std::string line_;     // bytes of an incomplete line
  std::string decoded_;  // scratch for lines with non-ASCII bytes
  std::string data_;
  std::string type_;
  std::string id_buffer_;
  std::string last_event_id_;
  std::optional<std::chrono::milliseconds> retry_;
  std::error_code failed_;
  unsigned bom_state_ = 0;  // 0..2: bytes of a leading BOM matched so far; 3: decided
  bool skip_lf_ = false;    // the previous byte was a CR: an LF right after it is part of the break
};

}  // namespace sse

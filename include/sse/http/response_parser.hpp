/**
 * @file response_parser.hpp
 * @brief sse::http::response_parser, a strict and bounded incremental HTTP/1.x response-head parser,
 *        and sse::http::chunked_decoder, an incremental decoder of the chunked transfer coding.
 *
 * Sans-io: standard library only, no sockets, no clocks. Both are pure functions of the bytes fed
 * to them, in pieces of any size split at any offset. Their verbs are those of every parser here
 * (sse::parser, sse::http::request_parser): feed() returns the bytes consumed and sets an
 * error_code, done() says the head (the body) is complete, error() is the sticky error, reset()
 * starts over.
 *
 * Response head (RFC 9112 sections 2-6):
 * - the status line is `HTTP/1.DIGIT SP 3DIGIT [SP reason]`; only HTTP/1.0 and HTTP/1.1 are accepted;
 * - lines end with CRLF; a bare LF is also accepted as a line end (RFC 9112 section 2.2 allows it for
 *   a recipient, and many small servers send it); a CR not followed by LF is an error;
 * - a NUL anywhere, obsolete line folding, a field name that is not a token, whitespace before the
 *   colon and control characters in a field value are errors;
 * - the head is bounded in bytes and in the number of fields;
 * - interim 1xx responses (100 Continue, 103 Early Hints) are skipped; 101 is returned as is;
 * - the body framing is decided per RFC 9112 section 6.3 for a response to GET: none for 1xx, 204
 *   and 304; chunked when `chunked` is the final transfer coding; close-delimited when there is no
 *   framing header; Content-Length otherwise. Content-Length together with Transfer-Encoding,
 *   differing Content-Length values and Transfer-Encoding in HTTP/1.0 are errors (smuggling guards).
 *
 * Chunked body (RFC 9112 section 7.1): hex sizes (at most 16 digits), chunk extensions (validated and
 * skipped, bounded), CRLF or LF after each size and each chunk, trailer fields (bounded, skipped).
 * @see https://www.rfc-editor.org/rfc/rfc9112
 */
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "sse/error_category.hpp"

namespace sse::http {

/// Errors of the response-head parser and the chunked decoder.
enum class response_errc {
  head_too_large = 1,          ///< the head is larger than response_limits::max_head_bytes
  too_many_headers,            ///< more header fields than response_limits::max_headers
  too_many_interim_responses,  ///< more 1xx responses than response_limits::max_interim_responses
  nul_character,               ///< a NUL byte in the head
  bare_cr,                     ///< a CR not followed by LF
  invalid_status_line,         ///< not `HTTP-version SP status-code [SP reason]`
  invalid_version,             ///< the version is not HTTP/1.0 or HTTP/1.1
  invalid_status_code,         ///< the status code is not three digits in 100..599
  invalid_reason,              ///< a control character in the reason phrase
  obs_fold,                    ///< a header line starting with SP or HTAB
  missing_colon,               ///< a header line without a colon
  empty_header_name,           ///< a header line starting with a colon
  whitespace_before_colon,     ///< SP or HTAB between the field name and the colon
  invalid_header_name,         ///< the field name is not a token
  invalid_header_value,        ///< a control character (other than HTAB) or DEL in a field value
  invalid_content_length,      ///< Content-Length is not a decimal number (or overflows)
  conflicting_content_length,  ///< several Content-Length values that differ
  content_length_with_transfer_encoding,  ///< both framing headers present
  transfer_encoding_in_http10,            ///< Transfer-Encoding in an HTTP/1.0 response
  unsupported_transfer_coding,            ///< a coding other than chunked (gzip...), or chunked twice
  // Chunked decoder.
  invalid_chunk_size,          ///< a chunk size that is not hex digits, or no digits at all
  chunk_size_too_large,        ///< a chunk size of more than 16 hex digits or above the limit
  invalid_chunk_extension,     ///< a control character in a chunk extension
  chunk_extension_too_large,   ///< chunk extensions longer than chunked_limits::max_extension_bytes
  invalid_chunk_terminator,    ///< chunk data not followed by CRLF
  trailer_too_large,           ///< the trailer section exceeds chunked_limits::max_trailer_bytes
};

namespace detail {
struct response_error_category_impl {
  static constexpr const char* name = "sse.http.response";
  static std::string message(int ev) {
    switch (static_cast<response_errc>(ev)) {
      case response_errc::head_too_large: return "response head too large";
      case response_errc::too_many_headers: return "too many header fields in the response";
      case response_errc::too_many_interim_responses: return "too many interim (1xx) responses";
      case response_errc::nul_character: return "NUL character in the response head";
      case response_errc::bare_cr: return "bare CR not followed by LF in the response";
      case response_errc::invalid_status_line: return "malformed status line";
      case response_errc::invalid_version: return "response HTTP version is not HTTP/1.0 or HTTP/1.1";
      case response_errc::invalid_status_code: return "malformed status code";
      case response_errc::invalid_reason: return "control character in the reason phrase";
      case response_errc::obs_fold: return "obsolete line folding in the response head";
      case response_errc::missing_colon: return "response header line without a colon";
      case response_errc::empty_header_name: return "empty response header field name";
      case response_errc::whitespace_before_colon:
        return "whitespace between response header field name and colon";
      case response_errc::invalid_header_name: return "invalid character in a response header name";
      case response_errc::invalid_header_value: return "invalid character in a response header value";
      case response_errc::invalid_content_length: return "invalid Content-Length in the response";
      case response_errc::conflicting_content_length:
        return "conflicting Content-Length values in the response";
      case response_errc::content_length_with_transfer_encoding:
        return "both Content-Length and Transfer-Encoding in the response";
      case response_errc::transfer_encoding_in_http10: return "Transfer-Encoding in an HTTP/1.0 response";
      case response_errc::unsupported_transfer_coding: return "unsupported transfer coding in the response";
      case response_errc::invalid_chunk_size: return "invalid chunk size";
      case response_errc::chunk_size_too_large: return "chunk size too large";
      case response_errc::invalid_chunk_extension: return "invalid chunk extension";
      case response_errc::chunk_extension_too_large: return "chunk extension too large";
      case response_errc::invalid_chunk_terminator: return "chunk data not followed by CRLF";
      case response_errc::trailer_too_large: return "chunked trailer section too large";
    }
    return "unknown sse.http.response error";
  }
};

inline bool is_tchar(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

inline char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace detail

/// The category of sse::http::response_errc values, named "sse.http.response".
inline const std::error_category& response_error_category() noexcept {
  return sse::error_category_for<detail::response_error_category_impl>();
}

inline std::error_code make_error_code(response_errc e) noexcept {
  return {static_cast<int>(e), response_error_category()};
}

/// Case-insensitive ASCII comparison, as HTTP field names and tokens compare.
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (detail::ascii_lower(a[i]) != detail::ascii_lower(b[i])) return false;
  return true;
}

struct response_limits {
  /// Largest response head accepted (status line, fields, line breaks), in bytes.
  std::size_t max_head_bytes = 16 * 1024;
  /// Most header fields accepted.
  std::size_t max_headers = 100;
  /// Most interim 1xx responses skipped before the final one.
  std::size_t max_interim_responses = 8;
};

/// One header field as received; the value has its surrounding whitespace removed.
struct header_field {
  std::string name{};
  std::string value{};
  bool operator==(const header_field&) const = default;
};

/// How the response body is delimited.
enum class body_framing {
  none,             ///< no body (1xx, 204, 304)
  content_length,   ///< exactly content_length bytes
  chunked,          ///< the chunked transfer coding (see chunked_decoder)
  close_delimited,  ///< everything until the server closes the connection
};

/// A parsed response head.
struct response_head {
  int version_minor = 1;  ///< 0 for HTTP/1.0, 1 for HTTP/1.1
  int status = 0;         ///< the status code, 100..599
  std::string reason{};   ///< the reason phrase, possibly empty
  std::vector<header_field> headers{};
  body_framing framing = body_framing::none;
  std::uint64_t content_length = 0;  ///< valid when framing is content_length

  /// The value of the first field named `name` (case-insensitive), if any.
  std::optional<std::string_view> find(std::string_view name) const noexcept {
    for (const auto& h : headers)
      if (iequals(h.name, name)) return std::string_view(h.value);
    return std::nullopt;
  }
};

/// Incremental parser of one HTTP/1.x response head. Not thread-safe; reset() for a new response.
class response_parser {
 public:
  explicit response_parser(response_limits limits = {}) : limits_(limits) {}

  /// Feeds bytes as they arrive, in pieces of any size. Returns how many bytes it consumed: all of
  /// them while the head is incomplete, then only those up to and including the blank line that
  /// ends it (the rest is the body). On error `ec` is set, the count includes the byte at which the
  /// error was found (the same whatever the split), and the error is sticky: later calls return 0
  /// with the same error until reset(). Otherwise `ec` is cleared. After done(), returns 0.
  std::size_t feed(std::string_view bytes, std::error_code& ec) {
    ec = failed_;
    if (ec || done_) return 0;
    std::size_t consumed = 0;
    while (!bytes.empty() && !done_) {
      // Look for the end of the head: an empty line, found as LF [CR] LF across the buffer.
      const std::size_t old = buffer_.size();
      const std::size_t room = limits_.max_head_bytes - old;
      const std::size_t take_max = std::min(bytes.size(), room + 1);
      std::size_t end = std::string_view::npos;  // offset in `bytes` just past the head
      for (std::size_t i = 0; i < take_max; ++i) {
        const char c = bytes[i];
        if (c == '\n') {
          if (line_start_empty_) {
            end = i + 1;
            break;
          }
          line_start_empty_ = true;
        } else if (c == '\r' && line_start_empty_) {
          // A CR at the start of a line: the end of the head if an LF follows.
        } else {
          line_start_empty_ = false;
        }
      }
      if (end == std::string_view::npos) {
        if (take_max > room) {
          fail(response_errc::head_too_large, ec);
          return consumed + room + 1;  // the first byte beyond the limit
        }
        buffer_.append(bytes.substr(0, take_max));
        consumed += take_max;
        return consumed;
      }
      if (end > room) {
        fail(response_errc::head_too_large, ec);
        return consumed + room + 1;  // the first byte beyond the limit
      }
      buffer_.append(bytes.substr(0, end));
      consumed += end;
      bytes.remove_prefix(end);
      if (const auto e = parse_head(); e) {
        failed_ = e;
        ec = e;
        return consumed;
      }
      if (head_.status >= 100 && head_.status < 200 && head_.status != 101) {
        if (++interim_ > limits_.max_interim_responses) {
          fail(response_errc::too_many_interim_responses, ec);
          return consumed;
        }
        buffer_.clear();
        head_ = {};
        line_start_empty_ = true;
        continue;
      }
      done_ = true;
    }
    return consumed;
  }

  /// The whole head was parsed (the final one: interim 1xx responses are skipped).
  bool done() const noexcept { return done_; }
  /// The parsed head; complete only when done().
  const response_head& head() const noexcept { return head_; }
  response_head& head() noexcept { return head_; }
  /// The error that stopped the parser (sticky until reset()), or no error.
  std::error_code error() const noexcept { return failed_; }
  const response_limits& limits() const noexcept { return limits_; }

  /// Forgets everything but the limits, ready for a new response.
  void reset() {
    buffer_.clear();
    head_ = {};
    failed_ = {};
    done_ = false;
    line_start_empty_ = true;
    interim_ = 0;
  }

 private:
  void fail(response_errc e, std::error_code& ec) {
    failed_ = make_error_code(e);
    ec = failed_;
  }

  // Parses the complete head in buffer_ (ending with the empty line).
  std::error_code parse_head() {
    std::string_view rest = buffer_;
    if (rest.find('\0') != std::string_view::npos) return make_error_code(response_errc::nul_character);
    bool first = true;
    bool seen_cl = false, seen_te = false, chunked = false;
    std::uint64_t cl = 0;
    for (;;) {
      const std::size_t lf = rest.find('\n');
      std::string_view line = rest.substr(0, lf);  // lf is always found: the head ends with LF
      rest.remove_prefix(lf + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.find('\r') != std::string_view::npos) return make_error_code(response_errc::bare_cr);
      if (first) {
        if (const auto e = parse_status_line(line); e) return e;
        first = false;
        continue;
      }
      if (line.empty()) break;
      if (line.front() == ' ' || line.front() == '\t') return make_error_code(response_errc::obs_fold);
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) return make_error_code(response_errc::missing_colon);
      if (colon == 0) return make_error_code(response_errc::empty_header_name);
      const std::string_view name = line.substr(0, colon);
      if (name.back() == ' ' || name.back() == '\t')
        return make_error_code(response_errc::whitespace_before_colon);
      for (const char c : name)
        if (!detail::is_tchar(static_cast<unsigned char>(c)))
          return make_error_code(response_errc::invalid_header_name);
      const std::string_view value = detail::trim_ows(line.substr(colon + 1));
      for (const char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && u != '\t') || u == 0x7F) return make_error_code(response_errc::invalid_header_value);
      }
      if (head_.headers.size() >= limits_.max_headers) return make_error_code(response_errc::too_many_headers);
      if (iequals(name, "content-length")) {
        // A list of identical values ("5, 5") is accepted as one value (RFC 9110 section 8.6).
        std::string_view list = value;
        for (;;) {
          const std::size_t comma = list.find(',');
          const std::string_view item = detail::trim_ows(list.substr(0, comma));
          std::uint64_t v = 0;
          if (item.empty() || item.size() > 19) return make_error_code(response_errc::invalid_content_length);
          for (const char c : item) {
            if (c < '0' || c > '9') return make_error_code(response_errc::invalid_content_length);
            v = v * 10 + static_cast<std::uint64_t>(c - '0');
          }
          if (seen_cl && v != cl) return make_error_code(response_errc::conflicting_content_length);
          seen_cl = true;
          cl = v;
          if (comma == std::string_view::npos) break;
          list.remove_prefix(comma + 1);
        }
      } else if (iequals(name, "transfer-encoding")) {
        seen_te = true;
        std::string_view list = value;
        for (;;) {
          const std::size_t comma = list.find(',');
          std::string_view coding = detail::trim_ows(list.substr(0, comma));
          if (const auto semi = coding.find(';'); semi != std::string_view::npos)
            coding = detail::trim_ows(coding.substr(0, semi));
          if (!coding.empty()) {
            // chunked must be the last coding and appear once; anything after it is an error.
            if (chunked) return make_error_code(response_errc::unsupported_transfer_coding);
            if (iequals(coding, "chunked")) {
              chunked = true;
            } else if (!iequals(coding, "identity")) {
              return make_error_code(response_errc::unsupported_transfer_coding);
            }
          }
          if (comma == std::string_view::npos) break;
          list.remove_prefix(comma + 1);
        }
      }
      head_.headers.push_back({std::string(name), std::string(value)});
    }
    if (seen_te && head_.version_minor == 0)
      return make_error_code(response_errc::transfer_encoding_in_http10);
    if (seen_te && seen_cl) return make_error_code(response_errc::content_length_with_transfer_encoding);
    const int s = head_.status;
    if ((s >= 100 && s < 200) || s == 204 || s == 304) {
      head_.framing = body_framing::none;
    } else if (chunked) {
      head_.framing = body_framing::chunked;
    } else if (seen_te) {
      head_.framing = body_framing::close_delimited;  // only identity codings: read until close
    } else if (seen_cl) {
      head_.framing = body_framing::content_length;
      head_.content_length = cl;
    } else {
      head_.framing = body_framing::close_delimited;
    }
    return {};
  }

  std::error_code parse_status_line(std::string_view line) {
    const std::size_t sp = line.find(' ');
    const std::string_view version = line.substr(0, sp);
    if (version.substr(0, 5) != "HTTP/") return make_error_code(response_errc::invalid_status_line);
    if (version == "HTTP/1.1") {
      head_.version_minor = 1;
    } else if (version == "HTTP/1.0") {
      head_.version_minor = 0;
    } else {
      return make_error_code(response_errc::invalid_version);
    }
    if (sp == std::string_view::npos || line.size() < 12) return make_error_code(response_errc::invalid_status_line);
    int status = 0;
    for (std::size_t i = 9; i < 12; ++i) {
      if (line[i] < '0' || line[i] > '9') return make_error_code(response_errc::invalid_status_code);
      status = status * 10 + (line[i] - '0');
    }
    if (status < 100 || status > 599) return make_error_code(response_errc::invalid_status_code);
    head_.status = status;
    if (line.size() > 12) {
      if (line[12] != ' ') return make_error_code(response_errc::invalid_status_code);
      const std::string_view reason = line.substr(13);
      for (const char c : reason) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && u != '\t') || u == 0x7F) return make_error_code(response_errc::invalid_reason);
      }
      head_.reason.assign(reason);
    }
    return {};
  }

  response_limits limits_;
  std::string buffer_;
  response_head head_;
  std::error_code failed_;
  std::size_t interim_ = 0;
  bool done_ = false;
  bool line_start_empty_ = true;  // no byte other than CR seen since the last LF (or the start)
};

struct chunked_limits {
  /// Largest chunk size accepted (the body itself is not buffered, so this only guards nonsense).
  std::uint64_t max_chunk_bytes = std::uint64_t{1} << 40;
  /// Longest run of chunk extensions after one chunk size, in bytes.
  std::size_t max_extension_bytes = 4096;
  /// Largest trailer section, in bytes.
  std::size_t max_trailer_bytes = 16 * 1024;
};

/// Incremental decoder of a chunked body. Hands out views of the body bytes inside the input,
/// so nothing is copied. Not thread-safe; reset() for a new body.
class chunked_decoder {
 public:
  explicit chunked_decoder(chunked_limits limits = {}) : limits_(limits) {}

  /// Feeds bytes of the body as they arrive, in pieces of any size, and calls
  /// `on_data(std::string_view)` for each run of body bytes. Returns how many bytes it consumed: all
  /// of them until the body ends, then only those up to and including the end of the trailer section
  /// (the rest is not the body's). On error `ec` is set, the count includes the byte at which the
  /// error was found (the same whatever the split), and the error is sticky: later calls return 0
  /// with the same error until reset(). Otherwise `ec` is cleared. After done(), returns 0.
  template <class OnData>
  std::size_t feed(std::string_view in, OnData&& on_data, std::error_code& ec) {
    ec = failed_;
    if (ec) return 0;
    std::size_t i = 0;
    while (i < in.size() && state_ != state::done) {
      const char c = in[i];
      switch (state_) {
        case state::size_first: {
          const int h = detail::hex_value(c);
          if (h < 0) return fail(response_errc::invalid_chunk_size, ec, i);
          size_ = static_cast<std::uint64_t>(h);
          digits_ = 1;
          state_ = state::size;
          ++i;
          break;
        }
        case state::size: {
          const int h = detail::hex_value(c);
          if (h >= 0) {
            if (++digits_ > 16) return fail(response_errc::chunk_size_too_large, ec, i);
            size_ = size_ * 16 + static_cast<std::uint64_t>(h);
            ++i;
            break;
          }
          if (size_ > limits_.max_chunk_bytes) return fail(response_errc::chunk_size_too_large, ec, i);
          ext_bytes_ = 0;
          if (c == ' ' || c == '\t' || c == ';') {
            state_ = state::ext;
          } else if (c == '\r') {
            state_ = state::size_lf;
            ++i;
          } else if (c == '\n') {
            ++i;
            end_of_size_line();
          } else {
            return fail(response_errc::invalid_chunk_size, ec, i);
          }
          break;
        }
        case state::ext: {
          if (c == '\r') {
            state_ = state::size_lf;
          } else if (c == '\n') {
            ++i;
            end_of_size_line();
            break;
          } else {
            const auto u = static_cast<unsigned char>(c);
            if ((u < 0x20 && u != '\t') || u == 0x7F) return fail(response_errc::invalid_chunk_extension, ec, i);
            if (++ext_bytes_ > limits_.max_extension_bytes)
              return fail(response_errc::chunk_extension_too_large, ec, i);
          }
          ++i;
          break;
        }
        case state::size_lf: {
          if (c != '\n') return fail(response_errc::invalid_chunk_size, ec, i);
          ++i;
          end_of_size_line();
          break;
        }
        case state::data: {
          const std::size_t avail = in.size() - i;
          const std::size_t n = remaining_ < avail ? static_cast<std::size_t>(remaining_) : avail;
          on_data(in.substr(i, n));
          i += n;
          remaining_ -= n;
          if (remaining_ == 0) state_ = state::data_cr;
          break;
        }
        case state::data_cr: {
          if (c == '\r') {
            state_ = state::data_lf;
          } else if (c == '\n') {
            state_ = state::size_first;
          } else {
            return fail(response_errc::invalid_chunk_terminator, ec, i);
          }
          ++i;
          break;
        }
        case state::data_lf: {
          if (c != '\n') return fail(response_errc::invalid_chunk_terminator, ec, i);
          state_ = state::size_first;
          ++i;
          break;
        }
        case state::trailer: {
          // Trailer fields are skipped; the section ends with an empty line.
          if (++trailer_bytes_ > limits_.max_trailer_bytes) return fail(response_errc::trailer_too_large, ec, i);
          if (c == '\n') {
            if (trailer_line_empty_) {
              state_ = state::done;
            }
            trailer_line_empty_ = true;
          } else if (c == '\r') {
            if (trailer_cr_) return fail(response_errc::invalid_chunk_terminator, ec, i);
            trailer_cr_ = true;
            ++i;
            break;
          } else {
            if (trailer_cr_ || c == '\0') return fail(response_errc::invalid_chunk_terminator, ec, i);
            trailer_line_empty_ = false;
          }
          trailer_cr_ = false;
          ++i;
          break;
        }
        case state::done: break;
      }
    }
    return i;
  }

  /// The whole body was decoded: the last chunk and the trailer section were consumed.
  bool done() const noexcept { return state_ == state::done; }
  /// The error that stopped the decoder (sticky until reset()), or no error.
  std::error_code error() const noexcept { return failed_; }

  /// Forgets everything but the limits, ready for a new body.
  void reset() noexcept {
    state_ = state::size_first;
    size_ = remaining_ = 0;
    digits_ = 0;
    ext_bytes_ = trailer_bytes_ = 0;
    trailer_line_empty_ = true;
    trailer_cr_ = false;
    failed_ = {};
  }

 private:
  enum class state { size_first, size, ext, size_lf, data, data_cr, data_lf, trailer, done };

  // `at` is the offset of the byte at which the error was found: it counts as consumed.
  std::size_t fail(response_errc e, std::error_code& ec, std::size_t at) {
    failed_ = make_error_code(e);
    ec = failed_;
    return at + 1;
  }

  void end_of_size_line() noexcept {
    if (size_ == 0) {
      state_ = state::trailer;
      trailer_line_empty_ = true;
      trailer_cr_ = false;
      trailer_bytes_ = 0;
    } else {
      remaining_ = size_;
      state_ = state::data;
    }
  }

  chunked_limits limits_;
  state state_ = state::size_first;
  std::uint64_t size_ = 0;
  std::uint64_t remaining_ = 0;
  unsigned digits_ = 0;
  std::size_t ext_bytes_ = 0;
  std::size_t trailer_bytes_ = 0;
  bool trailer_line_empty_ = true;
  bool trailer_cr_ = false;
  std::error_code failed_;
};

}  // namespace sse::http

template <>
struct std::is_error_code_enum<sse::http::response_errc> : std::true_type {};

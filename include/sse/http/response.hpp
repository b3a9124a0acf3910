/**
 * @file response.hpp
 * @brief Pure functions that build HTTP/1.1 response bytes: the SSE response head, chunk framing,
 *        and small complete responses (errors, JSON).
 *
 * The status line is always `HTTP/1.1`, also for an HTTP/1.0 client: RFC 9110 section 6.2 says a
 * server sends the highest minor version it conforms to; what changes for a 1.0 client is the framing
 * (no chunked encoding, a close-delimited body, `Connection: close`).
 * Extra headers are validated, never repaired: a name that is not a token, a value with CR, LF, NUL
 * or another control character, or a header that would change the framing (Content-Length,
 * Transfer-Encoding, Connection, Content-Type) is rejected with `errc::invalid_response_header` /
 * `errc::reserved_response_header`, thrown as `sse::http::invalid_header` by the throwing forms.
 * Sans-io: standard library only.
 * @see https://www.rfc-editor.org/rfc/rfc9112#section-7.1 (chunked transfer coding)
 * @see https://html.spec.whatwg.org/multipage/server-sent-events.html
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sse/http/error.hpp"
#include "sse/http/request_parser.hpp"

namespace sse::http {

/// A response header to add; both views must stay valid for the duration of the call.
struct field {
  std::string_view name{};
  std::string_view value{};
};

/// What the SSE response head says besides the fixed headers.
struct sse_head_options {
  int version_minor = 1;               ///< the client's HTTP/1.x minor version (0 gives close-delimited)
  bool chunked = true;                 ///< HTTP/1.1 only: false gives a close-delimited body too
  std::string_view allow_origin{};     ///< non-empty: Access-Control-Allow-Origin (+ Vary: Origin unless "*")
  bool allow_credentials = false;      ///< adds Access-Control-Allow-Credentials: true
  std::vector<field> extra_headers{};  ///< added after the fixed headers, validated
};

/// A small complete response with a Content-Length body.
struct response_options {
  int status = 200;
  std::string_view content_type = "text/plain; charset=utf-8";  ///< empty: no Content-Type
  std::string_view body{};
  std::vector<field> headers{};
  bool keep_alive = false;  ///< Connection: keep-alive instead of close
  bool head_only = false;   ///< answer to HEAD: Content-Length of the body, but no body bytes
};

namespace detail {

inline errc check_response_field(std::string_view name, std::string_view value) noexcept {
  if (name.empty()) return errc::invalid_response_header;
  for (const char c : name) {
    if (!grammar::is_tchar(static_cast<unsigned char>(c))) return errc::invalid_response_header;
  }
  for (const char c : value) {
    if (!grammar::is_field_value_char(static_cast<unsigned char>(c))) return errc::invalid_response_header;
  }
  for (const std::string_view reserved :
       {"Content-Length", "Transfer-Encoding", "Connection", "Content-Type"}) {
    if (grammar::iequals(name, reserved)) return errc::reserved_response_header;
  }
  return errc{};
}

inline void append_response_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

inline void append_uint_in_base(std::string& out, std::uint64_t v, unsigned base) {
  char buf[20];
  char* p = buf + sizeof buf;
  do {
    *--p = "0123456789abcdef"[v % base];
    v /= base;
  } while (v != 0);
  out.append(p, static_cast<std::size_t>(buf + sizeof buf - p));
}

inline void append_response_status_line(std::string& out, int status) {
  out.append("HTTP/1.1 ");
  append_uint_in_base(out, static_cast<std::uint64_t>(status), 10);
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append("\r\n");
}

inline void throw_invalid_header_if(std::error_code ec) {
  if (ec) throw invalid_header(ec, ec.message());
}

}  // namespace detail

/// The SSE response head (status line, headers, empty line), or "" with `ec` set if an option is
/// invalid. HTTP/1.1: `Connection: keep-alive` and `Transfer-Encoding: chunked`; HTTP/1.0 (or
/// `chunked = false`): `Connection: close` and a body delimited by closing the connection.
inline std::string sse_response_head(const sse_head_options& options, std::error_code& ec) {
  ec.clear();
  errc e{};
  if (!options.allow_origin.empty())
    e = detail::check_response_field("Access-Control-Allow-Origin", options.allow_origin);
  for (const auto& f : options.extra_headers) {
    if (e != errc{}) break;
    e = detail::check_response_field(f.name, f.value);
  }
  if (e != errc{}) {
    ec = make_error_code(e);
    return {};
  }
  const bool chunked = options.version_minor >= 1 && options.chunked;
  std::string out;
  out.reserve(256);
  detail::append_response_status_line(out, 200);
  detail::append_response_field(out, "Content-Type", "text/event-stream; charset=utf-8");
  detail::append_response_field(out, "Cache-Control", "no-cache, no-store, no-transform");
  detail::append_response_field(out, "X-Accel-Buffering", "no");
  detail::append_response_field(out, "Connection", chunked ? "keep-alive" : "close");
  if (chunked) detail::append_response_field(out, "Transfer-Encoding", "chunked");
  if (!options.allow_origin.empty()) {
    detail::append_response_field(out, "Access-Control-Allow-Origin", options.allow_origin);
    if (options.allow_origin != "*") detail::append_response_field(out, "Vary", "Origin");
    if (options.allow_credentials)
      detail::append_response_field(out, "Access-Control-Allow-Credentials", "true");
  }
  for (const auto& f : options.extra_headers) detail::append_response_field(out, f.name, f.value);
  out.append("\r\n");
  return out;
}

/// Throwing form: throws sse::http::invalid_header (a std::invalid_argument).
inline std::string sse_response_head(const sse_head_options& options = {}) {
  std::error_code ec;
  std::string out = sse_response_head(options, ec);
  detail::throw_invalid_header_if(ec);
  return out;
}

/// The chunk-size line for a chunk of `size` bytes: lowercase hex, then CRLF ("1a\r\n").
inline void append_chunk_header(std::string& out, std::size_t size) {
  detail::append_uint_in_base(out, size, 16);
  out.append("\r\n");
}

/// Same as append_chunk_header, as its own string (for gathered writes of separate payloads).
inline std::string chunk_header(std::size_t size) {
  std::string out;
  append_chunk_header(out, size);
  return out;
}

/// The CRLF that follows a chunk's payload.
constexpr std::string_view chunk_end() noexcept { return "\r\n"; }

/// The last chunk with an empty trailer section: ends a chunked body.
constexpr std::string_view last_chunk() noexcept { return "0\r\n\r\n"; }

/// Appends `payload` as one chunk (size line, payload, CRLF). An empty payload appends nothing,
/// since a zero-size chunk would end the body.
inline void append_chunk(std::string& out, std::string_view payload) {
  if (payload.empty()) return;
  append_chunk_header(out, payload.size());
  out.append(payload);
  out.append(chunk_end());
}

/// A complete response with a Content-Length body, or "" with `ec` set if an argument is invalid.
/// 1xx, 204 and 304 get neither Content-Length nor a body.
inline std::string make_response(const response_options& options, std::error_code& ec) {
  ec.clear();
  errc e = options.status < 100 || options.status > 599 ? errc::invalid_status : errc{};
  if (e == errc{} && !options.content_type.empty()) {
    for (const char c : options.content_type) {
      if (!detail::grammar::is_field_value_char(static_cast<unsigned char>(c)))
        e = errc::invalid_response_header;
    }
  }
  for (const auto& f : options.headers) {
    if (e != errc{}) break;
    e = detail::check_response_field(f.name, f.value);
  }
  if (e != errc{}) {
    ec = make_error_code(e);
    return {};
  }
  const bool bodiless = options.status < 200 || options.status == 204 || options.status == 304;
  std::string out;
  out.reserve(128 + options.body.size());
  detail::append_response_status_line(out, options.status);
  if (!bodiless) {
    if (!options.content_type.empty())
      detail::append_response_field(out, "Content-Type", options.content_type);
    out.append("Content-Length: ");
    detail::append_uint_in_base(out, options.body.size(), 10);
    out.append("\r\n");
  }
  detail::append_response_field(out, "Connection", options.keep_alive ? "keep-alive" : "close");
  for (const auto& f : options.headers) detail::append_response_field(out, f.name, f.value);
  out.append("\r\n");
  if (!bodiless && !options.head_only) out.append(options.body);
  return out;
}

/// Throwing form: throws sse::http::invalid_header (a std::invalid_argument).
inline std::string make_response(const response_options& options) {
  std::error_code ec;
  std::string out = make_response(options, ec);
  detail::throw_invalid_header_if(ec);
  return out;
}

/// A plain-text error response that closes the connection; the body is `reason` (or the status's
/// reason phrase when empty) followed by LF. Add `Allow` for 405, `WWW-Authenticate` for 401,
/// `Retry-After` for 503 through `headers`. Throws sse::http::invalid_header on a bad argument.
inline std::string error_response(int status, std::string_view reason, std::span<const field> headers) {
  std::string body(reason.empty() ? reason_phrase(status) : reason);
  body.push_back('\n');
  return make_response(
      {.status = status, .body = body, .headers = std::vector<field>(headers.begin(), headers.end())});
}

inline std::string error_response(int status, std::string_view reason = {},
                                  std::initializer_list<field> headers = {}) {
  return error_response(status, reason, std::span<const field>(headers.begin(), headers.size()));
}

/// An `application/json` response with a Content-Length body. Throws sse::http::invalid_header on
/// a bad argument.
inline std::string json_response(int status, std::string_view json_body, std::span<const field> headers,
                                 bool keep_alive = false) {
  return make_response({.status = status,
                        .content_type = "application/json",
                        .body = json_body,
                        .headers = std::vector<field>(headers.begin(), headers.end()),
                        .keep_alive = keep_alive});
}

inline std::string json_response(int status, std::string_view json_body,
                                 std::initializer_list<field> headers = {}, bool keep_alive = false) {
  return json_response(status, json_body, std::span<const field>(headers.begin(), headers.size()),
                       keep_alive);
}

}  // namespace sse::http

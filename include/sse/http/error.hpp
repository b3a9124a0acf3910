/**
 * @file error.hpp
 * @brief Error codes of the HTTP layer (request-head parser, response builders), their HTTP status,
 *        and the standard reason phrases.
 *
 * Every way a request head can be rejected is a distinct `sse::http::errc` value, so a log line says
 * exactly what was wrong; `status_for()` maps each one to the status the server answers with.
 * Sans-io: standard library only.
 * @see https://www.rfc-editor.org/rfc/rfc9112 (HTTP/1.1 message syntax)
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-15 (status codes)
 */
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "sse/error_category.hpp"

namespace sse::http {

/// Errors of the HTTP layer. The comment after each value gives the status `status_for()` returns.
enum class errc {
  // Limits.
  header_section_too_large = 1,  ///< 431: the head is larger than request_limits::max_head_bytes
  target_too_long,               ///< 414: the request-target is longer than max_target_bytes
  too_many_headers,              ///< 431: more header fields than max_headers
  too_many_empty_lines,          ///< 400: more empty lines before the request line than allowed
  // Framing of lines.
  nul_character,  ///< 400: a NUL byte anywhere in the head
  bare_lf,        ///< 400: a line ended by LF without CR (rejected, see request_parser)
  bare_cr,        ///< 400: a CR not followed by LF
  // Request line.
  invalid_request_line,      ///< 400: not exactly `method SP target SP version`
  invalid_method,            ///< 400: the method is not a token
  method_not_implemented,    ///< 501: a valid token, but not GET HEAD POST PUT DELETE OPTIONS PATCH
  invalid_target,            ///< 400: bad character or form of the request-target
  invalid_percent_encoding,  ///< 400: `%` not followed by two hex digits, or `%00`, in the path
  invalid_version,           ///< 400: the version is not `HTTP/DIGIT.DIGIT`
  version_not_supported,     ///< 505: a well-formed version other than HTTP/1.0 and HTTP/1.1
  // Header fields.
  obs_fold,                 ///< 400: a header line starting with SP or HTAB (obsolete line folding)
  missing_colon,            ///< 400: a header line without `:`
  empty_header_name,        ///< 400: a header line starting with `:`
  whitespace_before_colon,  ///< 400: SP or HTAB between the field name and the colon
  invalid_header_name,      ///< 400: the field name is not a token
  invalid_header_value,     ///< 400: a control character (other than HTAB) or DEL in a field value
  // Semantics of particular fields.
  invalid_content_length,                 ///< 400: Content-Length is not a decimal number
  conflicting_content_length,             ///< 400: several Content-Length values that differ
  content_length_with_transfer_encoding,  ///< 400: both present (request smuggling)
  bad_transfer_encoding,                  ///< 400: chunked is not the final coding, or is applied twice
  unsupported_transfer_coding,            ///< 501: a coding other than chunked (gzip, chunked...)
  transfer_encoding_in_http10,            ///< 400: Transfer-Encoding in an HTTP/1.0 request
  missing_host,                           ///< 400: no Host in an HTTP/1.1 request
  multiple_host,                          ///< 400: more than one Host field
  invalid_host,                           ///< 400: the Host value is not `host[:port]`
  // Reported by the server, not by the parser.
  body_too_large,   ///< 413: the request body exceeds the server's limit
  request_timeout,  ///< 408: the head or body did not arrive in time
  // Reported by the response builders (a programming error, never caused by the peer).
  invalid_response_header,   ///< 500: a response header name/value with CR, LF, NUL or a non-token name
  reserved_response_header,  ///< 500: an extra header that would change the framing (Content-Length...)
  invalid_status,            ///< 500: a status code outside 100..599
};

namespace detail {
struct http_error_category {
  static constexpr const char* name = "sse.http";
  static std::string message(int ev) {
    switch (static_cast<errc>(ev)) {
      case errc::header_section_too_large:
        return "request header section too large";
      case errc::target_too_long:
        return "request-target too long";
      case errc::too_many_headers:
        return "too many header fields";
      case errc::too_many_empty_lines:
        return "too many empty lines before the request line";
      case errc::nul_character:
        return "NUL character in the request head";
      case errc::bare_lf:
        return "line ended by a bare LF (CRLF required)";
      case errc::bare_cr:
        return "bare CR not followed by LF";
      case errc::invalid_request_line:
        return "malformed request line";
      case errc::invalid_method:
        return "invalid character in the method";
      case errc::method_not_implemented:
        return "method not implemented";
      case errc::invalid_target:
        return "invalid request-target";
      case errc::invalid_percent_encoding:
        return "invalid percent-encoding in the path";
      case errc::invalid_version:
        return "malformed HTTP version";
      case errc::version_not_supported:
        return "HTTP version not supported";
      case errc::obs_fold:
        return "obsolete line folding (line starting with whitespace)";
      case errc::missing_colon:
        return "header line without a colon";
      case errc::empty_header_name:
        return "empty header field name";
      case errc::whitespace_before_colon:
        return "whitespace between header field name and colon";
      case errc::invalid_header_name:
        return "invalid character in a header field name";
      case errc::invalid_header_value:
        return "invalid character in a header field value";
      case errc::invalid_content_length:
        return "invalid Content-Length";
      case errc::conflicting_content_length:
        return "conflicting Content-Length values";
      case errc::content_length_with_transfer_encoding:
        return "both Content-Length and Transfer-Encoding present";
      case errc::bad_transfer_encoding:
        return "Transfer-Encoding does not end with a single chunked";
      case errc::unsupported_transfer_coding:
        return "unsupported transfer coding";
      case errc::transfer_encoding_in_http10:
        return "Transfer-Encoding in an HTTP/1.0 request";
      case errc::missing_host:
        return "missing Host header in an HTTP/1.1 request";
      case errc::multiple_host:
        return "more than one Host header";
      case errc::invalid_host:
        return "invalid Host header value";
      case errc::body_too_large:
        return "request body too large";
      case errc::request_timeout:
        return "request timed out";
      case errc::invalid_response_header:
        return "response header name or value is invalid";
      case errc::reserved_response_header:
        return "response header is reserved for the framing";
      case errc::invalid_status:
        return "status code outside 100..599";
    }
    return "unknown sse.http error";
  }
};
}  // namespace detail

/// The category of sse::http::errc values, named "sse.http".
inline const std::error_category& error_category() noexcept {
  return sse::error_category_for<detail::http_error_category>();
}

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

/// The HTTP status a server answers with for `ec`: the table in `errc` for the "sse.http" category,
/// 200 for no error, and 500 for an error of any other category.
inline int status_for(std::error_code ec) noexcept {
  if (!ec) return 200;
  if (ec.category() != error_category()) return 500;
  switch (static_cast<errc>(ec.value())) {
    case errc::header_section_too_large:
    case errc::too_many_headers:
      return 431;
    case errc::target_too_long:
      return 414;
    case errc::method_not_implemented:
    case errc::unsupported_transfer_coding:
      return 501;
    case errc::version_not_supported:
      return 505;
    case errc::body_too_large:
      return 413;
    case errc::request_timeout:
      return 408;
    case errc::invalid_response_header:
    case errc::reserved_response_header:
    case errc::invalid_status:
      return 500;
    case errc::too_many_empty_lines:
    case errc::nul_character:
    case errc::bare_lf:
    case errc::bare_cr:
    case errc::invalid_request_line:
    case errc::invalid_method:
    case errc::invalid_target:
    case errc::invalid_percent_encoding:
    case errc::invalid_version:
    case errc::obs_fold:
    case errc::missing_colon:
    case errc::empty_header_name:
    case errc::whitespace_before_colon:
    case errc::invalid_header_name:
    case errc::invalid_header_value:
    case errc::invalid_content_length:
    case errc::conflicting_content_length:
    case errc::content_length_with_transfer_encoding:
    case errc::bad_transfer_encoding:
    case errc::transfer_encoding_in_http10:
    case errc::missing_host:
    case errc::multiple_host:
    case errc::invalid_host:
      return 400;
  }
  return 400;
}

/// The reason phrase of a status code ("Not Found"), or "Unknown" for a code it does not know.
inline std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

/// Thrown by the throwing forms of the response builders when an argument would corrupt the
/// response (a header with CR/LF/NUL, a framing header, a bad status).
class invalid_header : public std::invalid_argument {
 public:
  invalid_header(std::error_code ec, const std::string& what) : std::invalid_argument(what), code_(ec) {}
  const std::error_code& code() const noexcept { return code_; }

 private:
  std::error_code code_;
};

}  // namespace sse::http

template <>
struct std::is_error_code_enum<sse::http::errc> : std::true_type {};

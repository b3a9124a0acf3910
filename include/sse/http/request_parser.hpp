/**
 * @file request_parser.hpp
 * @brief A strict, bounded, incremental HTTP/1.1 request-head parser (sans-io).
 *
 * `request_parser::feed()` takes bytes as they arrive, in chunks of any size, and stops right after
 * the CRLF CRLF that ends the head; the bytes after it (a body, a pipelined request) are left to the
 * caller, who learns the body framing from `request::content_length` / `request::chunked`. The
 * verbs are those of every parser here (sse::parser, sse::http::response_parser): feed() returns the
 * bytes consumed and sets an error_code, done() says the head is complete, error() is the sticky
 * error, reset() starts over.
 *
 * Strictness decisions (each failure is a distinct `sse::http::errc`, see `status_for()`):
 * - Lines must end with CRLF. A bare LF (RFC 9112 section 2.2 lets a recipient accept it) and a bare
 *   CR are both rejected: strict framing leaves no room for a proxy and us to disagree.
 * - Up to `request_limits::max_empty_lines` empty lines before the request line are ignored.
 * - Methods: GET HEAD POST PUT DELETE OPTIONS PATCH (case-sensitive); other tokens give 501.
 * - Versions: HTTP/1.0 and HTTP/1.1; other well-formed versions give 505.
 * - Targets: origin-form, absolute-form (http/https, no userinfo), and `*` for OPTIONS only. Bytes
 *   must be visible ASCII other than `#`; non-ASCII must be percent-encoded. The path is
 *   percent-decoded strictly (`%zz` and `%00` are errors); the query is kept raw and decoded leniently
 *   on demand, like the WHATWG application/x-www-form-urlencoded parser (`+` is a space, a `%` not
 *   followed by two hex digits stays as it is). Dot segments are NOT removed.
 * - Transfer-Encoding: only `chunked` as the single, final coding is accepted. Any other coding in
 *   front of it (`gzip, chunked`) gives 501; a final coding other than chunked, or chunked twice,
 *   gives 400 (RFC 9112 section 6.3); Transfer-Encoding with Content-Length, or in an HTTP/1.0
 *   request, gives 400.
 * - Content-Length: 1*DIGIT; repeated fields or lists of identical values are accepted (RFC 9110
 *   section 8.6), different values are rejected.
 * - Host: required in HTTP/1.1, at most one, characters of `host[:port]` only (may be empty).
 * @see https://www.rfc-editor.org/rfc/rfc9112
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "sse/http/error.hpp"

namespace sse::http {

namespace detail::grammar {

/// tchar from RFC 9110 section 5.6.2.
constexpr bool is_tchar(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return c != 0 && std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

/// field-vchar / SP / HTAB (obs-text allowed, controls and DEL not).
constexpr bool is_field_value_char(unsigned char c) noexcept {
  return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7F);
}

/// Bytes allowed in a request-target: visible ASCII except `#`.
constexpr bool is_target_char(unsigned char c) noexcept { return c >= 0x21 && c <= 0x7E && c != '#'; }

/// Bytes of `uri-host [ ":" port ]`: unreserved, sub-delims, `:`, `[`, `]`, `%`.
constexpr bool is_host_char(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return c != 0 && std::string_view("-._~!$&'()*+,;=:[]%").find(static_cast<char>(c)) != std::string_view::npos;
}

constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Calls `f(element)` for each non-empty, OWS-trimmed element of a comma-separated list; stops and
/// returns true as soon as `f` returns true.
template <class F>
constexpr bool any_list_element(std::string_view list, F&& f) {
  for (;;) {
    const std::size_t comma = list.find(',');
    const std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty() && f(element)) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace detail::grammar

/// Percent-decodes a path strictly. Returns nullopt if a `%` is not followed by two hex digits or
/// decodes to NUL. `+` stays `+`.
inline std::optional<std::string> decode_path(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return std::nullopt;
    const int hi = detail::grammar::hex_value(in[i + 1]);
    const int lo = detail::grammar::hex_value(in[i + 2]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

/// Decodes one key or value of an application/x-www-form-urlencoded query, leniently: `+` is a
/// space, `%XX` is a byte, and a `%` not followed by two hex digits is kept as it is (WHATWG URL).
inline std::string decode_query_component(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < in.size() && detail::grammar::hex_value(in[i + 1]) >= 0 &&
               detail::grammar::hex_value(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(detail::grammar::hex_value(in[i + 1]) * 16 +
                                      detail::grammar::hex_value(in[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

/// One header field as received: the name keeps its case, the value is trimmed of OWS.
struct request_field {
  std::string name{};
  std::string value{};
  friend bool operator==(const request_field&, const request_field&) = default;
};

/// A parsed request head.
struct request {
  std::string method{};     ///< "GET", "POST"...
  std::string target{};     ///< the request-target exactly as sent
  std::string path{};       ///< the percent-decoded path ("*" for `OPTIONS *`)
  std::string raw_query{};  ///< the query without `?`, not decoded ("" when absent)
  int version_major = 1;
  int version_minor = 1;
  std::vector<request_field> headers{};           ///< in order, repeats kept
  std::optional<std::uint64_t> content_length{};  ///< set when Content-Length was sent
  bool chunked = false;                           ///< Transfer-Encoding: chunked

  /// The value of the first field named `name` (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const {
    for (const auto& h : headers) {
      if (detail::grammar::iequals(h.name, name)) return std::string_view(h.value);
    }
    return std::nullopt;
  }

  /// Same as header().
  std::optional<std::string_view> find(std::string_view name) const { return header(name); }

  /// The values of every field named `name` (case-insensitive), in order.
  std::vector<std::string_view> find_all(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& h : headers) {
      if (detail::grammar::iequals(h.name, name)) out.emplace_back(h.value);
    }
    return out;
  }

  /// True if any field named `name` holds `token` in its comma-separated list (case-insensitive).
  bool has_token(std::string_view name, std::string_view token) const {
    for (const auto& h : headers) {
      if (!detail::grammar::iequals(h.name, name)) continue;
      if (detail::grammar::any_list_element(
              h.value, [&](std::string_view e) { return detail::grammar::iequals(e, token); }))
        return true;
    }
    return false;
  }

  /// Persistent connection: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
  /// `Connection: keep-alive` (and no `close`).
  bool keep_alive() const {
    if (has_token("Connection", "close")) return false;
    if (version_major == 1 && version_minor >= 1) return true;
    return has_token("Connection", "keep-alive");
  }

  /// True if a body follows the head (chunked, or a non-zero Content-Length).
  bool has_body() const noexcept { return chunked || (content_length && *content_length != 0); }

  /// The decoded value of the first query parameter whose decoded key is `key` (a parameter
  /// without `=` has an empty value).
  std::optional<std::string> query(std::string_view key) const {
    std::optional<std::string> found;
    for_each_query([&](std::string_view k, std::string_view v) {
      if (decode_query_component(k) != key) return false;
      found = decode_query_component(v);
      return true;
    });
    return found;
  }

  /// The decoded values of every query parameter whose decoded key is `key`, in order.
  std::vector<std::string> query_all(std::string_view key) const {
    std::vector<std::string> out;
    for_each_query([&](std::string_view k, std::string_view v) {
      if (decode_query_component(k) == key) out.push_back(decode_query_component(v));
      return false;
    });
    return out;
  }

  /// The id to resume after: the `Last-Event-ID` header if present and non-empty, else the
  /// `lastEventId` query parameter if non-empty and free of CR, LF and NUL (no event id can contain
  /// them), else nullopt.
  std::optional<std::string> last_event_id() const {
    if (auto h = header("Last-Event-ID"); h && !h->empty()) return std::string(*h);
    auto q = query("lastEventId");
    if (!q || q->empty() || q->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
      return std::nullopt;
    return q;
  }

  friend bool operator==(const request&, const request&) = default;

 private:
  template <class F>
  void for_each_query(F&& f) const {
    std::string_view rest = raw_query;
    while (!rest.empty()) {
      const std::size_t amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      if (!pair.empty()) {
        const std::size_t eq = pair.find('=');
        const std::string_view k = pair.substr(0, eq);
        const std::string_view v = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        if (f(k, v)) return;
      }
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
  }
};

/// Bounds on what a peer can make the parser hold.
struct request_limits {
  std::size_t max_head_bytes = 8192;    ///< whole head, including leading empty lines (431)
  std::size_t max_headers = 64;         ///< header fields (431)
  std::size_t max_target_bytes = 4096;  ///< request-target (414)
  std::size_t max_empty_lines = 4;      ///< empty lines ignored before the request line (400)
};

/// Strict, bounded, incremental HTTP/1.1 request-head parser. See the file comment for its rules.
class request_parser {
 public:
  explicit request_parser(request_limits limits = {}) : limits_(limits) {}

  /// Feeds bytes as they arrive, in pieces of any size. Returns how many bytes it consumed: all of
  /// them while the head is incomplete, then only those up to and including the blank line that
  /// ends it (the rest is a body or the next request). On error `ec` is set, the count includes the
  /// byte at which the error was found (the same whatever the split), and the error is sticky: later
  /// calls return 0 with the same error until reset(). Otherwise `ec` is cleared. After done(),
  /// returns 0.
  std::size_t feed(std::string_view bytes, std::error_code& ec);

  /// The whole head was parsed.
  bool done() const noexcept { return state_ == state::done; }
  /// The error that stopped the parser (sticky until reset()), or no error.
  std::error_code error() const noexcept { return ec_; }
  /// Bytes of the head consumed so far.
  std::size_t head_bytes() const noexcept { return head_bytes_; }
  const request_limits& limits() const noexcept { return limits_; }

  const request& get() const noexcept { return req_; }
  request& get() noexcept { return req_; }
  /// Moves the request out and resets the parser for the next one.
  request release() {
    request out = std::move(req_);
    reset();
    return out;
  }
  /// Forgets everything but the limits, ready for a new request.
  void reset() {
    req_ = request{};
    line_.clear();
    ec_.clear();
    state_ = state::request_line;
    head_bytes_ = 0;
    empty_lines_ = 0;
    spaces_ = 0;
    target_bytes_ = 0;
  }

 private:
  enum class state : unsigned char { request_line, headers, done };
  static constexpr errc ok{};

  std::size_t fail(errc e, std::size_t consumed, std::error_code& ec) {
    ec_ = make_error_code(e);
    ec = ec_;
    return consumed;
  }
  errc on_line();
  errc parse_request_line(std::string_view line);
  errc parse_target(std::string_view target);
  errc parse_header_line(std::string_view line);
  errc finish();

  request_limits limits_;
  request req_;
  std::string line_;  // the current line, without its LF
  std::error_code ec_;
  state state_ = state::request_line;
  std::size_t head_bytes_ = 0;
  std::size_t empty_lines_ = 0;
  std::size_t spaces_ = 0;        // SPs seen on the request line so far
  std::size_t target_bytes_ = 0;  // bytes between the first and second SP of the request line
};

inline std::size_t request_parser::feed(std::string_view bytes, std::error_code& ec) {
  if (ec_) {
    ec = ec_;
    return 0;
  }
  ec.clear();
  if (state_ == state::done) return 0;
  const char* p = bytes.data();
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    const std::size_t start = i;
    bool eol = false;
    // Byte-level checks happen as bytes arrive, so that a limit or a NUL is reported at the same
    // byte however the input is split; line-level checks run when the LF arrives.
    for (; i < n; ++i) {
      const char c = p[i];
      if (c == '\0') return fail(errc::nul_character, i + 1, ec);
      if (++head_bytes_ > limits_.max_head_bytes) return fail(errc::header_section_too_large, i + 1, ec);
      if (state_ == state::request_line) {
        if (c == ' ') {
          ++spaces_;
        } else if (spaces_ == 1 && c != '\r' && c != '\n' && ++target_bytes_ > limits_.max_target_bytes) {
          return fail(errc::target_too_long, i + 1, ec);
        }
      }
      if (c == '\n') {
        eol = true;
        break;
      }
    }
    line_.append(p + start, i - start);
    if (!eol) break;
    ++i;  // the LF
    const errc e = on_line();
    line_.clear();
    if (e != ok) return fail(e, i, ec);
    if (state_ == state::done) break;
  }
  return i;
}

inline errc request_parser::on_line() {
  std::string_view line = line_;
  if (line.empty() || line.back() != '\r') return errc::bare_lf;
  line.remove_suffix(1);
  if (line.find('\r') != std::string_view::npos) return errc::bare_cr;
  if (state_ == state::request_line) {
    if (line.empty()) return ++empty_lines_ > limits_.max_empty_lines ? errc::too_many_empty_lines : ok;
    const errc e = parse_request_line(line);
    if (e == ok) state_ = state::headers;
    return e;
  }
  if (line.empty()) {
    const errc e = finish();
    if (e == ok) state_ = state::done;
    return e;
  }
  return parse_header_line(line);
}

inline errc request_parser::parse_request_line(std::string_view line) {
  const std::size_t sp1 = line.find(' ');
  if (sp1 == 0 || sp1 == std::string_view::npos) return errc::invalid_request_line;
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return errc::invalid_request_line;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (version.find(' ') != std::string_view::npos) return errc::invalid_request_line;

  for (const char c : method) {
    if (!detail::grammar::is_tchar(static_cast<unsigned char>(c))) return errc::invalid_method;
  }
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !digit(version[5]) || version[6] != '.' ||
      !digit(version[7]))
    return errc::invalid_version;
  const int major = version[5] - '0';
  const int minor = version[7] - '0';
  if (major != 1 || minor > 1) return errc::version_not_supported;
  static constexpr std::string_view methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
  bool known = false;
  for (const auto m : methods) known = known || m == method;
  if (!known) return errc::method_not_implemented;

  req_.method.assign(method);
  req_.version_major = major;
  req_.version_minor = minor;
  return parse_target(target);
}

inline errc request_parser::parse_target(std::string_view target) {
  for (const char c : target) {
    if (!detail::grammar::is_target_char(static_cast<unsigned char>(c))) return errc::invalid_target;
  }
  req_.target.assign(target);
  if (target == "*") {
    if (req_.method != "OPTIONS") return errc::invalid_target;
    req_.path = "*";
    return ok;
  }
  std::string_view path_and_query;
  if (target.front() == '/') {
    path_and_query = target;
  } else {
    // absolute-form: http(s)://authority[/path][?query]
    const std::size_t colon = target.find("://");
    if (colon == std::string_view::npos) return errc::invalid_target;
    const std::string_view scheme = target.substr(0, colon);
    if (!detail::grammar::iequals(scheme, "http") && !detail::grammar::iequals(scheme, "https"))
      return errc::invalid_target;
    std::string_view rest = target.substr(colon + 3);
    const std::size_t end = rest.find_first_of("/?");
    const std::string_view authority = rest.substr(0, end);
    if (authority.empty()) return errc::invalid_target;
    for (const char c : authority) {
      if (!detail::grammar::is_host_char(static_cast<unsigned char>(c))) return errc::invalid_target;
    }
    path_and_query = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  }
  const std::size_t q = path_and_query.find('?');
  std::string_view path = path_and_query.substr(0, q);
  if (path.empty()) path = "/";
  auto decoded = decode_path(path);
  if (!decoded) return errc::invalid_percent_encoding;
  req_.path = std::move(*decoded);
  if (q != std::string_view::npos) req_.raw_query.assign(path_and_query.substr(q + 1));
  return ok;
}

inline errc request_parser::parse_header_line(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') return errc::obs_fold;
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return errc::missing_colon;
  const std::string_view name = line.substr(0, colon);
  if (name.empty()) return errc::empty_header_name;
  if (name.back() == ' ' || name.back() == '\t') return errc::whitespace_before_colon;
  for (const char c : name) {
    if (!detail::grammar::is_tchar(static_cast<unsigned char>(c))) return errc::invalid_header_name;
  }
  const std::string_view value = detail::grammar::trim_ows(line.substr(colon + 1));
  for (const char c : value) {
    if (!detail::grammar::is_field_value_char(static_cast<unsigned char>(c)))
      return errc::invalid_header_value;
  }
  if (req_.headers.size() >= limits_.max_headers) return errc::too_many_headers;
  req_.headers.push_back({std::string(name), std::string(value)});
  return ok;
}

inline errc request_parser::finish() {
  // Host (RFC 9112 section 3.2).
  const auto hosts = req_.find_all("Host");
  if (hosts.size() > 1) return errc::multiple_host;
  if (hosts.empty() && req_.version_minor >= 1) return errc::missing_host;
  for (const char c : hosts.empty() ? std::string_view{} : hosts.front()) {
    if (!detail::grammar::is_host_char(static_cast<unsigned char>(c))) return errc::invalid_host;
  }

  // Content-Length (RFC 9110 section 8.6): lists and repeats of one value are accepted.
  std::optional<std::uint64_t> length;
  bool has_length = false;
  for (const auto& h : req_.headers) {
    if (!detail::grammar::iequals(h.name, "Content-Length")) continue;
    has_length = true;
    std::string_view list = h.value;
    for (;;) {
      const std::size_t comma = list.find(',');
      const std::string_view element = detail::grammar::trim_ows(list.substr(0, comma));
      if (element.empty() || element.size() > 19) return errc::invalid_content_length;
      std::uint64_t v = 0;
      for (const char c : element) {
        if (c < '0' || c > '9') return errc::invalid_content_length;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
      }
      if (length && *length != v) return errc::conflicting_content_length;
      length = v;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }

  // Transfer-Encoding (RFC 9112 section 6).
  bool has_te = false;
  std::size_t codings = 0;
  bool last_is_chunked = false;
  bool chunked_before_last = false;
  bool other_before_last = false;
  for (const auto& h : req_.headers) {
    if (!detail::grammar::iequals(h.name, "Transfer-Encoding")) continue;
    has_te = true;
    detail::grammar::any_list_element(h.value, [&](std::string_view coding) {
      if (codings++ != 0) {
        if (last_is_chunked)
          chunked_before_last = true;
        else
          other_before_last = true;
      }
      last_is_chunked = detail::grammar::iequals(coding, "chunked");
      return false;
    });
  }
  if (has_te) {
    if (has_length) return errc::content_length_with_transfer_encoding;
    if (req_.version_minor == 0) return errc::transfer_encoding_in_http10;
    if (!last_is_chunked || chunked_before_last) return errc::bad_transfer_encoding;
    if (other_before_last) return errc::unsupported_transfer_coding;
    req_.chunked = true;
  }
  req_.content_length = length;
  return ok;
}

}  // namespace sse::http

/**
 * @file url.hpp
 * @brief sse::url and sse::parse_url: the URLs sse::client connects to (sans-io).
 *
 * Accepted forms:
 * - `http://host[:port]/path?query` and `https://host[:port]/path?query`; the host may be a name,
 *   an IPv4 address or a bracketed IPv6 literal (`http://[::1]:8080/events`);
 * - Unix domain sockets, two spellings of the same thing:
 *   - `unix:/run/app.sock:/events?topic=a` (socket path, then `:` and the request target;
 *     without `:/...` the target is `/`), and
 *   - `http+unix://%2Frun%2Fapp.sock/events?topic=a` (the percent-encoded socket path as the host,
 *     as requests-unixsocket and Docker clients spell it).
 *   The Host header sent over a Unix socket is `localhost`.
 * A fragment is dropped; userinfo (`user:pass@`) is rejected (send an Authorization header instead);
 * control characters are rejected; spaces, non-ASCII bytes and other characters that may not appear
 * raw in a request-target are percent-encoded.
 * @see https://www.rfc-editor.org/rfc/rfc3986 and https://url.spec.whatwg.org/
 */
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "sse/error_category.hpp"

namespace sse {

/// Why a URL was rejected.
enum class url_errc {
  empty = 1,               ///< the URL is empty
  unsupported_scheme,      ///< not http, https, unix or http+unix
  missing_host,            ///< no host after `//`
  invalid_host,            ///< a character that may not appear in a host
  invalid_port,            ///< the port is not a number in 1..65535
  userinfo_not_supported,  ///< `user:pass@host`: send an Authorization header instead
  invalid_character,       ///< a control character (CR, LF, NUL...) anywhere
  missing_socket_path,     ///< a unix URL without an absolute socket path
};

namespace detail {
struct url_error_category_impl {
  static constexpr const char* name = "sse.url";
  static std::string message(int ev) {
    switch (static_cast<url_errc>(ev)) {
      case url_errc::empty: return "empty URL";
      case url_errc::unsupported_scheme: return "unsupported URL scheme (use http, https, unix or http+unix)";
      case url_errc::missing_host: return "URL has no host";
      case url_errc::invalid_host: return "invalid character in the URL host";
      case url_errc::invalid_port: return "invalid URL port";
      case url_errc::userinfo_not_supported: return "user:password@ in URLs is not supported";
      case url_errc::invalid_character: return "control character in the URL";
      case url_errc::missing_socket_path: return "unix URL without an absolute socket path";
    }
    return "unknown sse.url error";
  }
};

inline char url_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

inline int url_hex(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Characters that may appear raw in a path or query (RFC 3986 pchar, '/', '?', plus '%').
inline bool is_target_char(unsigned char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-._~!$&'()*+,;=:@/?%").find(static_cast<char>(c)) != std::string_view::npos;
}

inline void append_pct(std::string& out, unsigned char c) {
  static constexpr char hex[] = "0123456789ABCDEF";
  out.push_back('%');
  out.push_back(hex[c >> 4]);
  out.push_back(hex[c & 15]);
}

// Normalizes a path-and-query into a request-target; false on a control character.
inline bool normalize_target(std::string_view in, std::string& out) {
  out.clear();
  if (in.empty() || in.front() != '/') out.push_back('/');
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (c < 0x20 || c == 0x7F) return false;
    if (c == '%' && !(i + 2 < in.size() && url_hex(in[i + 1]) >= 0 && url_hex(in[i + 2]) >= 0)) {
      append_pct(out, c);  // a lone '%' is encoded, as browsers do
    } else if (is_target_char(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      append_pct(out, c);
    }
  }
  return true;
}

inline std::string percent_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && url_hex(in[i + 1]) >= 0 && url_hex(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(url_hex(in[i + 1]) * 16 + url_hex(in[i + 2])));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}
}  // namespace detail

/// The category of sse::url_errc values, named "sse.url".
inline const std::error_category& url_error_category() noexcept {
  return sse::error_category_for<detail::url_error_category_impl>();
}

inline std::error_code make_error_code(url_errc e) noexcept { return {static_cast<int>(e), url_error_category()}; }

/// A parsed URL, ready to connect to and to request.
struct url {
  std::string scheme{};       ///< "http", "https" or "unix" (http+unix is stored as "unix")
  std::string host{};         ///< lower-case name or IP literal without brackets; "localhost" for unix
  std::uint16_t port = 0;     ///< the port, the scheme's default when none was given; 0 for unix
  std::string target{"/"};    ///< the request-target: path and query, never empty
  std::string socket_path{};  ///< the Unix socket path (unix only)

  bool is_tls() const noexcept { return scheme == "https"; }
  bool is_unix() const noexcept { return scheme == "unix"; }
  std::uint16_t default_port() const noexcept { return is_tls() ? 443 : is_unix() ? 0 : 80; }

  /// The Host header value: host, `[v6]` in brackets, and the port unless it is the default.
  std::string authority() const {
    if (is_unix()) return "localhost";
    std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port != default_port()) out += ":" + std::to_string(port);
    return out;
  }
  /// The URL in its canonical form (`unix:/path:/target` for Unix sockets).
  std::string to_string() const {
    if (is_unix()) return "unix:" + socket_path + ":" + target;
    return scheme + "://" + authority() + target;
  }
  /// Same scheme, host and port (or socket): whether credentials may follow a redirect.
  bool same_origin(const url& o) const noexcept {
    return scheme == o.scheme && host == o.host && port == o.port && socket_path == o.socket_path;
  }
  bool operator==(const url&) const = default;
};

/// Parses `text`. On failure returns nullopt and sets `ec` (an sse::url_errc).
inline std::optional<url> parse_url(std::string_view text, std::error_code& ec) {
  ec = {};
  auto fail = [&](url_errc e) -> std::optional<url> {
    ec = make_error_code(e);
    return std::nullopt;
  };
  if (text.empty()) return fail(url_errc::empty);
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return fail(url_errc::invalid_character);
  }
  if (const auto hash = text.find('#'); hash != std::string_view::npos) text = text.substr(0, hash);
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) return fail(url_errc::unsupported_scheme);
  std::string scheme;
  for (const char c : text.substr(0, colon)) scheme.push_back(detail::url_lower(c));
  std::string_view rest = text.substr(colon + 1);
  url u;
  if (scheme == "unix") {
    // unix:/path/to.sock[:/target]
    if (rest.empty() || rest.front() != '/') return fail(url_errc::missing_socket_path);
    std::string_view path = rest, target = "/";
    if (const auto sep = rest.find(":/", 1); sep != std::string_view::npos) {
      path = rest.substr(0, sep);
      target = rest.substr(sep + 1);
    }
    u.scheme = "unix";
    u.host = "localhost";
    u.socket_path = std::string(path);
    if (!detail::normalize_target(target, u.target)) return fail(url_errc::invalid_character);
    return u;
  }
  if (scheme != "http" && scheme != "https" && scheme != "http+unix") return fail(url_errc::unsupported_scheme);
  if (rest.substr(0, 2) != "//") return fail(url_errc::missing_host);
  rest.remove_prefix(2);
  const std::size_t auth_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, auth_end);
  const std::string_view target = auth_end == std::string_view::npos ? std::string_view("/") : rest.substr(auth_end);
  if (authority.find('@') != std::string_view::npos) return fail(url_errc::userinfo_not_supported);
  if (authority.empty()) return fail(url_errc::missing_host);
  if (scheme == "http+unix") {
    u.scheme = "unix";
    u.host = "localhost";
    u.socket_path = detail::percent_decode(authority);
    if (u.socket_path.empty() || u.socket_path.front() != '/') return fail(url_errc::missing_socket_path);
    if (!detail::normalize_target(target, u.target)) return fail(url_errc::invalid_character);
    return u;
  }
  u.scheme = scheme;
  std::string_view host, port;
  if (authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail(url_errc::invalid_host);
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail(url_errc::invalid_host);
      port = after.substr(1);
    }
    if (host.empty()) return fail(url_errc::missing_host);
    for (const char c : host)
      if (detail::url_hex(c) < 0 && c != ':' && c != '.') return fail(url_errc::invalid_host);
  } else {
    const std::size_t pc = authority.rfind(':');
    host = authority.substr(0, pc);
    if (pc != std::string_view::npos) port = authority.substr(pc + 1);
    if (host.empty()) return fail(url_errc::missing_host);
    for (const char c : host) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
      if (!ok) return fail(url_errc::invalid_host);
    }
  }
  for (const char c : host) u.host.push_back(detail::url_lower(c));
  u.port = u.default_port();
  if (!port.empty()) {
    if (port.size() > 5) return fail(url_errc::invalid_port);
    unsigned v = 0;
    for (const char c : port) {
      if (c < '0' || c > '9') return fail(url_errc::invalid_port);
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v == 0 || v > 65535) return fail(url_errc::invalid_port);
    u.port = static_cast<std::uint16_t>(v);
  }
  if (!detail::normalize_target(target, u.target)) return fail(url_errc::invalid_character);
  return u;
}

/// Parses `text`; throws std::invalid_argument with the reason on failure.
inline url parse_url(std::string_view text) {
  std::error_code ec;
  auto u = parse_url(text, ec);
  if (!u) throw std::invalid_argument("invalid URL '" + std::string(text) + "': " + ec.message());
  return *u;
}

/// Resolves a redirect's Location (absolute URL, `//host/...`, `/path` or relative path) against
/// `base`. On failure returns nullopt and sets `ec`.
inline std::optional<url> resolve_url(const url& base, std::string_view location, std::error_code& ec) {
  ec = {};
  if (location.substr(0, 2) == "//") {
    if (base.is_unix()) return parse_url("http:" + std::string(location), ec);
    return parse_url(base.scheme + ":" + std::string(location), ec);
  }
  // An absolute URL starts with a scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":".
  const std::size_t colon = location.find(':');
  const std::size_t slash = location.find_first_of("/?#");
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon < slash) && colon > 0)
    return parse_url(location, ec);
  for (const char c : location) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      ec = make_error_code(url_errc::invalid_character);
      return std::nullopt;
    }
  }
  if (const auto hash = location.find('#'); hash != std::string_view::npos) location = location.substr(0, hash);
  url out = base;
  std::string merged;
  if (location.empty()) {
    return out;
  } else if (location.front() == '/') {
    merged = std::string(location);
  } else if (location.front() == '?') {
    merged = base.target.substr(0, base.target.find('?')) + std::string(location);
  } else {
    const std::string path = base.target.substr(0, base.target.find('?'));
    merged = path.substr(0, path.rfind('/') + 1) + std::string(location);
  }
  detail::normalize_target(merged, out.target);
  return out;
}

/// Returns `target` with the query parameter `name` set to `value` (percent-encoded), replacing any
/// existing parameters of that name.
inline std::string with_query_parameter(std::string_view target, std::string_view name, std::string_view value) {
  const std::size_t q = target.find('?');
  std::string out(target.substr(0, q));
  std::string query;
  if (q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      const std::size_t amp = rest.find('&');
      const std::string_view param = rest.substr(0, amp);
      const std::string_view key = param.substr(0, param.find('='));
      if (key != name && !param.empty()) {
        if (!query.empty()) query.push_back('&');
        query.append(param);
      }
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
  }
  if (!query.empty()) query.push_back('&');
  query.append(name);
  query.push_back('=');
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    const bool unreserved = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
                            u == '-' || u == '.' || u == '_' || u == '~';
    if (unreserved) {
      query.push_back(c);
    } else {
      detail::append_pct(query, u);
    }
  }
  out.push_back('?');
  out.append(query);
  return out;
}

}  // namespace sse

template <>
struct std::is_error_code_enum<sse::url_errc> : std::true_type {};

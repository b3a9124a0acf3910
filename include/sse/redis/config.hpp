/**
 * @file config.hpp
 * @brief sse::redis::config: where Redis is and how to log in, parsed from a
 *        `redis://[[user]:password@]host[:port][/db]` URL.
 * @see https://www.iana.org/assignments/uri-schemes/prov/redis
 */
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "sse/redis/error.hpp"

namespace sse::redis {

/// A Redis server and the login to use. Sent as `AUTH [username] password` and `SELECT db`.
struct config {
  std::string host = "127.0.0.1";
  unsigned short port = 6379;
  std::string username = {};  ///< "" = the default user (AUTH password)
  std::string password = {};  ///< "" = no AUTH
  int db = 0;                 ///< 0 = no SELECT
};

namespace detail {
inline int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
inline bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int h = hex_value(in[i + 1]), l = hex_value(in[i + 2]);
    if (h < 0 || l < 0) return false;
    out.push_back(static_cast<char>(h * 16 + l));
    i += 2;
  }
  return true;
}
template <class T>
bool parse_decimal(std::string_view s, T max, T& out) noexcept {
  if (s.empty() || s.size() > 10) return false;
  std::uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > static_cast<std::uint64_t>(max)) return false;
  out = static_cast<T>(v);
  return true;
}
}  // namespace detail

/// Parses `redis://[[user]:password@]host[:port][/db]` (user and password percent-decoded; host may
/// be `[v6]`). On error returns {} and sets ec to errc::invalid_url.
inline config parse_url(std::string_view url, std::error_code& ec) {
  ec = {};
  config c;
  constexpr std::string_view scheme = "redis://";
  if (url.substr(0, scheme.size()) != scheme) {
    ec = errc::invalid_url;
    return {};
  }
  std::string_view rest = url.substr(scheme.size());
  std::string_view path;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = userinfo.find(':');
    const std::string_view user = colon == std::string_view::npos ? std::string_view{} : userinfo.substr(0, colon);
    const std::string_view pass = colon == std::string_view::npos ? userinfo : userinfo.substr(colon + 1);
    if (!detail::percent_decode(user, c.username) || !detail::percent_decode(pass, c.password)) {
      ec = errc::invalid_url;
      return {};
    }
  }
  std::string_view host = rest, port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) {
      ec = errc::invalid_url;
      return {};
    }
    host = rest.substr(1, close - 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        ec = errc::invalid_url;
        return {};
      }
      port = after.substr(1);
    }
  } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (!host.empty()) c.host = std::string(host);
  if (!port.empty() && (!detail::parse_decimal<unsigned short>(port, 65535, c.port) || c.port == 0)) {
    ec = errc::invalid_url;
    return {};
  }
  if (const auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  if (!path.empty() && !detail::parse_decimal<int>(path, 1 << 20, c.db)) {
    ec = errc::invalid_url;
    return {};
  }
  for (const char ch : c.host)
    if (static_cast<unsigned char>(ch) <= 0x20 || ch == '/' || ch == '@') {
      ec = errc::invalid_url;
      return {};
    }
  return c;
}

/// As above; throws std::system_error on a malformed URL.
inline config parse_url(std::string_view url) {
  std::error_code ec;
  config c = parse_url(url, ec);
  if (ec) throw std::system_error(ec);
  return c;
}

/// The URL without the password (for logs): `redis://user:***@host:port/db`.
inline std::string to_display_url(const config& c) {
  std::string out = "redis://";
  if (!c.username.empty() || !c.password.empty()) {
    out += c.username;
    if (!c.password.empty()) out += ":***";
    out += "@";
  }
  const bool v6 = c.host.find(':') != std::string::npos;
  out += v6 ? "[" + c.host + "]" : c.host;
  out += ":" + std::to_string(c.port) + "/" + std::to_string(c.db);
  return out;
}

}  // namespace sse::redis

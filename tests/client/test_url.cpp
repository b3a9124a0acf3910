// sse::url: parsing, Unix socket forms, redirect resolution, the lastEventId query parameter.
#include "sse/url.hpp"

#include <doctest/doctest.h>

#include <ostream>

#include <string>
#include <vector>

namespace {
sse::url parse_ok(std::string_view text) {
  std::error_code ec;
  auto u = sse::parse_url(text, ec);
  CAPTURE(text);
  REQUIRE_FALSE(ec);
  REQUIRE(u.has_value());
  return *u;
}
}  // namespace

TEST_CASE("url: http and https") {
  const auto a = parse_ok("http://Example.COM/events?topic=a&x=1#frag");
  CHECK(a.scheme == "http");
  CHECK(a.host == "example.com");
  CHECK(a.port == 80);
  CHECK(a.target == "/events?topic=a&x=1");
  CHECK(a.authority() == "example.com");
  CHECK(a.to_string() == "http://example.com/events?topic=a&x=1");
  CHECK_FALSE(a.is_tls());

  const auto b = parse_ok("HTTPS://api.example.com:8443");
  CHECK(b.scheme == "https");
  CHECK(b.is_tls());
  CHECK(b.port == 8443);
  CHECK(b.target == "/");
  CHECK(b.authority() == "api.example.com:8443");

  const auto c = parse_ok("https://host:443/x");
  CHECK(c.authority() == "host");
  const auto d = parse_ok("http://host:/x");
  CHECK(d.port == 80);

  const auto v6 = parse_ok("http://[::1]:8080/e");
  CHECK(v6.host == "::1");
  CHECK(v6.port == 8080);
  CHECK(v6.authority() == "[::1]:8080");
  CHECK(v6.to_string() == "http://[::1]:8080/e");

  const auto q = parse_ok("http://h?x=1");
  CHECK(q.target == "/?x=1");
  const auto enc = parse_ok("http://h/a b/\xC3\xA9?q=\"x\"&p=%41%zz");
  CHECK(enc.target == "/a%20b/%C3%A9?q=%22x%22&p=%41%25zz");
}

TEST_CASE("url: Unix socket forms") {
  const auto a = parse_ok("unix:/run/app.sock:/events?topic=a");
  CHECK(a.is_unix());
  CHECK(a.socket_path == "/run/app.sock");
  CHECK(a.target == "/events?topic=a");
  CHECK(a.authority() == "localhost");
  CHECK(a.to_string() == "unix:/run/app.sock:/events?topic=a");

  const auto b = parse_ok("unix:/run/app.sock");
  CHECK(b.socket_path == "/run/app.sock");
  CHECK(b.target == "/");

  const auto c = parse_ok("http+unix://%2Frun%2Fapp.sock/events?topic=a");
  CHECK(c == a);
  const auto d = parse_ok("http+unix://%2ftmp%2fs");
  CHECK(d.socket_path == "/tmp/s");
  CHECK(d.target == "/");
}

TEST_CASE("url: errors") {
  struct row {
    std::string text;
    sse::url_errc error;
  };
  const std::vector<row> rows = {
      {"", sse::url_errc::empty},
      {"example.com/events", sse::url_errc::unsupported_scheme},
      {"ftp://example.com/", sse::url_errc::unsupported_scheme},
      {"ws://example.com/", sse::url_errc::unsupported_scheme},
      {"http:/events", sse::url_errc::missing_host},
      {"http:///events", sse::url_errc::missing_host},
      {"http://:80/events", sse::url_errc::missing_host},
      {"http://[]/", sse::url_errc::missing_host},
      {"http://exa mple.com/", sse::url_errc::invalid_host},
      {"http://[::1/", sse::url_errc::invalid_host},
      {"http://[::g]/", sse::url_errc::invalid_host},
      {"http://h:0/", sse::url_errc::invalid_port},
      {"http://h:65536/", sse::url_errc::invalid_port},
      {"http://h:8o/", sse::url_errc::invalid_port},
      {"http://user:pw@h/", sse::url_errc::userinfo_not_supported},
      {"http://h/a\r\nInjected: 1", sse::url_errc::invalid_character},
      {std::string("http://h/\0", 10), sse::url_errc::invalid_character},
      {"unix:relative.sock", sse::url_errc::missing_socket_path},
      {"http+unix://relative/x", sse::url_errc::missing_socket_path},
  };
  for (const auto& r : rows) {
    const std::string& text = r.text;
    const auto error = r.error;
    CAPTURE(text);
    std::error_code ec;
    CHECK_FALSE(sse::parse_url(text, ec).has_value());
    CHECK(ec == sse::make_error_code(error));
  }
  CHECK_THROWS_WITH_AS(sse::parse_url("ftp://x"),
                       "invalid URL 'ftp://x': unsupported URL scheme (use http, https, unix or http+unix)",
                       std::invalid_argument);
}

TEST_CASE("url: resolving a redirect's Location") {
  const auto base = parse_ok("http://h:8080/a/b/events?x=1");
  auto resolve = [&](std::string_view loc) {
    std::error_code ec;
    auto u = sse::resolve_url(base, loc, ec);
    REQUIRE_FALSE(ec);
    return u->to_string();
  };
  CHECK(resolve("https://other/x") == "https://other/x");
  CHECK(resolve("//other:81/y") == "http://other:81/y");
  CHECK(resolve("/root?q") == "http://h:8080/root?q");
  CHECK(resolve("sibling") == "http://h:8080/a/b/sibling");
  CHECK(resolve("?y=2") == "http://h:8080/a/b/events?y=2");
  CHECK(resolve("new path#f") == "http://h:8080/a/b/new%20path");
  CHECK(resolve("unix:/s.sock:/e") == "unix:/s.sock:/e");
  const auto ubase = parse_ok("unix:/s.sock:/a/events");
  std::error_code ec;
  CHECK(sse::resolve_url(ubase, "/other", ec)->to_string() == "unix:/s.sock:/other");
  CHECK_FALSE(sse::resolve_url(base, "ftp://x/", ec).has_value());
  CHECK(ec == sse::url_errc::unsupported_scheme);
  CHECK_FALSE(sse::resolve_url(base, "/a\nb", ec).has_value());
  CHECK(ec == sse::url_errc::invalid_character);
}

TEST_CASE("url: same_origin and the lastEventId query parameter") {
  CHECK(parse_ok("http://h/a").same_origin(parse_ok("http://H:80/b")));
  CHECK_FALSE(parse_ok("http://h/a").same_origin(parse_ok("https://h/a")));
  CHECK_FALSE(parse_ok("http://h/a").same_origin(parse_ok("http://h:81/a")));
  CHECK_FALSE(parse_ok("unix:/a.sock").same_origin(parse_ok("unix:/b.sock")));

  CHECK(sse::with_query_parameter("/events", "lastEventId", "42") == "/events?lastEventId=42");
  CHECK(sse::with_query_parameter("/events?topic=a", "lastEventId", "42") == "/events?topic=a&lastEventId=42");
  CHECK(sse::with_query_parameter("/e?lastEventId=1&t=a&lastEventId=2", "lastEventId", "3") == "/e?t=a&lastEventId=3");
  CHECK(sse::with_query_parameter("/e?", "lastEventId", "a b/&=\xC3\xA9") == "/e?lastEventId=a%20b%2F%26%3D%C3%A9");
}

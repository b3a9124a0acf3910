// The sans-io core never includes Asio (or fmt), directly or through another sse header.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>

namespace {

const std::set<std::string> sans_io = {
    "sse/error.hpp",       "sse/event.hpp",          "sse/encoder.hpp",
    "sse/parser.hpp",      "sse/version.hpp",        "sse/url.hpp",
    "sse/http/error.hpp",  "sse/http/request_parser.hpp", "sse/http/response.hpp",
    "sse/http/response_parser.hpp", "sse/http/date.hpp", "sse/core.hpp", "sse/error_category.hpp", "sse/backoff.hpp", "sse/reconnect.hpp"};

std::string read(const std::string& rel) {
  std::ifstream in(std::string(SSE_TEST_DATA_DIR) + "/../include/" + rel);
  REQUIRE_MESSAGE(in.good(), "cannot open include/", rel);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("sans-io headers include only the standard library and each other") {
  const std::regex include_line(R"(#\s*include\s*[<"]([^>"]+)[>"])");
  std::size_t includes = 0;
  for (const auto& header : sans_io) {
    CAPTURE(header);
    const std::string text = read(header);
    for (std::sregex_iterator it(text.begin(), text.end(), include_line), end; it != end; ++it) {
      const std::string inc = (*it)[1];
      CAPTURE(inc);
      ++includes;
      CHECK_FALSE(inc.starts_with("asio"));
      CHECK_FALSE(inc.starts_with("fmt"));
      if (inc.starts_with("sse/")) CHECK(sans_io.count(inc) == 1);
      else CHECK(inc.find('/') == std::string::npos);  // <string>, <system_error>, ...: the standard library
    }
  }
  CHECK(includes > 40);  // the check really read the headers
}

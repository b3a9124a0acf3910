// libFuzzer target for sse::http::request_parser.
//
// The input is parsed whole, split in two at a position derived from its first byte, split in three
// (second cut from its last byte) and, for small inputs, byte by byte; every way must give the same
// result (same error, or same request and bytes consumed). Runs with the default limits and with small
// ones so the limits are reached. Seeds: tests/http/corpus/{valid,invalid}.
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
//     tests/fuzz/fuzz_request_parser.cpp -o fuzz && ./fuzz -max_total_time=60 tests/http/corpus/valid
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <system_error>
#include <vector>

#include "sse/http/request_parser.hpp"

namespace {

namespace http = sse::http;

struct result {
  std::error_code ec;
  bool done = false;
  std::size_t consumed = 0;
  http::request req;
  bool operator==(const result&) const = default;
};

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_request_parser: %s\n", what);
    std::abort();
  }
}

result run(std::string_view in, const std::vector<std::size_t>& cuts, const http::request_limits& limits) {
  http::request_parser parser(limits);
  result r;
  std::size_t pos = 0;
  auto feed = [&](std::string_view chunk) {
    if (r.ec || r.done) return;
    std::error_code ec;
    const std::size_t n = parser.feed(chunk, ec);
    require(n <= chunk.size(), "consumed more than given");
    require(ec || parser.done() || n == chunk.size(), "stopped early without done or error");
    r.consumed += n;
    r.ec = ec;
    r.done = parser.done();
  };
  for (const std::size_t cut : cuts) {
    feed(in.substr(pos, cut - pos));
    pos = cut;
  }
  feed(in.substr(pos));
  require(parser.error() == r.ec, "error() disagrees with ec");
  require(!(r.done && r.ec), "done and failed");
  r.req = parser.get();
  return r;
}

void check_limits(std::string_view in, const http::request_limits& limits, std::uint8_t first,
                  std::uint8_t last) {
  const result whole = run(in, {}, limits);

  const std::size_t cut = in.size() * first / 255;
  require(run(in, {cut}, limits) == whole, "split in two differs from whole");

  const std::size_t cut2 = cut + (in.size() - cut) * last / 255;
  require(run(in, {cut, cut2}, limits) == whole, "split in three differs from whole");

  if (in.size() <= 2048) {
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < in.size(); ++i) every.push_back(i);
    require(run(in, every, limits) == whole, "byte by byte differs from whole");
  }

  if (whole.ec) {
    require(whole.ec.category() == http::error_category(), "error of another category");
    const int s = http::status_for(whole.ec);
    require(s == 400 || s == 414 || s == 431 || s == 501 || s == 505, "unexpected status");
    return;
  }
  if (!whole.done) {
    require(whole.consumed == in.size(), "incomplete head did not consume everything");
    return;
  }

  // A complete head: the invariants the server relies on.
  const http::request& req = whole.req;
  require(whole.consumed >= 4 && in.substr(whole.consumed - 4, 4) == "\r\n\r\n",
          "head does not end with CRLFCRLF");
  require(whole.consumed <= limits.max_head_bytes, "head larger than the limit");
  require(req.headers.size() <= limits.max_headers, "more headers than the limit");
  require(req.target.size() <= limits.max_target_bytes, "target longer than the limit");
  require(!req.path.empty(), "empty path");
  require(!(req.chunked && req.content_length), "both chunked and Content-Length");
  require(req.version_major == 1 && (req.version_minor == 0 || req.version_minor == 1), "bad version");
  require(req.version_minor == 0 || req.find_all("host").size() == 1, "HTTP/1.1 without exactly one Host");
  for (const auto& h : req.headers) {
    require(!h.name.empty(), "empty header name");
    require(h.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos, "CR/LF/NUL in value");
  }
  (void)req.keep_alive();
  (void)req.has_body();
  (void)req.query("a");
  (void)req.query_all("lastEventId");
  if (const auto id = req.last_event_id()) {
    require(!id->empty() && id->find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos,
            "bad last_event_id");
  }

  // The head alone parses to the same request.
  const result head_only = run(in.substr(0, whole.consumed), {}, limits);
  require(head_only == whole, "head alone differs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  check_limits(in, {}, data[0], data[size - 1]);
  check_limits(in, {.max_head_bytes = 256, .max_headers = 6, .max_target_bytes = 48, .max_empty_lines = 1},
               data[0], data[size - 1]);
  return 0;
}

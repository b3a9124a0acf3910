// libFuzzer target: the client's HTTP response-head parser and chunked decoder. Whatever the bytes
// and however they are split, no crash, limits respected, and the same result whole as split.
#include "sse/http/response_parser.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

struct outcome {
  bool failed = false, done = false, body_done = false;
  int status = 0;
  std::size_t consumed = 0;
  std::string body;
  bool operator==(const outcome&) const = default;
};

outcome run(std::string_view in, std::size_t step) {
  sse::http::response_parser head;
  sse::http::chunked_decoder chunks({.max_chunk_bytes = 1 << 20, .max_extension_bytes = 256, .max_trailer_bytes = 1024});
  outcome o;
  bool in_body = false;
  while (!in.empty() && !o.failed && !o.body_done) {
    std::string_view piece = in.substr(0, step == 0 ? in.size() : std::min(step, in.size()));
    std::error_code ec;
    std::size_t used = 0;
    if (!in_body) {
      used = head.feed(piece, ec);
      if (!ec && head.done()) {
        in_body = true;
        o.done = true;
        o.status = head.head().status;
      }
    } else {
      used = chunks.feed(piece, [&](std::string_view d) { o.body.append(d); }, ec);
      o.body_done = chunks.done();
    }
    if (ec) o.failed = true;
    if (used > piece.size()) std::abort();
    o.consumed += used;
    in.remove_prefix(used);
    if (used == 0 && !in_body && !o.failed) std::abort();  // took nothing, yet asks for more
  }
  if (o.body.size() > 4096) std::abort();  // the input is at most 4096 bytes
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t step = data[0] % 8;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const outcome whole = run(in, 0);
  const outcome split = run(in, step == 0 ? 1 : step);
  // On an error too: it is found at the same byte whatever the split.
  if (whole != split) std::abort();
  return 0;
}

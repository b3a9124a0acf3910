// libFuzzer target: the SSE parser. Whatever the bytes and however they are split, the parser must
// not crash, must respect its limits, and must dispatch the same events whole as split, and stop
// with the same error at the same byte.
#include "sse/parser.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

struct run_result {
  std::vector<std::string> events;  // type \x1f data \x1f id
  std::string last_id;
  long long retry = -1;
  std::error_code error;
  std::size_t consumed = 0;
  bool operator==(const run_result&) const = default;
};

run_result run(std::string_view input, std::size_t step) {
  sse::parser p({.max_line_bytes = 512, .max_event_bytes = 2048});
  run_result r;
  auto on = [&](const sse::received_event& ev) {
    if (ev.data.size() > 2048) std::abort();
    r.events.push_back(std::string(ev.type) + '\x1f' + std::string(ev.data) + '\x1f' + std::string(ev.id));
  };
  while (!input.empty() && !r.error) {
    const auto n = step == 0 ? input.size() : std::min(step, input.size());
    const std::size_t used = p.feed(input.substr(0, n), on, r.error);
    if (used > n || (!r.error && used != n)) std::abort();  // all of it, unless an error stops it
    if (p.error() != r.error) std::abort();
    r.consumed += used;
    input.remove_prefix(n);
  }
  p.finish();
  r.last_id = p.last_event_id();
  if (p.retry()) r.retry = p.retry()->count();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t step = data[0] % 16;  // 0 = whole
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const run_result whole = run(input, 0);
  const run_result split = run(input, step == 0 ? 1 : step);
  // The same events, the same error found at the same byte, whatever the split.
  if (!(whole == split)) std::abort();
  return 0;
}

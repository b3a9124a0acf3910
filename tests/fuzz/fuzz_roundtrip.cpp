// libFuzzer target: encode -> parse round trip. The input is cut into type, id and data; whatever
// the encoder accepts must parse back to exactly one event with the same type, id and data
// (line breaks normalised to LF), and nothing else.
#include "sse/encoder.hpp"
#include "sse/parser.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(bytes), size);
  const auto a = in.find('\x1e');
  const auto b = a == std::string_view::npos ? a : in.find('\x1e', a + 1);
  sse::event ev;
  if (b == std::string_view::npos) {
    ev.data = std::string(in);
  } else {
    ev.type = std::string(in.substr(0, a));
    ev.id = std::string(in.substr(a + 1, b - a - 1));
    ev.data = std::string(in.substr(b + 1));
  }
  std::string wire;
  if (sse::encode_to(wire, ev)) {
    // Rejected: only allowed for a type or id with CR, LF or NUL.
    if (!sse::detail::has_line_break_or_nul(ev.type) && !sse::detail::has_line_break_or_nul(*ev.id))
      std::abort();
    if (!wire.empty()) std::abort();
    return 0;
  }
  std::string expected_data;
  for (std::size_t i = 0; i < ev.data.size(); ++i) {
    if (ev.data[i] == '\r') {
      expected_data.push_back('\n');
      if (i + 1 < ev.data.size() && ev.data[i + 1] == '\n') ++i;
    } else {
      expected_data.push_back(ev.data[i]);
    }
  }
  sse::parser p({.max_line_bytes = 1 << 20, .max_event_bytes = 1 << 20});
  int n = 0;
  const bool dispatches = !(ev.data.empty() && ev.type.empty() && ev.id);
  if (p.feed(wire, [&](const sse::received_event& got) {
        ++n;
        // The parser decodes UTF-8; compare only when the input was valid UTF-8 (ASCII here).
        bool ascii = true;
        for (char c : ev.data + ev.type + ev.id.value_or(""))
          if (static_cast<unsigned char>(c) >= 0x80) ascii = false;
        if (!ascii) return;
        if (got.data != expected_data) std::abort();
        if (got.type != (ev.type.empty() ? "message" : ev.type)) std::abort();
        if (ev.id && got.id != *ev.id) std::abort();
      }))
    std::abort();
  if (n != (dispatches ? 1 : 0)) std::abort();
  if (ev.id && p.last_event_id() != *ev.id && [&] {
        for (char c : *ev.id)
          if (static_cast<unsigned char>(c) >= 0x80) return false;
        return true;
      }())
    std::abort();
  return 0;
}

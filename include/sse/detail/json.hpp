/**
 * @file detail/json.hpp
 * @brief Minimal JSON string escaping for the small control payloads (reset and gap markers).
 */
#pragma once

#include <string>
#include <string_view>

namespace sse::detail {

/// Appends `s` as a quoted JSON string.
inline void json_string_to(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      out.append("\\u00");
      out.push_back("0123456789abcdef"[u >> 4]);
      out.push_back("0123456789abcdef"[u & 0xF]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace sse::detail

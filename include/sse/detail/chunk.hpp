/**
 * @file detail/chunk.hpp
 * @brief HTTP/1.1 chunk framing helpers: `<hex size>\r\n payload \r\n`, last chunk `0\r\n\r\n`.
 * @see https://www.rfc-editor.org/rfc/rfc9112#section-7.1
 */
#pragma once

#include <cstddef>
#include <string_view>

namespace sse::detail {

inline constexpr std::string_view crlf = "\r\n";
inline constexpr std::string_view last_chunk = "0\r\n\r\n";

/// Room for the largest chunk header: 16 hex digits + CRLF.
inline constexpr std::size_t chunk_header_max = 18;

/// Writes `<lowercase hex of n>\r\n` to `out` (at least chunk_header_max bytes); returns the length.
inline std::size_t chunk_header(char* out, std::size_t n) noexcept {
  char digits[16];
  std::size_t len = 0;
  do {
    digits[len++] = "0123456789abcdef"[n & 0xF];
    n >>= 4;
  } while (n != 0);
  for (std::size_t i = 0; i < len; ++i) out[i] = digits[len - 1 - i];
  out[len] = '\r';
  out[len + 1] = '\n';
  return len + 2;
}

}  // namespace sse::detail

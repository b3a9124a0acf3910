/**
 * @file error.hpp
 * @brief Error codes of the sans-io core (encoder and SSE parser) and the exception they map to.
 *
 * Follows Asio's convention: an enum, a category, make_error_code, and an exception type for the
 * throwing convenience forms. Uses std::error_code, which is also asio::error_code in standalone Asio.
 */
#pragma once

#include <stdexcept>
#include <string>
#include <system_error>

#include "sse/error_category.hpp"

namespace sse {

/// Errors reported by the encoder and the parser.
enum class errc {
  invalid_event_type = 1,  ///< the event type contains CR, LF or NUL
  invalid_id,              ///< the id contains CR, LF or NUL
  invalid_retry,           ///< the retry value is negative or not a decimal number
  line_too_long,           ///< a line exceeds the parser's max_line_bytes
  event_too_large,         ///< an event's data exceeds the parser's max_event_bytes
  parser_failed,           ///< the parser hit an error before and accepts no more input
};

namespace detail {
struct error_category {
  static constexpr const char* name = "sse";
  static std::string message(int ev) {
    switch (static_cast<errc>(ev)) {
      case errc::invalid_event_type: return "event type contains CR, LF or NUL";
      case errc::invalid_id: return "event id contains CR, LF or NUL";
      case errc::invalid_retry: return "retry is negative or not all ASCII digits";
      case errc::line_too_long: return "line longer than the parser's limit";
      case errc::event_too_large: return "event larger than the parser's limit";
      case errc::parser_failed: return "parser failed earlier and accepts no more input";
    }
    return "unknown sse error";
  }
};
}  // namespace detail

/// The category of sse::errc values.
inline const std::error_category& error_category() noexcept {
  return sse::error_category_for<detail::error_category>();
}

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

/// Thrown by the convenience forms when an argument would corrupt the stream.
class invalid_event : public std::invalid_argument {
 public:
  explicit invalid_event(std::error_code ec)
      : std::invalid_argument(ec.message()), code_(ec) {}
  const std::error_code& code() const noexcept { return code_; }

 private:
  std::error_code code_;
};

}  // namespace sse

template <>
struct std::is_error_code_enum<sse::errc> : std::true_type {};

/**
 * @file event.hpp
 * @brief sse::event, what a server sends, and sse::received_event, what a parser dispatches.
 * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
 */
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sse {

/// An event to send. Fields left unset are not written.
struct event {
  /// The `event:` field. Empty means not written, so the client sees type "message".
  std::string type{};
  /// The payload. Split on CRLF, LF and CR into one `data:` line per piece.
  std::string data{};
  /// The `id:` field. Absent is not the same as empty: an empty id resets the client's Last-Event-ID.
  std::optional<std::string> id{};
  /// The `retry:` field, the client's reconnection time.
  std::optional<std::chrono::milliseconds> retry{};
  /// Comment lines written before the fields (invisible to EventSource). Empty means none.
  std::string comment{};
};

/// An event as dispatched by sse::parser. The views are valid only during the callback.
struct received_event {
  std::string_view type;  ///< the event type, "message" when the block had no `event:` field
  std::string_view data;  ///< the data lines joined with LF
  std::string_view id;    ///< the last event ID in effect at dispatch ("" when none was set)
  std::optional<std::chrono::milliseconds> retry;  ///< the reconnection time in effect, if set
};

}  // namespace sse

/**
 * @file server/handler.hpp
 * @brief What a route's handler sees and returns: sse::request_context, sse::response, the
 *        handler and auth-hook types, and sse::bearer_token.
 */
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "sse/http/request_parser.hpp"

namespace sse {

/// A complete (non-streaming) response returned by a handler.
///
/// Status 0 (response::drop()) is no answer at all: the connection is closed abortively (TCP RST,
/// SO_LINGER 0) without a byte written, as a proxy sees an upstream that died or restarted - the
/// proxy then answers with its own 502. For diagnostics (sse/probe.hpp's `away` window) and for
/// refusing a peer without telling it anything; the other fields are ignored.
struct response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body = {};
  std::vector<std::pair<std::string, std::string>> headers = {};

  static response text(int status, std::string body) { return {status, "text/plain; charset=utf-8", std::move(body) + "\n", {}}; }
  static response json(int status, std::string body) { return {status, "application/json", std::move(body), {}}; }
  /// No response: the connection is reset (see above).
  static response drop() { return {0, {}, {}, {}}; }
};

/// What a handler sees of a request.
struct request_context {
  const http::request& request;
  std::string_view body;
  std::vector<std::pair<std::string, std::string>> params;  ///< `{name}` captures of the route
  std::string remote;                                       ///< peer address, for logs

  /// The value captured by `{name}` in the route pattern ("" if none).
  std::string_view param(std::string_view name) const {
    for (const auto& [k, v] : params)
      if (k == name) return v;
    return {};
  }
};

/// Decides whether a request may go on: nullopt = yes, otherwise the response to send instead.
using auth_hook = std::function<std::optional<response>(const request_context&)>;
using request_handler = std::function<response(const request_context&)>;

/// What an SSE route's handler decides: a topic to subscribe to, or a response (refusal).
struct subscription {
  std::string topic;
  std::optional<std::string> last_event_id = {};  ///< overrides the request's Last-Event-ID
  /// End the stream gracefully once the replay is written (a finished, closed topic such as a
  /// completed job): no live events follow. The optional `retry:` hint is written last.
  bool close_after_replay = false;
  std::optional<std::chrono::milliseconds> close_retry = {};
};
using subscribe_handler = std::function<std::variant<subscription, response>(const request_context&)>;
/// A handler that answers later: it calls `respond` once, from any thread (the context is valid
/// until then). The request's deadline is suspended meanwhile: the handler must bound its wait.
using async_request_handler = std::function<void(const request_context&, std::function<void(response)> respond)>;

/// An auth hook that accepts `Authorization: Bearer <token>` (compared in constant time).
inline auth_hook bearer_token(std::string token) {
  return [token = std::move(token)](const request_context& ctx) -> std::optional<response> {
    const auto h = ctx.request.header("Authorization");
    std::string_view got = h.value_or("");
    const bool has_prefix = got.size() > 7 && http::detail::grammar::iequals(got.substr(0, 7), "Bearer ");
    if (has_prefix) got.remove_prefix(7);
    unsigned diff = has_prefix && got.size() == token.size() ? 0u : 1u;
    for (std::size_t i = 0; i < token.size(); ++i)
      diff |= static_cast<unsigned>(static_cast<unsigned char>(token[i]) ^
                                    static_cast<unsigned char>(i < got.size() ? got[i] : 0));
    if (diff == 0) return std::nullopt;
    response r = response::text(401, "a valid bearer token is required");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  };
}

}  // namespace sse

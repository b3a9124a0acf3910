/**
 * @file reconnect.hpp
 * @brief sse::reconnect_policy, the decisions of sse::client as a sans-io state machine: what a
 *        response head or the end of an attempt means (open, follow a redirect, retry after a
 *        delay, stop for good), with the counters of consecutive failures and redirects. Also the
 *        client's error codes (sse::client_errc) and sse::client_error.
 *
 * The client's socket code only performs what the policy decides; the policy sees no socket, no
 * timer and no clock: the time (for a `Retry-After` HTTP-date) and the randomness (one 64-bit value
 * for the backoff's jitter) are parameters, so every decision is a deterministic function of the
 * inputs, tested by tables (tests/client/test_reconnect_policy.cpp).
 *
 * The rules (the EventSource processing model, and beyond it where browsers give up):
 * - 200 with `Content-Type: text/event-stream` (parameters ignored): open (the redirect count
 *   restarts); another or no content type: stop, `bad_content_type`;
 * - 204: stop, `no_content` (the server says "do not reconnect"; not a failure);
 * - 301, 302, 303, 307, 308 with a `Location` that resolves against the current URL: redirect there
 *   (`drop_credentials` when it is another origin), at most `max_redirects` in a row, else stop,
 *   `too_many_redirects`; without a usable `Location`: stop, `redirect_without_location`;
 * - 502, 503, 504: a failure, retried: after what `Retry-After` asks (delay-seconds or an HTTP-date
 *   counted from the response's `Date` when valid, see http/date.hpp), capped at `backoff.max`, or
 *   after the backoff when it is absent or does not parse;
 * - any other status: stop, `http_status`;
 * - the end of an attempt (a transport error, a timeout, a malformed head, a cut connection, a clean
 *   end of the stream): when the stream had delivered body bytes, an ordinary reconnect after the
 *   reconnection time (the server's `retry:`, else `initial_retry`) and the failure count restarts
 *   at 0; otherwise a failure, retried after `backoff.delay(failures, random)`;
 * - a failure when `max_retries` (non-zero) failures in a row already happened: stop, `retry_limit`;
 * - every retry starts again from the origin URL (not from a redirect's target).
 *
 * Standard library and the core only: part of the core layer.
 */
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "sse/backoff.hpp"
#include "sse/error_category.hpp"
#include "sse/http/date.hpp"
#include "sse/http/response_parser.hpp"
#include "sse/url.hpp"

namespace sse {

/// Errors reported by sse::client (besides Asio's network errors and the parsers' errors).
enum class client_errc {
  closed = 1,                 ///< close() was called (or the client was destroyed)
  no_content,                 ///< the server answered 204: stop reconnecting (not a failure)
  http_status,                ///< an HTTP status that is not 200 (client_error::status has it)
  bad_content_type,           ///< a 200 response whose Content-Type is not text/event-stream
  too_many_redirects,         ///< more than client_options::max_redirects redirects in a row
  redirect_without_location,  ///< a redirect status without a usable Location header
  connect_timeout,            ///< resolving, connecting or the TLS handshake took too long
  response_timeout,           ///< the response head did not arrive in time
  idle_timeout,               ///< nothing at all arrived for client_options::idle_timeout
  stream_ended,               ///< the server ended the stream (reconnects after the retry time)
  connection_lost,            ///< the connection closed in the middle of the head or a framed body
  tls_unavailable,            ///< an https URL, but no TLS transport (see sse/client_tls.hpp)
  retry_limit,                ///< client_options::max_retries consecutive failures
};

namespace detail {
struct client_error_category_impl {
  static constexpr const char* name = "sse.client";
  static std::string message(int ev) {
    switch (static_cast<client_errc>(ev)) {
      case client_errc::closed: return "closed by the application";
      case client_errc::no_content: return "the server answered 204 No Content: stop reconnecting";
      case client_errc::http_status: return "unexpected HTTP status";
      case client_errc::bad_content_type: return "response Content-Type is not text/event-stream";
      case client_errc::too_many_redirects: return "too many redirects";
      case client_errc::redirect_without_location: return "redirect without a valid Location header";
      case client_errc::connect_timeout: return "connect timed out";
      case client_errc::response_timeout: return "response head timed out";
      case client_errc::idle_timeout: return "no data received within the idle timeout";
      case client_errc::stream_ended: return "the server ended the stream";
      case client_errc::connection_lost: return "the connection closed before the end of the response";
      case client_errc::tls_unavailable: return "https URL but no TLS transport configured";
      case client_errc::retry_limit: return "gave up after too many consecutive failures";
    }
    return "unknown sse.client error";
  }
};
}  // namespace detail

/// The category of sse::client_errc values, named "sse.client".
inline const std::error_category& client_error_category() noexcept {
  return sse::error_category_for<detail::client_error_category_impl>();
}

inline std::error_code make_error_code(client_errc e) noexcept {
  return {static_cast<int>(e), client_error_category()};
}

}  // namespace sse

template <>
struct std::is_error_code_enum<sse::client_errc> : std::true_type {};

namespace sse {

/// Why the client is retrying or closed.
struct client_error {
  std::error_code code{};  ///< an sse::client_errc, an Asio error, an http::response_errc, an sse::errc
  int status = 0;          ///< the HTTP status when the error is about one, else 0
  std::string message{};   ///< one line for a log: what happened, the status, and the URL
};

/// The limits of sse::reconnect_policy (sse::client_options holds the same values).
struct reconnect_options {
  backoff_policy backoff{};    ///< waits after failures (full jitter), and the cap of `Retry-After`
  unsigned max_redirects = 5;  ///< redirects followed in a row
  unsigned max_retries = 0;    ///< consecutive failures before stopping (0: never)
};

/// What the client does next.
enum class reconnect_action {
  open,      ///< read the body as an event stream
  redirect,  ///< connect to target() now (no wait)
  retry,     ///< wait `delay`, then connect to target() (the origin)
  stop,      ///< stop for good
};

/// One decision of sse::reconnect_policy.
struct reconnect_decision {
  reconnect_action action = reconnect_action::stop;
  std::chrono::milliseconds delay{0};  ///< retry: the wait before the next attempt
  bool drop_credentials = false;       ///< redirect: to another origin (drop Authorization, Cookie...)
  client_error error{};                ///< retry and stop: why (empty for open and redirect)
};

namespace detail {
/// "HTTP 503 Service Unavailable": the status line's part that a log line quotes.
inline std::string status_text(const http::response_head& head) {
  std::string s = "HTTP " + std::to_string(head.status);
  if (!head.reason.empty()) s += " " + head.reason;
  return s;
}
}  // namespace detail

/// The reconnect decisions of one client, from its first attempt to its end. Not thread-safe (the
/// client calls it on its strand). Each `on_*` call is one step; the counters change only there.
class reconnect_policy {
 public:
  explicit reconnect_policy(url origin, reconnect_options options = {})
      : origin_(std::move(origin)), target_(origin_), options_(options) {}

  /// The URL the client was made with: every retry starts there.
  const url& origin() const noexcept { return origin_; }
  /// The URL of the current (or next) attempt: the origin, or a redirect's target.
  const url& target() const noexcept { return target_; }
  /// Consecutive failures so far (the `attempt` of the next connection, from 0).
  unsigned failures() const noexcept { return failures_; }
  /// Redirects followed in a row so far.
  unsigned redirects() const noexcept { return redirects_; }
  const reconnect_options& options() const noexcept { return options_; }

  /// A response head arrived for target(). `now` is the client's clock (only an HTTP-date
  /// `Retry-After` without a valid `Date` field uses it); `random` feeds the backoff's jitter.
  reconnect_decision on_response(const http::response_head& head, std::chrono::system_clock::time_point now,
                                 std::uint64_t random) {
    const int status = head.status;
    const std::string from = " from " + target_.to_string();
    if (status == 200) {
      const auto type = head.find("Content-Type");
      std::string_view media = type.value_or("");
      media = http::detail::trim_ows(media.substr(0, media.find(';')));
      if (!http::iequals(media, "text/event-stream"))
        return stop({make_error_code(client_errc::bad_content_type), status,
                     "expected Content-Type text/event-stream but got " +
                         (type ? "'" + std::string(*type) + "'" : std::string("none")) + " (" +
                         detail::status_text(head) + from + ")"});
      redirects_ = 0;
      return {reconnect_action::open};
    }
    if (status == 204) return stop({make_error_code(client_errc::no_content), status, detail::status_text(head) + from});
    if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
      const auto location = head.find("Location");
      std::error_code ec;
      std::optional<url> next;
      if (location) next = resolve_url(target_, *location, ec);
      if (!next)
        return stop({make_error_code(client_errc::redirect_without_location), status,
                     detail::status_text(head) + from + " without a valid Location" +
                         (location ? " ('" + std::string(*location) + "': " + ec.message() + ")" : std::string())});
      if (redirects_ >= options_.max_redirects)
        return stop({make_error_code(client_errc::too_many_redirects), status,
                     "more than " + std::to_string(options_.max_redirects) + " redirects, the last " +
                         detail::status_text(head) + from + " to " + next->to_string()});
      ++redirects_;
      reconnect_decision d{reconnect_action::redirect};
      // Credentials do not follow a redirect to another origin (as browsers and curl do).
      d.drop_credentials = !next->same_origin(target_);
      target_ = std::move(*next);
      return d;
    }
    if (status == 502 || status == 503 || status == 504) {
      std::optional<std::chrono::milliseconds> after;
      if (const auto ra = head.find("Retry-After")) {
        if (const auto d = http::retry_after_delay(*ra, head.find("Date"), now)) after = options_.backoff.cap(*d);
      }
      return failure({make_error_code(client_errc::http_status), status, detail::status_text(head) + from}, after,
                     random);
    }
    return stop({make_error_code(client_errc::http_status), status, detail::status_text(head) + from});
  }

  /// The attempt ended without a decision from on_response, or the opened stream ended: `why` (a
  /// transport error, a timeout, a malformed head, a cut connection, the end of the stream).
  /// `delivered`: the stream had delivered body bytes, so this is an ordinary reconnect after
  /// `reconnection_time` (the server's `retry:`, else initial_retry) and not a failure.
  reconnect_decision on_ended(client_error why, bool delivered, std::chrono::milliseconds reconnection_time,
                              std::uint64_t random) {
    if (!delivered) return failure(std::move(why), std::nullopt, random);
    restart_from_origin();
    failures_ = 0;
    return {reconnect_action::retry, reconnection_time, false, std::move(why)};
  }

 private:
  reconnect_decision stop(client_error why) { return {reconnect_action::stop, {}, false, std::move(why)}; }

  void restart_from_origin() {
    target_ = origin_;
    redirects_ = 0;
  }

  reconnect_decision failure(client_error why, std::optional<std::chrono::milliseconds> forced, std::uint64_t random) {
    restart_from_origin();
    if (options_.max_retries != 0 && failures_ >= options_.max_retries) {
      why.message = "gave up after " + std::to_string(failures_ + 1) + " failures; the last: " + why.message;
      why.code = make_error_code(client_errc::retry_limit);
      return stop(std::move(why));
    }
    const auto delay = forced ? *forced : options_.backoff.delay(failures_, random);
    ++failures_;
    return {reconnect_action::retry, delay, false, std::move(why)};
  }

  url origin_;
  url target_;
  reconnect_options options_;
  unsigned failures_ = 0;
  unsigned redirects_ = 0;
};

}  // namespace sse

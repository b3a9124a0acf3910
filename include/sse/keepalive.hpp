/**
 * @file keepalive.hpp
 * @brief sse::keepalive_scheduler: one timer per executor that pings idle streams and enforces
 * write timeouts, instead of one timer per connection.
 *
 * Every tick (default interval/4) it walks its streams: a stream with a write in flight past its
 * write_timeout is aborted; a stream that wrote nothing for `interval` gets a ping. The ping is
 * encoded once per tick and shared by every stream pinged on that tick. Its id is unique for the
 * life of the process and across restarts: `<unix-ms-hex>-<counter-hex>`, where the millisecond
 * part never goes backwards within the process and the counter never repeats within it.
 * Forms: `: ping <id>\n` (comment, default, invisible to EventSource) or `event: ping\ndata: <id>\n\n`
 * (a named event with no `id:` line, so Last-Event-ID never changes; lets a browser watchdog see it).
 * The timer runs only while streams are registered, so an idle io_context can still run out of work.
 */
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/steady_timer.hpp>

#include "sse/shared_event.hpp"
#include "sse/logger.hpp"
#include "sse/encoder.hpp"
#include "sse/stream.hpp"

namespace sse {

/// The form of a keepalive ping.
enum class ping_form {
  comment,  ///< `: ping <id>`
  event,    ///< `event: ping` / `data: <id>`, no `id:` field
};

struct keepalive_options {
  std::chrono::milliseconds interval = std::chrono::seconds(15);  ///< ping streams idle this long
  std::chrono::milliseconds tick = std::chrono::milliseconds(0);  ///< timer period; 0 = interval / 4
  ping_form form = ping_form::comment;
  bool timer = true;  ///< false: no timer; the owner calls tick() (tests, custom loops)
};

/// A new ping id: `<unix-ms-hex>-<counter-hex>`, never repeated in this process (the counter) nor
/// across restarts (the millisecond part of a later process is later, and never goes backwards here).
inline std::string make_ping_id() {
  static std::atomic<std::uint64_t> counter{0};
  static std::atomic<std::uint64_t> last_ms{0};
  auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  std::uint64_t prev = last_ms.load(std::memory_order_relaxed);
  while (ms > prev && !last_ms.compare_exchange_weak(prev, ms, std::memory_order_relaxed)) {
  }
  ms = std::max(ms, prev);
  const std::uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  return fmt::format("{:x}-{:x}", ms, n);
}

/// Encodes a ping of the given form.
inline shared_event make_ping(ping_form form, const std::string& id) {
  if (form == ping_form::event) return make_shared_event(encode(event{.type = "ping", .data = id}));
  return make_shared_event(encode_comment("ping " + id));
}

class keepalive_scheduler : public std::enable_shared_from_this<keepalive_scheduler> {
  struct private_tag {
    explicit private_tag() = default;
  };

 public:
  using clock = std::chrono::steady_clock;

  /// A scheduler for the streams of `ex` (pings are counted in each stream's metrics when written).
  static std::shared_ptr<keepalive_scheduler> create(asio::any_io_executor ex, keepalive_options opts = {},
                                                     logger log = {}) {
    return std::make_shared<keepalive_scheduler>(private_tag{}, std::move(ex), opts, std::move(log));
  }

  keepalive_scheduler(private_tag, asio::any_io_executor ex, keepalive_options opts, logger log)
      : ex_(std::move(ex)), opts_(opts), log_(std::move(log)), timer_(ex_) {
    if (opts_.interval <= std::chrono::milliseconds(0)) opts_.interval = std::chrono::milliseconds(1);
    if (opts_.tick <= std::chrono::milliseconds(0))
      opts_.tick = std::max(std::chrono::milliseconds(1), opts_.interval / 4);
  }

  const asio::any_io_executor& get_executor() const noexcept { return ex_; }
  const keepalive_options& options() const noexcept { return opts_; }

  /// Watches `s` (held weakly) until it closes; starts the timer if needed. Any thread.
  void add(std::shared_ptr<stream_base> s) {
    asio::dispatch(ex_, [self = shared_from_this(), s = std::move(s)]() mutable {
      if (self->stopped_) return;
      self->streams_.push_back(std::move(s));
      self->arm();
    });
  }

  /// Cancels the timer and forgets every stream. Any thread.
  void stop() {
    asio::dispatch(ex_, [self = shared_from_this()] {
      self->stopped_ = true;
      self->streams_.clear();
      self->timer_.cancel();
    });
  }

  /// One sweep at `now` (the timer calls this; tests may call it directly on the executor).
  /// Returns the number of streams pinged.
  std::size_t tick(clock::time_point now) {
    shared_event ping;
    std::string id;
    std::size_t pinged = 0, timed_out = 0;
    for (std::size_t i = 0; i < streams_.size();) {
      auto s = streams_[i].lock();
      if (!s || s->is_closed()) {
        streams_[i] = std::move(streams_.back());
        streams_.pop_back();
        continue;
      }
      ++i;
      if (s->check_timeout(now)) {
        ++timed_out;
        continue;
      }
      if (s->needs_ping(now, opts_.interval)) {
        if (!ping) {
          id = make_ping_id();
          ping = make_ping(opts_.form, id);
        }
        s->send_ping(ping);
        ++pinged;
      }
    }
    if (pinged > 0 || timed_out > 0)
      detail::log_to(log_, log_level::debug, "keepalive: ping {} sent to {} of {} streams, {} timed out",
                     pinged > 0 ? id : std::string("-"), pinged, streams_.size(), timed_out);
    return pinged;
  }

  /// Streams currently watched (call on the executor).
  std::size_t size() const noexcept { return streams_.size(); }

 private:
  void arm() {
    if (armed_ || stopped_ || !opts_.timer || streams_.empty()) return;
    armed_ = true;
    timer_.expires_after(opts_.tick);
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      self->armed_ = false;
      if (ec || self->stopped_) return;
      self->tick(clock::now());
      self->arm();
    });
  }

  asio::any_io_executor ex_;
  keepalive_options opts_;
  logger log_;
  asio::steady_timer timer_;
  std::vector<std::weak_ptr<stream_base>> streams_;
  bool armed_ = false;
  bool stopped_ = false;
};

}  // namespace sse

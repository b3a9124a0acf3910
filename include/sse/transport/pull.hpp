/**
 * @file pull.hpp
 * @brief sse::pull_source: an SSE stream for pull-style HTTP servers (cpp-httplib's chunked
 *        content provider, and any server that asks "give me the next bytes" from its own thread).
 *
 * The stream runs on an executor of the hub as usual; the host server's thread calls pull() to take
 * what the stream wrote since the last call (replay, live events, keepalive pings), waiting at most
 * a given time. One gathered write is handed over at a time: the stream's next write starts only
 * when pull() has taken the previous one, so a client that stops reading fills the stream's own
 * bounded queue and meets its slow-consumer policy, never an unbounded buffer in between.
 *
 * The host writes the response head and the chunk framing; `sse::pull_source::headers()` are the
 * header fields it must send (the content type among them), so that it cannot get them wrong:
 *
 *     auto src = sse::pull_source::create(hub.next_executor());
 *     hub.subscribe(src->stream(), topic, last_event_id);
 *     for (const auto& [name, value] : sse::pull_source::headers())
 *       if (name != "Content-Type") res.set_header(name, value);
 *     res.set_chunked_content_provider(sse::pull_source::content_type,
 *         [src](size_t, httplib::DataSink& sink) {
 *           std::string bytes;
 *           switch (src->pull(bytes, std::chrono::seconds(1))) {
 *             case sse::pull_status::closed: sink.done(); return false;
 *             case sse::pull_status::idle: return true;
 *             case sse::pull_status::data: break;
 *           }
 *           if (sink.write(bytes.data(), bytes.size())) return true;
 *           src->cancel();
 *           return false;
 *         },
 *         [src](bool) { src->cancel(); });
 */
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>

#include "sse/transport/sink.hpp"

namespace sse {

/// What pull_source::pull() found.
enum class pull_status {
  data,    ///< bytes were appended to `out`: send them
  idle,    ///< nothing within the wait: call again (the stream's pings keep the connection alive)
  closed,  ///< the stream ended (everything it wrote was handed over): end the response
};

class pull_source : public std::enable_shared_from_this<pull_source> {
 public:
  /// The content type of the response, for servers that take it apart from the other fields.
  static constexpr std::string_view content_type = "text/event-stream; charset=utf-8";

  /// The header fields an SSE response needs (Content-Type, Cache-Control, X-Accel-Buffering), the
  /// same ones sse::server sends. Connection and framing are the host's.
  static const std::vector<std::pair<std::string_view, std::string_view>>& headers() {
    static const std::vector<std::pair<std::string_view, std::string_view>> fields = {
        {"Content-Type", content_type},
        {"Cache-Control", "no-cache, no-store, no-transform"},
        {"X-Accel-Buffering", "no"}};
    return fields;
  }

  /// A source whose stream lives on `ex` (an executor of the hub it will subscribe to). `options`
  /// is the stream's (bounds, policy); its head and framing are set here: the host writes the
  /// head and does the chunking.
  static std::shared_ptr<pull_source> create(asio::any_io_executor ex, stream_options options = {}) {
    auto self = std::shared_ptr<pull_source>(new pull_source());
    options.head.clear();
    options.body_framing = framing::close_delimited;
    std::weak_ptr<pull_source> weak = self;
    self->stream_ = sink_stream::create(
        sink_transport(
            std::move(ex),
            [weak](std::span<const std::string_view> pieces, sink_done done) {
              if (auto s = weak.lock()) s->put(pieces, std::move(done));
            },  // the source is gone: `done` is dropped, the write fails, the stream closes
            [weak] {
              if (auto s = weak.lock()) s->end();
            }),
        std::move(options));
    return self;
  }

  ~pull_source() { cancel(); }
  pull_source(const pull_source&) = delete;
  pull_source& operator=(const pull_source&) = delete;

  /// The stream to subscribe to a hub (hub::subscribe(src->stream(), topic, last_event_id)).
  const std::shared_ptr<sink_stream>& stream() const noexcept { return stream_; }

  /// From the host server's thread: waits up to `wait` for bytes and appends them to `out`. The
  /// bytes count as taken (the stream may write again) when pull() returns them.
  pull_status pull(std::string& out, std::chrono::milliseconds wait) {
    sink_done taken;
    {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, wait, [&] { return ended_ || !pending_.empty(); });
      if (pending_.empty()) return ended_ ? pull_status::closed : pull_status::idle;
      out.append(pending_);
      pending_.clear();
      taken = std::move(done_);
    }
    taken();  // outside the lock: completes the stream's write (posted to its executor)
    return pull_status::data;
  }

  /// The client went away or the host gave up: the stream ends (and leaves its topic). Any thread;
  /// later pulls answer `closed`.
  void cancel() {
    {
      std::lock_guard lk(mu_);
      if (cancelled_) return;
      cancelled_ = ended_ = true;
      pending_.clear();
      done_ = {};  // fails the write in hand, if any
    }
    cv_.notify_all();
    if (stream_) asio::post(stream_->get_executor(), [st = stream_] { st->abort(); });
  }

 private:
  pull_source() = default;

  // On the stream's executor: one gathered write, held until pull() takes it.
  void put(std::span<const std::string_view> pieces, sink_done done) {
    {
      std::lock_guard lk(mu_);
      if (ended_) return;  // `done` dropped: the write fails
      for (auto p : pieces) pending_.append(p);
      done_ = std::move(done);
    }
    cv_.notify_all();
  }

  void end() {
    {
      std::lock_guard lk(mu_);
      ended_ = true;
    }
    cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;  // guarded by mu_; at most one gathered write
  sink_done done_;       // guarded by mu_
  bool ended_ = false;
  bool cancelled_ = false;
  std::shared_ptr<sink_stream> stream_;
};

}  // namespace sse

/**
 * @file sink.hpp
 * @brief sse::sink_transport: hands the stream's bytes to a user callback (embedding into someone
 * else's HTTP server), with back-pressure.
 *
 * The callback receives the pieces of one gathered write and a `sink_done`; the pieces stay valid
 * until done is called. Calling `done()` (from any thread) says "taken, send more"; `done(ec)` fails
 * the write (the stream closes). A `sink_done` destroyed without being called completes the write with
 * asio::error::operation_aborted, so a forgotten write can never hang the stream. The stream's
 * write_timeout bounds how long the sink may take.
 *
 * When the stream writes the response head itself, pass the head in stream_options::head; when the
 * host server already sent its own head, leave it empty (and usually use framing::close_delimited
 * if the host does its own chunking).
 */
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>

#include "sse/detail/op.hpp"
#include "sse/stream.hpp"

namespace sse {

/// Completes one sink write. Move-only; call at most once, from any thread.
class sink_done {
 public:
  sink_done() = default;
  sink_done(sink_done&&) noexcept = default;
  sink_done& operator=(sink_done&& other) noexcept {
    if (this != &other) {
      abandon();
      op_ = std::move(other.op_);
    }
    return *this;
  }
  ~sink_done() { abandon(); }

  /// Reports the write's outcome: empty = all bytes taken.
  void operator()(std::error_code ec = {}) {
    if (auto op = std::exchange(op_, nullptr)) op->complete(ec);
  }

  struct shared_op {
    std::unique_ptr<detail::pending_op> op;
    std::size_t bytes = 0;
    std::vector<std::string_view> pieces;
    std::atomic<bool> done{false};
    void complete(std::error_code ec) {
      if (done.exchange(true)) return;
      std::exchange(op, nullptr)->complete(ec, ec ? 0 : bytes);
    }
  };

  explicit sink_done(std::shared_ptr<shared_op> op) : op_(std::move(op)) {}

 private:
  void abandon() {
    if (auto op = std::exchange(op_, nullptr)) op->complete(asio::error::operation_aborted);
  }
  std::shared_ptr<shared_op> op_;
};

/// Receives the pieces of one write (valid until `done` is called) and the completion.
using sink_write_fn = std::function<void(std::span<const std::string_view> pieces, sink_done done)>;

class sink_transport {
 public:
  using executor_type = asio::any_io_executor;

  /// `write` is called on `ex` for each write; `on_close` (optional) once when the stream closes.
  sink_transport(executor_type ex, sink_write_fn write, std::function<void()> on_close = {})
      : ex_(std::move(ex)), write_(std::move(write)), on_close_(std::move(on_close)) {}

  sink_transport(sink_transport&&) noexcept = default;
  sink_transport& operator=(sink_transport&&) noexcept = default;

  executor_type get_executor() const noexcept { return ex_; }

  template <class ConstBufferSequence, class WriteToken>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
    return asio::async_initiate<WriteToken, void(std::error_code, std::size_t)>(
        [this](auto handler, const ConstBufferSequence& b) {
          auto op = std::make_shared<sink_done::shared_op>();
          op->op = detail::make_op(std::move(handler), ex_);
          if (!open_ || !write_) {
            op->complete(asio::error::bad_descriptor);
            return;
          }
          for (auto it = asio::buffer_sequence_begin(b); it != asio::buffer_sequence_end(b); ++it) {
            const asio::const_buffer cb(*it);
            if (cb.size() == 0) continue;
            op->pieces.emplace_back(static_cast<const char*>(cb.data()), cb.size());
            op->bytes += cb.size();
          }
          const std::span<const std::string_view> pieces(op->pieces);
          write_(pieces, sink_done(std::move(op)));
        },
        token, buffers);
  }

  void close(std::error_code& ec) {
    ec = {};
    if (!open_) return;
    open_ = false;
    if (on_close_) std::exchange(on_close_, nullptr)();
  }

  bool is_open() const noexcept { return open_; }

 private:
  executor_type ex_;
  sink_write_fn write_;
  std::function<void()> on_close_;
  bool open_ = true;
};

/// A stream writing into a user callback.
using sink_stream = basic_stream<sink_transport>;

}  // namespace sse

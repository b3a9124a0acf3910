/**
 * @file memory.hpp
 * @brief sse::memory_transport: an in-process transport for tests that collects written bytes.
 *
 * It can force short writes (at most K bytes per write_some), fail the N-th write_some with a given
 * error, and stall (hold writes without completing them until release(), like a client that stopped
 * reading). Copies share one state, so a test keeps a copy to inspect what a stream wrote.
 * The controls are thread-safe (one mutex); completions are posted, never invoked inline.
 * A stalled write does not count as outstanding work, so io_context::run() returns while it waits.
 */
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
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

/// Behaviour of a memory_transport.
struct memory_transport_options {
  std::size_t max_write_size = 0;  ///< at most this many bytes per write_some (0 = no limit)
  std::size_t fail_write = 0;      ///< fail the N-th write_some (1-based; 0 = never)
  std::error_code fail_error = asio::error::connection_reset;  ///< the error of that failure
  bool stalled = false;            ///< start stalled
};

class memory_transport {
 public:
  using executor_type = asio::any_io_executor;

  explicit memory_transport(executor_type ex, memory_transport_options opts = {})
      : state_(std::make_shared<state>(std::move(ex), opts)) {}

  executor_type get_executor() const noexcept { return state_->ex; }

  template <class ConstBufferSequence, class WriteToken>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
    return asio::async_initiate<WriteToken, void(std::error_code, std::size_t)>(
        [st = state_](auto handler, const ConstBufferSequence& b) {
          std::vector<asio::const_buffer> bufs(asio::buffer_sequence_begin(b), asio::buffer_sequence_end(b));
          st->start_write(std::move(bufs), detail::make_op(std::move(handler), st->ex));
        },
        token, buffers);
  }

  /// Completes only when the transport closes (operation_aborted) or peer_close() is called (eof).
  template <class MutableBufferSequence, class ReadToken>
  auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token) {
    return asio::async_initiate<ReadToken, void(std::error_code, std::size_t)>(
        [st = state_](auto handler, const MutableBufferSequence&) {
          st->start_read(detail::make_op(std::move(handler), st->ex));
        },
        token, buffers);
  }

  void close(std::error_code& ec) {
    ec = {};
    state_->close(asio::error::operation_aborted);
  }
  void close() { state_->close(asio::error::operation_aborted); }

  // --- inspection and control ---
  bool is_open() const {
    std::lock_guard lk(state_->mu);
    return state_->open;
  }
  /// Everything written so far.
  std::string data() const {
    std::lock_guard lk(state_->mu);
    return state_->data;
  }
  /// Returns and clears what was written so far.
  std::string take() {
    std::lock_guard lk(state_->mu);
    return std::exchange(state_->data, std::string());
  }
  /// Number of async_write_some calls started.
  std::size_t write_ops() const {
    std::lock_guard lk(state_->mu);
    return state_->write_ops;
  }
  /// Bytes accepted by each successful write_some, in order.
  std::vector<std::size_t> write_sizes() const {
    std::lock_guard lk(state_->mu);
    return state_->write_sizes;
  }
  /// True while a write is held by a stall.
  bool write_pending() const {
    std::lock_guard lk(state_->mu);
    return state_->pending != nullptr;
  }
  /// Holds the next writes until release().
  void stall() {
    std::lock_guard lk(state_->mu);
    state_->stalled = true;
  }
  /// Stops stalling and completes the held write, if any.
  void release() {
    std::lock_guard lk(state_->mu);
    state_->stalled = false;
    if (state_->pending) state_->perform(std::move(state_->pending_bufs), std::move(state_->pending));
  }
  /// Fails the N-th write_some (counted from the first, 1-based) with `ec`.
  void fail_write(std::size_t nth, std::error_code ec) {
    std::lock_guard lk(state_->mu);
    state_->opts.fail_write = nth;
    state_->opts.fail_error = ec;
  }
  /// Limits every following write_some to `k` bytes (0 = no limit).
  void set_max_write_size(std::size_t k) {
    std::lock_guard lk(state_->mu);
    state_->opts.max_write_size = k;
  }
  /// Simulates the peer closing: a pending read completes with asio::error::eof.
  void peer_close() {
    std::lock_guard lk(state_->mu);
    state_->peer_closed = true;
    if (state_->pending_read) std::exchange(state_->pending_read, nullptr)->complete(asio::error::eof, 0);
  }

 private:
  struct state {
    state(asio::any_io_executor e, memory_transport_options o) : ex(std::move(e)), opts(o) {}

    void start_write(std::vector<asio::const_buffer> bufs, std::unique_ptr<detail::pending_op> op) {
      std::lock_guard lk(mu);
      ++write_ops;
      if (!open) return op->complete(asio::error::bad_descriptor, 0);
      if (pending) return op->complete(asio::error::in_progress, 0);  // Asio's rule broken by the caller
      if (opts.fail_write != 0 && write_ops == opts.fail_write) return op->complete(opts.fail_error, 0);
      if (stalled) {
        pending_bufs = std::move(bufs);
        pending = std::move(op);
        return;
      }
      perform(std::move(bufs), std::move(op));
    }

    void perform(std::vector<asio::const_buffer> bufs, std::unique_ptr<detail::pending_op> op) {
      std::size_t limit = opts.max_write_size == 0 ? static_cast<std::size_t>(-1) : opts.max_write_size;
      std::size_t n = 0;
      for (const auto& b : bufs) {
        const std::size_t take = std::min(b.size(), limit - n);
        data.append(static_cast<const char*>(b.data()), take);
        n += take;
        if (n == limit) break;
      }
      write_sizes.push_back(n);
      op->complete({}, n);
    }

    void start_read(std::unique_ptr<detail::pending_op> op) {
      std::lock_guard lk(mu);
      if (!open) return op->complete(asio::error::operation_aborted, 0);
      if (peer_closed) return op->complete(asio::error::eof, 0);
      pending_read = std::move(op);
    }

    void close(std::error_code ec) {
      std::lock_guard lk(mu);
      open = false;
      if (pending) std::exchange(pending, nullptr)->complete(ec, 0);
      pending_bufs.clear();
      if (pending_read) std::exchange(pending_read, nullptr)->complete(ec, 0);
    }

    asio::any_io_executor ex;
    memory_transport_options opts;
    mutable std::mutex mu;
    bool open = true;
    bool stalled = opts.stalled;
    bool peer_closed = false;
    std::string data;
    std::size_t write_ops = 0;
    std::vector<std::size_t> write_sizes;
    std::vector<asio::const_buffer> pending_bufs;
    std::unique_ptr<detail::pending_op> pending;
    std::unique_ptr<detail::pending_op> pending_read;
  };

  std::shared_ptr<state> state_;
};

/// A stream over a memory_transport (tests).
using memory_stream = basic_stream<memory_transport>;

}  // namespace sse

/**
 * @file tcp.hpp
 * @brief sse::tcp_transport (a TCP socket with Nagle off) and sse::tcp_stream.
 */
#pragma once

#include <system_error>
#include <utility>

#include <asio/ip/tcp.hpp>

#include "sse/stream.hpp"

namespace sse {

/// A connected TCP socket as a stream transport. Sets TCP_NODELAY so each event leaves at once.
class tcp_transport {
 public:
  using socket_type = asio::ip::tcp::socket;
  using executor_type = socket_type::executor_type;

  explicit tcp_transport(socket_type s) : socket_(std::move(s)) {
    std::error_code ec;
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);  // best effort; a closed socket fails later
  }

  executor_type get_executor() noexcept { return socket_.get_executor(); }

  template <class ConstBufferSequence, class WriteToken>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
    return socket_.async_write_some(buffers, std::forward<WriteToken>(token));
  }

  template <class MutableBufferSequence, class ReadToken>
  auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token) {
    return socket_.async_read_some(buffers, std::forward<ReadToken>(token));
  }

  /// Shuts both directions down (so queued bytes are followed by FIN) and closes.
  void close(std::error_code& ec) {
    std::error_code ignored;
    socket_.shutdown(socket_type::shutdown_both, ignored);
    socket_.close(ec);
  }

  socket_type& socket() noexcept { return socket_; }

 private:
  socket_type socket_;
};

using tcp_stream = basic_stream<tcp_transport>;

}  // namespace sse

/**
 * @file socket.hpp
 * @brief sse::socket_transport<Protocol>: a connected Asio stream socket as a stream transport.
 *
 * The TCP and Unix-domain transports are this template; TCP additionally turns Nagle off.
 */
#pragma once

#include <system_error>
#include <type_traits>
#include <utility>

#include <asio/basic_stream_socket.hpp>
#include <asio/ip/tcp.hpp>

#include "sse/stream.hpp"

namespace sse {

/// A connected stream socket of `Protocol` (asio::ip::tcp, asio::local::stream_protocol, ...).
/// On TCP it sets TCP_NODELAY so each event leaves at once.
template <class Protocol>
class socket_transport {
 public:
  using protocol_type = Protocol;
  using socket_type = typename Protocol::socket;
  using executor_type = typename socket_type::executor_type;

  explicit socket_transport(socket_type s) : socket_(std::move(s)) {
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
      std::error_code ec;
      socket_.set_option(asio::ip::tcp::no_delay(true), ec);  // best effort; a closed socket fails later
    }
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

  /// Waits until the socket is readable (bytes, the peer's FIN or an error), without a buffer.
  template <class WaitToken>
  auto async_wait_readable(WaitToken&& token) {
    return socket_.async_wait(socket_type::wait_read, std::forward<WaitToken>(token));
  }

  /// Reads what is there now, never waiting: asio::error::would_block when nothing is; eof once the
  /// peer has closed. Puts the socket in non-blocking mode (for the stream's own reads only).
  std::size_t read_now(asio::mutable_buffer b, std::error_code& ec) {
    ec = {};
    if (!socket_.non_blocking()) socket_.non_blocking(true, ec);
    if (ec) return 0;
    return socket_.read_some(b, ec);
  }

  /// Writes what fits in the socket's buffer now, never waiting (one gathered send of at most 64
  /// buffers): the bytes written; asio::error::would_block when none fit.
  template <class ConstBufferSequence>
  std::size_t write_now(const ConstBufferSequence& buffers, std::error_code& ec) {
    ec = {};
    if (!socket_.non_blocking()) socket_.non_blocking(true, ec);
    if (ec) return 0;
    return socket_.write_some(buffers, ec);
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

}  // namespace sse

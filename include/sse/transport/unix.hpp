/**
 * @file unix.hpp
 * @brief sse::unix_transport (a Unix-domain stream socket) and sse::unix_stream.
 */
#pragma once

#include <system_error>
#include <utility>

#include <asio/local/stream_protocol.hpp>

#include "sse/stream.hpp"

namespace sse {

/// A connected Unix-domain stream socket as a stream transport (e.g. behind a local reverse proxy).
class unix_transport {
 public:
  using socket_type = asio::local::stream_protocol::socket;
  using executor_type = socket_type::executor_type;

  explicit unix_transport(socket_type s) : socket_(std::move(s)) {}

  executor_type get_executor() noexcept { return socket_.get_executor(); }

  template <class ConstBufferSequence, class WriteToken>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
    return socket_.async_write_some(buffers, std::forward<WriteToken>(token));
  }

  template <class MutableBufferSequence, class ReadToken>
  auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token) {
    return socket_.async_read_some(buffers, std::forward<ReadToken>(token));
  }

  void close(std::error_code& ec) {
    std::error_code ignored;
    socket_.shutdown(socket_type::shutdown_both, ignored);
    socket_.close(ec);
  }

  socket_type& socket() noexcept { return socket_; }

 private:
  socket_type socket_;
};

using unix_stream = basic_stream<unix_transport>;

}  // namespace sse

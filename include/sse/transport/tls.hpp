/**
 * @file tls.hpp
 * @brief sse::tls_transport (TLS over TCP via asio::ssl) and sse::tls_stream.
 *
 * Needs OpenSSL: link the CMake target `sse::tls` (cmake/sse-tls.cmake). The TLS handshake is the
 * caller's job (the server does it before routing). Closing does not wait for the peer's
 * close_notify: with chunked framing the body carries its own end (`0\r\n\r\n`), and waiting on an
 * unresponsive peer would be a wait without a bound.
 */
#pragma once

#include <system_error>
#include <utility>

#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>

#include "sse/stream.hpp"

namespace sse {

class tls_transport {
 public:
  using socket_type = asio::ssl::stream<asio::ip::tcp::socket>;
  using executor_type = socket_type::executor_type;

  /// `s` must have completed its server handshake.
  explicit tls_transport(socket_type s) : stream_(std::move(s)) {
    std::error_code ec;
    stream_.lowest_layer().set_option(asio::ip::tcp::no_delay(true), ec);
  }

  executor_type get_executor() noexcept { return stream_.get_executor(); }

  template <class ConstBufferSequence, class WriteToken>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
    return stream_.async_write_some(buffers, std::forward<WriteToken>(token));
  }

  template <class MutableBufferSequence, class ReadToken>
  auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token) {
    return stream_.async_read_some(buffers, std::forward<ReadToken>(token));
  }

  void close(std::error_code& ec) {
    std::error_code ignored;
    stream_.lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.lowest_layer().close(ec);
  }

  socket_type& next_layer() noexcept { return stream_; }

 private:
  socket_type stream_;
};

using tls_stream = basic_stream<tls_transport>;

}  // namespace sse

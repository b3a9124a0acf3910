/**
 * @file transport.hpp
 * @brief The Transport concept: an asynchronous byte sink that can be closed.
 *
 * Models: sse::tcp_transport, sse::unix_transport, sse::tls_transport (sse/transport/tls.hpp),
 * sse::memory_transport (tests), sse::sink_transport (someone else's HTTP server). Plain
 * `asio::ip::tcp::socket` and `asio::local::stream_protocol::socket` model it as well.
 * A transport that can also be read (`readable_transport`) lets a stream notice at once that the
 * peer went away, instead of at the next failed write; one that can also wait for bytes without a
 * buffer (`waitable_transport`, the sockets) lets it do so holding no read buffer.
 */
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <system_error>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/buffer.hpp>

namespace sse {

namespace detail {
/// A completion handler used only to check the concepts.
struct probe_handler {
  void operator()(std::error_code, std::size_t) const {}
};
/// The same for a wait (no byte count).
struct probe_wait_handler {
  void operator()(std::error_code) const {}
};
}  // namespace detail

/// An asynchronous byte sink with Asio's AsyncWriteStream shape, plus `close(error_code&)`.
/// `async_write_some` follows Asio's rules: at most one in flight, completion never inline.
template <class T>
concept transport = requires(T& t, std::error_code& ec, const std::vector<asio::const_buffer>& bufs) {
  typename T::executor_type;
  { t.get_executor() } -> std::convertible_to<asio::any_io_executor>;
  t.async_write_some(bufs, detail::probe_handler{});
  t.close(ec);
};

/// A transport that also reads; streams use one read to notice the peer closing.
template <class T>
concept readable_transport = transport<T> && requires(T& t, std::array<asio::mutable_buffer, 1> b) {
  t.async_read_some(b, detail::probe_handler{});
};

/// A transport that can also write what fits now, never waiting (a socket): a stream then writes
/// at once and starts an asynchronous write only for what did not fit.
template <class T>
concept immediate_transport = transport<T> && requires(T& t, std::error_code& ec, const std::vector<asio::const_buffer>& bufs) {
  { t.write_now(bufs, ec) } -> std::convertible_to<std::size_t>;
};

/// A readable transport that can also wait until it is readable without a buffer and then read
/// what is there without waiting (a socket): a stream watching for the peer closing then holds
/// no read buffer and a smaller pending operation while the client is silent, which it always is.
template <class T>
concept waitable_transport = readable_transport<T> && requires(T& t, std::error_code& ec, asio::mutable_buffer b) {
  t.async_wait_readable(detail::probe_wait_handler{});
  { t.read_now(b, ec) } -> std::convertible_to<std::size_t>;
};

}  // namespace sse

/**
 * @file tcp.hpp
 * @brief sse::tcp_transport (a TCP socket with Nagle off) and sse::tcp_stream.
 */
#pragma once

#include <asio/ip/tcp.hpp>

#include "sse/transport/socket.hpp"

namespace sse {

/// A connected TCP socket as a stream transport; sets TCP_NODELAY.
using tcp_transport = socket_transport<asio::ip::tcp>;
using tcp_stream = basic_stream<tcp_transport>;

}  // namespace sse

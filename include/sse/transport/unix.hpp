/**
 * @file unix.hpp
 * @brief sse::unix_transport (a Unix-domain stream socket) and sse::unix_stream.
 */
#pragma once

#include <asio/local/stream_protocol.hpp>

#include "sse/transport/socket.hpp"

namespace sse {

/// A connected Unix-domain stream socket as a stream transport (e.g. behind a local reverse proxy).
using unix_transport = socket_transport<asio::local::stream_protocol>;
using unix_stream = basic_stream<unix_transport>;

}  // namespace sse

/**
 * @file sse.hpp
 * @brief Umbrella header: the whole public API of the sse library (the sans-io core alone is
 *        <sse/core.hpp>, without Asio or {fmt}).
 */
#pragma once

#include "sse/core.hpp"  // the sans-io core, alone: <sse/core.hpp>
#include "sse/client.hpp"
#include "sse/metrics.hpp"
#include "sse/log.hpp"
#include "sse/transport.hpp"
#include "sse/transport/memory.hpp"
#include "sse/transport/sink.hpp"
#include "sse/transport/tcp.hpp"
#include "sse/transport/unix.hpp"
#include "sse/stream.hpp"
#include "sse/keepalive.hpp"
#include "sse/hub.hpp"
#include "sse/server.hpp"
// Not included here (needs OpenSSL, link sse::tls): sse/transport/tls.hpp, sse/client_tls.hpp.

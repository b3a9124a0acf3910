/**
 * @file sse.hpp
 * @brief Umbrella header: the whole public API of the sse library.
 */
#pragma once

#include "sse/version.hpp"
#include "sse/error.hpp"
#include "sse/event.hpp"
#include "sse/encoder.hpp"
#include "sse/parser.hpp"
#include "sse/http/date.hpp"
#include "sse/http/error.hpp"
#include "sse/http/request_parser.hpp"
#include "sse/http/response.hpp"
#include "sse/http/response_parser.hpp"
#include "sse/url.hpp"
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

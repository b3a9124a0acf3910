/**
 * @file server.hpp
 * @brief sse::server and everything a server's user needs: options, handlers, routes. The parts
 *        live in sse/server/ (one concept a header): io_pool, handler, limits, options, router,
 *        server (lifecycle), http1_connection.
 */
#pragma once

#include "sse/server/handler.hpp"
#include "sse/server/io_pool.hpp"
#include "sse/server/limits.hpp"
#include "sse/server/options.hpp"
#include "sse/server/router.hpp"
#include "sse/server/server.hpp"

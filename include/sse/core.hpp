/**
 * @file core.hpp
 * @brief The sans-io core on its own: events, the encoder and the WHATWG parser, the HTTP/1.1
 *        request and response parsers, URLs and HTTP dates, the backoff policy and the
 *        client's reconnect decisions. Pure functions of bytes (and, where
 *        asked, of time): no sockets, no threads, and neither Asio nor {fmt} (a test checks it).
 *        `<sse/sse.hpp>` is everything, runtime included.
 */
#pragma once

#include "sse/version.hpp"
#include "sse/error.hpp"
#include "sse/event.hpp"
#include "sse/encoder.hpp"
#include "sse/parser.hpp"
#include "sse/url.hpp"
#include "sse/backoff.hpp"
#include "sse/reconnect.hpp"
#include "sse/http/date.hpp"
#include "sse/http/error.hpp"
#include "sse/http/request_parser.hpp"
#include "sse/http/response.hpp"
#include "sse/http/response_parser.hpp"

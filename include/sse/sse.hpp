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
#include "sse/http/error.hpp"
#include "sse/http/request_parser.hpp"
#include "sse/http/response.hpp"
#include "sse/http/response_parser.hpp"
#include "sse/url.hpp"
#include "sse/client.hpp"

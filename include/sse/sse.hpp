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

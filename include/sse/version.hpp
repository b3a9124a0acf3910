/**
 * @file version.hpp
 * @brief The library's version.
 */
#pragma once

#define SSE_VERSION_MAJOR 0
#define SSE_VERSION_MINOR 1
#define SSE_VERSION_PATCH 0
#define SSE_VERSION_STRING "0.1.0"

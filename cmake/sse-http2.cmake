# sse::http2 — HTTP/2 cleartext with prior knowledge (h2c) in sse::server
# (include/sse/server/http2_connection.hpp: the glue between Asio and libnghttp2, which does the
# framing, HPACK and flow control) needs libnghttp2 (Debian: libnghttp2-dev), found with pkg-config.
# The core library does not. Include this file from the top-level CMakeLists.txt after the sse target
# exists:
#   include(cmake/sse-http2.cmake)
# Defines the INTERFACE target sse_http2 (alias sse::http2, export name http2) when libnghttp2 is
# found; SSE_HAS_HTTP2 tells.
if(TARGET sse_http2)
  set(SSE_HAS_HTTP2 ON)
  return()
endif()
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(SSE_NGHTTP2 QUIET IMPORTED_TARGET GLOBAL libnghttp2>=1.43)
endif()
if(SSE_NGHTTP2_FOUND)
  add_library(sse_http2 INTERFACE)
  add_library(sse::http2 ALIAS sse_http2)
  set_target_properties(sse_http2 PROPERTIES EXPORT_NAME http2)
  target_link_libraries(sse_http2 INTERFACE sse::sse PkgConfig::SSE_NGHTTP2)
  set(SSE_HAS_HTTP2 ON)
else()
  set(SSE_HAS_HTTP2 OFF)
  message(STATUS "sse: libnghttp2 not found, sse::http2 (HTTP/2 in sse::server) is not available")
endif()

# sse::tls — the optional TLS transport (include/sse/transport/tls.hpp) needs OpenSSL.
# Include this file from the top-level CMakeLists.txt after the sse target exists:
#   include(cmake/sse-tls.cmake)
# Defines the INTERFACE target sse_tls (alias sse::tls) when OpenSSL is found; SSE_HAS_TLS tells.
if(TARGET sse_tls)
  set(SSE_HAS_TLS ON)
  return()
endif()
find_package(OpenSSL)
if(OpenSSL_FOUND)
  add_library(sse_tls INTERFACE)
  add_library(sse::tls ALIAS sse_tls)
  set_target_properties(sse_tls PROPERTIES EXPORT_NAME tls)
  target_link_libraries(sse_tls INTERFACE sse::sse OpenSSL::SSL OpenSSL::Crypto)
  set(SSE_HAS_TLS ON)
else()
  set(SSE_HAS_TLS OFF)
  message(STATUS "sse: OpenSSL not found, sse::tls (TLS transport) is not available")
endif()

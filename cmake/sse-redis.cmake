# sse::redis — the optional Redis broker/shared log (include/sse/redis/) needs hiredis (Debian:
# libhiredis-dev). Include this file from the top-level CMakeLists.txt after the sse target exists:
#   include(cmake/sse-redis.cmake)
# Defines the INTERFACE target sse_redis (alias sse::redis, export name redis) when hiredis is
# found; SSE_HAS_REDIS tells. hiredis is found through pkg-config (`hiredis`), else by searching for
# the header and library (Debian's 0.14 HiredisConfig.cmake fails without a version request).
if(TARGET sse_redis)
  set(SSE_HAS_REDIS ON)
  return()
endif()
include("${CMAKE_CURRENT_LIST_DIR}/FindSseHiredis.cmake")
if(TARGET sse_hiredis)
  add_library(sse_redis INTERFACE)
  add_library(sse::redis ALIAS sse_redis)
  set_target_properties(sse_redis PROPERTIES EXPORT_NAME redis)
  target_link_libraries(sse_redis INTERFACE sse::sse sse_hiredis)
  set(SSE_HAS_REDIS ON)
else()
  set(SSE_HAS_REDIS OFF)
  message(STATUS "sse: hiredis not found, sse::redis (Redis-backed hub) is not available")
endif()

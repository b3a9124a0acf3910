# sse::batch — batch publishing (include/sse/server/batch_parser.hpp, publish_batch.hpp: many events
# in one POST of newline-delimited JSON) needs nlohmann/json 3 (Debian: nlohmann-json3-dev). The core
# library does not. Include this file from the top-level CMakeLists.txt after the sse target exists:
#   include(cmake/sse-batch.cmake)
# Defines the INTERFACE target sse_batch (alias sse::batch, export name batch) when nlohmann_json is
# found; SSE_HAS_BATCH tells.
if(TARGET sse_batch)
  set(SSE_HAS_BATCH ON)
  return()
endif()
find_package(nlohmann_json 3 QUIET)
if(nlohmann_json_FOUND)
  add_library(sse_batch INTERFACE)
  add_library(sse::batch ALIAS sse_batch)
  set_target_properties(sse_batch PROPERTIES EXPORT_NAME batch)
  target_link_libraries(sse_batch INTERFACE sse::sse nlohmann_json::nlohmann_json)
  set(SSE_HAS_BATCH ON)
else()
  set(SSE_HAS_BATCH OFF)
  message(STATUS "sse: nlohmann_json not found, sse::batch (batch publishing) is not available")
endif()

# sse::sqlite — the optional durable event store (include/sse/sqlite/event_store.hpp) needs SQLite 3.
# Include this file from the top-level CMakeLists.txt after the sse target exists:
#   include(cmake/sse-sqlite.cmake)
# Defines the INTERFACE target sse_sqlite (alias sse::sqlite) when SQLite is found; SSE_HAS_SQLITE tells.
if(TARGET sse_sqlite)
  set(SSE_HAS_SQLITE ON)
  return()
endif()
find_package(SQLite3)
if(SQLite3_FOUND)
  add_library(sse_sqlite INTERFACE)
  add_library(sse::sqlite ALIAS sse_sqlite)
  set_target_properties(sse_sqlite PROPERTIES EXPORT_NAME sqlite)
  target_link_libraries(sse_sqlite INTERFACE sse::sse SQLite::SQLite3)
  set(SSE_HAS_SQLITE ON)
else()
  set(SSE_HAS_SQLITE OFF)
  message(STATUS "sse: SQLite3 not found, sse::sqlite (durable event store) is not available")
endif()

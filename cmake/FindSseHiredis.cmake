# Finds hiredis and defines the INTERFACE target `sse_hiredis` (include dir + library).
# Used by cmake/sse-redis.cmake and by the installed package config (beside sse-config.cmake).
if(TARGET sse_hiredis)
  return()
endif()
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(SSE_PC_HIREDIS QUIET hiredis)
endif()
find_path(SSE_HIREDIS_INCLUDE_DIR hiredis/async.h HINTS ${SSE_PC_HIREDIS_INCLUDEDIR}/.. ${SSE_PC_HIREDIS_INCLUDE_DIRS})
find_library(SSE_HIREDIS_LIBRARY NAMES hiredis HINTS ${SSE_PC_HIREDIS_LIBDIR} ${SSE_PC_HIREDIS_LIBRARY_DIRS})
if(SSE_HIREDIS_INCLUDE_DIR AND SSE_HIREDIS_LIBRARY)
  add_library(sse_hiredis INTERFACE IMPORTED GLOBAL)
  set_target_properties(sse_hiredis PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${SSE_HIREDIS_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${SSE_HIREDIS_LIBRARY}")
  set(SseHiredis_FOUND TRUE)
else()
  set(SseHiredis_FOUND FALSE)
endif()

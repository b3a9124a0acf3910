include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SSE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/sse" CACHE STRING "Where sse's CMake package goes")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/sse" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(TARGETS sse EXPORT sse-targets)
if(TARGET sse_tls)
  install(TARGETS sse_tls EXPORT sse-targets)
endif()
if(TARGET sse_sqlite)
  install(TARGETS sse_sqlite EXPORT sse-targets)
endif()
if(TARGET sse_redis)
  install(TARGETS sse_redis EXPORT sse-targets)
endif()
if(TARGET sse_batch)
  install(TARGETS sse_batch EXPORT sse-targets)
endif()
if(TARGET sse_http2)
  install(TARGETS sse_http2 EXPORT sse-targets)
endif()
install(EXPORT sse-targets NAMESPACE sse:: DESTINATION "${SSE_INSTALL_CMAKEDIR}")

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/sse-config.cmake.in"
  "${PROJECT_BINARY_DIR}/sse-config.cmake" INSTALL_DESTINATION "${SSE_INSTALL_CMAKEDIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/sse-config-version.cmake"
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/sse-config.cmake" "${PROJECT_BINARY_DIR}/sse-config-version.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/FindAsio.cmake" "${PROJECT_SOURCE_DIR}/cmake/FindSseHiredis.cmake"
  DESTINATION "${SSE_INSTALL_CMAKEDIR}")

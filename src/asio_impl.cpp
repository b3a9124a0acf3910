// Asio's non-template code, compiled once for the project's own targets (tests, examples, tools,
// benchmarks), which build with ASIO_SEPARATE_COMPILATION (see sse_project_warnings in the top-level
// CMakeLists.txt): every translation unit that includes Asio then only declares those functions
// instead of compiling them again. Consumers of the installed package are not affected: sse::sse
// stays header-only and leaves this choice to them.
#include <asio/impl/src.hpp>
#if defined(SSE_ASIO_IMPL_SSL)
#include <asio/ssl/impl/src.hpp>
#endif

// Transitional: the old name of <sse/logger.hpp>, kept only until the files still using it move
// over (see CHANGELOG.md). Include <sse/logger.hpp>.
#pragma once

#include "sse/logger.hpp"

namespace sse::detail {
template <class... Args>
void rt_log(const logger& hook, log_level level, fmt::format_string<Args...> f, Args&&... args) {
  log_to(hook, level, f, std::forward<Args>(args)...);
}
}  // namespace sse::detail

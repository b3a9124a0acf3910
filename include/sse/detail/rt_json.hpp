// Transitional: the old name of <sse/detail/json.hpp>, kept only until the files still using it
// move over (see CHANGELOG.md).
#pragma once

#include "sse/detail/json.hpp"

namespace sse::detail {
inline void rt_json_string_to(std::string& out, std::string_view s) { json_string_to(out, s); }
}  // namespace sse::detail

/**
 * @file error_category.hpp
 * @brief The one mechanism behind every error enum of the library: a description (a name and a
 *        message for each value) turned into a std::error_category singleton.
 *
 * Each area declares its enum (`sse::errc`, `sse::http::errc`, `sse::hub_errc`, ...), a
 * description, its category accessor and make_error_code; the category itself is always this
 * template, so comparing, naming and printing work the same everywhere.
 */
#pragma once

#include <string>
#include <system_error>

namespace sse {

/// `Description` has `static constexpr const char* name` and `static std::string message(int)`.
template <class Description>
class described_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return Description::name; }
  std::string message(int value) const override { return Description::message(value); }
};

/// The one category object of `Description` (a function-local static: one per program).
template <class Description>
const std::error_category& error_category_for() noexcept {
  static const described_error_category<Description> category;
  return category;
}

}  // namespace sse

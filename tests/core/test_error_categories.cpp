// Every error enum of the library goes through the one category template (sse/error_category.hpp):
// each has its own category object (distinct, one per program), its name, and its messages.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "sse/sse.hpp"

TEST_CASE("each error enum has one distinct category with its name and messages") {
  const std::error_code codes[] = {
      sse::make_error_code(sse::errc::invalid_id),
      sse::http::make_error_code(sse::http::errc::bare_lf),
      sse::make_error_code(sse::url_errc::empty),
      sse::make_error_code(sse::hub_errc::too_many_topics),
      sse::make_error_code(sse::stream_errc::slow_consumer),
      sse::make_error_code(sse::store_errc::queue_full),
  };
  std::set<const std::error_category*> seen;
  std::set<std::string> names;
  for (const auto& ec : codes) {
    CAPTURE(ec.category().name());
    seen.insert(&ec.category());
    names.insert(ec.category().name());
    CHECK(!ec.message().empty());
    CHECK(ec.message().find("unknown") == std::string::npos);
  }
  CHECK(seen.size() == std::size(codes));
  CHECK(names == std::set<std::string>{"sse", "sse.http", "sse.url", "sse.hub", "sse.stream", "sse.store"});
  CHECK(sse::make_error_code(sse::errc::invalid_id).message() == "event id contains CR, LF or NUL");
  CHECK(&sse::error_category() == &sse::make_error_code(sse::errc::line_too_long).category());  // a singleton
  CHECK(sse::make_error_code(sse::hub_errc::too_many_topics) == sse::hub_errc::too_many_topics);
  CHECK(std::error_code(999, sse::hub_category()).message().starts_with("unknown"));
}

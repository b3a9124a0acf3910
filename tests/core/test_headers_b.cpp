#include "sse/sse.hpp"

#include <doctest/doctest.h>

TEST_CASE("the umbrella header exposes the core") {
  CHECK(sse::encode({.data = "x"}) == "data: x\n\n");
}

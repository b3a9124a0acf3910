// sse::detail::registry: the server's live connections and streams, each entry given back when its
// object ends, so that no stale weak_ptr keeps an ended object's memory (make_shared: one block).
#include "sse/server/registry.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <vector>

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_registry_cases {

namespace {

/// Counts the blocks allocated and freed through it (shared by its copies).
struct counts {
  std::size_t allocated = 0;
  std::size_t freed = 0;
};

template <class T>
struct counting_allocator {
  using value_type = T;
  counts* c;
  explicit counting_allocator(counts* c) : c(c) {}
  template <class U>
  counting_allocator(const counting_allocator<U>& o) noexcept : c(o.c) {}
  T* allocate(std::size_t n) {
    ++c->allocated;
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    ++c->freed;
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const counting_allocator<U>& o) const noexcept {
    return c == o.c;
  }
};

struct object {
  int value;
  char payload[512] = {};
};

}  // namespace

TEST_SUITE("server.registry") {
  TEST_CASE("slots are given back and reused; alive() lists exactly the live objects") {
    sse::detail::registry<object> r;
    auto a = std::make_shared<object>(object{1});
    auto b = std::make_shared<object>(object{2});
    auto c = std::make_shared<object>(object{3});
    const auto sa = r.add(a), sb = r.add(b), sc = r.add(c);
    CHECK(sa == 0);
    CHECK(sb == 1);
    CHECK(sc == 2);
    CHECK(r.size() == 3);
    r.remove(sb);
    CHECK(r.size() == 2);
    auto live = r.alive();
    std::vector<int> values;
    for (const auto& p : live) values.push_back(p->value);
    std::sort(values.begin(), values.end());
    CHECK(values == std::vector<int>{1, 3});
    auto d = std::make_shared<object>(object{4});
    CHECK(r.add(d) == sb);  // the slot given back is reused
    live.clear();
    c.reset();  // ended but not yet removed: not listed
    CHECK(r.alive().size() == 2);
    r.remove(sa);
    r.remove(sb);
    r.remove(sc);
    CHECK(r.size() == 0);
    CHECK(r.alive().empty());
    CHECK(r.add(a) == 0);  // empty again: starts over
  }

  TEST_CASE("an ended object's memory is freed once its entry is removed, not kept by the registry") {
    counts n;
    sse::detail::registry<object> r;
    std::vector<std::uint32_t> slots;
    {
      std::vector<std::shared_ptr<object>> objs;
      for (int i = 0; i < 100; ++i) {
        objs.push_back(std::allocate_shared<object>(counting_allocator<object>(&n), object{i}));
        slots.push_back(r.add(objs.back()));
      }
      CHECK(n.allocated == 100);  // one block each: the object and its counts
    }
    // Every object has ended; the registry's weak_ptrs still hold their blocks.
    CHECK(n.freed == 0);
    CHECK(r.alive().empty());
    for (std::size_t i = 0; i < 60; ++i) r.remove(slots[i]);
    CHECK(n.freed == 60);  // freed as their entries go, not at some later pruning
    for (std::size_t i = 60; i < 100; ++i) r.remove(slots[i]);
    CHECK(n.freed == 100);
  }
}

}  // namespace test_registry_cases

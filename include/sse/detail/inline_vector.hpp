/**
 * @file detail/inline_vector.hpp
 * @brief sse::detail::inline_vector<T, N>: a list that holds its first N elements in place and
 *        moves to the heap past them.
 *
 * The stream writer's lists of a write (items, buffers) hold one to three elements in the common
 * case (one event between two writes: the chunk header, the event, the CRLF): in place, a write to an
 * idle stream allocates nothing for them. Only what the writer needs: append, index, erase one,
 * clear. Elements are default-constructed in place (T must be default-constructible and movable);
 * clear() assigns T{} to the in-place ones, so they hold no resource afterwards.
 *
 * Standard library only (part of the stream layer's sans-io core).
 */
#pragma once

#include <array>
#include <cstddef>
#include <utility>
#include <vector>

namespace sse::detail {

template <class T, std::size_t N>
class inline_vector {
  static_assert(N > 0);

 public:
  bool empty() const noexcept { return size() == 0; }
  std::size_t size() const noexcept { return on_heap_ ? heap_.size() : n_; }
  /// Elements allocated on the heap (0 while they fit in place).
  std::size_t heap_capacity() const noexcept { return heap_.capacity(); }

  T* data() noexcept { return on_heap_ ? heap_.data() : in_place_.data(); }
  const T* data() const noexcept { return on_heap_ ? heap_.data() : in_place_.data(); }
  T* begin() noexcept { return data(); }
  T* end() noexcept { return data() + size(); }
  const T* begin() const noexcept { return data(); }
  const T* end() const noexcept { return data() + size(); }
  T& operator[](std::size_t i) noexcept { return data()[i]; }
  const T& operator[](std::size_t i) const noexcept { return data()[i]; }

  template <class... Args>
  T& emplace_back(Args&&... args) {
    if (!on_heap_) {
      if (n_ < N) {
        in_place_[n_] = T(std::forward<Args>(args)...);
        return in_place_[n_++];
      }
      heap_.reserve(2 * N);
      for (T& x : in_place_) heap_.push_back(std::exchange(x, T()));
      n_ = 0;
      on_heap_ = true;  // until the list is destroyed: a list that once grew keeps its capacity
    }
    return heap_.emplace_back(std::forward<Args>(args)...);
  }
  void push_back(T v) { emplace_back(std::move(v)); }

  /// Removes the element at `i` (< size()), keeping the order of the others.
  void erase(std::size_t i) {
    if (on_heap_) {
      heap_.erase(heap_.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
    for (; i + 1 < n_; ++i) in_place_[i] = std::move(in_place_[i + 1]);
    in_place_[--n_] = T();
  }

  void clear() noexcept {
    for (std::size_t i = 0; i < n_; ++i) in_place_[i] = T();
    n_ = 0;
    heap_.clear();
  }

 private:
  std::array<T, N> in_place_{};
  std::size_t n_ = 0;  ///< elements in place (0 once on the heap)
  bool on_heap_ = false;
  std::vector<T> heap_;
};

}  // namespace sse::detail

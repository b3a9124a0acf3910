/**
 * @file detail/op.hpp
 * @brief A move-only, type-erased completion for the in-process transports (memory, sink).
 *
 * Completion is always posted to the handler's associated executor, never invoked inline, as Asio
 * requires of asynchronous operations.
 */
#pragma once

#include <cstddef>
#include <memory>
#include <system_error>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/post.hpp>

namespace sse::detail {

class pending_op {
 public:
  virtual ~pending_op() = default;
  /// Posts the handler with (ec, n). Call at most once.
  virtual void complete(std::error_code ec, std::size_t n) = 0;
};

template <class Handler>
class op_impl final : public pending_op {
 public:
  op_impl(Handler h, asio::any_io_executor fallback)
      : handler_(std::move(h)), fallback_(std::move(fallback)) {}

  void complete(std::error_code ec, std::size_t n) override {
    auto ex = asio::get_associated_executor(handler_, fallback_);
    asio::post(ex, [h = std::move(handler_), ec, n]() mutable { std::move(h)(ec, n); });
  }

 private:
  Handler handler_;
  asio::any_io_executor fallback_;
};

template <class Handler>
std::unique_ptr<pending_op> make_op(Handler&& h, asio::any_io_executor fallback) {
  return std::make_unique<op_impl<std::decay_t<Handler>>>(std::forward<Handler>(h), std::move(fallback));
}

}  // namespace sse::detail

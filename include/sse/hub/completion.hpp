/**
 * @file completion.hpp
 * @brief The completion handler of the hub's asynchronous operations (hub::async_publish,
 *        hub::async_seal): work on its executor until it ran, never inline. Internal to sse::hub.
 */
#pragma once

#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

namespace sse {

namespace detail {
/// The completion handler of a hub asynchronous operation (hub::async_publish, hub::async_seal) with
/// outstanding work on its associated executor (`fallback`, one of the hub's, when it has none)
/// until it runs there. Like asio::post(fallback, handler): post() runs it later, never inline,
/// through `fallback` and then the handler's executor; dispatch() (for a completion coming after
/// the initiation returned, from another thread) goes to the handler's executor directly. Move-only;
/// completes once.
template <class Handler>
class hub_completion {
 public:
  using executor_type = asio::associated_executor_t<Handler, asio::any_io_executor>;

  hub_completion(Handler h, asio::any_io_executor fallback)
      : work_(asio::make_work_guard(asio::get_associated_executor(h, fallback))),
        fallback_(std::move(fallback)),
        handler_(std::move(h)) {}

  template <class... Args>
  void post(Args... args) && {
    const asio::any_io_executor ex = fallback_;
    asio::post(ex, [self = std::move(*this), ... args = std::move(args)]() mutable {
      std::move(self).dispatch(std::move(args)...);
    });
  }

  template <class... Args>
  void dispatch(Args... args) && {
    auto work = std::move(work_);
    asio::dispatch(work.get_executor(), [h = std::move(handler_), ... args = std::move(args)]() mutable {
      std::move(h)(std::move(args)...);
    });
    work.reset();
  }

 private:
  asio::executor_work_guard<executor_type> work_;
  asio::any_io_executor fallback_;
  Handler handler_;
};
}  // namespace detail

}  // namespace sse

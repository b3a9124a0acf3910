/**
 * @file server/io_pool.hpp
 * @brief sse::io_pool: io_contexts with one thread each, the executors a server and its hub are
 *        sharded over.
 */
#pragma once

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/any_io_executor.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sse {

/// A pool of io_contexts, one thread each: the executors a server and its hub are sharded over.
class io_pool {
 public:
  explicit io_pool(std::size_t threads) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    for (std::size_t i = 0; i < threads; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      guards_.emplace_back(asio::make_work_guard(*contexts_.back()));
    }
  }
  ~io_pool() {
    stop();
    join();
  }
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  /// Starts one thread per io_context (once).
  void start() {
    if (!threads_.empty()) return;
    for (auto& c : contexts_) threads_.emplace_back([ctx = c.get()] { ctx->run(); });
  }
  /// Lets the contexts finish their work and return (pending handlers still run).
  void release() { guards_.clear(); }
  /// Stops every context at once.
  void stop() {
    guards_.clear();
    for (auto& c : contexts_) c->stop();
  }
  void join() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }
  /// Waits up to `timeout` for every context to run out of work (after release()), then joins.
  /// Returns false, joining nothing, if one is still busy.
  bool join_for(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (auto& c : contexts_)
      while (!c->stopped()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    join();
    return true;
  }
  std::vector<asio::any_io_executor> executors() const {
    std::vector<asio::any_io_executor> out;
    for (auto& c : contexts_) out.push_back(c->get_executor());
    return out;
  }
  std::size_t size() const noexcept { return contexts_.size(); }

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

}  // namespace sse

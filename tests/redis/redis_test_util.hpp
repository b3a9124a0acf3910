// Test support for sse::redis: an io_context on a background thread, and blocking (bounded) calls.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "sse/redis/connection.hpp"
#include "sse/redis/streams.hpp"

namespace sse_test {

/// An io_context run by one background thread until destruction.
class io_thread {
 public:
  io_thread() : guard_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~io_thread() {
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  asio::io_context& io() { return io_; }
  asio::any_io_executor executor() { return io_.get_executor(); }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
};

/// Waits up to `timeout` for a future; throws when it does not come (a test must never hang).
template <class T>
T wait_for(std::future<T>& f, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  if (f.wait_for(timeout) != std::future_status::ready) throw std::runtime_error("timed out waiting for a result");
  return f.get();
}

struct command_result {
  std::error_code ec;
  sse::redis::reply r;
};

inline command_result run(sse::redis::connection& c, std::vector<std::string> args,
                          std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  auto p = std::make_shared<std::promise<command_result>>();
  auto f = p->get_future();
  c.async_command(std::move(args), [p](std::error_code ec, sse::redis::reply r) { p->set_value({ec, std::move(r)}); });
  return wait_for(f, timeout);
}

/// Polls until `done` or the timeout; returns done().
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

inline std::shared_ptr<sse::redis::connection> connect(asio::any_io_executor ex, const std::string& url,
                                                       sse::redis::stats* counters = nullptr,
                                                       std::string name = "test") {
  sse::redis::connection_options o;
  o.server = sse::redis::parse_url(url);
  o.connect_timeout = std::chrono::milliseconds(1000);
  o.reconnect_initial = std::chrono::milliseconds(20);
  o.reconnect_max = std::chrono::milliseconds(200);
  o.counters = counters;
  o.name = std::move(name);
  auto c = sse::redis::connection::create(ex, std::move(o));
  c->start();
  return c;
}

/// Stops the connection and waits until its strand has run the stop.
inline void stop(const std::shared_ptr<sse::redis::connection>& c) {
  if (!c) return;
  c->stop();
  auto p = std::make_shared<std::promise<void>>();
  auto f = p->get_future();
  asio::post(c->get_executor(), [p] { p->set_value(); });
  f.wait_for(std::chrono::seconds(5));
}

}  // namespace sse_test

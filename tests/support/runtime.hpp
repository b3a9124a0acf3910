// Helpers shared by the runtime tests: de-chunking, splitting SSE text into blocks, bounded runs.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>

namespace sse_test {

/// Decodes HTTP/1.1 chunked framing; `complete` tells whether the last chunk was seen.
inline std::string dechunk(std::string_view in, bool* complete = nullptr) {
  std::string out;
  if (complete) *complete = false;
  while (!in.empty()) {
    const auto eol = in.find("\r\n");
    if (eol == std::string_view::npos) throw std::runtime_error("dechunk: no CRLF after size");
    const std::size_t n = std::stoul(std::string(in.substr(0, eol)), nullptr, 16);
    in.remove_prefix(eol + 2);
    if (n == 0) {
      if (in != "\r\n") throw std::runtime_error("dechunk: bad last chunk");
      if (complete) *complete = true;
      return out;
    }
    if (in.size() < n + 2 || in.substr(n, 2) != "\r\n") throw std::runtime_error("dechunk: truncated chunk");
    out.append(in.substr(0, n));
    in.remove_prefix(n + 2);
  }
  return out;
}

/// One block of SSE text (lines up to an empty line), fields as written by sse::encode.
struct block {
  std::string raw;
  std::string id;
  bool has_id = false;
  std::string type;
  std::string data;
  bool is_comment = false;  ///< only comment lines
};

/// Splits encoded SSE text into blocks. Comment-only lines (`: x\n`) not followed by an empty line
/// are returned as their own comment block.
inline std::vector<block> blocks(std::string_view text) {
  std::vector<block> out;
  block cur;
  bool any = false;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty()) {
      if (any) out.push_back(std::move(cur));
      cur = block{};
      any = false;
      continue;
    }
    if (line[0] == ':') {
      if (!any) {  // a lone comment line
        out.push_back(block{std::string(line), {}, false, {}, {}, true});
        continue;
      }
      cur.raw.append(line).push_back('\n');
      continue;
    }
    any = true;
    cur.raw.append(line).push_back('\n');
    const auto colon = line.find(": ");
    const std::string_view name = line.substr(0, colon), value = line.substr(colon + 2);
    if (name == "id") {
      cur.id = value;
      cur.has_id = true;
    } else if (name == "event") {
      cur.type = value;
    } else if (name == "data") {
      if (!cur.data.empty()) cur.data.push_back('\n');
      cur.data.append(value);
    }
  }
  if (any) out.push_back(std::move(cur));
  return out;
}

/// The ids of the blocks that have one, in order.
inline std::vector<std::string> ids(std::string_view text) {
  std::vector<std::string> out;
  for (const auto& b : blocks(text))
    if (b.has_id) out.push_back(b.id);
  return out;
}

/// Runs `ioc` until `done()` or the deadline; returns done().
inline bool run_until(asio::io_context& ioc, const std::function<bool()>& done,
                      std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!done() && std::chrono::steady_clock::now() < end) {
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(10));
  }
  return done();
}

/// Polls `done()` (another thread does the work) until it holds or the deadline passes.
inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!done() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return done();
}

}  // namespace sse_test

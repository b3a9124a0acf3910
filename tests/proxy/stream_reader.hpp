// Test support: an SSE reader for what comes out of a proxy. Like sse_subscriber (blocking POSIX
// socket, every wait bounded) but it notes when each event arrived, and it undoes what nginx may
// do to the body: chunked framing and `Content-Encoding: gzip` (inflated as it streams in).
#pragma once

#if defined(SSE_PROXY_HAVE_ZLIB)
#include <zlib.h>
#endif

#include <cctype>
#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../support/http_client.hpp"
#include "sse/parser.hpp"

namespace sse_test {

class stream_reader {
 public:
  using clock = std::chrono::steady_clock;
  struct timed_event {
    collected_event event;
    clock::time_point at;
  };

  stream_reader(unsigned short port, std::string_view path, std::string_view extra_headers = {}) : sock_(port) {
    std::string req = "GET " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
    req += extra_headers;
    req += "\r\n";
    sock_.send(req);
  }
  ~stream_reader() {
#if defined(SSE_PROXY_HAVE_ZLIB)
    if (inflating_) inflateEnd(&zs_);
#endif
  }
  stream_reader(const stream_reader&) = delete;
  stream_reader& operator=(const stream_reader&) = delete;

  int status() const { return status_; }
  const std::string& head() const { return head_; }
  /// A response header's value ("" when absent), case-insensitive name.
  std::string header(std::string_view name) const {
    http_response r;
    r.head = head_;
    return r.header(name);
  }
  /// The decoded body so far (comments and pings included).
  const std::string& body() const { return body_; }
  const std::vector<timed_event>& events() const { return events_; }
  bool closed() const { return sock_.eof(); }
  /// When EOF was seen (valid once closed()).
  clock::time_point closed_at() const { return closed_at_; }
  /// True once the terminating zero-size chunk arrived (a clean end, not a truncation).
  bool ended() const { return ended_; }
  bool gzipped() const { return inflating_; }

  /// One bounded read (up to `timeout`), then decodes what came. Returns false at EOF.
  bool pump(std::chrono::milliseconds timeout) {
    if (sock_.eof()) return false;
    std::string in;
    const bool open = sock_.read_some(in, timeout);
    const auto now = clock::now();
    if (!open) closed_at_ = now;
    raw_ += in;
    process(now);
    return open;
  }

  /// Reads until `done()` holds, EOF, or the deadline. Returns done().
  bool read_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    while (!done()) {
      if (clock::now() >= deadline || !pump(10ms)) return done();
    }
    return true;
  }
  bool wait_events(std::size_t n, std::chrono::milliseconds timeout) {
    return read_until([&] { return events_.size() >= n; }, timeout);
  }

 private:
  void process(clock::time_point now) {
    if (status_ == 0) {
      const auto end = raw_.find("\r\n\r\n");
      if (end == std::string::npos) return;
      head_ = raw_.substr(0, end + 2);
      raw_.erase(0, end + 4);
      if (!head_.starts_with("HTTP/1.")) throw std::runtime_error("not an HTTP response: " + head_);
      status_ = std::stoi(head_.substr(9, 3));
      std::string te = header("Transfer-Encoding"), ce = header("Content-Encoding");
      for (auto& c : te) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      chunked_ = te == "chunked";
      if (ce == "gzip") {
#if defined(SSE_PROXY_HAVE_ZLIB)
        if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) throw std::runtime_error("inflateInit2 failed");
        inflating_ = true;
#else
        throw std::runtime_error("a gzip response, but this test was built without zlib: install zlib1g-dev");
#endif
      } else if (!ce.empty()) {
        throw std::runtime_error("unexpected Content-Encoding: " + ce);
      }
    }
    std::string fresh;
    if (!chunked_) {
      fresh.swap(raw_);
    } else {
      sse_test::take_chunks(raw_, fresh, ended_);
    }
    if (inflating_) fresh = inflate_some(fresh);
    body_ += fresh;
    const auto ec = parser_.feed(fresh, [&](const sse::received_event& ev) {
      events_.push_back({{std::string(ev.type), std::string(ev.data), std::string(ev.id),
                          ev.retry ? std::optional<long long>(ev.retry->count()) : std::nullopt},
                         now});
    });
    if (ec) throw std::runtime_error("SSE parse error: " + ec.message());
  }

#if defined(SSE_PROXY_HAVE_ZLIB)
  std::string inflate_some(std::string_view compressed) {
    std::string out;
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
    zs_.avail_in = static_cast<uInt>(compressed.size());
    if (compressed.empty() || inflate_done_) return out;
    char buf[16384];
    do {  // until the input is used up and the output buffer was not filled (nothing pending)
      zs_.next_out = reinterpret_cast<Bytef*>(buf);
      zs_.avail_out = sizeof buf;
      const int rc = inflate(&zs_, Z_SYNC_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
        throw std::runtime_error("gzip body does not inflate: " + std::to_string(rc));
      out.append(buf, sizeof buf - zs_.avail_out);
      if (rc == Z_STREAM_END) {
        inflate_done_ = true;
        break;
      }
      if (rc == Z_BUF_ERROR) break;  // no progress possible until more input comes
    } while (zs_.avail_in > 0 || zs_.avail_out == 0);
    return out;
  }
  z_stream zs_{};
  bool inflate_done_ = false;
#else
  std::string inflate_some(std::string_view) { return {}; }
#endif

  raw_socket sock_;
  std::string raw_, head_, body_;
  int status_ = 0;
  bool chunked_ = false, ended_ = false, inflating_ = false;
  clock::time_point closed_at_{};
  sse::parser parser_;
  std::vector<timed_event> events_;
};

}  // namespace sse_test

/**
 * @file streams.hpp
 * @brief A small typed layer over Redis Streams on sse::redis::connection: XADD (with
 *        `MAXLEN ~ N`), XRANGE / XREVRANGE (with exclusive `(id` bounds), XREAD BLOCK on many
 *        streams, and stream ids (`<ms>-<seq>`) that parse and compare.
 * @see https://redis.io/docs/data-types/streams/
 */
#pragma once

#include <algorithm>
#include <chrono>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "sse/redis/connection.hpp"

namespace sse::redis {

/// A stream entry id `<ms>-<seq>`, ordered as Redis orders them.
struct stream_id {
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;

  /// Strict: `<digits>-<digits>`, no sign, no overflow. nullopt otherwise.
  static std::optional<stream_id> parse(std::string_view s) noexcept {
    const auto dash = s.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    stream_id id;
    if (!digits(s.substr(0, dash), id.ms) || !digits(s.substr(dash + 1), id.seq)) return std::nullopt;
    return id;
  }
  std::string str() const { return std::to_string(ms) + "-" + std::to_string(seq); }
  friend auto operator<=>(const stream_id&, const stream_id&) = default;
  friend bool operator==(const stream_id&, const stream_id&) = default;

 private:
  static bool digits(std::string_view s, std::uint64_t& out) noexcept {
    if (s.empty() || s.size() > 20) return false;
    std::uint64_t v = 0;
    for (const char c : s) {
      if (c < '0' || c > '9') return false;
      const auto d = static_cast<std::uint64_t>(c - '0');
      if (v > (UINT64_MAX - d) / 10) return false;
      v = v * 10 + d;
    }
    out = v;
    return true;
  }
};

/// `(id`: an exclusive XRANGE / XREVRANGE bound.
inline std::string exclusive(std::string_view id) {
  std::string s = "(";
  s.append(id);
  return s;
}

/// One entry of a stream.
struct stream_entry {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;

  /// The value of field `name`, or nullptr.
  const std::string* field(std::string_view name) const noexcept {
    for (const auto& [k, v] : fields)
      if (k == name) return &v;
    return nullptr;
  }
};

/// XADD trimming.
struct xadd_options {
  std::size_t maxlen = 0;    ///< 0 = no trimming; else `MAXLEN ~ maxlen` (or `=` when !approximate)
  bool approximate = true;   ///< `~`: Redis trims whole macro nodes, cheaply; keeps at least maxlen
};

/// Entries per stream key, in the order Redis returned them.
using xread_result = std::vector<std::pair<std::string, std::vector<stream_entry>>>;

namespace detail {
/// Parses `[[id, [f, v, ...]], ...]`; false when the shape is wrong.
inline bool parse_entries(const reply& r, std::vector<stream_entry>& out) {
  if (r.is_nil()) return true;
  if (!r.is_array()) return false;
  out.reserve(out.size() + r.elements.size());
  for (const auto& e : r.elements) {
    if (!e.is_array() || e.elements.size() != 2 || !e.elements[0].is_string()) return false;
    stream_entry se;
    se.id = e.elements[0].str;
    const reply& kv = e.elements[1];
    if (kv.is_array()) {
      if (kv.elements.size() % 2 != 0) return false;
      for (std::size_t i = 0; i + 1 < kv.elements.size(); i += 2)
        se.fields.emplace_back(kv.elements[i].str, kv.elements[i + 1].str);
    } else if (!kv.is_nil()) {
      return false;
    }
    out.push_back(std::move(se));
  }
  return true;
}
}  // namespace detail

/// `XADD key [MAXLEN ~ n] * field value ...`; the handler gets the id Redis assigned.
inline void async_xadd(connection& c, std::string key, const std::vector<std::pair<std::string, std::string>>& fields,
                       xadd_options opts, std::function<void(std::error_code, std::string)> h) {
  std::vector<std::string> args;
  args.reserve(6 + fields.size() * 2);
  args.emplace_back("XADD");
  args.push_back(std::move(key));
  if (opts.maxlen > 0) {
    args.emplace_back("MAXLEN");
    args.emplace_back(opts.approximate ? "~" : "=");
    args.push_back(std::to_string(opts.maxlen));
  }
  args.emplace_back("*");
  for (const auto& [k, v] : fields) {
    args.push_back(k);
    args.push_back(v);
  }
  c.async_command(std::move(args), [h = std::move(h)](std::error_code ec, reply r) {
    if (!ec && !r.is_string()) ec = errc::unexpected_reply;
    h(ec, ec ? std::string() : std::move(r.str));
  });
}

/// `XRANGE key start end [COUNT n]` (count 0 = no COUNT). Use exclusive(id) for "after id".
inline void async_xrange(connection& c, std::string key, std::string start, std::string end, std::size_t count,
                         std::function<void(std::error_code, std::vector<stream_entry>)> h, bool reverse = false) {
  std::vector<std::string> args{reverse ? "XREVRANGE" : "XRANGE", std::move(key), std::move(start), std::move(end)};
  if (count > 0) {
    args.emplace_back("COUNT");
    args.push_back(std::to_string(count));
  }
  c.async_command(std::move(args), [h = std::move(h)](std::error_code ec, reply r) {
    std::vector<stream_entry> out;
    if (!ec && !detail::parse_entries(r, out)) ec = errc::unexpected_reply;
    h(ec, std::move(out));
  });
}

/// `XREVRANGE key end start [COUNT n]`: newest first.
inline void async_xrevrange(connection& c, std::string key, std::string end, std::string start, std::size_t count,
                            std::function<void(std::error_code, std::vector<stream_entry>)> h) {
  async_xrange(c, std::move(key), std::move(end), std::move(start), count, std::move(h), true);
}

/// `XREAD [COUNT n] [BLOCK ms] STREAMS k1 k2 ... after1 after2 ...`: entries after each id.
/// With `block`, waits up to that long for the first entry (0 = forever, which a connection's
/// command timeout would then cut: prefer a finite block). An empty result means the block timed
/// out or was interrupted (CLIENT UNBLOCK).
inline void async_xread(connection& c, const std::vector<std::pair<std::string, std::string>>& key_after,
                        std::optional<std::chrono::milliseconds> block, std::size_t count,
                        std::function<void(std::error_code, xread_result)> h) {
  std::vector<std::string> args{"XREAD"};
  args.reserve(6 + key_after.size() * 2);
  if (count > 0) {
    args.emplace_back("COUNT");
    args.push_back(std::to_string(count));
  }
  auto timeout = std::chrono::milliseconds(0);
  if (block) {
    args.emplace_back("BLOCK");
    args.push_back(std::to_string(block->count()));
    timeout = *block + c.options().command_timeout;
  }
  args.emplace_back("STREAMS");
  for (const auto& ka : key_after) args.push_back(ka.first);
  for (const auto& ka : key_after) args.push_back(ka.second);
  c.async_command(
      std::move(args),
      [h = std::move(h)](std::error_code ec, reply r) {
        xread_result out;
        if (!ec && r.is_array()) {
          for (const auto& kv : r.elements) {
            if (!kv.is_array() || kv.elements.size() != 2 || !kv.elements[0].is_string()) {
              ec = errc::unexpected_reply;
              break;
            }
            std::vector<stream_entry> entries;
            if (!detail::parse_entries(kv.elements[1], entries)) {
              ec = errc::unexpected_reply;
              break;
            }
            out.emplace_back(kv.elements[0].str, std::move(entries));
          }
        } else if (!ec && !r.is_nil()) {
          ec = errc::unexpected_reply;
        }
        if (ec) out.clear();
        h(ec, std::move(out));
      },
      timeout);
}

}  // namespace sse::redis

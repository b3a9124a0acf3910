/**
 * @file log.hpp
 * @brief sse::event_log: the bounded per-topic log of encoded events that streams replay from.
 *
 * Entries are `(sequence number, shared encoded event)`, retained up to a count AND a byte bound
 * (oldest evicted first). Event ids are `<epoch>-<seq>`: the epoch is chosen when the log is created
 * (random 64-bit, hex), so ids from an earlier run (or another server) are recognised as unknown
 * instead of being silently mistaken for this run's. `since(id)` answers either "replay these" or
 * "reset: unknown id / too old", never a silently wrong replay.
 *
 * Not thread-safe: the hub guards each topic's log with the topic's mutex.
 */
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sse/shared_event.hpp"
#include "sse/detail/json.hpp"
#include "sse/encoder.hpp"

namespace sse {

/// Bounds and identity of an event_log.
struct log_options {
  std::size_t max_events = 1000;                 ///< entries retained at most (at least 1 is used)
  std::size_t max_bytes = std::size_t{4} << 20;  ///< encoded bytes retained at most
  std::string epoch = {};                        ///< "" = random per log; no CR, LF, NUL
};

/// One retained entry.
struct log_entry {
  std::uint64_t seq = 0;
  shared_event event = {};
};

/// What `event_log::since` decided.
enum class resume_status {
  live,    ///< no Last-Event-ID: live events only
  replay,  ///< the id is known: replay `entries` (maybe none), then live
  reset,   ///< the id is unknown or too old: send a reset event, replay `entries` (all retained), then live
};

/// Why a resume became a reset.
enum class reset_reason { none, unknown_id, too_old };

inline std::string_view to_string(reset_reason r) noexcept {
  switch (r) {
    case reset_reason::none: return "none";
    case reset_reason::unknown_id: return "unknown-id";
    case reset_reason::too_old: return "too-old";
  }
  return "none";
}

/// The answer of `event_log::since`.
struct resume_result {
  resume_status status = resume_status::live;
  reset_reason reason = reset_reason::none;
  std::vector<log_entry> entries = {};  ///< to replay, oldest first
  std::string oldest_id = {};           ///< on reset: the oldest retained id ("" when the log is empty)
  std::optional<std::uint64_t> lost = {};  ///< on too-old: events evicted after the client's id
  std::uint64_t head = 0;             ///< the log's last sequence number when answered (0 = none yet)
};

/// The in-band event sent before a reset replay: `event: reset` with JSON data
/// `{"reason":"unknown-id"|"too-old","oldest":"<id>","lost":N}`; `oldest` is left out when the log
/// is empty, `lost` when unknown. It has no `id:` line, so it never changes the client's Last-Event-ID.
inline shared_event make_reset_event(const resume_result& r) {
  std::string data = "{\"reason\":";
  detail::json_string_to(data, to_string(r.reason));
  if (!r.oldest_id.empty()) {
    data.append(",\"oldest\":");
    detail::json_string_to(data, r.oldest_id);
  }
  if (r.lost) {
    data.append(",\"lost\":");
    data.append(std::to_string(*r.lost));
  }
  data.push_back('}');
  return make_shared_event(encode(event{.type = "reset", .data = std::move(data)}));
}

/// A fresh random epoch: 16 lowercase hex digits.
inline std::string make_epoch() {
  std::random_device rd;
  std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  // Mix in the clock in case random_device is deterministic on this platform.
  v ^= static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = "0123456789abcdef"[v & 0xF];
  return s;
}

/// A bounded, in-memory log of one topic's events.
class event_log {
 public:
  explicit event_log(log_options opts = {}) : opts_(std::move(opts)) {
    if (opts_.max_events == 0) opts_.max_events = 1;
    if (opts_.epoch.empty()) opts_.epoch = random_epoch();
    if (detail::has_line_break_or_nul(opts_.epoch)) throw std::invalid_argument("sse::event_log: epoch contains CR, LF or NUL");
  }

  const std::string& epoch() const noexcept { return opts_.epoch; }
  const log_options& options() const noexcept { return opts_; }

  /// The last sequence number appended (0 before the first append).
  std::uint64_t head() const noexcept { return head_; }
  /// The sequence number the next append must use.
  std::uint64_t next_seq() const noexcept { return head_ + 1; }
  /// The oldest retained sequence number, or head()+1 when nothing is retained.
  std::uint64_t oldest_seq() const noexcept { return entries_.empty() ? head_ + 1 : entries_.front().seq; }
  std::size_t size() const noexcept { return entries_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }
  const std::deque<log_entry>& entries() const noexcept { return entries_; }

  /// `<epoch>-<seq>`.
  std::string make_id(std::uint64_t seq) const {
    std::string id = opts_.epoch;
    id.push_back('-');
    id.append(std::to_string(seq));
    return id;
  }

  /// The sequence number of an id of this log's epoch; nullopt for another epoch or garbage.
  /// Strict: decimal digits only, no sign, no leading zero (except "0"), no overflow.
  std::optional<std::uint64_t> parse_id(std::string_view id) const noexcept {
    const std::string_view ep = opts_.epoch;
    if (id.size() < ep.size() + 2 || id.substr(0, ep.size()) != ep || id[ep.size()] != '-') return std::nullopt;
    const std::string_view digits = id.substr(ep.size() + 1);
    if (digits.size() > 20 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
    std::uint64_t v = 0;
    for (const char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      const auto d = static_cast<std::uint64_t>(c - '0');
      if (v > (UINT64_MAX - d) / 10) return std::nullopt;
      v = v * 10 + d;
    }
    return v;
  }

  /// Continues a log whose first `head` events live elsewhere (a durable store, after a restart):
  /// the next append gets head + 1, and ids up to `head` count as "too old" (evicted), not unknown.
  /// Only while nothing has been appended; throws std::logic_error otherwise.
  void restore_head(std::uint64_t head) {
    if (head_ != 0 || !entries_.empty()) throw std::logic_error("sse::event_log::restore_head: the log is not empty");
    head_ = head;
  }

  /// Appends the entry `seq`, which must be next_seq(); evicts the oldest entries past the bounds.
  /// An entry larger than max_bytes on its own is evicted at once (counted as lost on resume).
  void append(std::uint64_t seq, shared_event ev) {
    if (seq != head_ + 1) throw std::invalid_argument("sse::event_log::append: sequence numbers must be consecutive");
    if (!ev) throw std::invalid_argument("sse::event_log::append: null event");
    head_ = seq;
    bytes_ += ev->bytes.size();
    entries_.push_back(log_entry{seq, std::move(ev)});
    while (!entries_.empty() && (entries_.size() > opts_.max_events || bytes_ > opts_.max_bytes)) {
      bytes_ -= entries_.front().event->bytes.size();
      entries_.pop_front();
    }
  }

  /// Drops the retained entries whose sequence number is at most `seq`, oldest first (a global
  /// history budget trims this way: sse::hub_options::max_history_bytes); a later resume from an
  /// id before them is "too old". Returns how many entries were dropped.
  std::size_t trim_through(std::uint64_t seq) noexcept {
    std::size_t n = 0;
    while (!entries_.empty() && entries_.front().seq <= seq) {
      bytes_ -= entries_.front().event->bytes.size();
      entries_.pop_front();
      ++n;
    }
    return n;
  }

  /// Drops every retained entry (head() is kept). Returns how many were dropped.
  std::size_t clear() noexcept { return trim_through(head_); }

  /// Encodes `ev` with the next id (`ev.id` must be unset) and appends it; returns the id.
  /// Throws sse::invalid_event or std::invalid_argument on bad input.
  std::string append(event ev) {
    if (ev.id) throw std::invalid_argument("sse::event_log::append: the log assigns ids; leave event::id unset");
    const std::uint64_t seq = next_seq();
    ev.id = make_id(seq);
    auto enc = make_shared_event(ev);
    append(seq, std::move(enc));
    return std::move(*ev.id);
  }

  /// What a client that last saw `last_event_id` should get. Empty id: live only.
  resume_result since(std::string_view last_event_id) const {
    resume_result r;
    r.head = head_;
    if (last_event_id.empty()) return r;
    const auto seq = parse_id(last_event_id);
    const std::uint64_t oldest = oldest_seq();
    if (!seq || *seq > head_) {  // another epoch, garbage, or from the future: cannot be ours
      r.status = resume_status::reset;
      r.reason = reset_reason::unknown_id;
    } else if (*seq + 1 < oldest) {  // entries after it were evicted
      r.status = resume_status::reset;
      r.reason = reset_reason::too_old;
      r.lost = oldest - 1 - *seq;
    } else {
      r.status = resume_status::replay;
      // Sequence numbers are consecutive, so the first entry to replay is found by index.
      r.entries.assign(entries_.begin() + static_cast<std::ptrdiff_t>(*seq + 1 - oldest), entries_.end());
      return r;
    }
    r.entries.assign(entries_.begin(), entries_.end());
    if (!entries_.empty()) r.oldest_id = make_id(entries_.front().seq);
    return r;
  }

 private:
  static std::string random_epoch() { return make_epoch(); }

  log_options opts_;
  std::deque<log_entry> entries_;
  std::size_t bytes_ = 0;
  std::uint64_t head_ = 0;
};

}  // namespace sse

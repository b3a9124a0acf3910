/**
 * @file mirror.hpp
 * @brief With a broker, each topic a hub holds keeps a mirror of its shared log (see sse/hub.hpp and
 *        sse/broker.hpp): what a Last-Event-ID resumes to from the mirror alone, or from the shared
 *        log's answer joined to it. Pure decisions over the topic's state (its mutex held by the
 *        caller); the hub performs them. Internal to sse::hub, tested through it
 *        (tests/runtime/test_hub_mirror.cpp).
 */
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "sse/broker.hpp"
#include "sse/hub/topic.hpp"
#include "sse/log.hpp"

namespace sse::detail {

enum class mirror_step { ready, wait, read };

/// The shared log's position of a mirrored entry (its id is the shared log's).
inline log_position pos_of(const broker& b, const log_entry& e) {
  return b.parse_id(e.event->id).value_or(log_position{});
}

/// True when the mirror holds every entry after `u` that it was fed (t.mu held).
inline bool mirror_covers(const broker& b, const detail::topic_state& t, log_position u) {
  if (!t.positioned || u < t.cover) return false;
  if (t.log.oldest_seq() <= t.cover_seq) return true;  // nothing fed has been evicted
  if (t.log.size() == 0) return u >= t.last;
  return u >= pos_of(b, t.log.entries().front());
}

/// The first retained entry whose position is above `u` (or at least `u`, when !strictly).
inline auto mirror_from(const broker& b, const detail::topic_state& t, log_position u, bool strictly) {
  return std::partition_point(t.log.entries().begin(), t.log.entries().end(), [&](const log_entry& e) {
    const auto p = pos_of(b, e);
    return strictly ? p <= u : p < u;
  });
}

/// What `last` resumes to from the mirror alone (h == nullptr), or from the shared log's answer
/// `h` joined to the mirror (t.mu held). `ready`: r (and sealed / seal_retry when the answer
/// reaches the seal) is the replay; `wait`: the mirror has not been fed that far yet (or is not
/// positioned); `read`: ask the shared log (again).
inline mirror_step mirror_resume(const broker& b, const detail::topic_state& t, const std::string& last,
                                 const broker_history* h, resume_result& r, bool& sealed,
                                 std::optional<std::chrono::milliseconds>& seal_retry, bool waited = false) {
  r = resume_result{};
  r.head = t.log.head();
  auto from_history = [&] {
    if (!last.empty()) {
      r.status = h->status;
      r.reason = h->reason;
      r.oldest_id = h->oldest_id;
    }
    for (const auto& e : h->entries)
      if (e.event) r.entries.push_back(log_entry{0, e.event});
  };
  if (h && !h->entries.empty() && !h->entries.back().event) {  // the answer reaches the seal: nothing follows
    from_history();
    sealed = true;
    seal_retry = h->entries.back().seal_retry;
    return mirror_step::ready;
  }
  if (!t.positioned) return mirror_step::wait;
  if (!h) {
    if (last.empty()) {
      // Live: from here; or, for a subscription that waited for the position, from the position
      // (what was fed meanwhile is after its subscribe call), while the mirror still has it all.
      if (waited && t.cover_named && t.log.oldest_seq() <= t.cover_seq) r.entries.assign(t.log.entries().begin(), t.log.entries().end());
      return mirror_step::ready;
    }
    const auto p = b.parse_id(last);
    if (!p || *p > t.last || !mirror_covers(b, t, *p)) return mirror_step::read;
    auto it = mirror_from(b, t, *p, false);
    const bool entry = it != t.log.entries().end() && pos_of(b, *it) == *p;
    // An id the mirror cannot name (not one of its entries, nor where it starts): the shared log decides.
    if (!entry && !(*p == t.last && *p != t.cover) && !(*p == t.cover && t.cover_named && t.log.oldest_seq() <= t.cover_seq))
      return mirror_step::read;
    if (entry) ++it;
    r.status = resume_status::replay;
    r.entries.assign(it, t.log.entries().end());
    return mirror_step::ready;
  }
  if (h->upto > t.last) {
    if (!t.sealed) return mirror_step::wait;
    from_history();  // nothing will be fed after the seal
    return mirror_step::ready;
  }
  if (!mirror_covers(b, t, h->upto)) return mirror_step::read;  // the mirror let go of entries after it meanwhile
  from_history();
  r.entries.insert(r.entries.end(), mirror_from(b, t, h->upto, true), t.log.entries().end());
  return mirror_step::ready;
}

/// The waiters of `t` that can go on (all of them when `all`); t.mu held.
inline std::vector<detail::mirror_waiter> take_waiters(detail::topic_state& t, bool all) {
  std::vector<detail::mirror_waiter> out;
  for (auto it = t.waiters.begin(); it != t.waiters.end();) {
    if (all || (t.positioned && (!it->upto || *it->upto <= t.last))) {
      out.push_back(std::move(*it));
      it = t.waiters.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

}  // namespace sse::detail

/**
 * @file options.hpp
 * @brief sse::hub's options, errors (sse::hub_errc, hub_error, hub_argument_error), topic roles and
 *        topic names. See sse/hub.hpp.
 */
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "sse/broker.hpp"
#include "sse/error_category.hpp"
#include "sse/keepalive.hpp"
#include "sse/log.hpp"
#include "sse/logger.hpp"
#include "sse/metrics.hpp"
#include "sse/store.hpp"

namespace sse {

/// Errors of hub operations that are not argument errors.
enum class hub_errc {
  too_many_topics = 1,  ///< creating the topic would pass hub_options::max_topics
  invalid_topic,        ///< the topic name is empty, too long or has bytes outside 0x21..0x7E
  id_not_allowed,       ///< the event has an id; the hub assigns ids
  foreign_executor,     ///< the stream's executor is none of the hub's shards
  topic_sealed,         ///< the topic was sealed (hub::seal): it takes no more events
  /// subscribing would pass hub_options::max_subscribed_topics (topics nothing was published to)
  too_many_subscribed_topics,
  /// a blocking call (publish or seal with a broker) made on one of the hub's executors, or on
  /// the broker's: it would wait for work that this very thread has to run. Use async_publish /
  /// async_seal there.
  would_block,
  no_such_topic,        ///< hub::async_since without a broker: the topic does not exist here
};

}  // namespace sse

template <>
struct std::is_error_code_enum<sse::hub_errc> : std::true_type {};

namespace sse {

namespace detail {
struct hub_category_impl {
  static constexpr const char* name = "sse.hub";
  static std::string message(int ev) {
    switch (static_cast<hub_errc>(ev)) {
      case hub_errc::too_many_topics: return "too many topics";
      case hub_errc::invalid_topic: return "invalid topic name";
      case hub_errc::id_not_allowed: return "the hub assigns event ids; leave event::id unset";
      case hub_errc::foreign_executor: return "the stream's executor is not one of the hub's shards";
      case hub_errc::topic_sealed: return "the topic is sealed: it takes no more events";
      case hub_errc::too_many_subscribed_topics:
        return "too many topics that only have subscribers (nothing published to them yet)";
      case hub_errc::would_block:
        return "blocking publish/seal on a hub executor would wait for itself: use async_publish / async_seal";
      case hub_errc::no_such_topic: return "no such topic";
    }
    return "unknown sse.hub error";
  }
};
}  // namespace detail

inline const std::error_category& hub_category() noexcept {
  return sse::error_category_for<detail::hub_category_impl>();
}

inline std::error_code make_error_code(hub_errc e) noexcept { return {static_cast<int>(e), hub_category()}; }

/// Thrown when the topic limit is reached or the store refuses (resource problems, not argument errors).
class hub_error : public std::system_error {
 public:
  explicit hub_error(std::error_code ec) : std::system_error(ec) {}
};

/// Thrown for invalid arguments (bad topic name, event with an id, stream on a foreign executor).
class hub_argument_error : public std::invalid_argument {
 public:
  explicit hub_argument_error(std::error_code ec) : std::invalid_argument(ec.message()), code_(ec) {}
  const std::error_code& code() const noexcept { return code_; }

 private:
  std::error_code code_;
};

/// Who opens a topic (hub::open_topic): a publisher's topic counts against hub_options::max_topics;
/// a topic opened only for subscribers (nothing published to it, the store knows no events of it)
/// counts against the smaller hub_options::max_subscribed_topics until its first publish.
enum class topic_role { publisher, subscriber };

struct hub_options {
  /// Topics that may exist at once that something was published to (or opened as a publisher, or
  /// known to the store with events). Subscribers alone never take these: see max_subscribed_topics.
  std::size_t max_topics = 10000;
  /// Topics that may exist at once only because clients subscribed to them (nothing published to
  /// them yet, the store knows no events of them). Such a topic becomes an ordinary one at its
  /// first publish (counted against max_topics then) and is dropped as soon as its last subscriber
  /// leaves. A subscription past this bound fails with hub_errc::too_many_subscribed_topics (the
  /// server answers 503), so unauthenticated subscribers can never lock publishers out.
  /// nullopt = max_topics / 10, at least 1.
  std::optional<std::size_t> max_subscribed_topics = std::nullopt;
  std::size_t max_topic_bytes = 200;     ///< longest topic name
  log_options history = {};              ///< bounds of each topic's history (its in-memory log) (epoch "" = random per topic)
  std::optional<keepalive_options> keepalive = keepalive_options{};  ///< one scheduler per shard; nullopt = none
  sse::metrics* metrics = nullptr;       ///< counters, or nullptr
  logger on_log = {};                    ///< logging hook, or empty
  std::shared_ptr<event_store> store = {};  ///< durable log (replay across restarts), or none
  std::size_t store_replay_limit = 10000;   ///< most events replayed from the store for one subscriber
  std::shared_ptr<sse::broker> broker = {}; ///< shared log across instances (sse/broker.hpp), or none
  /// A topic without subscribers that nothing has published to (or subscribed to, or polled with
  /// since()) for this long is dropped from memory, its log with it: a finished job, a closed
  /// ticket. With a store the topic is opened again from it on next use, ids continuing, and a
  /// resume is replayed from the store; without one a later resume gets `event: reset`. The seal
  /// is not kept. Checked every ttl/4 (at least every second) on the first shard. 0 = never.
  std::chrono::milliseconds idle_topic_ttl = std::chrono::milliseconds(0);
  /// false: no timer for idle_topic_ttl; call hub::evict_idle() yourself (tests running an
  /// io_context until it has no work, or an application with its own housekeeping).
  bool idle_topic_timer = true;
  /// Global history budget: encoded bytes retained in all topics' logs together (each log also
  /// keeps its own log_options bounds). Past it, the oldest retained events across all topics are
  /// trimmed first (a global FIFO in publish order); a client resuming from a trimmed id gets the
  /// usual `event: reset` (too-old), or its replay from the store when there is one. Counted in
  /// metrics::history_bytes / history_trimmed_events. 0 = no global budget. With a broker the
  /// mirrors count (a resume past what they keep reads the shared log).
  std::size_t max_history_bytes = std::size_t{64} << 20;
};

/// True if `name` is a valid topic name: 1..max bytes, each printable ASCII without space.
inline bool is_valid_topic(std::string_view name, std::size_t max_bytes = 200) noexcept {
  if (name.empty() || name.size() > max_bytes) return false;
  for (const char c : name)
    if (c < 0x21 || c > 0x7E) return false;
  return true;
}


}  // namespace sse

/**
 * @file metrics.hpp
 * @brief sse::metrics, the runtime's counters (lock-free atomics), and their Prometheus rendering.
 * @see https://prometheus.io/docs/instrumenting/exposition_formats/
 */
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace sse {

/// Counters shared by streams, keepalive schedulers and hubs. Every member is a relaxed atomic, so
/// any thread may update or read them. Pass a pointer in the options; nullptr means "not counted".
struct metrics {
  std::atomic<std::int64_t> connections_open{0};         ///< gauge: streams started and not closed
  std::atomic<std::uint64_t> connections_total{0};       ///< streams started
  std::atomic<std::uint64_t> events_published{0};        ///< events accepted by hub::publish
  std::atomic<std::uint64_t> events_delivered{0};        ///< events written to a transport (live + replay)
  std::atomic<std::uint64_t> bytes_written{0};           ///< bytes written to transports (head and framing too)
  std::atomic<std::uint64_t> pings_sent{0};              ///< keepalive pings written
  std::atomic<std::uint64_t> slow_consumer_disconnects{0};  ///< streams closed by the `disconnect` policy
  std::atomic<std::uint64_t> events_dropped{0};          ///< events discarded by the `drop` policy
  std::atomic<std::uint64_t> gaps{0};                    ///< gap markers written (drop policy)
  std::atomic<std::uint64_t> write_timeouts{0};          ///< streams closed because a write took too long
  std::atomic<std::uint64_t> write_errors{0};            ///< streams closed by a transport error
  std::atomic<std::uint64_t> replays{0};                 ///< subscriptions that replayed from the log
  std::atomic<std::uint64_t> replayed_events{0};         ///< events queued for replay
  std::atomic<std::uint64_t> resets{0};                  ///< subscriptions answered with a `reset` event
  std::atomic<std::int64_t> topics{0};                   ///< gauge: topics that exist in hubs (both kinds)
  /// gauge: of those, topics that only have subscribers (nothing published to them yet; see
  /// hub_options::max_subscribed_topics). The others are published topics.
  std::atomic<std::int64_t> subscribed_only_topics{0};
  /// topics refused because a bound was reached (hub_options::max_topics or max_subscribed_topics)
  std::atomic<std::uint64_t> topics_refused{0};
  std::atomic<std::int64_t> history_bytes{0};            ///< gauge: encoded bytes retained in hub logs
  std::atomic<std::uint64_t> history_trimmed_events{0};  ///< events dropped by hub_options::max_history_bytes

  static void add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
    c.fetch_add(n, std::memory_order_relaxed);
  }
  static void add(std::atomic<std::int64_t>& c, std::int64_t n = 1) noexcept {
    c.fetch_add(n, std::memory_order_relaxed);
  }
};

namespace detail {
template <class T>
void prom_metric(std::string& out, const char* name, const char* type, const char* help,
                    const std::atomic<T>& v) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  out.append(name).append(" ").append(std::to_string(v.load(std::memory_order_relaxed))).append("\n");
}
}  // namespace detail

/// Renders `m` in the Prometheus text exposition format (version 0.0.4), every name prefixed `sse_`.
/// Serve it with `Content-Type: text/plain; version=0.0.4; charset=utf-8`.
inline std::string render_prometheus(const metrics& m) {
  std::string out;
  out.reserve(2048);
  using detail::prom_metric;
  prom_metric(out, "sse_connections_open", "gauge", "Streams currently open.", m.connections_open);
  prom_metric(out, "sse_connections_total", "counter", "Streams opened.", m.connections_total);
  prom_metric(out, "sse_events_published_total", "counter", "Events published to hubs.", m.events_published);
  prom_metric(out, "sse_events_delivered_total", "counter", "Events written to clients, live and replayed.",
                 m.events_delivered);
  prom_metric(out, "sse_bytes_written_total", "counter", "Bytes written to clients.", m.bytes_written);
  prom_metric(out, "sse_pings_sent_total", "counter", "Keepalive pings written.", m.pings_sent);
  prom_metric(out, "sse_slow_consumer_disconnects_total", "counter",
                 "Streams closed because their write queue would exceed its bound.", m.slow_consumer_disconnects);
  prom_metric(out, "sse_events_dropped_total", "counter", "Events discarded for slow clients (drop policy).",
                 m.events_dropped);
  prom_metric(out, "sse_gaps_total", "counter", "Gap markers written (drop policy).", m.gaps);
  prom_metric(out, "sse_write_timeouts_total", "counter", "Streams closed because a write took too long.",
                 m.write_timeouts);
  prom_metric(out, "sse_write_errors_total", "counter", "Streams closed by a transport error.", m.write_errors);
  prom_metric(out, "sse_replays_total", "counter", "Subscriptions resumed from the log.", m.replays);
  prom_metric(out, "sse_replayed_events_total", "counter", "Events replayed from the log.", m.replayed_events);
  prom_metric(out, "sse_resets_total", "counter", "Subscriptions answered with a reset event.", m.resets);
  prom_metric(out, "sse_topics", "gauge", "Topics that currently exist.", m.topics);
  prom_metric(out, "sse_subscribed_only_topics", "gauge",
                 "Topics that exist only because of subscribers (nothing published to them yet).",
                 m.subscribed_only_topics);
  prom_metric(out, "sse_topics_refused_total", "counter",
                 "New topics refused because a topic limit was reached (publishers' or subscribers').",
                 m.topics_refused);
  prom_metric(out, "sse_history_bytes", "gauge", "Encoded event bytes retained in the hub's logs, all topics.",
                 m.history_bytes);
  prom_metric(out, "sse_history_trimmed_events_total", "counter",
                 "Events dropped from the hub's logs to keep them within the global history budget.",
                 m.history_trimmed_events);
  return out;
}

}  // namespace sse

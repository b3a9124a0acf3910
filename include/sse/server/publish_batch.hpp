/**
 * @file server/publish_batch.hpp
 * @brief sse::add_publish_batch_route: many events, each with its own topic and type, published by
 *        one POST of newline-delimited JSON, so a producer is not held to one HTTP round trip per
 *        event. Needs nlohmann/json: link sse::batch (the core library does not depend on it).
 *
 * Request: `POST <pattern>` (sse-hub: `POST /publish`), behind the route's auth hook, with the body
 * described in sse/server/batch_parser.hpp (one `{"topic":...,"event":...,"data":...}` a line; any
 * Content-Type, `application/x-ndjson` is the natural one). The body is bounded by
 * server_options::max_body_bytes (413 beyond, before it is read) and holds at most
 * publish_batch_options::max_events events.
 *
 * The whole body is validated first; if any line is wrong nothing is published and the answer is
 * `400` (`413` for too many events) with a text reason naming the first bad line, e.g.
 * `line 3: unknown member "type" (the members are "topic", "event" and "data")`.
 *
 * Otherwise every event is published in line order (hub::publish on the connection's executor; with
 * a broker hub::async_publish, initiated in line order, answered once all have completed), and the
 * answer is `application/x-ndjson`, one line per event, in the order of the request's events
 * (blank lines have none):
 *   {"id":"<id>"}                                  published, with the id its subscribers see
 *   {"status":503,"error":"too many topics"}       not published: the status and reason the
 *                                                  single-event publish route would have answered
 * Events of one topic are published in line order: their ids increase in that order, and a
 * subscriber receives them in that order (with a broker too: the shared log takes them over one
 * connection, in order). Lines are independent: one that fails (a new topic past
 * hub_options::max_topics, a sealed topic, Redis unavailable) does not stop the others, so a
 * later event of the same topic may be published after an earlier one failed; a producer that
 * must keep a topic's order resends from the first failed line of that topic. One exception: when
 * the durable store (hub_options::store) refuses an event (its queue full after its enqueue wait,
 * or a write error), the lines after it are not attempted (503, "not attempted: line N failed:
 * ..."), so a slow disk cannot hold an executor for a whole batch of waits.
 * The status is 200 when at least one event was published. When none was, it is that of the
 * failures (503 with `Retry-After: 1` when any line failed with 503, as when Redis is down for
 * the whole batch; else the first line's), so a client or a proxy that only looks at the status
 * sees that nothing happened; the body still has one line per event.
 *
 * Why one line per event and not one status: partial success is normal (one topic too many among
 * thousands), and the producer needs each event's id (to correlate, or to resume from); NDJSON in,
 * NDJSON out lets it zip the answer with what it sent, line by line, without parsing a whole array.
 */
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "sse/detail/json.hpp"
#include "sse/logger.hpp"
#include "sse/server/batch_parser.hpp"
#include "sse/server/server.hpp"

namespace sse {

struct publish_batch_options {
  /// Events in one request at most; one more answers 413 and publishes nothing.
  std::size_t max_events = 1000;
};

namespace detail {

/// The answers of one batch's publishes, collected as their completions come.
struct batch_publish_state {
  std::vector<std::string> lines;  ///< one per event: its answer line, without the LF
  std::vector<int> statuses;       ///< one per event: 0 = published
  std::atomic<std::size_t> remaining{0};
  std::function<void(response)> respond;
  std::shared_ptr<sse::broker> broker;  ///< the hub's, if any (its errors map to 503 or 500)

  /// Event i's outcome: published with `id`, or not (the single-event route's status and reason).
  void record(std::size_t i, std::error_code ec, const std::string& id) {
    if (!ec) {
      lines[i] = "{\"id\":";
      json_string_to(lines[i], id);
      lines[i] += "}";
      return;
    }
    const response r = server::publish_response(broker.get(), ec, id);
    std::string_view reason = r.body;
    if (reason.ends_with('\n')) reason.remove_suffix(1);
    fail(i, r.status, reason);
  }
  void fail(std::size_t i, int status, std::string_view reason) {
    statuses[i] = status;
    lines[i] = "{\"status\":" + std::to_string(status) + ",\"error\":";
    json_string_to(lines[i], reason);
    lines[i] += "}";
  }

  /// The response once every publish has answered (see the file comment for the status).
  response finish() const {
    std::string body;
    std::size_t size = 0;
    for (const auto& l : lines) size += l.size() + 1;
    body.reserve(size);
    bool any_published = false, any_503 = false;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      body += lines[i];
      body.push_back('\n');
      any_published = any_published || statuses[i] == 0;
      any_503 = any_503 || statuses[i] == 503;
    }
    response r{200, "application/x-ndjson", std::move(body), {}};
    if (!any_published) r.status = any_503 ? 503 : statuses.front();
    if (r.status == 503) r.headers.emplace_back("Retry-After", "1");
    return r;
  }
};

}  // namespace detail

/// Serves batch publishing at `pattern` (POST) on `srv`, behind `auth` when set. Call before or
/// after start(). See the file comment for the request, the answer and the order.
inline void add_publish_batch_route(server& srv, std::string_view pattern = "/publish", auth_hook auth = {},
                                    publish_batch_options options = {}) {
  sse::hub& h = srv.hub();
  batch_limits limits;
  limits.max_events = options.max_events;
  limits.valid_topic = [max = h.options().max_topic_bytes](std::string_view t) { return is_valid_topic(t, max); };
  logger log = srv.options().on_log;
  srv.async_route(
      "POST", pattern,
      [&h, limits = std::move(limits), log = std::move(log)](const request_context& ctx, std::function<void(response)> respond) {
        auto parsed = parse_publish_batch(ctx.body, limits);
        if (auto* err = std::get_if<batch_error>(&parsed)) {
          if (log)
            log(log_level::debug, "publish batch from " + log_escape(ctx.remote) + " refused: " + log_escape(err->reason));
          return respond(response::text(err->what == batch_error::kind::too_many_events ? 413 : 400, err->reason));
        }
        auto& items = std::get<std::vector<batch_item>>(parsed);
        auto state = std::make_shared<detail::batch_publish_state>();
        state->lines.resize(items.size());
        state->statuses.resize(items.size());
        state->remaining.store(items.size(), std::memory_order_relaxed);
        state->respond = std::move(respond);
        state->broker = h.options().broker;
        if (!state->broker) {
          // In the hub, here and now, in line order (what async_publish would do at its initiation,
          // without a post per event). A store that refuses an event (queue full, disk error) may
          // have waited its enqueue_wait: the lines after it are not attempted.
          std::string stopped;
          for (std::size_t i = 0; i < items.size(); ++i) {
            if (!stopped.empty()) {
              state->fail(i, 503, stopped);
              continue;
            }
            std::error_code ec;
            std::string id = h.publish(items[i].topic, std::move(items[i].ev), ec);
            state->record(i, ec, id);
            if (ec && ec.category() != hub_category() && ec.category() != error_category())
              stopped = "not attempted: line " + std::to_string(items[i].line) + " failed: " + ec.message();
          }
          return state->respond(state->finish());
        }
        for (std::size_t i = 0; i < items.size(); ++i) {
          // In line order: the broker sends them to the shared log in this order, over one connection.
          h.async_publish(items[i].topic, std::move(items[i].ev), [state, i](std::error_code ec, std::string id) {
            state->record(i, ec, id);
            if (state->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) state->respond(state->finish());
          });
        }
      },
      std::move(auth));
}

}  // namespace sse

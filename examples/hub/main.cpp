// sse-hub: a generic publish/subscribe SSE server.
//   GET  /events/{topic}    the topic's event stream (resumable with Last-Event-ID or ?lastEventId=)
//   POST /publish/{topic}   body = event data, ?event=type; answers 202 {"id":"..."}
//   GET  /metrics, /healthz
// With --redis URL, several instances share their topics through Redis Streams.
#include "../common/cli.hpp"
#include <sse/server.hpp>
#ifdef SSE_HUB_HAS_REDIS
#include <sse/redis/broker.hpp>
#endif

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace {

constexpr const char* usage = R"(usage: sse-hub [options]

A publish/subscribe Server-Sent Events server.
  GET  /events/{topic}     subscribe (Last-Event-ID header or ?lastEventId= resumes)
  POST /publish/{topic}    publish; body = data, ?event=TYPE; answers 202 {"id":"..."}
  GET  /metrics            Prometheus text format;  GET /healthz

options:
  --bind ADDR              address to listen on (default 127.0.0.1)
  --port N                 TCP port (default 8080; 0 = any free port, printed at start)
  --unix PATH              listen on a Unix-domain socket instead of TCP
  --threads N              executor threads (default: hardware threads)
  --ping-interval S        ping streams idle for S seconds (default 15; fractions allowed)
  --ping-form FORM         comment (": ping <id>", default) or event ("event: ping")
  --history N              events retained per topic for resume (default 1000)
  --history-bytes N        encoded bytes retained per topic (default 4194304)
  --idle-topic-ttl S       forget a topic nobody has subscribed or published to for S seconds,
                           its history with it (default 0: never; topics are then bounded by
                           --max-topics). With --redis: how long an instance keeps reading a
                           topic it has no subscribers for (default 30)
  --max-topics N           topics at once; publishing to one more answers 503 (default 10000)
  --max-queue-bytes N      per-client write queue bound; a slower client is disconnected and
                           resumes from history (default 1048576)
  --slow-policy P          disconnect (default) or drop (skip to live with an "event: gap")
  --retry MS               retry: hint sent to each new stream (default: none)
  --padding N              padding comment of N bytes at stream start, for old proxies (default 0)
  --max-connections N      open connections at most; beyond that 503 (default 10000)
  --max-body-bytes N       largest publish body; beyond that 413 (default 65536)
  --publish-token TOKEN    require "Authorization: Bearer TOKEN" to publish
  --allow-origin ORIGIN    CORS: allow this origin ("*" for any); repeatable
  --log-level LEVEL        trace, debug (traces pings), info (default), warn, error
  --redis URL              share topics with other instances through Redis:
                           redis://[[user]:password@]host[:port][/db] (password percent-encoded;
                           or set SSE_HUB_REDIS_PASSWORD to keep it off the command line).
                           Each event is appended to the Redis Stream <prefix><topic> (XADD
                           MAXLEN ~ --history), its id comes from Redis and is the same on every
                           instance, so a client can resume on any instance. Redis down:
                           publish answers 503, open streams stay open and resume afterwards.
  --redis-prefix P         Redis key prefix (default "sse:")
  --help                   this text
)";

const sse_example::cli args{"sse-hub"};

}  // namespace

int main(int argc, char** argv) {
  sse::server_options opts;
  sse::keepalive_options keepalive;
  std::string publish_token;
  sse::log_level min_level = sse::log_level::info;
  std::string redis_url, redis_prefix = "sse:";
  std::optional<std::chrono::milliseconds> idle_ttl;

  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) args.die(fmt::format("{} needs a value", flag));
      return argv[++i];
    };
    if (flag == "--help" || flag == "-h") {
      std::fputs(usage, stdout);
      return 0;
    } else if (flag == "--bind") opts.bind = value();
    else if (flag == "--port") opts.port = args.number<unsigned short>(flag, value());
    else if (flag == "--unix") opts.unix_path = value();
    else if (flag == "--threads") opts.threads = args.number<std::size_t>(flag, value());
    else if (flag == "--ping-interval") {
      const double s = args.number<double>(flag, value());
      if (s <= 0) args.die("--ping-interval must be positive");
      keepalive.interval = std::chrono::milliseconds(static_cast<long long>(s * 1000));
    } else if (flag == "--ping-form") {
      const auto v = value();
      if (v == "comment") keepalive.form = sse::ping_form::comment;
      else if (v == "event") keepalive.form = sse::ping_form::event;
      else args.die(fmt::format("--ping-form is comment or event, not '{}'", v));
    } else if (flag == "--history") opts.hub.log.max_events = args.number<std::size_t>(flag, value());
    else if (flag == "--history-bytes") opts.hub.log.max_bytes = args.number<std::size_t>(flag, value());
    else if (flag == "--max-queue-bytes") opts.stream.max_queued_bytes = args.number<std::size_t>(flag, value());
    else if (flag == "--slow-policy") {
      const auto v = value();
      if (v == "disconnect") opts.stream.on_overflow = sse::overflow_policy::disconnect;
      else if (v == "drop") opts.stream.on_overflow = sse::overflow_policy::drop;
      else args.die(fmt::format("--slow-policy is disconnect or drop, not '{}'", v));
    } else if (flag == "--retry") opts.stream.retry = std::chrono::milliseconds(args.number<long long>(flag, value()));
    else if (flag == "--padding") opts.stream.padding = args.number<std::size_t>(flag, value());
    else if (flag == "--max-connections") opts.max_connections = args.number<std::size_t>(flag, value());
    else if (flag == "--max-body-bytes") opts.max_body_bytes = args.number<std::size_t>(flag, value());
    else if (flag == "--publish-token") publish_token = value();
    else if (flag == "--allow-origin") opts.allow_origins.emplace_back(value());
    else if (flag == "--log-level") min_level = args.log_level(value());
    else if (flag == "--idle-topic-ttl") {
      const double sec = args.number<double>(flag, value());
      if (!(sec >= 0)) args.die("--idle-topic-ttl must be 0 or more seconds");
      idle_ttl = std::chrono::milliseconds(static_cast<long long>(sec * 1000));
    } else if (flag == "--max-topics") opts.hub.max_topics = std::max<std::size_t>(1, args.number<std::size_t>(flag, value()));
    else if (flag == "--redis") redis_url = value();
    else if (flag == "--redis-prefix") redis_prefix = value();
    else args.die(fmt::format("unknown option '{}'", flag));
  }
  opts.hub.keepalive = keepalive;
  if (idle_ttl) opts.hub.idle_topic_ttl = *idle_ttl;
  opts.on_log = [min_level](sse::log_level level, std::string_view msg) {
    if (level < min_level) return;
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char ts[32];
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fmt::print(stderr, "{} {:5} {}\n", ts, sse::to_string(level), msg);
  };

  if (!redis_url.empty()) {
#ifdef SSE_HUB_HAS_REDIS
    std::error_code ec;
    sse::redis::broker_options bo;
    bo.server = sse::redis::parse_url(redis_url, ec);
    if (ec) args.die(fmt::format("--redis: {}", ec.message()));
    if (const char* pw = std::getenv("SSE_HUB_REDIS_PASSWORD"); pw && *pw) bo.server.password = pw;
    bo.prefix = redis_prefix;
    bo.max_len = opts.hub.log.max_events;
    if (idle_ttl && idle_ttl->count() > 0) bo.idle_topic_ttl = *idle_ttl;
    opts.on_log(sse::log_level::info, fmt::format("sharing topics through {} (prefix '{}')",
                                                  sse::redis::to_display_url(bo.server), bo.prefix));
    opts.hub.broker = sse::redis::broker::create(std::move(bo));
#else
    args.die("--redis: this sse-hub was built without Redis support (install libhiredis-dev and rebuild)");
#endif
  }

  try {
    sse::server server(opts);
    server.sse_route("/events/{topic}");
    server.publish_route("/publish/{topic}", publish_token.empty() ? sse::auth_hook{} : sse::bearer_token(publish_token));
    server.start();
    // The bound address on stdout, so scripts using --port 0 can find it.
    fmt::print("sse-hub listening on {}\n", server.listen_address());
    std::fflush(stdout);
    server.run();
  } catch (const std::exception& e) {
    fmt::print(stderr, "sse-hub: {}\n", e.what());
    return 1;
  }
  return 0;
}

// sse-hub: a generic publish/subscribe SSE server.
//   GET  /events/{topic}    the topic's event stream (resumable with Last-Event-ID or ?lastEventId=)
//   POST /publish/{topic}   body = event data, ?event=type; answers 202 {"id":"..."}
//   POST /publish           a batch: one {"topic":"t","event":"type","data":"..."} a line (NDJSON);
//                           answers 200 with one {"id":"..."} or {"status":N,"error":"..."} a line
//                           (sse/server/publish_batch.hpp); both behind --publish-token
//   GET  /metrics, /healthz
//   GET  /.well-known/sse-probe   with --probe: the diagnostic probe for sse-doctor (sse/probe.hpp)
// With --redis URL, several instances share their topics through Redis Streams.
#include "../common/cli.hpp"
#include "../common/log_sink.hpp"
#include <sse/probe.hpp>
#include <sse/server.hpp>
#include <sse/server/publish_batch.hpp>
#ifdef SSE_HUB_HAS_HTTP2
#include <sse/server/http2_connection.hpp>
#endif
#ifdef SSE_HUB_HAS_REDIS
#include <sse/redis/broker.hpp>
#endif

#include <fmt/core.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  using sse_example::command_line;
  sse::server_options opts;
  sse::keepalive_options keepalive;
  std::string publish_token;
  sse::log_level min_level = sse::log_level::info;
  std::string redis_url, redis_prefix = "sse:";
  std::size_t redis_readers = 0;  // 0: sse::redis::broker_options' default
  std::optional<std::chrono::milliseconds> idle_ttl;
  opts.hub.idle_topic_ttl = 600s;  // idle topics expire by default (a subscriber must not pin a topic slot forever)

  command_line cli("sse-hub", "sse-hub [options]",
                   "A publish/subscribe Server-Sent Events server.\n"
                   "  GET  /events/{topic}     subscribe (Last-Event-ID header or ?lastEventId= resumes)\n"
                   "  POST /publish/{topic}    publish; body = data, ?event=TYPE; answers 202 {\"id\":\"...\"}\n"
                   "  POST /publish            publish a batch: one JSON object a line (NDJSON),\n"
                   "                           {\"topic\":\"T\",\"event\":\"TYPE\",\"data\":\"...\"} (\"event\" optional);\n"
                   "                           a bad line refuses the whole batch (400 naming it);\n"
                   "                           answers 200 with one line per event, in order:\n"
                   "                           {\"id\":\"...\"} or {\"status\":503,\"error\":\"...\"}\n"
                   "  GET  /metrics            Prometheus text format;  GET /healthz\n");
  constexpr std::size_t big = std::size_t{1} << 40;  // 1 TiB: "no practical bound" for byte counts
  cli.text("--bind", opts.bind, "ADDR", "address to listen on (default 127.0.0.1)", true);
  cli.number<unsigned short>("--port", opts.port, "N", "TCP port (default 8080; 0 = any free port, printed at start)", 0,
                             65535);
  cli.text("--unix", opts.unix_path, "PATH", "listen on a Unix-domain socket instead of TCP", true);
  cli.flag("--reuse-port", opts.reuse_port,
           "SO_REUSEPORT: several sse-hub processes started with it share --port (the kernel\n"
           "spreads connections; with --redis they serve the same topics)");
  cli.number<std::size_t>("--threads", opts.threads, "N", "executor threads (default 0: hardware threads)", 0, 1024);
  cli.seconds("--ping-interval", [&](std::chrono::milliseconds v) { keepalive.interval = v; },
              "ping streams idle for S seconds (default 15; fractions allowed)", 0.01, 86400);
  cli.choice<sse::ping_form>("--ping-form", keepalive.form,
                             "comment (\": ping <id>\", default) or event (\"event: ping\")",
                             {{"comment", sse::ping_form::comment}, {"event", sse::ping_form::event}});
  cli.number<std::size_t>("--history", opts.hub.history.max_events, "N", "events retained per topic for resume (default 1000)",
                          1, 10'000'000);
  cli.number<std::size_t>("--history-bytes", opts.hub.history.max_bytes, "N",
                          "encoded bytes retained per topic (default 4194304)", 1, big);
  cli.seconds("--idle-topic-ttl", [&](std::chrono::milliseconds v) { idle_ttl = v; },
              "forget a topic nobody has subscribed or published to for S seconds,\n"
              "its history with it (default 600; 0 = never: topics are then bounded\n"
              "by --max-topics only). With --redis: how long an instance keeps reading\n"
              "a topic it has no subscribers for (default 30)",
              0, 30 * 86400);
  cli.number<std::size_t>("--max-topics", opts.hub.max_topics, "N",
                          "topics at once; publishing to one more answers 503 (default 10000)", 1, 100'000'000);
  cli.number<std::size_t>("--max-history-bytes", opts.hub.max_history_bytes, "N",
                          "encoded bytes retained by all topics together; the oldest events\n"
                          "are trimmed first (resuming clients get \"event: reset\") (default\n"
                          "67108864; 0 = no global budget)",
                          0, big);
  std::size_t max_subscribed = 0;
  cli.number<std::size_t>("--max-subscribed-topics", max_subscribed, "N",
                          "topics that only subscribers made exist (nothing published yet);\n"
                          "one more subscription to a new topic answers 503 (default:\n"
                          "--max-topics / 10)",
                          1, 100'000'000);
  cli.number<std::size_t>("--max-queue-bytes", opts.stream.max_queued_bytes, "N",
                          "per-client write queue bound; a slower client is disconnected and\n"
                          "resumes from history (default 1048576)",
                          1024, big);
  cli.choice<sse::overflow_policy>("--slow-policy", opts.stream.on_overflow,
                                   "disconnect (default) or drop (skip to live with an \"event: gap\")",
                                   {{"disconnect", sse::overflow_policy::disconnect}, {"drop", sse::overflow_policy::drop}});
  std::uint32_t retry_ms = 0;
  bool retry_given = false;
  cli.number<std::uint32_t>("--retry", retry_ms, "MS", "retry: hint sent to each new stream (default: none)", 0, 86'400'000);
  cli.number<std::size_t>("--padding", opts.stream.padding, "N",
                          "padding comment of N bytes at stream start, for old proxies (default 0)", 0, 1 << 20);
  cli.number<std::size_t>("--max-connections", opts.max_connections, "N",
                          "open connections at most; beyond that 503 (default 0: derived from\n"
                          "the file-descriptor limit, see the log at start)",
                          0, 10'000'000);
  cli.number<std::size_t>("--max-body-bytes", opts.max_body_bytes, "N",
                          "largest publish body, a batch's too; beyond that 413 (default 65536)", 1,
                          std::size_t{1} << 30);
  sse::publish_batch_options batch;
  cli.number<std::size_t>("--max-batch-events", batch.max_events, "N",
                          "events in one POST /publish at most; beyond that 413 (default 1000)", 1, 1'000'000);
  cli.text("--publish-token", publish_token, "TOKEN", "require \"Authorization: Bearer TOKEN\" to publish (not empty)",
           true);
  cli.texts("--allow-origin", opts.allow_origins, "ORIGIN", "CORS: allow this origin (\"*\" for any)");
  bool probe = false;
  cli.flag("--probe", probe,
           "serve the diagnostic probe at /.well-known/sse-probe (for sse-doctor;\n"
           "off by default; behind --publish-token when one is set)");
  bool http2 = false;
  cli.flag("--http2", http2,
           "also serve HTTP/2 with prior knowledge (h2c) on the same port, for proxies\n"
           "and service meshes that speak it (nghttp2); HTTP/1.1 is served as before");
  cli.log_level(min_level, "trace, debug (traces pings), info (default), warn, error");
  cli.text("--redis", redis_url, "URL",
           "share topics with other instances through Redis:\n"
           "redis://[[user]:password@]host[:port][/db] (password percent-encoded;\n"
           "or set SSE_HUB_REDIS_PASSWORD to keep it off the command line).\n"
           "Each event is appended to the Redis Stream <prefix><topic> (XADD\n"
           "MAXLEN ~ --history), its id comes from Redis and is the same on every\n"
           "instance, so a client can resume on any instance. Redis down:\n"
           "publish answers 503, open streams stay open and resume afterwards.",
           true);
  cli.text("--redis-prefix", redis_prefix, "P", "Redis key prefix (default \"sse:\")", true);
  cli.number<std::size_t>("--redis-readers", redis_readers, "N",
                          "Redis reader connections (XREAD BLOCK), topics spread over them by\n"
                          "a hash of their name (default 4)", 1, 64);
  cli.parse(argc, argv);
  retry_given = cli.app().count("--retry") > 0;
  if (cli.app().count("--max-subscribed-topics") > 0) opts.hub.max_subscribed_topics = max_subscribed;

  opts.hub.keepalive = keepalive;
  if (retry_given) opts.stream.retry = std::chrono::milliseconds(retry_ms);
  if (idle_ttl) opts.hub.idle_topic_ttl = *idle_ttl;
  opts.on_log = sse_example::stderr_log_sink(min_level);

  if (!redis_url.empty()) {
#ifdef SSE_HUB_HAS_REDIS
    std::error_code ec;
    sse::redis::broker_options bo;
    bo.server = sse::redis::parse_url(redis_url, ec);
    if (ec) cli.die(fmt::format("--redis: {}", ec.message()));
    if (const char* pw = std::getenv("SSE_HUB_REDIS_PASSWORD"); pw && *pw) bo.server.password = pw;
    bo.prefix = redis_prefix;
    bo.max_len = opts.hub.history.max_events;
    if (redis_readers > 0) bo.readers = redis_readers;
    opts.on_log(sse::log_level::info, fmt::format("sharing topics through {} (prefix '{}')",
                                                  sse::redis::to_display_url(bo.server), bo.prefix));
    opts.hub.broker = sse::redis::broker::create(std::move(bo));
#else
    cli.die("--redis: this sse-hub was built without Redis support (install libhiredis-dev and rebuild)");
#endif
  }

  if (http2) {
#ifdef SSE_HUB_HAS_HTTP2
    opts.http2 = sse::h2c();
#else
    cli.die("--http2: this sse-hub was built without HTTP/2 support (install libnghttp2-dev and rebuild)");
#endif
  }

  try {
    sse::server server(opts);
    server.sse_route("/events/{topic}");
    server.publish_route("/publish/{topic}", publish_token.empty() ? sse::auth_hook{} : sse::bearer_token(publish_token));
    sse::add_publish_batch_route(server, "/publish",
                                 publish_token.empty() ? sse::auth_hook{} : sse::bearer_token(publish_token), batch);
    if (probe)
      sse::add_probe_route(server, "/.well-known/sse-probe",
                           publish_token.empty() ? sse::auth_hook{} : sse::bearer_token(publish_token));
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

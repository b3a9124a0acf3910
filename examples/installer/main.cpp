// sse-installer: live install logs over Server-Sent Events that survive proxies and restarts.
// See examples/installer/README.md.
#include "../common/cli.hpp"
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <fmt/core.h>

#include "installer/app.hpp"
#include "installer/local_backend.hpp"
#include <sse/probe.hpp>
#ifdef SSE_INSTALLER_HAS_REDIS
#include "installer/cluster.hpp"
#endif

#ifndef SSE_INSTALLER_SOURCE_DIR
#define SSE_INSTALLER_SOURCE_DIR "."
#endif

int main(int argc, char** argv) {
  installer::options o;
  std::string redis_url, redis_prefix = "installer:";
  o.catalog_file = std::filesystem::path(SSE_INSTALLER_SOURCE_DIR) / "catalog" / "catalog.ini";
  o.web_dir = std::filesystem::path(SSE_INSTALLER_SOURCE_DIR) / "web";
  o.client_dir = std::filesystem::path(SSE_INSTALLER_SOURCE_DIR) / ".." / ".." / "clients" / "js";
  sse_example::command_line args(
      "sse-installer", "sse-installer [options]",
      "Installs components from a catalog and streams each job's log live over Server-Sent Events,\n"
      "resumable (Last-Event-ID), with a JSON polling fallback, history in SQLite and a web page.\n"
      "  POST /api/components/{name}/install   start a job: 202 {\"job\",\"component\",\"events\",\"logs\",\"status\"}\n"
      "  GET  /api/jobs/{id}/events            the job's event stream (log, progress, status, done)\n"
      "  GET  /api/jobs/{id}/logs?after=ID&limit=N   the same events as JSON, for polling\n"
      "  GET  /api/jobs/{id}, /api/jobs, /api/components, /api/diagnostics\n"
      "  GET  /, /static/{file}, /client/{file}   the web page and its client;  GET /metrics, /healthz\n"
      "A POST (a request that changes something) needs \"Content-Type: application/json\" or\n"
      "\"X-Installer-Request: 1\" (a cross-site form can send neither) and, when it has an Origin\n"
      "header, the origin of the page must be this server's (scheme://host:port of the Host the\n"
      "request came to) or one given with --allow-origin; otherwise 403. Requests whose Host is not\n"
      "localhost, 127.0.0.1, [::1], the --bind address or an --allowed-host get 421 (DNS rebinding).\n");
  args.text("--bind", o.bind, "ADDR", "address to listen on (default 127.0.0.1)", true);
  args.number<unsigned short>("--port", o.port, "N", "TCP port (default 8080; 0 = any free port, printed at start)", 0,
                              65535);
  args.number<std::size_t>("--threads", o.threads, "N", "server threads (default 2)", 1, 1024);
  std::string data_dir, catalog, web_dir, client_dir, log_dir, install_dir;
  args.text("--data-dir", data_dir, "DIR",
            "databases (events.db, installer.db) and installed components\n"
            "(DIR/installed/<name>/); default ./installer-data",
            true);
  args.text("--catalog", catalog, "FILE", "the component catalog (default: the catalog shipped with the example)", true);
  args.text("--web-dir", web_dir, "DIR", "the web page's folder (index.html, static/); default: the source folder", true);
  args.text("--client-dir", client_dir, "DIR",
            "the browser client package served under /client/ (its .js and .mjs\n"
            "files); default: clients/js of the source tree",
            true);
  args.seconds("--ping-interval", [&](std::chrono::milliseconds v) { o.ping_interval = v; },
               "ping streams idle for S seconds (default 10; fractions allowed)", 0.01, 86400);
  args.choice<sse::ping_form>("--ping-form", o.ping_form,
                              "event (\"event: ping\", default; visible to a page's watchdog) or comment",
                              {{"event", sse::ping_form::event}, {"comment", sse::ping_form::comment}});
  args.text("--token", o.token, "TOKEN", "require \"Authorization: Bearer TOKEN\" to start installs (not empty)", true);
  args.texts("--allowed-host", o.allowed_hosts, "NAME",
             "also answer requests whose Host is NAME (e.g. the name of a proxy in\n"
             "front); \"*\" = any host. Always allowed: localhost, 127.0.0.1, [::1]\n"
             "and the --bind address");
  args.texts("--allow-origin", o.allow_origins, "ORIGIN",
             "a page on ORIGIN (scheme://host[:port]) may use the API: CORS, and\n"
             "its POSTs are accepted");
  args.log_level(o.log_level, "trace, debug (adds ping traces), info (default), warn, error");
  args.text("--log-dir", log_dir, "DIR",
            "where installer-YYYY-MM-DD.log goes (default: the data dir); a new file\n"
            "starts when the UTC date changes",
            true);
  args.text("--install-dir", install_dir, "DIR",
            "where components are installed (default DATA_DIR/installed); instances\n"
            "sharing Redis should share this folder too",
            true);
  args.text("--redis", redis_url, "URL",
            "run as one of several instances sharing Redis:\n"
            "redis://[[user]:password@]host[:port][/db] (or the password in the\n"
            "environment variable SSE_INSTALLER_REDIS_PASSWORD). Jobs, the lock that\n"
            "lets one job at a time install a component, installed components and\n"
            "every job's events (a Redis Stream per job, ids from Redis) live there,\n"
            "so any instance serves any job: stream, resume, polling, status. A job\n"
            "whose instance dies is ended as failed by another one within ~8 s.\n"
            "Give Redis persistence (appendonly yes) to keep history across its\n"
            "restarts. Without --redis: SQLite in DATA_DIR, this instance alone.",
            true);
  args.text("--redis-prefix", redis_prefix, "P", "Redis key prefix, 1 to 100 bytes (default \"installer:\")", true);
  unsigned step_delay = 200;
  args.number<unsigned>("--step-delay", step_delay, "MS",
                        "pause after each step, copied file and output line, so a demo shows a\n"
                        "stream (default 200; 0 = full speed)",
                        0, 60'000);
  bool quiet = false;
  args.flag("--quiet", quiet, "do not copy log lines to stderr");
  bool probe = false;
  args.flag("--probe", probe,
            "serve the diagnostic probe at /.well-known/sse-probe (sse-doctor and the\n"
            "page's Proxy panel; off by default)");
  args.parse(argc, argv);
  if (redis_prefix.size() > 100) args.die("--redis-prefix must be 1 to 100 bytes");
  if (!data_dir.empty()) o.data_dir = data_dir;
  if (!catalog.empty()) o.catalog_file = catalog;
  if (!web_dir.empty()) o.web_dir = web_dir;
  if (!client_dir.empty()) o.client_dir = client_dir;
  if (!log_dir.empty()) o.log_dir = log_dir;
  if (!install_dir.empty()) o.install_dir = install_dir;
  o.step_delay = std::chrono::milliseconds(step_delay);
  if (quiet) o.echo_log = false;
  if (!redis_url.empty()) {
#ifdef SSE_INSTALLER_HAS_REDIS
    std::error_code ec;
    installer::cluster_options co;
    co.server = sse::redis::parse_url(redis_url, ec);
    if (ec) args.die(fmt::format("--redis: {}", ec.message()));
    if (const char* pw = std::getenv("SSE_INSTALLER_REDIS_PASSWORD"); pw && *pw) co.server.password = pw;
    co.prefix = redis_prefix;
    // The cluster logs to stderr until the app's daily log exists (it is created with the app).
    co.on_log = [min = o.log_level](sse::log_level l, std::string_view m) {
      if (l >= min) fmt::print(stderr, "{:5} {}\n", sse::to_string(l), m);
    };
    o.backend = std::make_shared<installer::cluster>(std::move(co));
#else
    args.die("--redis: this sse-installer was built without Redis support (install libhiredis-dev and rebuild)");
#endif
  } else {
    o.backend = std::make_shared<installer::local_backend>(o.data_dir);
  }
  try {
    installer::app app(o);
    // No token: the page's probe is an EventSource, which cannot send one (the probe is bounded).
    if (probe) sse::add_probe_route(app.server());
    app.start();
    // The bound address on stdout, so scripts using --port 0 can find it.
    fmt::print("sse-installer listening on http://{}:{}\n", o.bind, app.port());
    std::fflush(stdout);
    app.run();
  } catch (const installer::catalog_error& e) {
    fmt::print(stderr, "sse-installer: catalog: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "sse-installer: {}\n", e.what());
    return 1;
  }
  return 0;
}

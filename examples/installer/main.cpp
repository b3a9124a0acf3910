// sse-installer: live install logs over Server-Sent Events that survive proxies and restarts.
// See examples/installer/README.md.
#include "../common/cli.hpp"
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <fmt/core.h>

#include "installer/app.hpp"
#ifdef SSE_INSTALLER_HAS_REDIS
#include "installer/cluster.hpp"
#endif

#ifndef SSE_INSTALLER_SOURCE_DIR
#define SSE_INSTALLER_SOURCE_DIR "."
#endif

namespace {

constexpr const char* usage = R"(usage: sse-installer [options]

Installs components from a catalog and streams each job's log live over Server-Sent Events,
resumable (Last-Event-ID), with a JSON polling fallback, history in SQLite and a web page.
  POST /api/components/{name}/install   start a job: 202 {"job","component","events","logs","status"}
  GET  /api/jobs/{id}/events            the job's event stream (log, progress, status, done)
  GET  /api/jobs/{id}/logs?after=ID&limit=N   the same events as JSON, for polling
  GET  /api/jobs/{id}, /api/jobs, /api/components, /api/diagnostics
  GET  /  and /static/{file}            the web page;  GET /metrics, /healthz

options:
  --bind ADDR          address to listen on (default 127.0.0.1)
  --port N             TCP port (default 8080; 0 = any free port, printed at start)
  --threads N          server threads (default 2)
  --data-dir DIR       databases (events.db, installer.db) and installed components
                       (DIR/installed/<name>/); default ./installer-data
  --catalog FILE       the component catalog (default: the catalog shipped with the example)
  --web-dir DIR        the web page's folder (index.html, static/); default: the source folder
  --ping-interval S    ping streams idle for S seconds (default 10; fractions allowed)
  --ping-form FORM     event ("event: ping", default; visible to a page's watchdog) or comment
  --token TOKEN        require "Authorization: Bearer TOKEN" to start installs
  --log-level LEVEL    trace, debug (adds ping traces), info (default), warn, error
  --log-dir DIR        where installer-YYYY-MM-DD.log goes (default: the data dir); a new file
                       starts when the UTC date changes
  --install-dir DIR    where components are installed (default DATA_DIR/installed); instances
                       sharing Redis should share this folder too
  --redis URL          run as one of several instances sharing Redis:
                       redis://[[user]:password@]host[:port][/db] (or the password in the
                       environment variable SSE_INSTALLER_REDIS_PASSWORD). Jobs, the lock that
                       lets one job at a time install a component, installed components and
                       every job's events (a Redis Stream per job, ids from Redis) live there,
                       so any instance serves any job: stream, resume, polling, status. A job
                       whose instance dies is ended as failed by another one within ~8 s.
                       Give Redis persistence (appendonly yes) to keep history across its
                       restarts. Without --redis: SQLite in DATA_DIR, this instance alone.
  --redis-prefix P     Redis key prefix (default "installer:")
  --step-delay MS      pause after each step, copied file and output line, so a demo shows a
                       stream (default 200; 0 = full speed)
  --quiet              do not copy log lines to stderr
  --help               this text
)";

const sse_example::cli args{"sse-installer"};

}  // namespace

int main(int argc, char** argv) {
  installer::options o;
  std::string redis_url, redis_prefix = "installer:";
  o.catalog_file = std::filesystem::path(SSE_INSTALLER_SOURCE_DIR) / "catalog" / "catalog.ini";
  o.web_dir = std::filesystem::path(SSE_INSTALLER_SOURCE_DIR) / "web";
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) args.die(fmt::format("{} needs a value", flag));
      return argv[++i];
    };
    if (flag == "--help" || flag == "-h") {
      std::fputs(usage, stdout);
      return 0;
    } else if (flag == "--bind") o.bind = value();
    else if (flag == "--port") o.port = args.number<unsigned short>(flag, value());
    else if (flag == "--threads") o.threads = std::max<std::size_t>(1, args.number<std::size_t>(flag, value()));
    else if (flag == "--data-dir") o.data_dir = value();
    else if (flag == "--catalog") o.catalog_file = value();
    else if (flag == "--web-dir") o.web_dir = value();
    else if (flag == "--log-dir") o.log_dir = value();
    else if (flag == "--install-dir") o.install_dir = value();
    else if (flag == "--redis") redis_url = value();
    else if (flag == "--redis-prefix") {
      redis_prefix = value();
      if (redis_prefix.empty() || redis_prefix.size() > 100) args.die("--redis-prefix must be 1 to 100 bytes");
    }
    else if (flag == "--ping-interval") {
      const double s = args.number<double>(flag, value());
      if (!(s > 0)) args.die("--ping-interval must be positive");
      o.ping_interval = std::chrono::milliseconds(std::max(1LL, static_cast<long long>(s * 1000)));
    } else if (flag == "--ping-form") {
      const auto v = value();
      if (v == "comment") o.ping_form = sse::ping_form::comment;
      else if (v == "event") o.ping_form = sse::ping_form::event;
      else args.die(fmt::format("--ping-form is event or comment, not '{}'", v));
    } else if (flag == "--token") {
      o.token = value();
      if (o.token.empty()) args.die("--token must not be empty");
    } else if (flag == "--log-level") o.log_level = args.log_level(value());
    else if (flag == "--step-delay") o.step_delay = std::chrono::milliseconds(args.number<unsigned>(flag, value()));
    else if (flag == "--quiet") o.echo_log = false;
    else args.die(fmt::format("unknown option '{}'", flag));
  }
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
    o.shared = std::make_shared<installer::cluster>(std::move(co));
#else
    args.die("--redis: this sse-installer was built without Redis support (install libhiredis-dev and rebuild)");
#endif
  }
  try {
    installer::app app(o);
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

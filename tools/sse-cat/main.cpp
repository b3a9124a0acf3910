// sse-cat: print a Server-Sent Events stream as it arrives, reconnecting like sse::client does.
#include "../../examples/common/cli.hpp"
#include "sse/client.hpp"
#if SSE_CAT_TLS
#include "sse/client_tls.hpp"
#endif

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <limits>
#include <vector>

namespace {

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out.push_back(c);  // the parser hands out valid UTF-8
        }
    }
  }
  out.push_back('"');
}


}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::string url_text, unix_path;
  sse::client_options opts;
  bool json = false, verbose = false, insecure = false;
  unsigned long long max_events = 0;
  std::chrono::milliseconds timeout{0};

  sse_example::command_line args(
      "sse-cat", "sse-cat URL [options]",
      "Prints the events of a Server-Sent Events stream as they arrive, and reconnects like an\n"
      "EventSource that does not give up: it resumes with Last-Event-ID, honours retry:, and retries\n"
      "502/503/504 and dropped connections with exponential backoff and jitter.\n\n"
      "URL forms: http://host[:port]/path, https://... (if built with TLS),\n"
      "           unix:/path/to.sock:/path, http+unix://%2Fpath%2Fto.sock/path\n\n"
      "exit status: 0 after --max-events, --timeout, a 204 response, or SIGINT/SIGTERM;\n"
      "             1 on a fatal error (4xx, wrong content type, too many redirects...); 2 on bad usage.\n");
  args.app().add_option("URL", url_text, "the stream's URL")->option_text("URL");
  std::vector<std::string> headers;
  args.texts("-H,--header", headers, "'Name: value'", "add a request header, e.g. -H 'Authorization: Bearer x'");
  std::string last_id;
  args.text("--last-event-id", last_id, "ID", "resume after this event id");
  args.flag("--last-event-id-query", opts.send_last_event_id_query, "also send the id as the lastEventId query parameter");
  args.flag("--json", json, "one JSON object per line: {\"type\":...,\"data\":...,\"id\":...}");
  args.number<unsigned long long>("--max-events", max_events, "N", "exit 0 after N events (default 0: no limit)", 0,
                                  std::numeric_limits<unsigned long long>::max());
  args.seconds("--timeout", [&](std::chrono::milliseconds v) { timeout = v; }, "exit 0 after S seconds (decimals allowed)",
               0, 1e9);
  args.seconds("--idle-timeout", [&](std::chrono::milliseconds v) { opts.idle_timeout = v; },
               "reconnect when nothing arrived for S seconds (default 45, 0: off)", 0, 1e9);
  args.seconds("--backoff-max", [&](std::chrono::milliseconds v) { opts.backoff_max = v; },
               "longest wait between failed attempts (default 30)", 0, 1e9);
  args.number<unsigned>("--max-retries", opts.max_retries, "N",
                        "give up after N consecutive failures (default 0: never)", 0,
                        std::numeric_limits<unsigned>::max());
  args.text("--unix", unix_path, "PATH", "connect to this Unix socket; the URL gives the path and Host", true);
  args.flag("--insecure", insecure, "https: accept any certificate (testing only)");
  args.flag("-v,--verbose", verbose, "report connection state on stderr");
  bool version = false;
  args.flag("--version", version, "show the version");
  args.parse(argc, argv);
  if (version) {
    std::printf("sse-cat %s\n", SSE_VERSION_STRING);
    return 0;
  }
  for (const auto& h : headers) {
    const auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0) args.die("header must be 'Name: value', got '" + h + "'");
    std::string v = h.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
    opts.headers.emplace_back(h.substr(0, colon), v);
  }
  if (args.app().count("--last-event-id") > 0) opts.last_event_id = last_id;
  if (url_text.empty()) args.die("missing URL");

  std::error_code ec;
  auto target = sse::parse_url(url_text, ec);
  if (!target) args.die("invalid URL '" + url_text + "': " + ec.message());
  if (!unix_path.empty()) {
    target->scheme = "unix";
    target->socket_path = unix_path;
    target->host = "localhost";
    target->port = 0;
  }
#if SSE_CAT_TLS
  opts.https = sse::https_connections(sse::make_tls_client_context(!insecure));
#else
  if (insecure) args.die("--insecure: this sse-cat was built without TLS");
#endif

  asio::io_context io;
  std::unique_ptr<sse::client> client;
  try {
    client = std::make_unique<sse::client>(io, *target, opts);
  } catch (const std::invalid_argument& e) {
    args.die(e.what());
  }

  int exit_code = 0;
  unsigned long long count = 0;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer deadline(io);
  std::string line;

  client->on_connecting([&](const sse::url& u, unsigned attempt) {
    if (verbose) std::fprintf(stderr, "sse-cat: connecting to %s (attempt %u)\n", u.to_string().c_str(), attempt + 1);
  });
  client->on_open([&](const sse::http::response_head& h) {
    if (verbose) std::fprintf(stderr, "sse-cat: open (HTTP %d)\n", h.status);
  });
  client->on_event([&](const sse::received_event& ev) {
    line.clear();
    if (json) {
      line += "{\"type\":";
      append_json_string(line, ev.type);
      line += ",\"data\":";
      append_json_string(line, ev.data);
      line += ",\"id\":";
      append_json_string(line, ev.id);
      line += "}\n";
    } else {
      sse::event out{.type = ev.type == "message" ? std::string() : std::string(ev.type), .data = std::string(ev.data)};
      if (!ev.id.empty()) out.id = std::string(ev.id);
      sse::encode_to(line, out);
    }
    if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || std::fflush(stdout) != 0) {
      client->close();  // stdout is gone (a closed pipe): stop quietly
      return;
    }
    if (max_events != 0 && ++count >= max_events) client->close();
  });
  client->on_retrying([&](const sse::client_error& why, std::chrono::milliseconds delay) {
    if (verbose || why.code != sse::client_errc::stream_ended)
      std::fprintf(stderr, "sse-cat: %s; reconnecting in %lld ms\n", why.message.c_str(),
                   static_cast<long long>(delay.count()));
  });
  client->on_closed([&](const sse::client_error& why) {
    if (why.code != sse::client_errc::closed && why.code != sse::client_errc::no_content) {
      std::fprintf(stderr, "sse-cat: error: %s\n", why.message.c_str());
      exit_code = 1;
    } else if (verbose) {
      std::fprintf(stderr, "sse-cat: %s\n", why.message.c_str());
    }
    signals.cancel();
    deadline.cancel();
  });

  signals.async_wait([&](std::error_code e, int) {
    if (!e) client->close();
  });
  if (timeout.count() > 0) {
    deadline.expires_after(timeout);
    deadline.async_wait([&](std::error_code e) {
      if (!e) client->close();
    });
  }
  client->start();
  io.run();
  return exit_code;
}

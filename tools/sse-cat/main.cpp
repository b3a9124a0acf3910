// sse-cat: print a Server-Sent Events stream as it arrives, reconnecting like sse::client does.
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
#include <vector>

namespace {

constexpr std::string_view usage_text =
    R"(usage: sse-cat URL [options]

Prints the events of a Server-Sent Events stream as they arrive, and reconnects like an
EventSource that does not give up: it resumes with Last-Event-ID, honours retry:, and retries
502/503/504 and dropped connections with exponential backoff and jitter.

URL forms: http://host[:port]/path, https://... (if built with TLS),
           unix:/path/to.sock:/path, http+unix://%2Fpath%2Fto.sock/path

options:
  -H, --header 'Name: value'  add a request header (repeatable), e.g. -H 'Authorization: Bearer x'
  --last-event-id ID          resume after this event id
  --last-event-id-query       also send the id as the lastEventId query parameter
  --json                      one JSON object per line: {"type":...,"data":...,"id":...}
  --max-events N              exit 0 after N events
  --timeout S                 exit 0 after S seconds (decimals allowed)
  --idle-timeout S            reconnect when nothing arrived for S seconds (default 45, 0: off)
  --backoff-max S             longest wait between failed attempts (default 30)
  --max-retries N             give up after N consecutive failures (default 0: never)
  --unix PATH                 connect to this Unix socket; the URL gives the path and Host
  --insecure                  https: accept any certificate (testing only)
  -v, --verbose               report connection state on stderr
  -h, --help                  show this help
  --version                   show the version

exit status: 0 after --max-events, --timeout, a 204 response, or SIGINT/SIGTERM;
             1 on a fatal error (4xx, wrong content type, too many redirects...); 2 on bad usage.
)";

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "sse-cat: %s\n(try sse-cat --help)\n", msg.c_str());
  std::exit(2);
}

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

double parse_seconds(const std::string& opt, const char* v) {
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  if (end == v || *end != '\0' || !(d >= 0) || d > 1e9) usage_error(opt + " needs a number of seconds, got '" + v + "'");
  return d;
}

unsigned long long parse_count(const std::string& opt, const char* v) {
  char* end = nullptr;
  if (*v < '0' || *v > '9') usage_error(opt + " needs a whole number, got '" + v + "'");
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (*end != '\0') usage_error(opt + " needs a whole number, got '" + v + "'");
  return n;
}

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0 + 0.5));
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::string url_text, unix_path;
  sse::client_options opts;
  bool json = false, verbose = false, insecure = false;
  unsigned long long max_events = 0;
  double timeout = 0;

  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= args.size()) usage_error(a + " needs a value");
      return args[++i].c_str();
    };
    if (a == "-h" || a == "--help") {
      std::fwrite(usage_text.data(), 1, usage_text.size(), stdout);
      return 0;
    } else if (a == "--version") {
      std::printf("sse-cat %s\n", SSE_VERSION_STRING);
      return 0;
    } else if (a == "-H" || a == "--header") {
      const std::string h = value();
      const auto colon = h.find(':');
      if (colon == std::string::npos || colon == 0) usage_error("header must be 'Name: value', got '" + h + "'");
      std::string v = h.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
      opts.headers.emplace_back(h.substr(0, colon), v);
    } else if (a == "--last-event-id") {
      opts.last_event_id = value();
    } else if (a == "--last-event-id-query") {
      opts.send_last_event_id_query = true;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--max-events") {
      max_events = parse_count(a, value());
    } else if (a == "--timeout") {
      timeout = parse_seconds(a, value());
    } else if (a == "--idle-timeout") {
      opts.idle_timeout = to_ms(parse_seconds(a, value()));
    } else if (a == "--backoff-max") {
      opts.backoff_max = to_ms(parse_seconds(a, value()));
    } else if (a == "--max-retries") {
      opts.max_retries = static_cast<unsigned>(parse_count(a, value()));
    } else if (a == "--unix") {
      unix_path = value();
    } else if (a == "--insecure") {
      insecure = true;
    } else if (a == "-v" || a == "--verbose") {
      verbose = true;
    } else if (a.size() > 1 && a.front() == '-') {
      usage_error("unknown option '" + a + "'");
    } else if (url_text.empty()) {
      url_text = a;
    } else {
      usage_error("more than one URL: '" + url_text + "' and '" + a + "'");
    }
  }
  if (url_text.empty()) usage_error("missing URL");

  std::error_code ec;
  auto target = sse::parse_url(url_text, ec);
  if (!target) usage_error("invalid URL '" + url_text + "': " + ec.message());
  if (!unix_path.empty()) {
    target->scheme = "unix";
    target->socket_path = unix_path;
    target->host = "localhost";
    target->port = 0;
  }
#if SSE_CAT_TLS
  opts.https = sse::https_transport(sse::make_tls_client_context(!insecure));
#else
  if (insecure) usage_error("--insecure: this sse-cat was built without TLS");
#endif

  asio::io_context io;
  std::unique_ptr<sse::client> client;
  try {
    client = std::make_unique<sse::client>(io, *target, opts);
  } catch (const std::invalid_argument& e) {
    usage_error(e.what());
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
  if (timeout > 0) {
    deadline.expires_after(to_ms(timeout));
    deadline.async_wait([&](std::error_code e) {
      if (!e) client->close();
    });
  }
  client->start();
  io.run();
  return exit_code;
}

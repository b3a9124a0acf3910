// sse-installer's HTTP API and static files (see examples/installer/README.md): the handlers talk
// to the job runner (jobs.hpp) and the backend (backend.hpp) only, whichever backend it is.
#pragma once

#include <algorithm>
#include <cctype>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include <sse/server.hpp>

#include "backend.hpp"
#include "catalog.hpp"
#include "daily_log.hpp"
#include "jobs.hpp"
#include "json.hpp"
#include "options.hpp"

namespace installer {

/// Job ids are ours: 1..64 of [A-Za-z0-9_-].
inline bool is_job_id(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (const char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

/// The Host names a server answers for (server_options::allowed_hosts): the loopback names, the
/// bound address, and --allowed-host.
inline std::vector<std::string> allowed_hosts(const options& o) {
  std::vector<std::string> h{"localhost", "127.0.0.1", "[::1]"};
  if (!o.bind.empty()) h.push_back(o.bind.find(':') != std::string::npos && o.bind.front() != '[' ? "[" + o.bind + "]" : o.bind);
  h.insert(h.end(), o.allowed_hosts.begin(), o.allowed_hosts.end());
  return h;
}

class http_api {
 public:
  http_api(const options& o, const catalog& cat, job_backend& backend, job_runner& runner, daily_log& log)
      : opts_(o), catalog_(cat), backend_(backend), runner_(runner), log_(log) {}

 private:
  void log(sse::log_level l, std::string_view msg) { log_.write(l, msg); }

  // ---- errors ----
  /// The answer to what the backend or the hub threw: 503 (with the reason and Retry-After) while
  /// it may go away by itself, 500 for a backend failure; anything else is rethrown.
  sse::response error_response(std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const backend_unavailable& e) {
      return unavailable(e.reason());
    } catch (const backend_failure& e) {
      return json_error(500, e.what());
    } catch (const sse::hub_error& e) {
      if (auto why = backend_.unavailable_reason(e)) return unavailable(*why);
      throw;
    }
  }
  /// Handlers answer 503 (with the reason) while the backend cannot read or write.
  template <class F>
  auto guarded(F f) {
    return [this, f = std::move(f)](const sse::request_context& c) -> decltype(f(c)) {
      try {
        return f(c);
      } catch (const std::exception&) {
        return error_response(std::current_exception());
      }
    };
  }
  sse::response unavailable(const std::string& why) {
    log(sse::log_level::warn, why);
    auto r = json_error(503, why);
    r.headers.emplace_back("Retry-After", "2");
    return r;
  }

 public:
  void add_routes(sse::server& s) {
    // Every route that changes something (any method but GET) goes through write_guard().
    s.async_route(
        "POST", "/api/components/{name}/install",
        [this](const sse::request_context& c, std::function<void(sse::response)> respond) { install(c, std::move(respond)); },
        write_guard());
    s.route("GET", "/api/components", guarded([this](const sse::request_context&) { return components(); }));
    s.route("GET", "/api/jobs", guarded([this](const sse::request_context&) { return jobs(); }));
    s.route("GET", "/api/jobs/{id}", guarded([this](const sse::request_context& c) { return job_status(c); }));
    s.route("GET", "/api/jobs/{id}/logs", guarded([this](const sse::request_context& c) { return job_logs(c); }));
    s.sse_route("/api/jobs/{id}/events", guarded([this](const sse::request_context& c) { return job_events(c); }));
    s.route("GET", "/api/diagnostics", [this](const sse::request_context& c) { return diagnostics(c); });
    s.route("GET", "/", [this](const sse::request_context&) { return static_file(opts_.web_dir / "index.html"); });
    s.route("GET", "/static/{file}", [this](const sse::request_context& c) {
      const std::string name(c.param("file"));
      if (!static_name_ok(name)) return json_error(400, "bad file name");
      return static_file(opts_.web_dir / "static" / name);
    });
    // The browser client package's own files (clients/js: sse-client.js, index.mjs), not a copy.
    s.route("GET", "/client/{file}", [this](const sse::request_context& c) {
      const std::string name(c.param("file"));
      if (!static_name_ok(name)) return json_error(400, "bad file name");
      const std::string ext = fs::path(name).extension().string();
      if (opts_.client_dir.empty() || (ext != ".js" && ext != ".mjs")) return json_error(404, "no such file");
      return static_file(opts_.client_dir / name);
    });
  }

 private:
  // ---- the API ----
  /// Asynchronous: the job's first status goes out without blocking this executor (with --redis
  /// the broker answers on its own thread).
  void install(const sse::request_context& ctx, std::function<void(sse::response)> respond) {
    const std::string name(ctx.param("name"));
    const component* comp = catalog_.find(name);
    if (!comp) return respond(json_error(404, fmt::format("no component named '{}' in the catalog", name)));
    runner_.async_start(*comp, [this, name, comp, remote = std::string(ctx.remote), respond = std::move(respond)](start_outcome o) {
      respond(started(name, *comp, remote, std::move(o)));
    });
  }
  sse::response started(const std::string& name, const component& comp, const std::string& remote, start_outcome o) {
    if (o.shutting_down) return json_error(503, "the server is shutting down");
    if (o.held_by)
      return json_error(409, fmt::format("component '{}' is being installed by job {}", name, *o.held_by), *o.held_by);
    if (o.error) {
      try {
        return error_response(o.error);
      } catch (const std::exception& e) {
        log(sse::log_level::error, fmt::format("install {}: {}", name, e.what()));
        return sse::response::text(500, "internal error");
      }
    }
    if (!o.job) return sse::response::text(500, "internal error");
    const job_row& j = *o.job;
    log(sse::log_level::info, fmt::format("job {} started: install {} {} (from {})", j.id, name, comp.version, remote));
    const std::string base = "/api/jobs/" + j.id;
    ojson b = ojson::object();
    b["job"] = j.id;
    b["component"] = name;
    b["events"] = base + "/events";
    b["logs"] = base + "/logs";
    b["status"] = base;
    return json_response(202, b);
  }

  sse::response components() {
    std::vector<std::string> names;
    for (const auto& c : catalog_.components) names.push_back(c.name);
    const auto running = backend_.running(names);
    ojson list = ojson::array();
    for (const auto& c : catalog_.components) {
      auto inst = backend_.installed(c.name);
      // Installed = recorded after a successful install AND its folder really is there.
      if (inst && !fs::is_directory(opts_.install_dir / c.name)) inst.reset();
      const auto run = running.find(c.name);
      ojson o = ojson::object();
      o["name"] = c.name;
      o["description"] = c.description;
      o["version"] = c.version;
      o["installed"] = inst.has_value();
      o["installed_version"] = inst ? ojson(inst->version) : ojson(nullptr);
      o["installed_at"] = inst ? ojson(inst->installed_at) : ojson(nullptr);
      o["running_job"] = run != running.end() ? ojson(run->second) : ojson(nullptr);
      list.push_back(std::move(o));
    }
    ojson b = ojson::object();
    b["components"] = std::move(list);
    return json_response(200, b);
  }

  sse::response jobs() {
    ojson list = ojson::array();
    for (const auto& r : backend_.newest(100)) list.push_back(job_json(r));
    ojson b = ojson::object();
    b["jobs"] = std::move(list);
    return json_response(200, b);
  }

  /// The job named by the route, or an error response.
  std::variant<job_row, sse::response> job_from(const sse::request_context& ctx) {
    const std::string id(ctx.param("id"));
    if (!is_job_id(id)) return json_error(400, "malformed job id (expected 1-64 of A-Z, a-z, 0-9, '-', '_')");
    auto j = backend_.get(id);
    if (!j) return json_error(404, fmt::format("no job '{}'", id));
    return *j;
  }

  sse::response job_status(const sse::request_context& ctx) {
    auto j = job_from(ctx);
    if (auto* r = std::get_if<sse::response>(&j)) return *r;
    return json_response(200, job_json(std::get<job_row>(j)));
  }

  sse::response job_logs(const sse::request_context& ctx) {
    auto jv = job_from(ctx);
    if (auto* r = std::get_if<sse::response>(&jv)) return *r;
    const job_row& j = std::get<job_row>(jv);
    std::string after_id = backend_.start_id(j);
    if (auto a = ctx.request.query("after"); a && !a->empty()) {
      if (!backend_.is_event_id(j, *a))
        return json_error(400, fmt::format("after must be an event id of this job such as '{}', not '{}'",
                                           backend_.example_id(j), a->substr(0, 80)));
      after_id = *a;
    }
    std::size_t limit = 500;
    if (auto l = ctx.request.query("limit")) {
      std::size_t v = 0;
      bool ok = !l->empty() && l->size() <= 4;
      for (const char ch : *l) ok = ok && ch >= '0' && ch <= '9';
      if (ok) v = std::stoul(*l);
      if (!ok || v < 1 || v > 1000) return json_error(400, "limit must be a number from 1 to 1000");
      limit = v;
    }
    const log_page page = backend_.read_log(j, after_id, limit);
    ojson b = ojson::object();
    b["job"] = j.id;
    b["state"] = j.state;
    if (page.reset) b["reset"] = true;
    if (page.gap) b["gap"] = true;
    ojson evs = ojson::array();
    for (const auto& e : page.events) {
      ojson o = ojson::object();
      o["id"] = e.id;
      o["type"] = e.type;
      o["data"] = event_data(e.data);
      evs.push_back(std::move(o));
    }
    b["events"] = std::move(evs);
    const std::string last = page.events.empty() ? page.after : page.events.back().id;
    b["last_id"] = last;
    b["done"] = j.state != "running" && last == j.last_id;
    return json_response(200, b);
  }

  std::variant<sse::subscription, sse::response> job_events(const sse::request_context& ctx) {
    auto jv = job_from(ctx);
    if (auto* r = std::get_if<sse::response>(&jv)) return *r;
    const job_row& j = std::get<job_row>(jv);
    sse::subscription sub{j.topic};
    if (auto last = ctx.request.last_event_id()) {
      if (!backend_.is_event_id(j, *last))
        return json_error(400, fmt::format("Last-Event-ID '{}' is not an event id of job {}", last->substr(0, 80), j.id));
      // The client has seen `done`: nothing more will ever come. 204 stops an EventSource for good.
      if (j.state != "running" && *last == j.last_id) return sse::response{204, "", {}, {}};
      sub.last_event_id = *last;
    } else {
      sub.last_event_id = backend_.start_id(j);  // a job's stream starts at its first event
    }
    sub.close_after_replay = j.state != "running";
    return sub;
  }

  sse::response diagnostics(const sse::request_context& ctx) {
    const auto& rq = ctx.request;
    auto h = [&](std::string_view name) -> std::optional<std::string_view> {
      auto all = rq.find_all(name);
      if (all.empty()) return std::nullopt;
      return all.front();
    };
    auto joined = [&](std::string_view name) -> std::optional<std::string> {
      auto all = rq.find_all(name);
      if (all.empty()) return std::nullopt;
      std::string v;
      for (std::size_t i = 0; i < all.size(); ++i) v += (i ? ", " : "") + std::string(all[i]);
      return v;
    };
    const auto via = joined("Via"), xff = joined("X-Forwarded-For"), fwd = joined("Forwarded");
    const auto proto = h("X-Forwarded-Proto"), real = h("X-Real-IP");
    ojson b = ojson::object();
    b["http_version"] = fmt::format("{}.{}", rq.version_major, rq.version_minor);
    b["remote"] = str(ctx.remote);
    b["via"] = str_or_null(via);
    b["x_forwarded_for"] = str_or_null(xff);
    b["x_forwarded_proto"] = str_or_null(proto);
    b["forwarded"] = str_or_null(fwd);
    b["x_real_ip"] = str_or_null(real);
    b["proxied"] = via || xff || fwd || proto || real || rq.header("X-Forwarded-Host");
    b["server_time"] = now_iso();
    b["ping_interval_ms"] = opts_.ping_interval.count();
    b["ping_form"] = opts_.ping_form == sse::ping_form::event ? "event" : "comment";
    b["instance"] = str_or_null(backend_.instance());
    return json_response(200, b);
  }

  // ---- requests from other sites ----

  /// `scheme://host[:port]` -> `host:port` with the scheme's default port filled in ("" if malformed).
  static std::string origin_authority(std::string_view origin) {
    std::string_view port = "80";
    if (origin.starts_with("http://")) origin.remove_prefix(7);
    else if (origin.starts_with("https://")) origin.remove_prefix(8), port = "443";
    else return {};
    if (origin.empty() || origin.find_first_of("/?#@ ") != std::string_view::npos) return {};
    return authority_with_port(origin, port);
  }
  /// `host[:port]` (a Host header or an origin's authority) -> lower-case `host:port`.
  static std::string authority_with_port(std::string_view a, std::string_view default_port) {
    std::string out(a);
    for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const auto close = out.rfind(']');
    const auto colon = out.rfind(':');
    if (colon == std::string::npos || (close != std::string::npos && colon < close)) out += ":" + std::string(default_port);
    return out;
  }

  /// Cross-site request forgery: a request that changes something must carry what a form on
  /// another site cannot send, `Content-Type: application/json` or `X-Installer-Request: 1`, and
  /// when it has an Origin, that origin is this server (the Host the request came to) or one of
  /// --allow-origin. nullopt = accepted; otherwise 403 with the reason (and a log line).
  std::optional<sse::response> csrf_refusal(const sse::request_context& ctx) {
    const auto& rq = ctx.request;
    auto refuse = [&](std::string why) -> std::optional<sse::response> {
      log(sse::log_level::warn, fmt::format("refused {} {} from {}: {}", rq.method, sse::log_escape(rq.target, 200),
                                            ctx.remote, why));
      return json_error(403, why);
    };
    std::string_view ctype = rq.header("Content-Type").value_or("");
    ctype = ctype.substr(0, std::min(ctype.find(';'), ctype.size()));
    while (!ctype.empty() && (ctype.back() == ' ' || ctype.back() == '\t')) ctype.remove_suffix(1);
    const bool is_json = sse::http::detail::grammar::iequals(ctype, "application/json");
    const bool has_marker = rq.header("X-Installer-Request") == std::optional<std::string_view>("1");
    if (!is_json && !has_marker)
      return refuse("this request needs the header \"Content-Type: application/json\" or \"X-Installer-Request: 1\" "
                    "(a form on another site can send neither)");
    if (const auto origin = rq.header("Origin")) {
      bool ok = false;
      for (const auto& a : opts_.allow_origins) ok = ok || a == "*" || sse::http::detail::grammar::iequals(a, *origin);
      const auto host = rq.header("Host");
      const std::string mine = origin_authority(*origin);
      if (!ok && host && !mine.empty()) ok = mine == authority_with_port(*host, origin->starts_with("https://") ? "443" : "80");
      if (!ok)
        return refuse(fmt::format("origin '{}' may not change anything here (the page must come from this server, "
                                  "or start the server with --allow-origin)",
                                  sse::log_escape(*origin, 200)));
    }
    return std::nullopt;
  }

  /// The check of every route that changes something: CSRF first, then the token (when set).
  sse::auth_hook write_guard() {
    return [this, token = token_hook()](const sse::request_context& ctx) -> std::optional<sse::response> {
      if (auto r = csrf_refusal(ctx)) return r;
      if (token) return token(ctx);
      return std::nullopt;
    };
  }

  sse::auth_hook token_hook() {
    if (opts_.token.empty()) return {};
    auto check = sse::bearer_token(opts_.token);
    return [check](const sse::request_context& ctx) -> std::optional<sse::response> {
      if (!check(ctx)) return std::nullopt;
      auto r = json_error(401, "a valid bearer token is required (Authorization: Bearer <token>)");
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return r;
    };
  }

  // ---- static files ----
  static std::string content_type(const fs::path& p) {
    const std::string ext = p.extension().string();
    if (ext == ".html") return "text/html; charset=utf-8";
    if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
    if (ext == ".css") return "text/css; charset=utf-8";
    if (ext == ".json" || ext == ".map") return "application/json";
    if (ext == ".svg") return "image/svg+xml";
    if (ext == ".png") return "image/png";
    if (ext == ".ico") return "image/x-icon";
    if (ext == ".woff2") return "font/woff2";
    if (ext == ".txt") return "text/plain; charset=utf-8";
    return "application/octet-stream";
  }

  sse::response static_file(const fs::path& p) {
    std::error_code ec;
    if (!fs::is_regular_file(fs::symlink_status(p, ec)) || fs::file_size(p, ec) > (8u << 20))
      return json_error(404, "no such file");
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    sse::response r{200, content_type(p), ss.str(), {}};
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return r;
  }

  static bool static_name_ok(const std::string& name) {
    return !name.empty() && name.size() <= 128 && name.front() != '.' && name.find("..") == std::string::npos &&
           std::all_of(name.begin(), name.end(), [](char ch) {
             return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '_';
           });
  }

  const options& opts_;
  const catalog& catalog_;
  job_backend& backend_;
  job_runner& runner_;
  daily_log& log_;
};

}  // namespace installer

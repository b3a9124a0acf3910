/**
 * @file server/router.hpp
 * @brief sse::router: route patterns (`/api/jobs/{id}`) and the lookup of a request's route, with
 *        404 and 405 (and its `Allow` header) when none fits.
 */
#pragma once

#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "sse/http/request_parser.hpp"
#include "sse/server/handler.hpp"

namespace sse {

/// A route: a pattern split into segments (`{name}` captures one non-empty segment), the method
/// ("" for an SSE route: GET and HEAD), its handler (one of three kinds) and its auth hook.
struct route {
  std::vector<std::string> segments;
  std::string method;  ///< "" for SSE routes (GET and HEAD)
  request_handler handle;
  subscribe_handler subscribe;
  auth_hook auth;
  async_request_handler async_handle;

  static std::vector<std::string> split(std::string_view path) {
    std::vector<std::string> out;
    while (!path.empty()) {
      if (path.front() == '/') {
        path.remove_prefix(1);
        continue;
      }
      const auto slash = path.find('/');
      out.emplace_back(path.substr(0, slash));
      if (slash == std::string_view::npos) break;
      path.remove_prefix(slash);
    }
    return out;
  }

  bool match(const std::vector<std::string>& parts, std::vector<std::pair<std::string, std::string>>& params) const {
    if (parts.size() != segments.size()) return false;
    params.clear();
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const auto& s = segments[i];
      if (s.size() > 2 && s.front() == '{' && s.back() == '}') {
        if (parts[i].empty()) return false;
        params.emplace_back(s.substr(1, s.size() - 2), parts[i]);
      } else if (s != parts[i]) {
        return false;
      }
    }
    return true;
  }
};

/// The routes of a server, added from any thread, looked up from every connection.
class router {
 public:
  void add(route r) {
    std::lock_guard lk(mu_);
    routes_.push_back(std::move(r));
  }

  /// The first route whose pattern and method fit, with its captures in `params`; otherwise 404, or
  /// 405 with the methods the path allows. The route stays valid as long as the router: routes are
  /// only ever added, and a deque never moves its elements when it grows.
  std::variant<const route*, response> find(const http::request& req,
                                            std::vector<std::pair<std::string, std::string>>& params) const {
    const auto parts = route::split(req.path);
    std::string allowed;
    std::lock_guard lk(mu_);
    for (const auto& r : routes_) {
      if (!r.match(parts, params)) continue;
      const bool is_sse = r.method.empty();
      const bool ok = is_sse ? (req.method == "GET" || req.method == "HEAD")
                             : req.method == r.method || (r.method == "GET" && req.method == "HEAD");
      if (ok) return &r;
      const std::string m = is_sse ? "GET, HEAD" : r.method;
      if (allowed.find(m) == std::string::npos) allowed += (allowed.empty() ? "" : ", ") + m;
    }
    if (allowed.empty()) return response::text(404, "no such resource: " + req.path);
    response r = response::text(405, "method " + req.method + " not allowed here; allowed: " + allowed);
    r.headers.emplace_back("Allow", allowed);
    return r;
  }

 private:
  mutable std::mutex mu_;
  std::deque<route> routes_;
};

}  // namespace sse

// The JSON the installer writes and reads (API answers, job records, event data), with
// nlohmann/json. Objects keep the order their fields are written in (ordered_json), the output is
// compact, and bytes that are not UTF-8 (a program's output, a header) become U+FFFD instead of
// making the document invalid.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <sse/server.hpp>

#include "backend.hpp"

namespace installer {

using ojson = nlohmann::ordered_json;

inline std::string dump(const ojson& v) { return v.dump(-1, ' ', false, ojson::error_handler_t::replace); }

inline ojson str(std::string_view s) { return ojson(std::string(s)); }
template <class S>
ojson str_or_null(const std::optional<S>& s) {
  return s ? str(*s) : ojson(nullptr);
}

inline sse::response json_response(int status, const ojson& body) { return sse::response::json(status, dump(body)); }

/// `{"error": msg}`, and `"job"` when given (409: the job holding the component).
inline sse::response json_error(int status, std::string_view msg, std::optional<std::string> job = std::nullopt) {
  ojson b = ojson::object();
  b["error"] = str(msg);
  if (job) b["job"] = *job;
  return json_response(status, b);
}

/// A job as GET /api/jobs/{id} answers it.
inline ojson job_json(const job_row& j) {
  ojson o = ojson::object();
  o["id"] = j.id;
  o["component"] = j.component;
  o["state"] = j.state;
  o["started"] = j.started;
  o["finished"] = str_or_null(j.finished);
  o["exit_code"] = j.exit_code ? ojson(*j.exit_code) : ojson(nullptr);
  o["lines"] = j.lines;
  o["last_id"] = j.last_id;
  return o;
}

// ---- the data of a job's events ----

inline std::string log_data(std::uint64_t seq, std::string_view ts, std::string_view level, std::string_view line) {
  ojson o = ojson::object();
  o["seq"] = seq;
  o["ts"] = str(ts);
  o["level"] = str(level);
  o["line"] = str(line);
  return dump(o);
}

inline std::string progress_data(int percent, std::string_view step) {
  ojson o = ojson::object();
  o["percent"] = percent;
  o["step"] = str(step);
  return dump(o);
}

inline std::string status_data(std::string_view state, std::string_view component) {
  ojson o = ojson::object();
  o["state"] = str(state);
  o["component"] = str(component);
  return dump(o);
}

inline std::string done_data(std::string_view state, int exit_code, std::uint64_t lines) {
  ojson o = ojson::object();
  o["state"] = str(state);
  o["exit_code"] = exit_code;
  o["lines"] = lines;
  return dump(o);
}

/// What a stored `done` event says: the job's final state ("failed" unless it says "succeeded")
/// and its exit code.
struct done_info {
  std::string state = "failed";
  std::optional<int> exit_code;
};
inline done_info parse_done(std::string_view data) {
  done_info d;
  const ojson o = ojson::parse(data, nullptr, false);
  if (!o.is_object()) return d;
  if (const auto s = o.find("state"); s != o.end() && s->is_string() && *s == "succeeded") d.state = "succeeded";
  if (const auto c = o.find("exit_code"); c != o.end() && c->is_number_integer()) d.exit_code = c->get<int>();
  return d;
}

/// An event's stored data as a JSON value: null when empty, the data itself when it is JSON (it
/// is: the installer writes it), otherwise the data as a string.
inline ojson event_data(const std::string& data) {
  if (data.empty()) return nullptr;
  ojson v = ojson::parse(data, nullptr, false);
  return v.is_discarded() ? ojson(data) : v;
}

}  // namespace installer

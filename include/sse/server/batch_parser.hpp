/**
 * @file server/batch_parser.hpp
 * @brief sse::parse_publish_batch: the body of a batch publish - newline-delimited JSON, one event
 *        a line - to the events it names, or the first error with its line number. Sans-io: bytes
 *        in, items or an error out; no sockets, no Asio, no {fmt}. Needs nlohmann/json (target
 *        sse::batch). The route that serves it is in sse/server/publish_batch.hpp.
 * @see https://github.com/ndjson/ndjson-spec (the line format)
 *
 * The body, exactly:
 * - Lines end with LF; a CR before the LF is dropped (CRLF). The last line needs no LF.
 * - A line that is empty or holds only spaces and tabs is skipped (it is no event, but it counts
 *   for the line numbers, which start at 1). A UTF-8 byte order mark is allowed at the very start
 *   of the body only.
 * - Every other line is one JSON object (RFC 8259, UTF-8; the whole line, nothing after it) with
 *   these members and no others:
 *     "topic"  string, required: the topic (limits::valid_topic decides which names are valid)
 *     "event"  string, optional: the event type (`event:` field); no CR, LF or NUL; "" = none
 *     "data"   string, optional: the data, "" when absent; CR, LF and CRLF in it become several
 *              `data:` lines, which a client joins with LF (as the single-event publish route)
 *   "id" is refused: the hub assigns ids. A member given twice, any other member, or a value of
 *   another JSON type (a number, an object, ...) is an error: a typo such as "type" for "event"
 *   must not publish an event without its type. Data that is itself JSON is sent as a string
 *   (`"data":"{\"x\":1}"`): the bytes are then exactly the producer's, where re-serialising a JSON
 *   value would change key order and number forms.
 * - At most limits::max_events events (1000 by default); one more is an error of its own kind (the
 *   route answers 413). A body with no event at all is an error (line 0).
 * The first error ends the parse and names its line; nothing is returned then, so a route
 * publishes nothing of a malformed batch. Error reasons are ASCII: bytes of the body are quoted
 * with anything outside printable ASCII escaped as \xNN, and cut.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sse/encoder.hpp"
#include "sse/event.hpp"

namespace sse {

/// Limits and rules of parse_publish_batch.
struct batch_limits {
  std::size_t max_events = 1000;  ///< events in one body at most; one more: batch_error::kind::too_many_events
  /// Whether a topic name is acceptable (empty = any non-empty string). The route passes the hub's
  /// rule (sse::is_valid_topic with hub_options::max_topic_bytes).
  std::function<bool(std::string_view)> valid_topic = {};
};

/// One event of a batch.
struct batch_item {
  std::size_t line = 0;  ///< 1-based line of the body it came from
  std::string topic;
  event ev;              ///< type and data; id unset (the hub assigns it)
};

/// Why a batch was refused as a whole.
struct batch_error {
  enum class kind { malformed, too_many_events };
  kind what = kind::malformed;
  std::size_t line = 0;  ///< 1-based line of the error; 0 = the body as a whole (no event in it)
  std::string reason;    ///< "line N: ..." (ASCII, bytes of the body escaped)
};

using batch_result = std::variant<std::vector<batch_item>, batch_error>;

namespace detail {

/// `s` quoted for an error reason: printable ASCII as is (`"` and `\` escaped), anything else \xNN,
/// cut at `max` bytes of input with "..." after.
inline std::string batch_quote(std::string_view s, std::size_t max = 40) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == max) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c >= 0x20 && c < 0x7F) {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back("0123456789abcdef"[c >> 4]);
      out.push_back("0123456789abcdef"[c & 0xF]);
    }
  }
  if (out.size() < 3 || out.compare(out.size() - 3, 3, "...") != 0) out.push_back('"');
  return out;
}

/// `s` with every byte outside printable ASCII as \xNN (nlohmann's messages quote the input).
inline std::string batch_ascii(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7F) {
      out.push_back(ch);
    } else {
      out += "\\x";
      out.push_back("0123456789abcdef"[c >> 4]);
      out.push_back("0123456789abcdef"[c & 0xF]);
    }
  }
  return out;
}

/// The SAX handler for one line: a flat object of string members, nothing else, built in place.
class batch_line_sax {
 public:
  using json = nlohmann::json;
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  explicit batch_line_sax(batch_item& out) : out_(out) {}

  bool null() { return scalar("null"); }
  bool boolean(bool) { return scalar("a boolean"); }
  bool number_integer(number_integer_t) { return scalar("a number"); }
  bool number_unsigned(number_unsigned_t) { return scalar("a number"); }
  bool number_float(number_float_t, const string_t&) { return scalar("a number"); }
  bool binary(binary_t&) { return scalar("binary data"); }
  bool string(string_t& s) {
    if (depth_ == 0) return fail("a line must be a JSON object, not a string");
    switch (field_) {
      case field::topic: out_.topic = std::move(s); break;
      case field::event: out_.ev.type = std::move(s); break;
      case field::data: out_.ev.data = std::move(s); break;
    }
    return true;
  }
  bool start_object(std::size_t) {
    if (depth_ == 0) {
      depth_ = 1;
      return true;
    }
    return scalar("an object");
  }
  bool end_object() {
    depth_ = 0;
    return true;
  }
  bool start_array(std::size_t) { return scalar("an array"); }
  bool end_array() { return true; }
  bool key(string_t& k) {
    field f{};
    if (k == "topic") f = field::topic;
    else if (k == "event") f = field::event;
    else if (k == "data") f = field::data;
    else if (k == "id") return fail("\"id\" is not allowed: the server assigns ids");
    else return fail("unknown member " + batch_quote(k) + " (the members are \"topic\", \"event\" and \"data\")");
    const unsigned bit = 1u << static_cast<unsigned>(f);
    if (seen_ & bit) return fail("member \"" + k + "\" given twice");
    seen_ |= bit;
    field_ = f;
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) {
    // nlohmann's message: "[json.exception.parse_error.101] parse error at line 1, column 5: <what>".
    std::string_view what = ex.what();
    if (const auto p = what.find("column "); p != std::string_view::npos) {
      if (const auto colon = what.find(": ", p); colon != std::string_view::npos) what.remove_prefix(colon + 2);
    }
    return fail("invalid JSON at column " + std::to_string(position) + ": " + batch_ascii(what));
  }

  bool has_topic() const { return (seen_ & (1u << static_cast<unsigned>(field::topic))) != 0; }
  const std::string& error() const { return error_; }

 private:
  enum class field : unsigned { topic = 0, event = 1, data = 2 };
  static const char* name(field f) {
    switch (f) {
      case field::topic: return "topic";
      case field::event: return "event";
      case field::data: return "data";
    }
    return "";
  }
  bool scalar(const char* what) {
    if (depth_ == 0) return fail(std::string("a line must be a JSON object, not ") + what);
    return fail(std::string("\"") + name(field_) + "\" must be a string, not " + what);
  }
  bool fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
    return false;
  }

  batch_item& out_;
  int depth_ = 0;
  field field_ = field::topic;
  unsigned seen_ = 0;
  std::string error_;
};

inline bool batch_blank(std::string_view line) {
  for (const char c : line)
    if (c != ' ' && c != '\t') return false;
  return true;
}

}  // namespace detail

/// Parses a batch body (see the file comment). Any bytes: never throws for the input (only
/// std::bad_alloc).
inline batch_result parse_publish_batch(std::string_view body, const batch_limits& limits = {}) {
  std::vector<batch_item> items;
  const auto error = [](batch_error::kind k, std::size_t line, const std::string& why) -> batch_result {
    return batch_error{k, line, "line " + std::to_string(line) + ": " + why};
  };
  if (body.starts_with("\xEF\xBB\xBF")) body.remove_prefix(3);
  std::size_t line_no = 0;
  while (!body.empty()) {
    ++line_no;
    const auto lf = body.find('\n');
    std::string_view line = body.substr(0, lf);
    body.remove_prefix(lf == std::string_view::npos ? body.size() : lf + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (detail::batch_blank(line)) continue;
    if (items.size() == limits.max_events)
      return error(batch_error::kind::too_many_events, line_no,
                   "more than " + std::to_string(limits.max_events) + " events in one batch");
    // Raw NUL is never valid JSON, but nlohmann's lexer takes it for the end of the input and would
    // ignore what follows; a BOM it would skip silently at the start of any line.
    if (const auto nul = line.find('\0'); nul != std::string_view::npos)
      return error(batch_error::kind::malformed, line_no, "a NUL byte at column " + std::to_string(nul + 1));
    if (line.starts_with("\xEF\xBB\xBF"))
      return error(batch_error::kind::malformed, line_no, "a byte order mark is allowed only at the start of the body");
    batch_item item;
    item.line = line_no;
    detail::batch_line_sax sax(item);
    const bool ok = nlohmann::json::sax_parse(line.data(), line.data() + line.size(), &sax);
    if (!ok)
      return error(batch_error::kind::malformed, line_no, sax.error().empty() ? "invalid JSON" : sax.error());
    if (!sax.has_topic()) return error(batch_error::kind::malformed, line_no, "missing \"topic\"");
    const bool topic_ok = limits.valid_topic ? limits.valid_topic(item.topic) : !item.topic.empty();
    if (!topic_ok) return error(batch_error::kind::malformed, line_no, "invalid topic " + detail::batch_quote(item.topic));
    if (validate(item.ev))
      return error(batch_error::kind::malformed, line_no, "\"event\" must not contain CR, LF or NUL");
    items.push_back(std::move(item));
  }
  if (items.empty()) return batch_error{batch_error::kind::malformed, 0, "line 0: no event in the body"};
  return items;
}

}  // namespace sse

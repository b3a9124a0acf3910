/**
 * @file reply.hpp
 * @brief sse::redis::reply: an owned copy of a RESP2 reply (hiredis frees its own after the callback).
 */
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <hiredis/hiredis.h>

namespace sse::redis {

/// One RESP2 value.
struct reply {
  enum class kind { nil, string, status, error, integer, array };
  kind type = kind::nil;
  std::string str = {};           ///< string, status and error replies
  long long integer = 0;          ///< integer replies
  std::vector<reply> elements = {};  ///< array replies

  bool is_nil() const noexcept { return type == kind::nil; }
  bool is_error() const noexcept { return type == kind::error; }
  bool is_array() const noexcept { return type == kind::array; }
  bool is_string() const noexcept { return type == kind::string || type == kind::status; }

  /// A deep copy of a hiredis reply.
  static reply from(const redisReply* r) {
    reply out;
    if (!r) return out;
    switch (r->type) {
      case REDIS_REPLY_STRING: out.type = kind::string; break;
      case REDIS_REPLY_STATUS: out.type = kind::status; break;
      case REDIS_REPLY_ERROR: out.type = kind::error; break;
      case REDIS_REPLY_INTEGER: out.type = kind::integer; break;
      case REDIS_REPLY_ARRAY: out.type = kind::array; break;
      default: out.type = kind::nil; break;
    }
    if (out.type == kind::string || out.type == kind::status || out.type == kind::error)
      out.str.assign(r->str, r->len);
    if (out.type == kind::integer) out.integer = r->integer;
    if (out.type == kind::array) {
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(from(r->element[i]));
    }
    return out;
  }
};

}  // namespace sse::redis

/**
 * @file shared_event.hpp
 * @brief sse::encoded_event: the wire bytes of one event, encoded once and shared by every stream.
 */
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "sse/encoder.hpp"
#include "sse/event.hpp"

namespace sse {

/// The wire form of one event (or comment, ping, marker) plus its id, immutable once shared.
/// The hub encodes an event once into one of these and hands the same object to every subscriber.
struct encoded_event {
  std::string bytes = {};  ///< exactly what goes on the wire (chunk framing is added by the stream)
  std::string id = {};     ///< the event's id ("" when it has none); used to describe gaps
};

/// A shared, immutable encoded event. Copying it copies a pointer, never the payload.
using shared_event = std::shared_ptr<const encoded_event>;

/// Wraps already-encoded bytes.
inline shared_event make_shared_event(std::string bytes, std::string id = {}) {
  return std::make_shared<const encoded_event>(encoded_event{std::move(bytes), std::move(id)});
}

/// Encodes `ev` once; throws sse::invalid_event on a type or id with CR, LF or NUL.
inline shared_event make_shared_event(const event& ev) {
  return make_shared_event(encode(ev), ev.id.value_or(std::string()));
}

}  // namespace sse

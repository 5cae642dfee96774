// JSON from outside, parsed within a budget: how deeply it nests and which
// numbers it holds. Every walk of a JSON value in this project (canonical form,
// redaction, dump, copy) recurses once per level, so a value that never nests
// deeper than the budget can never overflow a stack.
#pragma once

#include <cstddef>
#include <expected>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mcpaudit {

// A message from a client or an upstream server: the default budget, and the
// most a configuration may allow.
inline constexpr size_t kDefaultMessageDepth = 64;
inline constexpr size_t kMaxMessageDepth = 256;
// A stored record: its members nest a message's values at most a few levels
// deeper. A record beyond this is unreadable, never walked.
inline constexpr size_t kMaxRecordDepth = 2 * kMaxMessageDepth;

// Why a text is not taken as it is.
enum class JsonFault {
  kNone,
  kSyntax,            // not JSON (RFC 8259), ill-formed UTF-8 or a lone surrogate included
  kTooDeep,           // arrays and objects nested deeper than the budget
  kNumberOutOfRange,  // a number a double cannot hold (1e400)
};

// The audit reason a fault is recorded with ("parse_error", "too_deep", "number_out_of_range").
std::string_view FaultReason(JsonFault fault);

struct BoundedJson {
  // With kTooDeep or kNumberOutOfRange: what could be read, the fault's parts null.
  nlohmann::json value;
  JsonFault fault = JsonFault::kNone;
  std::string message;  // what is wrong, for the caller; empty when nothing is
};

// Parses `text` (one JSON value) nesting at most `max_depth` levels (the top
// level is 1). A syntax error leaves `value` discarded. A part nested too deep
// or a number out of range is replaced by null while the rest is still read, so
// that a refusal can still name the request's id and method. Never throws.
BoundedJson ParseBounded(std::string_view text, size_t max_depth);

// The same, for callers that take only a whole, faultless value: discarded otherwise.
nlohmann::json ParseWithin(std::string_view text, size_t max_depth);

// Member `key` of `object` when it is a whole number from 0 up (as seq numbers
// are written), else 0: nlohmann's value<uint64_t>() converts a float such as
// 4e33 with undefined behaviour.
inline uint64_t UnsignedMember(const nlohmann::json& object, std::string_view key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

// Member `key` of `object` when it is of that type, else an empty one (json's
// value() throws on a member of another type: a record from disk may have one).
inline std::string StringMember(const nlohmann::json& object, std::string_view key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}
inline nlohmann::json ArrayMember(const nlohmann::json& object, std::string_view key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_array() ? *it : nlohmann::json::array();
}
inline nlohmann::json ObjectMember(const nlohmann::json& object, std::string_view key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_object() ? *it : nlohmann::json::object();
}

}  // namespace mcpaudit

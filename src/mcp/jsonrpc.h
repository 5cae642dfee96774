// JSON-RPC 2.0 message shapes as MCP uses them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "base/bounded_json.h"
#include "mcpaudit/server.h"

namespace mcpaudit::jsonrpc {

// A decoded message: a request (id and method), a notification (method only)
// or a response from the client (id and result or error).
struct Message {
  enum class Kind { kRequest, kNotification, kResponse } kind = Kind::kRequest;
  nlohmann::json id;  // string or integer; null for notifications
  std::string method;
  nlohmann::json params;  // object, or null when absent
};

// The error to answer a message that cannot be decoded, and what could be read
// of it for the refusal's record.
struct DecodeError {
  int code;
  std::string message;
  nlohmann::json id;    // the id, when it could be read; else null
  std::string reason;   // for the record: parse_error, invalid_request, too_deep, number_out_of_range
  std::string method;   // when it could be read
  nlohmann::json params = nullptr;  // what could be read of them (the faulty parts null)
  bool is_response = false;  // it was the client's answer to a request: recorded, never answered
};

// Decodes one message text, nesting at most `max_depth` levels; a number a
// double cannot hold is refused too. Batches (JSON arrays) are not part of MCP
// since 2025-06-18 and are refused as invalid requests.
std::variant<Message, DecodeError> Decode(std::string_view text, size_t max_depth = kDefaultMessageDepth);

// The event type of the records of `method`'s requests (tools/call: tool_call,
// resources/read: resource_read, prompts/get: prompt_get); null for the others.
const char* AuditedEventType(std::string_view method);

// How the refusal of a message that could not be decoded is recorded.
RefusedRequest RefusalOf(const DecodeError& error);
// The refusal of a request that was read, answered with `code` and `text`.
RefusedRequest RefusalOf(const Message& message, int code, std::string_view text, std::string reason);
// A refused tools/call's arguments as far as they could be read; null for anything else.
nlohmann::json ArgumentsOf(const DecodeError& error);

std::string Result(const nlohmann::json& id, const nlohmann::json& result);
// The same with the result already serialised (valid JSON text).
std::string RawResult(const nlohmann::json& id, std::string_view result_json);
std::string Error(const nlohmann::json& id, int code, std::string_view message,
                  const nlohmann::json& data = nullptr);
std::string Notification(std::string_view method, const nlohmann::json& params);

// The member `key` of `object` when it is a string; else "" (absent, another
// type, or `object` not an object). For reading messages whose types a hostile
// peer chooses: json::value() throws on a member of another type.
std::string StringMember(const nlohmann::json& object, std::string_view key);
// The same for an integer that an int holds (else `fallback`), and for `true`.
int IntMember(const nlohmann::json& object, std::string_view key, int fallback = 0);
bool TrueMember(const nlohmann::json& object, std::string_view key);

// The id as text for records: strings as they are, numbers in decimal.
std::string IdToString(const nlohmann::json& id);
// The id as a key that tells 1 from "1" (its JSON text): for tracking requests in flight.
std::string IdKey(const nlohmann::json& id);

}  // namespace mcpaudit::jsonrpc

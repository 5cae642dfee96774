// JSON-RPC 2.0 message shapes as MCP uses them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

namespace mcpaudit::jsonrpc {

// A decoded message: a request (id and method), a notification (method only)
// or a response from the client (id and result or error).
struct Message {
  enum class Kind { kRequest, kNotification, kResponse } kind = Kind::kRequest;
  nlohmann::json id;  // string or integer; null for notifications
  std::string method;
  nlohmann::json params;  // object, or null when absent
};

// The error to answer a message that cannot be decoded.
struct DecodeError {
  int code;
  std::string message;
  nlohmann::json id;  // the id, when it could be read; else null
};

// Decodes one message text. Batches (JSON arrays) are not part of MCP since
// 2025-06-18 and are refused as invalid requests.
std::variant<Message, DecodeError> Decode(std::string_view text);

std::string Result(const nlohmann::json& id, const nlohmann::json& result);
// The same with the result already serialised (valid JSON text).
std::string RawResult(const nlohmann::json& id, std::string_view result_json);
std::string Error(const nlohmann::json& id, int code, std::string_view message,
                  const nlohmann::json& data = nullptr);
std::string Notification(std::string_view method, const nlohmann::json& params);

// The id as text for records: strings as they are, numbers in decimal.
std::string IdToString(const nlohmann::json& id);
// The id as a key that tells 1 from "1" (its JSON text): for tracking requests in flight.
std::string IdKey(const nlohmann::json& id);

}  // namespace mcpaudit::jsonrpc

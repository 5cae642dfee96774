#include "mcp/jsonrpc.h"

#include <climits>

#include "mcpaudit/toolkit.h"

namespace mcpaudit::jsonrpc {

using nlohmann::json;

namespace {

std::string Dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

bool IsValidId(const json& id) { return id.is_string() || id.is_number_integer(); }

}  // namespace

std::variant<Message, DecodeError> Decode(std::string_view text, size_t max_depth) {
  // JSON text never holds a raw NUL; a parser that stops at one would read less than was sent.
  if (text.find('\0') != std::string_view::npos)
    return DecodeError{rpc::kParseError, "Parse error: a NUL byte in the message", nullptr, "parse_error", {}};
  BoundedJson parsed = ParseBounded(text, max_depth);
  if (parsed.fault == JsonFault::kSyntax) {
    // nlohmann also refuses ill-formed UTF-8 and lone surrogates here, as JSON requires.
    return DecodeError{rpc::kParseError, "Parse error: " + parsed.message, nullptr, "parse_error", {}};
  }
  json& value = parsed.value;
  if (parsed.fault != JsonFault::kNone) {
    // Readable, but over the budget: refused with what could be read of it (so
    // that the answer names the request, and the record the tool).
    DecodeError error{rpc::kInvalidRequest, "Invalid Request: " + parsed.message, nullptr,
                      std::string(FaultReason(parsed.fault)), {}};
    if (value.is_object()) {
      if (auto id = value.find("id"); id != value.end() && IsValidId(*id)) error.id = *id;
      error.method = StringMember(value, "method");
      if (auto params = value.find("params"); params != value.end() && params->is_object()) error.params = *params;
      error.is_response = !value.contains("method") && value.contains("id") &&
                          (value.contains("result") || value.contains("error"));
    }
    return error;
  }
  auto invalid = [](std::string message, json id = nullptr) {
    return DecodeError{rpc::kInvalidRequest, "Invalid Request: " + std::move(message), std::move(id),
                       "invalid_request", {}};
  };
  if (value.is_array()) return invalid("JSON-RPC batches are not supported (MCP 2025-06-18 and later)");
  if (!value.is_object()) return invalid("a message must be a JSON object");

  json id = nullptr;
  const bool has_id = value.contains("id");
  if (has_id) {
    id = value["id"];
    if (!IsValidId(id)) return invalid("'id' must be a string or an integer");
  }
  auto version = value.find("jsonrpc");
  if (version == value.end() || *version != "2.0") return invalid("'jsonrpc' must be \"2.0\"", id);

  Message message;
  auto method = value.find("method");
  if (method == value.end()) {
    if (!has_id || (!value.contains("result") && !value.contains("error")))
      return invalid("'method' is missing", id);
    message.kind = Message::Kind::kResponse;
    message.id = std::move(id);
    message.params = value.contains("result") ? std::move(value["result"]) : std::move(value["error"]);
    return message;
  }
  if (!method->is_string()) return invalid("'method' must be a string", id);
  message.method = method->get<std::string>();
  message.kind = has_id ? Message::Kind::kRequest : Message::Kind::kNotification;
  message.id = std::move(id);
  if (auto params = value.find("params"); params != value.end()) {
    if (!params->is_object() && !params->is_null()) {
      return DecodeError{rpc::kInvalidParams, "Invalid params: 'params' must be an object", message.id,
                         "invalid_request", message.method};
    }
    message.params = std::move(*params);
  }
  return message;
}

const char* AuditedEventType(std::string_view method) {
  if (method == "tools/call") return "tool_call";
  if (method == "resources/read") return "resource_read";
  if (method == "prompts/get") return "prompt_get";
  return nullptr;
}

namespace {

// A refused request's method, tool and id, as far as they could be read.
RefusedRequest Refusal(const std::string& method, const json& params, const json& id, int code,
                       std::string_view text, std::string reason) {
  RefusedRequest refusal;
  if (const char* type = AuditedEventType(method)) refusal.event_type = type;
  refusal.method = method;
  if (params.is_object()) {
    if (auto name = params.find("name"); name != params.end() && name->is_string())
      refusal.tool = name->get<std::string>();
  }
  refusal.request_id = IdToString(id);
  refusal.code = code;
  refusal.message = std::string(text.substr(0, 300));
  refusal.reason = std::move(reason);
  return refusal;
}

}  // namespace

RefusedRequest RefusalOf(const DecodeError& error) {
  return Refusal(error.method, error.params, error.id, error.code, error.message, error.reason);
}

RefusedRequest RefusalOf(const Message& message, int code, std::string_view text, std::string reason) {
  return Refusal(message.method, message.params, message.id, code, text, std::move(reason));
}

json ArgumentsOf(const DecodeError& error) {
  if (error.method != "tools/call" || !error.params.is_object()) return nullptr;
  const auto arguments = error.params.find("arguments");
  return arguments == error.params.end() ? json(nullptr) : *arguments;
}

std::string Result(const json& id, const json& result) {
  return Dump(json{{"jsonrpc", "2.0"}, {"id", id}, {"result", result}});
}

std::string RawResult(const json& id, std::string_view result_json) {
  std::string out = "{\"jsonrpc\":\"2.0\",\"id\":";
  out += Dump(id);
  out += ",\"result\":";
  out += result_json;
  out += "}";
  return out;
}

std::string Error(const json& id, int code, std::string_view message, const json& data) {
  json error = {{"code", code}, {"message", message}};
  if (!data.is_null()) error["data"] = data;
  return Dump(json{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}});
}

std::string Notification(std::string_view method, const json& params) {
  return Dump(json{{"jsonrpc", "2.0"}, {"method", method}, {"params", params}});
}

std::string StringMember(const json& object, std::string_view key) {
  if (!object.is_object()) return {};
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int IntMember(const json& object, std::string_view key, int fallback) {
  if (!object.is_object()) return fallback;
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return fallback;
  if (it->is_number_unsigned()) {
    const auto value = it->get<uint64_t>();
    return value <= static_cast<uint64_t>(INT_MAX) ? static_cast<int>(value) : fallback;
  }
  const auto value = it->get<int64_t>();
  return value >= INT_MIN && value <= INT_MAX ? static_cast<int>(value) : fallback;
}

bool TrueMember(const json& object, std::string_view key) {
  if (!object.is_object()) return false;
  const auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

std::string IdToString(const json& id) {
  if (id.is_string()) return id.get<std::string>();
  if (id.is_null()) return {};
  return id.dump();
}

std::string IdKey(const json& id) { return id.is_null() ? std::string() : id.dump(); }

}  // namespace mcpaudit::jsonrpc

#include "mcp/jsonrpc.h"

#include "mcpaudit/toolkit.h"

namespace mcpaudit::jsonrpc {

using nlohmann::json;

namespace {

std::string Dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

bool IsValidId(const json& id) { return id.is_string() || id.is_number_integer(); }

}  // namespace

std::variant<Message, DecodeError> Decode(std::string_view text) {
  json value;
  try {
    value = json::parse(text);
  } catch (const json::parse_error& e) {
    // nlohmann also refuses ill-formed UTF-8 here, as JSON requires.
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return DecodeError{rpc::kParseError, "Parse error: " + what, nullptr};
  }
  if (value.is_array())
    return DecodeError{rpc::kInvalidRequest,
                       "Invalid Request: JSON-RPC batches are not supported (MCP 2025-06-18 and later)",
                       nullptr};
  if (!value.is_object())
    return DecodeError{rpc::kInvalidRequest, "Invalid Request: a message must be a JSON object", nullptr};

  json id = nullptr;
  const bool has_id = value.contains("id");
  if (has_id) {
    id = value["id"];
    if (!IsValidId(id))
      return DecodeError{rpc::kInvalidRequest, "Invalid Request: 'id' must be a string or an integer",
                         nullptr};
  }
  auto version = value.find("jsonrpc");
  if (version == value.end() || *version != "2.0")
    return DecodeError{rpc::kInvalidRequest, "Invalid Request: 'jsonrpc' must be \"2.0\"", id};

  Message message;
  auto method = value.find("method");
  if (method == value.end()) {
    if (has_id && (value.contains("result") || value.contains("error"))) {
      message.kind = Message::Kind::kResponse;
      message.id = std::move(id);
      message.params = value.contains("result") ? value["result"] : value["error"];
      return message;
    }
    return DecodeError{rpc::kInvalidRequest, "Invalid Request: 'method' is missing", id};
  }
  if (!method->is_string())
    return DecodeError{rpc::kInvalidRequest, "Invalid Request: 'method' must be a string", id};
  message.method = method->get<std::string>();
  message.kind = has_id ? Message::Kind::kRequest : Message::Kind::kNotification;
  message.id = std::move(id);
  if (auto params = value.find("params"); params != value.end()) {
    if (!params->is_object() && !params->is_null()) {
      return DecodeError{rpc::kInvalidParams, "Invalid params: 'params' must be an object",
                         message.id};
    }
    message.params = std::move(*params);
  }
  return message;
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

std::string IdToString(const json& id) {
  if (id.is_string()) return id.get<std::string>();
  if (id.is_null()) return {};
  return id.dump();
}

std::string IdKey(const json& id) { return id.is_null() ? std::string() : id.dump(); }

}  // namespace mcpaudit::jsonrpc

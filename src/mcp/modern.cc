#include "mcp/modern.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <set>

#include "base/ascii.h"
#include "base/crypto.h"
#include "mcpaudit/server.h"

namespace mcpaudit::modern {

using nlohmann::json;

namespace {

constexpr size_t kMaxClientField = 256;     // a longer client name or version is cut
constexpr size_t kMaxCapabilityNames = 32;  // capability names kept for the record
constexpr size_t kMaxTraceState = 512;      // W3C Trace Context's limit

constexpr std::string_view kLevels[] = {"debug", "info",     "notice", "warning",
                                        "error", "critical", "alert",  "emergency"};
constexpr std::string_view kUnsupportedText = "Unsupported protocol version";

MetaError Invalid(std::string message) {
  return MetaError{rpc::kInvalidParams, "Invalid params: " + std::move(message), nullptr,
                   "invalid_meta"};
}

std::string Cut(std::string text) {
  if (text.size() > kMaxClientField) text.resize(kMaxClientField);
  return text;
}

// W3C Trace Context version 00: "00-<32 hex>-<16 hex>-<2 hex>", ids not all zero.
bool IsTraceparent(std::string_view text) {
  if (text.size() != 55 || text[2] != '-' || text[35] != '-' || text[52] != '-') return false;
  const std::string_view version = text.substr(0, 2), trace = text.substr(3, 32),
                         parent = text.substr(36, 16), flags = text.substr(53, 2);
  const auto zero = [](std::string_view s) { return s.find_first_not_of('0') == s.npos; };
  return IsLowerHex(version, 2) && version != "ff" && IsLowerHex(trace, 32) && !zero(trace) &&
         IsLowerHex(parent, 16) && !zero(parent) && IsLowerHex(flags, 2);
}

bool IsTraceState(std::string_view text) {
  return text.size() <= kMaxTraceState &&
         std::ranges::all_of(text, [](char c) { return c >= 0x20 && c < 0x7f; });
}

// "=?base64?…?=" decoded; any other value as it is; nullopt for a sentinel that does not decode.
std::optional<std::string> HeaderValue(std::string_view value) {
  constexpr std::string_view kPrefix = "=?base64?", kSuffix = "?=";
  if (value.size() < kPrefix.size() + kSuffix.size() || !value.starts_with(kPrefix) ||
      !value.ends_with(kSuffix))
    return std::string(value);
  return Base64Decode(value.substr(kPrefix.size(), value.size() - kPrefix.size() - kSuffix.size()));
}

}  // namespace

bool IsVersion(std::string_view version) {
  return std::ranges::find(kVersions, version) != std::end(kVersions);
}

int LogRank(std::string_view level) {
  const auto it = std::ranges::find(kLevels, level);
  return it == std::end(kLevels) ? -1 : static_cast<int>(it - std::begin(kLevels));
}

json SupportedVersions() {
  json versions = json::array();
  for (std::string_view version : kVersions) versions.push_back(version);
  for (std::string_view version : kProtocolVersions) versions.push_back(version);
  return versions;
}

bool Declares(const json& params) {
  if (!params.is_object()) return false;
  auto meta = params.find("_meta");
  return meta != params.end() && meta->is_object() && meta->contains(kVersionKey);
}

std::expected<RequestMeta, MetaError> ReadRequestMeta(const json& params) {
  const json* meta = nullptr;
  if (params.is_object()) {
    if (auto it = params.find("_meta"); it != params.end() && it->is_object()) meta = &*it;
  }
  if (!meta || !meta->contains(kVersionKey))
    return std::unexpected(
        Invalid("_meta must name the protocol version ('" + std::string(kVersionKey) + "')"));
  const json& version = (*meta)[std::string(kVersionKey)];
  if (!version.is_string())
    return std::unexpected(Invalid("'" + std::string(kVersionKey) + "' must be a string"));
  RequestMeta out;
  out.protocol_version = version.get<std::string>();
  if (!IsVersion(out.protocol_version)) {
    return std::unexpected(MetaError{
        kUnsupportedProtocolVersion, std::string(kUnsupportedText),
        json{{"supported", SupportedVersions()}, {"requested", Cut(out.protocol_version)}},
        "unsupported_protocol_version"});
  }
  auto capabilities = meta->find(kCapabilitiesKey);
  if (capabilities == meta->end() || !capabilities->is_object())
    return std::unexpected(
        Invalid("_meta '" + std::string(kCapabilitiesKey) + "' (an object) is required"));
  out.capabilities = *capabilities;
  if (auto client = meta->find(kClientInfoKey); client != meta->end()) {
    if (!client->is_object())
      return std::unexpected(Invalid("'" + std::string(kClientInfoKey) + "' must be an object"));
    out.client.name = Cut(jsonrpc::StringMember(*client, "name"));
    out.client.version = Cut(jsonrpc::StringMember(*client, "version"));
  }
  if (auto level = meta->find(kLogLevelKey); level != meta->end()) {
    if (!level->is_string() || LogRank(level->get<std::string>()) < 0)
      return std::unexpected(Invalid("'" + std::string(kLogLevelKey) +
                                     "' must be one of debug, info, notice, warning, error, "
                                     "critical, alert, emergency"));
    out.log_level = level->get<std::string>();
  }
  // Trace context that does not follow W3C's format is ignored, as W3C asks.
  if (std::string traceparent = jsonrpc::StringMember(*meta, "traceparent");
      IsTraceparent(traceparent)) {
    out.traceparent = std::move(traceparent);
    if (std::string state = jsonrpc::StringMember(*meta, "tracestate"); IsTraceState(state))
      out.tracestate = std::move(state);
  }
  return out;
}

std::vector<std::string> CapabilityNames(const json& capabilities) {
  std::vector<std::string> names;
  if (!capabilities.is_object()) return names;
  for (const auto& [name, value] : capabilities.items()) {
    if (names.size() == kMaxCapabilityNames) break;
    names.push_back(Cut(name));
  }
  return names;
}

void Apply(const RequestMeta& meta, RequestContext& ctx) {
  ctx.protocol_version = meta.protocol_version;
  ctx.client = meta.client;
  ctx.client_capabilities = CapabilityNames(meta.capabilities);
  ctx.traceparent = meta.traceparent;
  ctx.tracestate = meta.tracestate;
}

void Complete(json& result, const json& server_info) {
  if (!result.contains("resultType")) result["resultType"] = "complete";
  if (!result["_meta"].is_object()) result["_meta"] = json::object();
  result["_meta"][std::string(kServerInfoKey)] = server_info;
}

std::string Complete(std::string_view result_json, const json& server_info) {
  std::string out = R"({"resultType":"complete","_meta":{")";
  out += kServerInfoKey;
  out += "\":";
  out += server_info.dump(-1, ' ', false, json::error_handler_t::replace);
  out += "}";
  // result_json is an object's text: what follows its '{' joins ours.
  std::string_view rest = result_json.substr(std::min<size_t>(1, result_json.size()));
  const size_t first = rest.find_first_not_of(" \t\r\n");
  if (first != rest.npos && rest[first] != '}') out += ',';
  out += rest;
  return out;
}

namespace {

// Visible ASCII and inner spaces: what a header value carries as it is.
bool PlainHeaderValue(std::string_view value) {
  return !value.empty() && value.front() != ' ' && value.back() != ' ' &&
         std::ranges::all_of(value, [](char c) { return c >= 0x20 && c < 0x7f; });
}

// A value as a header carries it: as it is when plain (and not shaped like the
// sentinel), else "=?base64?…?=".
std::string Encoded(const std::string& value) {
  const bool plain =
      PlainHeaderValue(value) && !(value.starts_with("=?base64?") && value.ends_with("?="));
  return plain ? value : "=?base64?" + Base64Encode(value) + "?=";
}

// An HTTP field-name token (RFC 9110 tchar).
bool IsToken(std::string_view text) {
  constexpr std::string_view kMarks = "!#$%&'*+-.^_`|~";
  return !text.empty() && std::ranges::all_of(text, [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kMarks.find(c) != std::string_view::npos;
  });
}

constexpr std::string_view kParamHeaderKey = "x-mcp-header";
constexpr size_t kMaxSchemaDepth = 64;
constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;  // JavaScript's, as the spec says

std::string PathText(const std::vector<std::string>& path) {
  std::string text;
  for (const std::string& name : path) text += "/" + name;
  return text;
}

// Finds the x-mcp-header annotations under `schema`; `path` is set while the
// chain from the root is `properties` alone. The first rule broken, in `error`.
void CollectParamHeaders(const json& schema, const std::optional<std::vector<std::string>>& path,
                         size_t depth, std::vector<ParamHeader>& found,
                         std::set<std::string>& names, std::string& error) {
  if (!error.empty() || !schema.is_object()) return;
  if (depth > kMaxSchemaDepth) {
    // Too deep to walk: refused only when an annotation may be in there.
    if (schema.dump().find("\"" + std::string(kParamHeaderKey) + "\"") != std::string::npos)
      error = "x-mcp-header is nested too deep in the input schema";
    return;
  }
  if (auto annotation = schema.find(kParamHeaderKey); annotation != schema.end()) {
    const std::string type = jsonrpc::StringMember(schema, "type");
    if (!path || path->empty()) {
      error = "x-mcp-header is allowed only on a property reached through 'properties' alone";
    } else if (!annotation->is_string() || !IsToken(annotation->get<std::string>())) {
      error = "x-mcp-header of '" + PathText(*path) + "' is not an HTTP header-name token";
    } else if (type != "string" && type != "integer" && type != "boolean") {
      error = "x-mcp-header of '" + PathText(*path) +
              "' is on a property whose type is not string, integer or boolean";
    } else if (!names.insert(AsciiLower(annotation->get<std::string>())).second) {
      error = "x-mcp-header '" + annotation->get<std::string>() + "' is declared twice";
    } else {
      found.push_back({annotation->get<std::string>(), *path});
    }
  }
  for (const auto& [key, child] : schema.items()) {
    if (key == "enum" || key == "const" || key == "default" || key == "examples") continue;  // data
    if (key == "properties" && child.is_object()) {
      for (const auto& [name, property] : child.items()) {
        std::optional<std::vector<std::string>> below = path;
        if (below) below->push_back(name);
        CollectParamHeaders(property, below, depth + 1, found, names, error);
      }
    } else if (child.is_object()) {
      CollectParamHeaders(child, std::nullopt, depth + 1, found, names, error);
    } else if (child.is_array()) {
      for (const auto& item : child)
        CollectParamHeaders(item, std::nullopt, depth + 1, found, names, error);
    }
  }
}

// An integer within the safe range: what an integer parameter may hold
// (42.0 included); nullopt for anything else.
std::optional<int64_t> SafeInteger(const json& value) {
  if (value.is_number_integer()) {
    if (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t{kMaxSafeInteger})
      return std::nullopt;
    const int64_t number = value.get<int64_t>();
    if (number > kMaxSafeInteger || number < -kMaxSafeInteger) return std::nullopt;
    return number;
  }
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (std::trunc(number) == number && std::abs(number) <= static_cast<double>(kMaxSafeInteger))
      return static_cast<int64_t>(number);
  }
  return std::nullopt;
}

// The same for a header's decimal text: "42", "-7", "42.0".
std::optional<int64_t> SafeIntegerText(std::string_view text) {
  if (const size_t point = text.find('.'); point != std::string_view::npos) {
    const std::string_view fraction = text.substr(point + 1);
    if (fraction.empty() || fraction.find_first_not_of('0') != std::string_view::npos)
      return std::nullopt;
    text = text.substr(0, point);
  }
  int64_t number = 0;
  auto [at, failed] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (failed != std::errc() || at != text.data() + text.size() || text.empty()) return std::nullopt;
  if (number > kMaxSafeInteger || number < -kMaxSafeInteger) return std::nullopt;
  return number;
}

// A parameter's value as its header says it (before encoding); nullopt for
// another type than string, integer (within the safe range) or boolean.
std::optional<std::string> ParamText(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (const std::optional<int64_t> number = SafeInteger(value)) return std::to_string(*number);
  return std::nullopt;
}

// The value at `path` of `arguments`, through objects only; null when there is none.
json ParamValue(const json& arguments, const std::vector<std::string>& path) {
  const json* at = &arguments;
  for (const std::string& name : path) {
    if (!at->is_object()) return nullptr;
    auto it = at->find(name);
    if (it == at->end()) return nullptr;
    at = &*it;
  }
  return *at;
}

std::string Quoted(std::string_view text) {
  return "'" + std::string(text.substr(0, 128)) + (text.size() > 128 ? "…'" : "'");
}

}  // namespace

std::expected<std::vector<ParamHeader>, std::string> ParamHeaders(const json& input_schema) {
  std::vector<ParamHeader> found;
  std::set<std::string> names;
  std::string error;
  CollectParamHeaders(input_schema, std::vector<std::string>{}, 0, found, names, error);
  if (!error.empty()) return std::unexpected(error);
  return found;
}

std::optional<std::string> ParamHeaderMismatch(
    const std::vector<ParamHeader>& annotated, const json& arguments,
    const std::function<std::optional<std::string_view>(const std::string& name)>& header) {
  for (const ParamHeader& param : annotated) {
    const std::string name = std::string(kParamHeaderPrefix) + param.name;
    const json value = ParamValue(arguments, param.path);
    const std::optional<std::string_view> sent = header(name);
    if (value.is_null() && !sent) continue;
    if (value.is_null())
      return "Header mismatch: the " + name + " header is sent without its parameter in the body";
    if (!sent)
      return "Header mismatch: the " + name + " header is required (the body has its parameter)";
    if (!std::ranges::all_of(*sent, [](char c) { return c == '\t' || (c >= 0x20 && c < 0x7f); }))
      return "Header mismatch: the " + name + " header holds characters a header value may not";
    const std::optional<std::string> decoded = HeaderValue(*sent);
    if (!decoded) return "Header mismatch: the " + name + " header is not valid base64";
    bool same = false;
    if (value.is_number()) {  // compared as integers, exactly: 42 and 42.0 agree
      const std::optional<int64_t> body = SafeInteger(value);
      if (!body)
        return "Header mismatch: the body value of " + name +
               " is not an integer in the safe range";
      same = SafeIntegerText(*decoded) == body;
    } else if (const std::optional<std::string> text = ParamText(value)) {
      same = *decoded == *text;
    }
    if (!same) {
      return "Header mismatch: " + name + " header value " + Quoted(*decoded) +
             " does not match body value " +
             Quoted(value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  return std::nullopt;
}

std::optional<std::vector<std::string>> MirroredHeaders(const json& request,
                                                        const std::vector<ParamHeader>& annotated) {
  const std::string method = jsonrpc::StringMember(request, "method");
  const json& params = request.contains("params") ? request["params"] : request;
  const json* meta = params.is_object() && params.contains("_meta") ? &params["_meta"] : nullptr;
  const std::string version = meta ? jsonrpc::StringMember(*meta, kVersionKey) : "";
  if (!PlainHeaderValue(method) || !PlainHeaderValue(version)) return std::nullopt;
  std::vector<std::string> headers = {"MCP-Protocol-Version: " + version, "Mcp-Method: " + method};
  const char* source = method == "tools/call" || method == "prompts/get" ? "name"
                       : method == "resources/read"                      ? "uri"
                                                                         : nullptr;
  if (source) {
    headers.push_back("Mcp-Name: " + Encoded(jsonrpc::StringMember(params, source)));
  }
  if (method == "tools/call" && params.is_object()) {
    const json arguments = params.value("arguments", json::object());
    for (const ParamHeader& param : annotated) {
      if (auto text = ParamText(ParamValue(arguments, param.path)))
        headers.push_back(std::string(kParamHeaderPrefix) + param.name + ": " + Encoded(*text));
    }
  }
  return headers;
}

bool Spliceable(const std::optional<json>& result) {
  return result && result->is_object() && !result->contains("_meta") &&
         !result->contains("resultType");
}

std::optional<std::string> HeaderMismatch(const jsonrpc::Message& message,
                                          std::optional<std::string_view> protocol_version,
                                          std::optional<std::string_view> method,
                                          std::optional<std::string_view> name) {
  const json* meta = nullptr;
  if (auto it = message.params.is_object() ? message.params.find("_meta") : message.params.end();
      message.params.is_object() && it != message.params.end() && it->is_object())
    meta = &*it;
  const std::string body_version = meta ? jsonrpc::StringMember(*meta, kVersionKey) : "";
  if (!protocol_version) return "Header mismatch: the MCP-Protocol-Version header is required";
  if (*protocol_version != body_version) {
    return "Header mismatch: MCP-Protocol-Version header value '" + std::string(*protocol_version) +
           "' does not match body value '" + body_version + "'";
  }
  if (!method) return "Header mismatch: the Mcp-Method header is required";
  if (*method != message.method) {
    return "Header mismatch: Mcp-Method header value '" + std::string(*method) +
           "' does not match body value '" + message.method + "'";
  }
  const char* source = message.method == "tools/call" || message.method == "prompts/get" ? "name"
                       : message.method == "resources/read"                              ? "uri"
                                                                                         : nullptr;
  if (!source) return std::nullopt;
  if (!name) return "Header mismatch: the Mcp-Name header is required for " + message.method;
  const std::string body_name = jsonrpc::StringMember(message.params, source);
  const std::optional<std::string> header_name = HeaderValue(*name);
  if (!header_name) return "Header mismatch: the Mcp-Name header is not valid base64";
  if (*header_name != body_name) {
    return "Header mismatch: Mcp-Name header value '" + *header_name +
           "' does not match body value '" + body_name + "'";
  }
  return std::nullopt;
}

}  // namespace mcpaudit::modern

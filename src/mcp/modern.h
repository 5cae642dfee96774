// The stateless revision of MCP (2026-07-28, "modern"): no session and no
// initialize; every request names its protocol version, client and client
// capabilities in its _meta, and every result says its resultType. What the
// server and the HTTP transport share of it.
#pragma once

#include <expected>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "mcp/jsonrpc.h"
#include "mcpaudit/request_context.h"

namespace mcpaudit::modern {

// Protocol revisions served statelessly, newest first.
inline constexpr std::string_view kVersions[] = {"2026-07-28"};

inline constexpr std::string_view kVersionKey = "io.modelcontextprotocol/protocolVersion";
inline constexpr std::string_view kClientInfoKey = "io.modelcontextprotocol/clientInfo";
inline constexpr std::string_view kCapabilitiesKey = "io.modelcontextprotocol/clientCapabilities";
inline constexpr std::string_view kLogLevelKey = "io.modelcontextprotocol/logLevel";
inline constexpr std::string_view kServerInfoKey = "io.modelcontextprotocol/serverInfo";

// Error codes the revision defines (the MCP range -32020..-32099).
inline constexpr int kHeaderMismatch = -32020;
// The headers a tools/call carries for its x-mcp-header parameters.
inline constexpr std::string_view kParamHeaderPrefix = "Mcp-Param-";
inline constexpr int kUnsupportedProtocolVersion = -32022;

bool IsVersion(std::string_view version);

// The rank of an RFC 5424 severity as MCP names it (debug 0 … emergency 7); -1 for another word.
int LogRank(std::string_view level);
// Every revision served, modern first, then those that open a session.
nlohmann::json SupportedVersions();

// Whether a request with these params is a modern one: its _meta names a protocol version.
bool Declares(const nlohmann::json& params);

// What a modern request's _meta says about it.
struct RequestMeta {
  std::string protocol_version;
  ClientInfo client;
  nlohmann::json capabilities = nlohmann::json::object();
  std::string log_level;  // empty: the request wants no log messages
  std::string traceparent;
  std::string tracestate;
};

// Why a modern request's _meta is refused: the JSON-RPC error, and the word its record says.
struct MetaError {
  int code;
  std::string message;
  nlohmann::json data;
  std::string reason;  // invalid_meta, unsupported_protocol_version
};

std::expected<RequestMeta, MetaError> ReadRequestMeta(const nlohmann::json& params);

// The names of the capabilities declared (at most 32 of them), for records.
std::vector<std::string> CapabilityNames(const nlohmann::json& capabilities);

// Fills what a modern request's _meta says into its context.
void Apply(const RequestMeta& meta, RequestContext& ctx);

// A result of this revision: `result` with resultType "complete" (unless it
// says another) and the server's identity in _meta. `server_info` is {"name":…, "version":…}.
void Complete(nlohmann::json& result, const nlohmann::json& server_info);
// The same for a result serialised already, when Spliceable(its value): an
// object the members are added to without parsing it again.
std::string Complete(std::string_view result_json, const nlohmann::json& server_info);
bool Spliceable(const std::optional<nlohmann::json>& result);

// A tool parameter that a Streamable HTTP request mirrors into the header
// `Mcp-Param-{name}` (the `x-mcp-header` annotation of its input schema).
struct ParamHeader {
  std::string name;
  std::vector<std::string> path;  // the property's names from the arguments' root
};

// The x-mcp-header annotations of a tool's input schema; the error when one
// breaks the rules: empty or not an HTTP token, repeated (case-insensitively),
// on a property whose type is not string, integer or boolean, or not reachable
// from the root through `properties` alone.
[[nodiscard]] std::expected<std::vector<ParamHeader>, std::string> ParamHeaders(
    const nlohmann::json& input_schema);

// Streamable HTTP, as a client (the proxy to its upstream): the headers that
// mirror a request's body ("Name: value" lines; Mcp-Name and Mcp-Param-*
// Base64-encoded when not plain ASCII), with `annotated` the tools/call's
// x-mcp-header parameters; nullopt when its version or method cannot be a header value.
std::optional<std::vector<std::string>> MirroredHeaders(
    const nlohmann::json& request, const std::vector<ParamHeader>& annotated = {});

// Streamable HTTP: the error when the request's Mcp-Method, Mcp-Name or
// MCP-Protocol-Version header (nullopt: absent) does not say what its body
// says; nullopt when they agree. Mcp-Name may be "=?base64?…?=".
std::optional<std::string> HeaderMismatch(const jsonrpc::Message& message,
                                          std::optional<std::string_view> protocol_version,
                                          std::optional<std::string_view> method,
                                          std::optional<std::string_view> name);

// The same for a tools/call's Mcp-Param-* headers, given the tool's
// annotated parameters and `header` (a header's value by name; nullopt:
// absent): each annotated parameter in the arguments needs its header, with
// the same value (decoded; integers compared exactly, within the safe range,
// 42 and 42.0 alike), and a header needs its parameter.
[[nodiscard]] std::optional<std::string> ParamHeaderMismatch(
    const std::vector<ParamHeader>& annotated, const nlohmann::json& arguments,
    const std::function<std::optional<std::string_view>(const std::string& name)>& header);

}  // namespace mcpaudit::modern

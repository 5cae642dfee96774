// A client of MCP's stateless revision (2026-07-28), written for the tests
// from the specification (no public client speaks it yet): its requests carry
// the protocol version, client and capabilities in _meta, and over HTTP the
// headers that mirror the body. And the revision's JSON Schema, to check
// every message the server sends.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/crypto.h"
#include "mcp/schema_validator.h"
#include "support/http_client.h"

namespace mcpaudit::testing {

using nlohmann::json;

inline constexpr char kModernVersion[] = "2026-07-28";

// The revision's published copy: schema.json and examples/.
inline std::filesystem::path SpecDir() { return MCPAUDIT_MCP_SPEC_DIR "/schema/2026-07-28"; }

// Checks messages against one definition of schema.json ("DiscoverResultResponse", ...).
class SpecSchema {
 public:
  static const SpecSchema& Get() {
    static const SpecSchema schema;
    return schema;
  }
  // Empty when `message` is a valid `definition`; else what is wrong.
  std::string Check(const json& message, const std::string& definition) const {
    if (!defs_.contains(definition)) return "schema.json has no definition " + definition;
    auto compiled = SchemaValidator::Compile({{"$ref", "#/$defs/" + definition}, {"$defs", defs_}});
    if (!compiled) return compiled.error().message;
    return (*compiled)->Validate(message);
  }

 private:
  SpecSchema() {
    std::ifstream in(SpecDir() / "schema.json");
    EXPECT_TRUE(in.good()) << "the specification's schema is not at " << SpecDir()
                           << " (configure MCPAUDIT_MCP_SPEC_DIR)";
    if (in.good()) defs_ = json::parse(in)["$defs"];
  }
  json defs_ = json::object();
};

#define EXPECT_VALID(message, definition) \
  EXPECT_EQ(::mcpaudit::testing::SpecSchema::Get().Check(message, definition), "") << (message)
// An error response whose error object is a `definition` (InvalidParamsError, MethodNotFoundError).
#define EXPECT_VALID_ERROR(message, definition)                         \
  do {                                                                  \
    const auto& checked = (message);                                    \
    EXPECT_VALID(checked, "JSONRPCErrorResponse");                      \
    EXPECT_VALID(checked.value("error", nlohmann::json()), definition); \
  } while (false)

// The _meta every request of the revision carries.
inline json ModernMeta(const json& capabilities = json::object(),
                       const json& extra = json::object()) {
  json meta = {
      {"io.modelcontextprotocol/protocolVersion", kModernVersion},
      {"io.modelcontextprotocol/clientInfo", {{"name", "modern-test-client"}, {"version", "2.6"}}},
      {"io.modelcontextprotocol/clientCapabilities",
       capabilities.is_null() ? json::object() : capabilities}};
  if (extra.is_object()) meta.update(extra);
  return meta;
}

inline json ModernRequest(const json& id, const std::string& method, json params = json::object(),
                          const json& meta = ModernMeta()) {
  if (!params.contains("_meta")) params["_meta"] = meta;
  return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
}

// Streamable HTTP: the headers that mirror `body` (MCP-Protocol-Version,
// Mcp-Method, Mcp-Name), Base64-encoded when the name is not plain ASCII.
inline Headers ModernHeaders(const json& body, const std::string& api_key = {}) {
  Headers headers = McpPostHeaders();
  const json& params = body.value("params", json::object());
  if (params.contains("_meta") &&
      params["_meta"].contains("io.modelcontextprotocol/protocolVersion"))
    headers.emplace_back("MCP-Protocol-Version",
                         params["_meta"]["io.modelcontextprotocol/protocolVersion"]);
  headers.emplace_back("Mcp-Method", body.value("method", ""));
  const std::string method = body.value("method", "");
  const char* source = method == "resources/read"                          ? "uri"
                       : method == "tools/call" || method == "prompts/get" ? "name"
                                                                           : nullptr;
  if (source && params.contains(source)) {
    const std::string name = params[source];
    bool plain = !name.empty() && name.front() != ' ' && name.back() != ' ' &&
                 !name.starts_with("=?base64?");
    for (unsigned char c : name) plain = plain && c >= 0x20 && c < 0x7f;
    headers.emplace_back("Mcp-Name", plain ? name : "=?base64?" + Base64Encode(name) + "?=");
  }
  if (!api_key.empty()) headers.emplace_back("X-API-Key", api_key);
  return headers;
}

// The one JSON-RPC message of an HTTP answer: the body of a JSON answer, or
// the last event of an SSE stream (the response; notifications come before it).
inline json AnswerOf(const HttpReply& reply, std::vector<json>* before = nullptr) {
  if (reply.header("content-type").starts_with("application/json"))
    return json::parse(reply.body, nullptr, false);
  json last;
  size_t at = 0;
  while ((at = reply.body.find("data: ", at)) != std::string::npos) {
    const size_t end = reply.body.find('\n', at);
    json event = json::parse(reply.body.substr(at + 6, end - at - 6), nullptr, false);
    if (!event.is_discarded()) {
      if (!last.is_null() && before) before->push_back(last);
      last = std::move(event);
    }
    at = end;
  }
  return last;
}

}  // namespace mcpaudit::testing

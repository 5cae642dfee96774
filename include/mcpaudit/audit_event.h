// The audit record, schema "mcp-audit/1" (DESIGN.md §4). Field names are stable
// API: sinks, database columns and SIEM mappings use them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mcpaudit/result.h"

namespace mcpaudit {

inline constexpr std::string_view kAuditSchema = "mcp-audit/1";

enum class Outcome { kSuccess, kFailure, kDenied };
std::string_view ToString(Outcome outcome);
Result<Outcome> ParseOutcome(std::string_view text);

struct AuditError {
  int code = 0;          // the JSON-RPC error code the client saw, or 0 for a tool error
  std::string message;
  std::string reason;    // a stable word: "unknown_tool", "invalid_arguments", "cancelled", ...
};

struct AuditUser {
  std::string id;
  std::string email;
  std::string tenant_id;
  std::vector<std::string> roles;
  std::string auth_method;
};

struct AuditClient {
  std::string name;
  std::string version;
  std::vector<std::string> capabilities;  // the capabilities it declared (their names)
};

struct AuditRequest {
  std::string id;
  std::string client_ip;
  std::string session_id;
  std::string transport;
  std::string user_agent;
  AuditClient client;
  std::string protocol_version;  // the MCP revision the request was served in
  std::string traceparent;       // W3C trace context the request carried in its _meta
  std::string tracestate;
  // Multi round-trip requests (2026-07-28): the SHA-256 (hex) of the
  // requestState the request was retried with (never the state itself), and
  // which round of its logical call it was (1 the first; 0 for a call of one round).
  std::string request_state_digest;
  uint32_t round = 0;
};

struct AuditServer {
  std::string name;
  std::string version;
  std::string instance;
};

struct AuditResponse {
  std::optional<int64_t> result_count;
  double duration_ms = 0;
  bool is_error = false;
  uint64_t bytes = 0;
};

struct AuditCompliance {
  std::string sensitivity;
  bool phi = false;
  std::string access_reason;
};

struct AuditIntegrity {
  std::string stream;
  uint64_t seq = 0;
  std::string prev;
  std::string hash;
};

struct AuditEvent {
  std::string schema{kAuditSchema};
  std::string id;  // UUIDv7
  std::chrono::system_clock::time_point timestamp;
  std::string event_type = "tool_call";
  std::string tool;
  Outcome outcome = Outcome::kSuccess;
  std::optional<AuditError> error;
  AuditUser user;
  AuditRequest request;
  AuditServer server;
  nlohmann::json params;  // null when not recorded
  std::vector<std::string> resources;
  std::optional<AuditResponse> response;
  AuditCompliance compliance;
  nlohmann::json details;  // facts of audit-system events (e.g. {"dropped": 12}); null otherwise
  std::optional<AuditIntegrity> integrity;
};

// RFC 3339 UTC with milliseconds and "Z", e.g. "2024-01-15T10:30:00.000Z".
std::string FormatTimestamp(std::chrono::system_clock::time_point time);
Result<std::chrono::system_clock::time_point> ParseTimestamp(std::string_view text);

// The record as JSON, keys in schema order. Empty strings, empty lists and
// absent parts are left out.
nlohmann::ordered_json ToJson(const AuditEvent& event);
// The record's `compliance` (an empty object when nothing is set) and `integrity` members.
nlohmann::ordered_json ToJson(const AuditCompliance& compliance);
nlohmann::ordered_json ToJson(const AuditIntegrity& integrity);
// One JSON line without the newline. Invalid UTF-8 in any value is replaced by
// U+FFFD rather than losing the record.
std::string ToJsonLine(const AuditEvent& event);
Result<AuditEvent> AuditEventFromJson(const nlohmann::json& json);
// One record from its JSON text (a journal line, a stored record): the same
// record, or the same error, as AuditEventFromJson of the text parsed within
// kMaxRecordDepth, several times faster (no JSON tree for the fixed members).
// Text that is not JSON: kInvalidArgument "not valid JSON".
Result<AuditEvent> AuditEventFromLine(std::string_view line);

}  // namespace mcpaudit

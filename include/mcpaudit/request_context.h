// What is known about one MCP request while it is served: who is calling, over
// which transport, in which session, and since when. Built by the transport,
// read (and enriched by middleware, e.g. auth) before the tool handler runs.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mcpaudit/result.h"

namespace mcpaudit {

// The way back to the client while a request is served: notifications tied to
// the request (progress, log messages), requests to the client (sampling,
// elicitation) and, over HTTP, the end of the request's stream. Thread-safe.
class ClientChannel {
 public:
  virtual ~ClientChannel() = default;
  // The capabilities the client declared in `initialize` (e.g. "sampling").
  virtual nlohmann::json capabilities() const = 0;
  // notifications/progress for the request's progress token (nothing when it has none).
  virtual void Progress(double progress, std::optional<double> total = std::nullopt,
                        std::string_view message = {}) = 0;
  // notifications/message, when `level` is at or above what the client asked
  // for with logging/setLevel (RFC 5424 names: debug, info, notice, warning, error, …).
  virtual void Log(std::string_view level, const nlohmann::json& data, std::string_view logger = {}) = 0;
  // Sends a request to the client and waits for its result; an error if the
  // client answers with one, does not answer within `timeout`, or goes away.
  virtual Result<nlohmann::json> Request(std::string_view method, const nlohmann::json& params,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(60)) = 0;
  // Streamable HTTP: ends the HTTP response that carries this request's
  // messages; the client resumes it with GET and Last-Event-ID. No-op on stdio.
  virtual void CloseStream() = 0;

  // 2026-07-28 has no requests from the server: Request() answers from what the
  // client's retry carries, and a request it did not carry ends the round. The
  // round's answer is then an InputRequiredResult, which the client answers by
  // retrying with the input asked for (multi round-trip requests).
  struct InputRequired {
    nlohmann::json result;    // {"resultType": "input_required", "inputRequests", "requestState"}
    nlohmann::json requests;  // [{"key", "method"}]: what was asked, for the record
    std::string request_state_digest;  // SHA-256 (hex) of the requestState issued
  };
  // The input this round asked for and did not get; nullopt when it lacks nothing.
  virtual std::optional<InputRequired> TakeInputRequired() { return std::nullopt; }
};

// Who the caller is. auth_method says how that was established
// ("os_user", "cli_flag", "env", "api_key", "jwt", ...).
struct Identity {
  std::string user_id;
  std::string email;
  std::string tenant_id;
  std::vector<std::string> roles;
  std::string auth_method;
};

// The MCP client program, as it named itself in `initialize`.
struct ClientInfo {
  std::string name;
  std::string version;
};

struct RequestContext {
  std::string request_id;  // the JSON-RPC id, as text
  std::chrono::system_clock::time_point received_at;
  std::string transport;   // "stdio" | "http"
  std::string session_id;
  std::string client_ip;   // empty on stdio
  std::string user_agent;
  std::string protocol_version;
  ClientInfo client;
  std::vector<std::string> client_capabilities;  // the names of those the client declared
  std::string traceparent;  // W3C trace context from the request's _meta (2026-07-28 and later)
  std::string tracestate;
  // Multi round-trip requests (2026-07-28): which round of its logical call
  // this request is (1 the first, 0 while none asked for input) and the
  // SHA-256 (hex) of the requestState it carried.
  uint32_t round = 0;
  std::string request_state_digest;
  Identity identity;
  std::string access_reason;   // why the caller accesses the data (HIPAA), if given
  std::stop_token cancelled;   // requested when the client cancels the call
  std::shared_ptr<ClientChannel> channel;  // back to the client; set by the server while it serves
};

}  // namespace mcpaudit

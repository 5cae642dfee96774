// What is known about one MCP request while it is served: who is calling, over
// which transport, in which session, and since when. Built by the transport,
// read (and enriched by middleware, e.g. auth) before the tool handler runs.
#pragma once

#include <chrono>
#include <stop_token>
#include <string>
#include <vector>

namespace mcpaudit {

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
  Identity identity;
  std::string access_reason;   // why the caller accesses the data (HIPAA), if given
  std::stop_token cancelled;   // requested when the client cancels the call
};

}  // namespace mcpaudit

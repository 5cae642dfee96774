// The mcp-audit configuration file (TOML). Flags override the file; the file
// overrides the defaults. A file with an unknown key, a wrong type or a value
// out of range is refused with its place named: the server never starts with
// less auditing than the file asked for.
#pragma once

#include <string>

#include "mcpaudit/audit_policy.h"
#include "mcpaudit/http_transport.h"
#include "mcpaudit/pipeline.h"
#include "mcpaudit/rate_limit.h"
#include "mcpaudit/redaction.h"
#include "mcpaudit/result.h"
#include "mcpaudit/sink.h"
#include "proxy/upstream_link.h"
#include "store/retention.h"

namespace mcpaudit::cli {

// The Streamable HTTP server `mcp-audit proxy` audits ([upstream]; --upstream-url
// overrides the URL). Credentials come from the environment or a file.
struct UpstreamConfig {
  std::string url;
  std::string bearer_token_env;   // Authorization: Bearer <this variable's value>
  std::string bearer_token_file;  // or <this file's content>
  std::vector<std::string> headers;     // "Name: value", sent as they are
  std::vector<std::string> header_env;  // "Name: VARIABLE", the value from the environment
  std::string ca_file;
  std::chrono::seconds connect_timeout{10};
};

// Without bearer_token_env or bearer_token_file, the token (if any) is read from here.
inline constexpr const char* kUpstreamTokenEnv = "MCP_AUDIT_UPSTREAM_TOKEN";

struct Config {
  std::string toolkit = "catalog";
  std::string user;        // the stdio caller; empty: $MCP_AUDIT_USER, else the OS user
  std::string listen;      // HOST:PORT to serve Streamable HTTP on; empty: stdio
  size_t max_json_depth = 64;  // messages nested deeper are refused, over stdio and HTTP, in serve and proxy
  // A secret (0600, at least 32 bytes) that seals the requestState of 2026-07-28
  // multi round-trip requests, shared by the instances behind one load
  // balancer; empty: a random key of the process (a retry must reach it).
  std::string request_state_key_file;
  HttpOptions http;        // path, Host/Origin allow-lists, limits, timeouts, proxies
  PipelineOptions audit;   // directory, mode, queue, segments, checkpoints, key, disk thresholds
  AuditPolicy policy;      // levels per tool
  RedactionOptions redaction;  // what secrets become, pointer rules, the size limit
  std::vector<RateLimitRule> rate_limits;  // token buckets per user or tenant, per tool class
  // Where the journal is shipped; none configured: SQLite at <audit dir>/audit.db.
  std::vector<SinkConfig> sinks;
  RetentionPolicy retention;  // deletion and anonymisation by age, per tenant
  UpstreamConfig upstream;    // proxy: a Streamable HTTP upstream
  Config();
};

// Reads and checks `path`. Errors read "FILE:LINE:COLUMN: KEY: what is wrong".
[[nodiscard]] Result<Config> LoadConfig(const std::string& path);

// The upstream as the proxy reaches it: the URL checked (https, or http to a
// loopback host), the credentials read. Errors name what to fix.
[[nodiscard]] Result<HttpUpstream> ResolveUpstream(const UpstreamConfig& upstream);

// The configured sinks, or the default store when there are none.
std::vector<SinkConfig> SinksOrDefault(const Config& config);

// A complete, commented configuration with every default.
std::string ExampleConfig();

}  // namespace mcpaudit::cli

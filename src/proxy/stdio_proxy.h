// StdioProxy: puts the audit in front of an MCP server that speaks stdio,
// whoever wrote it. The upstream runs as a child process; every JSON-RPC line
// is relayed unchanged in both directions (requests, responses, notifications,
// the server's own requests), and each tools/call, resources/read and
// prompts/get is recorded when its answer comes back: outcome and duration from the upstream's response, parameters
// redacted as the policy says. The child's stderr goes to the operational log.
//
// In durable mode an answer is passed on only once its record is on disk; when
// the record cannot be written the client gets an error instead (fail closed).
// When the upstream dies, every call still waiting gets a JSON-RPC error and a
// `failure` record, and so does the upstream's end itself (`upstream_exited`);
// so does a call the upstream leaves unanswered past the call timeout.
#pragma once

#include <chrono>
#include <stop_token>
#include <string>
#include <vector>

#include "mcpaudit/audit_policy.h"
#include "mcpaudit/recorder.h"
#include "mcpaudit/redaction.h"
#include "mcpaudit/request_context.h"
#include "mcpaudit/toolkit.h"

namespace mcpaudit {

struct StdioProxyOptions {
  std::vector<std::string> command;  // the upstream: program and arguments
  Identity identity;                 // the caller (stdio has one)
  bool fail_closed = false;          // durable mode: no answer without its record
  RedactionOptions redaction;
  AuditPolicy policy;  // its levels: how much of each tools/call the record keeps
  // A call the upstream has not answered by then gets an error (and the
  // upstream a notifications/cancelled); its late answer is dropped.
  std::chrono::milliseconds call_timeout{std::chrono::minutes(5)};
  // Run before a tools/call is forwarded (rate limits, …): a refusal answers
  // the client, is recorded as denied, and never reaches the upstream.
  std::vector<MiddlewarePtr> middleware;
};

class StdioProxy {
 public:
  StdioProxy(StdioProxyOptions options, const Recorder& recorder);

  // Relays between the client on `client_in`/`client_out` and the upstream until
  // the client closes its input (then the upstream's input is closed and its
  // remaining answers relayed), the upstream ends, or `stop` is requested.
  // Returns the exit code for the process: 0, or 1 when the upstream could
  // not start or died.
  int Run(int client_in, int client_out, std::stop_token stop = {});

 private:
  StdioProxyOptions options_;
  const Recorder& recorder_;
  Redactor redactor_;
};

}  // namespace mcpaudit

// One client session relayed to its own upstream MCP server: a child process
// speaking stdio, or its own session with a Streamable HTTP server (so sessions
// are isolated from each other). A request of the stateless revision over the
// HTTP front is a session of its own; those share one child (whose ids are
// the proxy's: SharedChild) or reach an HTTP upstream one POST each. JSON-RPC
// messages are relayed as the policy read them in both directions (requests,
// responses, notifications, the server's own requests), and each tools/call,
// resources/read and prompts/get is recorded when its answer comes back:
// outcome and duration from the upstream's response, parameters redacted as
// the policy says. A child's stderr goes to the operational log.
//
// Before a tools/call is forwarded, the policy applies: the caller's roles must
// allow the tool, a PHI tool needs an access reason, the middleware (rate
// limits) must let it pass. A refused call is answered and recorded here and
// never reaches the upstream.
//
// In durable mode an answer is passed on only once its record is on disk; when
// the record cannot be written the client gets an error instead (fail closed).
// When the upstream dies, every call still waiting gets a JSON-RPC error and a
// `failure` record, and so does the upstream's end itself (`upstream_exited`);
// so does a call the upstream leaves unanswered past the call timeout. The next
// request of the session starts the upstream again (replaying the session's
// initialize), recorded as `upstream_restarted`.
//
// The proxy asks the upstream for its tools/list when a session starts, before
// its first call (and when the list changes): until it is answered a call's
// record masks every argument; then the parameters a tool's input schema marks
// sensitive are redacted as in serve (schema-driven redaction). A 2026-07-28
// call waits for that list: its Mcp-Param-* headers are checked against the
// tool's x-mcp-header parameters, and mirrored to an HTTP upstream. Tasks
// (io.modelcontextprotocol/tasks) are recorded from creation to their end.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "audit/refusal_recorder.h"
#include "mcpaudit/audit_policy.h"
#include "mcpaudit/recorder.h"
#include "mcpaudit/redaction.h"
#include "mcpaudit/server.h"
#include "mcpaudit/toolkit.h"
#include "proxy/upstream_link.h"

namespace mcpaudit {

struct ProxyOptions {
  std::vector<std::string> command;  // the upstream: program and arguments,
  HttpUpstream http;                 // or a Streamable HTTP server (when http.url is set)
  bool fail_closed = false;          // durable mode: no answer without its record
  RedactionOptions redaction;
  AuditPolicy policy;  // levels, classification, tool access per role
  // A call the upstream has not answered by then gets an error (and the
  // upstream a notifications/cancelled); its late answer is dropped.
  std::chrono::milliseconds call_timeout{std::chrono::minutes(5)};
  // Run before a tools/call is forwarded (rate limits, …).
  std::vector<MiddlewarePtr> middleware;
  size_t max_restarts = 3;                     // per session; then its requests get errors
  size_t max_message_bytes = 4 * 1024 * 1024;  // a longer client message is refused
  size_t max_upstream_message_bytes =
      16 * 1024 * 1024;        // a longer one from the upstream is dropped
  size_t max_json_depth = 64;  // a message nested deeper is refused (client) or dropped (upstream)
  RefusalLimits refusals;
  // The proxy stops: a child upstream that takes no input is given up on
  // (LineWriter::kStopGrace), so that it cannot keep the proxy from stopping.
  std::stop_token stopping;
};

// What the sessions of one proxy share: its settings, where the records go,
// and the policy's state (the sampling counts, told in sample_summary records).
class ProxyShared {
 public:
  ProxyShared(ProxyOptions options, const Recorder& recorder);
  ~ProxyShared();  // tells what sampling left out since the last summary

  // Records a tool call's `record` unless sampling leaves it out (successes
  // only); a kept one is preceded by the summary of those left out before it.
  // `done` gets the logger's verdict (at once when sampling leaves the record
  // out); in durable mode on the logger's writer thread (AuditLogger::LogThen).
  void RecordSampled(const RequestContext& ctx, const CallRecord& record, AuditLogger::Done done);

  const ProxyOptions options;
  const Recorder& recorder;
  const Redactor redactor;
  RefusalRecorder refusals;  // requests refused before a session took them, and unreadable messages

  // The stateless revision over the HTTP front (each request a session of its
  // own): one child process for all of them (a child upstream), and what the
  // upstream's tools/list taught one of them, for the others (while fresh).
  std::unique_ptr<UpstreamLink> StatelessLink();
  using SensitiveByTool = std::map<std::string, std::vector<nlohmann::json::json_pointer>>;
  using ParamHeadersByTool = std::map<std::string, std::vector<modern::ParamHeader>, std::less<>>;
  struct Learnt {  // by tool: its sensitive parameters and those mirrored into headers
    SensitiveByTool sensitive;
    ParamHeadersByTool param_headers;
  };
  std::shared_ptr<const Learnt> LearntTools() const;  // null when nothing fresh is known
  void KeepLearntTools(std::shared_ptr<const Learnt> learnt);
  void ForgetLearntTools();
  static constexpr std::chrono::seconds kLearntToolsFresh{60};
  struct RoundsAndTasks;
  const std::unique_ptr<RoundsAndTasks> rounds_and_tasks;  // seen by every session

 private:
  SharedChildEvents ChildEvents();  // the stateless child's end and restarts recorded once
  mutable std::mutex learnt_mutex_;
  std::shared_ptr<const Learnt> learnt_;             // guarded by learnt_mutex_
  std::chrono::steady_clock::time_point learnt_at_;  // guarded by learnt_mutex_

  void EmitSampleSummary(const RequestContext& ctx, const std::string& tool);
  CallSampler sampler_;
  // Last: stopped first, while what its events reach (ForgetLearntTools) lives.
  std::shared_ptr<SharedChild> stateless_child_;  // started with its first request
};

class UpstreamSession final : public Connection {
 public:
  // Starts the upstream for the session `info`; every message for the client
  // goes to `send`. `shared` must outlive the session.
  UpstreamSession(ProxyShared& shared, ConnectionInfo info, MessageSender send);
  // Finish(), if not done.
  ~UpstreamSession() override;

  // One message from the client.
  void Receive(std::string_view message, const MessageContext& context) override;
  // Waits until every call in flight has been answered (or given up).
  void Drain() override;
  void AssumeInitialized(std::string protocol_version) override;
  void Ending(std::string_view reason) override;

  // Ends the upstream's input, waits for it to exit (then stops it), relays
  // what it still answered. 0 when it exited cleanly, 1 otherwise.
  int Finish();
  // The upstream could not start, or died: nothing more will be relayed.
  bool upstream_gone() const;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace mcpaudit

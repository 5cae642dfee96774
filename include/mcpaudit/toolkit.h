// A set of MCP tools with input validation, a middleware chain around each call,
// and an audit record for every call whatever happens to it.
//
//   Call → look up tool → validate input (JSON Schema) → Before hooks (in order)
//        → handler → After hooks (reverse order) → Recorder (one event, always)
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mcpaudit/audit_event.h"
#include "mcpaudit/audit_logger.h"
#include "mcpaudit/audit_policy.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/recorder.h"
#include "mcpaudit/redaction.h"
#include "mcpaudit/request_context.h"
#include "mcpaudit/result.h"

namespace mcpaudit {

// MCP tool annotations: hints for clients, never trusted for security.
struct ToolAnnotations {
  std::string title;
  std::optional<bool> read_only_hint;
  std::optional<bool> destructive_hint;
  std::optional<bool> idempotent_hint;
  std::optional<bool> open_world_hint;
};

struct ToolDefinition {
  std::string name;
  std::string title;
  std::string description;
  nlohmann::json input_schema = {{"type", "object"}};
  std::optional<nlohmann::json> output_schema;
  ToolAnnotations annotations;
};

// What a handler returns. `content` is the MCP content array; `resources`,
// `result_count`, `phi` and `sensitivity` go into the audit record only.
struct ToolResult {
  nlohmann::json content = nlohmann::json::array();
  std::optional<nlohmann::json> structured_content;
  bool is_error = false;
  std::vector<std::string> resources;
  std::optional<int64_t> result_count;
  bool phi = false;
  std::string sensitivity;

  static ToolResult Text(std::string text);
};

// A resource (resources/list) or a family of them (resources/templates/list,
// RFC 6570 level-1 templates such as "file:///{path}").
struct ResourceDefinition {
  std::string uri;  // or the template
  std::string name;
  std::string title;
  std::string description;
  std::string mime_type;
};
// Reads one resource: the `contents` array of the MCP result. `variables` holds
// what the template's {names} matched (empty for a plain resource).
using ResourceHandler =
    std::function<Result<nlohmann::json>(const RequestContext&, const std::string& uri,
                                         const std::map<std::string, std::string>& variables)>;

struct PromptArgument {
  std::string name;
  std::string description;
  bool required = false;
};
struct PromptDefinition {
  std::string name;
  std::string title;
  std::string description;
  std::vector<PromptArgument> arguments;
};
// Builds a prompt: the MCP result ({"messages": [...], "description"?}).
using PromptHandler =
    std::function<Result<nlohmann::json>(const RequestContext&, const nlohmann::json& arguments)>;
// Suggests values for an argument of a prompt or resource template
// (completion/complete); `ref` is the request's ref object.
using CompletionHandler = std::function<std::vector<std::string>(
    const nlohmann::json& ref, const std::string& argument, const std::string& value)>;

// A handler may be called from several threads at once. Returning an Error makes
// a tool execution error (isError result) and a `failure` record; so does throwing.
using ToolHandler = std::function<Result<ToolResult>(const RequestContext&, const nlohmann::json&)>;

// JSON-RPC error codes used by MCP.
namespace rpc {
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
inline constexpr int kAccessDenied = -32001;  // server-defined: refused by policy
inline constexpr int kServerBusy = -31001;  // server-defined: every worker is busy; try again later
}  // namespace rpc

// The record of a round of a multi round-trip request (2026-07-28) that ended
// asking the client for input; the call itself is recorded in its last round.
inline constexpr std::string_view kInputRequestedEvent = "input_requested";

// A Before hook's refusal: the call is not run, the client gets a JSON-RPC error
// with `code` and `message`, and the record says `denied` with `reason`.
struct Refusal {
  int code = rpc::kAccessDenied;
  std::string message;
  std::string reason;
};

struct ToolCall {
  std::string_view tool;
  const nlohmann::json& arguments;
};

// The answer to one tools/call: either an MCP result or a JSON-RPC error.
struct ToolCallResponse {
  std::optional<nlohmann::json> result;  // set when the client gets a result
  std::optional<AuditError> rpc_error;   // set when the client gets a JSON-RPC error
  std::string result_json;  // `result` serialised once (its size is recorded); empty if none
  Outcome outcome = Outcome::kSuccess;
  bool cancelled = false;  // the client cancelled: send nothing
};

class Middleware {
 public:
  virtual ~Middleware() = default;
  // Runs before the handler, in registration order. May enrich `ctx` (e.g. the
  // identity). A refusal stops the chain; the call is recorded as denied.
  virtual std::optional<Refusal> Before(RequestContext& ctx, const ToolCall& call) {
    (void)ctx, (void)call;
    return std::nullopt;
  }
  // Runs after the handler (or after a refusal by a later hook), in reverse order.
  virtual void After(const RequestContext& ctx, const ToolCall& call, ToolCallResponse& response) {
    (void)ctx, (void)call, (void)response;
  }
};
using MiddlewarePtr = std::shared_ptr<Middleware>;

struct ToolkitOptions {
  AuditServer server;            // who records: name, version, instance
  const Clock* clock = nullptr;  // defaults to the system clock
  RandomSource random;           // defaults to OpenSSL's generator
  RedactionOptions redaction;    // which parameter names are secrets (on by default)
  AuditPolicy policy;            // how much each tool's records keep
  // Fail closed (durable mode): a call is refused before its tool runs when
  // the logger is not Ready(), and when the logger does not accept the call's
  // record afterwards the client gets an error instead of the result.
  bool fail_closed = false;
};

class Toolkit {
 public:
  // `logger` must outlive the toolkit.
  explicit Toolkit(AuditLogger& logger, ToolkitOptions options = {});
  ~Toolkit();
  Toolkit(const Toolkit&) = delete;
  Toolkit& operator=(const Toolkit&) = delete;

  // Registration happens before serving starts (not thread-safe with Call).
  // Fails on a duplicate or invalid name, an input schema that is not a valid
  // JSON Schema object, or x-mcp-header annotations that break the rules of
  // 2026-07-28 (see modern::ParamHeaders).
  [[nodiscard]] Status Register(ToolDefinition definition, ToolHandler handler);
  void Use(MiddlewarePtr middleware);

  // Resources, templates, prompts and completions, served and recorded like
  // tools (events resource_read and prompt_get). Registration as above.
  [[nodiscard]] Status RegisterResource(ResourceDefinition definition, ResourceHandler handler);
  [[nodiscard]] Status RegisterResourceTemplate(ResourceDefinition definition,
                                                ResourceHandler handler);
  [[nodiscard]] Status RegisterPrompt(PromptDefinition definition, PromptHandler handler);
  void SetCompletion(CompletionHandler handler);

  // Runs one call end to end and records it. Thread-safe.
  ToolCallResponse Call(RequestContext& ctx, std::string_view name,
                        const nlohmann::json& arguments) const;
  // What a caller is told once the logger has answered for a call's record.
  using Answer = std::function<void(ToolCallResponse)>;
  // The same without waiting for the record: the tool runs now, and `answer`
  // is called once the logger has taken the record (AuditLogger::LogThen; a
  // durable logger calls it on its writer thread after the sync, so it must be
  // quick and must not wait for anything held around a Log). The toolkit must
  // outlive the call to `answer`. Thread-safe.
  void CallThen(RequestContext& ctx, std::string_view name, const nlohmann::json& arguments,
                Answer answer) const;
  // resources/read and prompts/get, end to end and recorded. Thread-safe.
  ToolCallResponse ReadResource(RequestContext& ctx, const std::string& uri) const;
  ToolCallResponse GetPrompt(RequestContext& ctx, const std::string& name,
                             const nlohmann::json& arguments) const;
  // completion/complete: the result object.
  nlohmann::json Complete(const nlohmann::json& ref, const std::string& argument,
                          const std::string& value) const;

  // The tools/list entries, in registration order.
  nlohmann::json ListTools() const;
  // A 2026-07-28 tools/call over HTTP: where its Mcp-Param-* headers
  // (`header`: a value by name; nullopt when absent) disagree with `arguments`
  // for the parameters the tool's input schema marks `x-mcp-header`; nullopt
  // when they agree, or for a tool it does not have.
  std::optional<std::string> ParamHeaderMismatch(
      std::string_view tool, const nlohmann::json& arguments,
      const std::function<std::optional<std::string_view>(const std::string& name)>& header) const;
  // Those a caller with `roles` may call ([[policy.access]]): a tool the
  // policy refuses is not offered either.
  nlohmann::json ListTools(const std::vector<std::string>& roles) const;
  nlohmann::json ListResources() const;
  nlohmann::json ListResourceTemplates() const;
  nlohmann::json ListPrompts() const;
  bool has_resources() const { return !resources_.empty() || !templates_.empty(); }
  bool has_prompts() const { return !prompts_.empty(); }
  bool has_completion() const { return static_cast<bool>(completion_); }
  const Recorder& recorder() const { return recorder_; }
  // Replaces the policy (levels, access, classification, sampling): calls that
  // have begun finish under the policy they began with. Thread-safe.
  void SetPolicy(AuditPolicy policy);
  // Durable mode: no call is answered without its record (ToolkitOptions::fail_closed).
  bool fail_closed() const { return fail_closed_; }
  const Redactor& redactor() const { return redactor_; }

  // How many audit events the logger refused (they are also reported on stderr).
  uint64_t audit_failures() const;

 private:
  struct RegisteredTool;
  void RunHandler(RequestContext& ctx, const RegisteredTool& tool, const nlohmann::json& arguments,
                  CallRecord& record, ToolCallResponse& response) const;
  // Runs the call up to its record; false when the policy keeps none.
  bool Run(RequestContext& ctx, std::string_view name, const nlohmann::json& arguments,
           CallRecord& record, ToolCallResponse& response) const;
  bool PrepareRecord(const RequestContext& ctx, const AuditPolicy& policy, std::string_view name,
                     const RegisteredTool* tool, const nlohmann::json& arguments,
                     std::chrono::steady_clock::time_point started, CallRecord& record,
                     ToolCallResponse& response) const;
  static const ClassifyRule* ReasonRequiredByTool(const AuditPolicy& policy, std::string_view name);
  void EmitSampleSummary(const RequestContext& ctx, std::string_view tool) const;

  static void Classify(const RequestContext& ctx, const AuditPolicy& policy, std::string_view name,
                       CallRecord& record, ToolCallResponse& response);
  struct RegisteredResource {
    ResourceDefinition definition;
    ResourceHandler handler;
  };
  struct RegisteredPrompt {
    PromptDefinition definition;
    PromptHandler handler;
  };
  // Records a resource read or prompt get: classified, and fail closed, as tools are.
  void RecordContent(const RequestContext& ctx, CallRecord& record,
                     std::chrono::steady_clock::time_point started,
                     ToolCallResponse& response) const;
  // The end of every record: response size, duration (CloseRecord), the logger's
  // verdict (Settle: fail closed, no record, no result).
  void Finish(const RequestContext& ctx, CallRecord& record,
              std::chrono::steady_clock::time_point started, ToolCallResponse& response) const;
  void CloseRecord(CallRecord& record, std::chrono::steady_clock::time_point started,
                   ToolCallResponse& response) const;
  void Settle(const Status& logged, std::string_view event_type, std::string_view tool,
              ToolCallResponse& response) const;
  std::vector<RegisteredResource> resources_;
  std::vector<RegisteredResource> templates_;
  std::vector<RegisteredPrompt> prompts_;
  CompletionHandler completion_;
  std::vector<std::unique_ptr<RegisteredTool>> tools_;
  std::map<std::string, const RegisteredTool*, std::less<>> by_name_;
  std::vector<MiddlewarePtr> middleware_;
  SystemClock system_clock_;
  Recorder recorder_;
  AuditLogger& logger_;
  bool fail_closed_;
  Redactor redactor_;
  // The policy calls begin with; each call keeps the one it began with.
  std::atomic<std::shared_ptr<const AuditPolicy>> policy_;
  mutable CallSampler sampler_;  // 1-in-N sampling of successful calls, per tool
  mutable std::atomic<uint64_t> audit_failures_{0};
};

}  // namespace mcpaudit

#include "mcpaudit/toolkit.h"

#include <algorithm>
#include <cctype>
#include <exception>

#include "base/ops_log.h"
#include "mcp/modern.h"
#include "mcp/schema_validator.h"
#include "mcp/tool_outcome.h"

namespace mcpaudit {

using nlohmann::json;

struct Toolkit::RegisteredTool {
  ToolDefinition definition;
  ToolHandler handler;
  std::unique_ptr<SchemaValidator> validator;
  std::vector<nlohmann::json::json_pointer> sensitive;  // from the input schema: masked in records
  std::vector<modern::ParamHeader> param_headers;       // x-mcp-header: mirrored into headers
  json listing;                                         // the tools/list entry, built once
};

namespace {

json BuildListing(const ToolDefinition& d) {
  json tool = {{"name", d.name}, {"inputSchema", d.input_schema}};
  if (!d.title.empty()) tool["title"] = d.title;
  if (!d.description.empty()) tool["description"] = d.description;
  if (d.output_schema) tool["outputSchema"] = *d.output_schema;
  json annotations = json::object();
  const ToolAnnotations& a = d.annotations;
  if (!a.title.empty()) annotations["title"] = a.title;
  if (a.read_only_hint) annotations["readOnlyHint"] = *a.read_only_hint;
  if (a.destructive_hint) annotations["destructiveHint"] = *a.destructive_hint;
  if (a.idempotent_hint) annotations["idempotentHint"] = *a.idempotent_hint;
  if (a.open_world_hint) annotations["openWorldHint"] = *a.open_world_hint;
  if (!annotations.empty()) tool["annotations"] = std::move(annotations);
  return tool;
}

// MCP 2025-11-25 tool names: 1-128 characters of A-Z a-z 0-9 _ - .
bool IsValidToolName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      return false;
  }
  return true;
}

json ToolErrorResult(const std::string& message) {
  return {{"content", json::array({{{"type", "text"}, {"text", message}}})}, {"isError", true}};
}

json ResultToJson(const ToolResult& r) {
  json result = {{"content", r.content}};
  if (r.structured_content) result["structuredContent"] = *r.structured_content;
  if (r.is_error) result["isError"] = true;
  return result;
}

}  // namespace

ToolResult ToolResult::Text(std::string text) {
  ToolResult result;
  result.content = json::array({{{"type", "text"}, {"text", std::move(text)}}});
  return result;
}

Toolkit::Toolkit(AuditLogger& logger, ToolkitOptions options)
    : recorder_(logger, std::move(options.server), options.clock ? *options.clock : system_clock_,
                options.random ? std::move(options.random) : SecureRandom()),
      logger_(logger),
      fail_closed_(options.fail_closed),
      redactor_(std::move(options.redaction)),
      policy_(std::make_shared<const AuditPolicy>(std::move(options.policy))),
      sampler_(policy_.load()->sampling) {}

void Toolkit::SetPolicy(AuditPolicy policy) {
  sampler_.SetRules(policy.sampling);
  policy_.store(std::make_shared<const AuditPolicy>(std::move(policy)));
}

Toolkit::~Toolkit() {
  // What sampling skipped since the last summary is still told.
  for (const auto& tool : sampler_.ToolsWithSkipped()) EmitSampleSummary(RequestContext{}, tool);
}

Status Toolkit::Register(ToolDefinition definition, ToolHandler handler) {
  if (!IsValidToolName(definition.name))
    return Fail(ErrorCode::kInvalidArgument, "invalid tool name '" + definition.name +
                                                 "' (1-128 characters of A-Z a-z 0-9 _ - .)");
  if (by_name_.contains(definition.name))
    return Fail(ErrorCode::kInvalidArgument,
                "tool '" + definition.name + "' is already registered");
  if (!handler)
    return Fail(ErrorCode::kInvalidArgument, "tool '" + definition.name + "' has no handler");
  if (!definition.input_schema.is_object() || definition.input_schema.value("type", "") != "object")
    return Fail(ErrorCode::kInvalidArgument,
                "tool '" + definition.name +
                    "': the input schema must be an object schema ({\"type\": \"object\", ...})");
  auto validator = SchemaValidator::Compile(definition.input_schema);
  if (!validator)
    return Fail(ErrorCode::kInvalidArgument,
                "tool '" + definition.name + "': " + validator.error().message);
  // Streamable HTTP clients drop a tool whose x-mcp-header annotations break the rules.
  auto param_headers = modern::ParamHeaders(definition.input_schema);
  if (!param_headers)
    return Fail(ErrorCode::kInvalidArgument,
                "tool '" + definition.name + "': " + param_headers.error());
  auto tool = std::make_unique<RegisteredTool>();
  tool->param_headers = std::move(*param_headers);
  tool->listing = BuildListing(definition);
  tool->definition = std::move(definition);
  tool->handler = std::move(handler);
  tool->validator = std::move(*validator);
  tool->sensitive = SensitiveProperties(tool->definition.input_schema);
  by_name_.emplace(tool->definition.name, tool.get());
  tools_.push_back(std::move(tool));
  return {};
}

void Toolkit::Use(MiddlewarePtr middleware) { middleware_.push_back(std::move(middleware)); }

json Toolkit::ListTools() const {
  json tools = json::array();
  for (const auto& tool : tools_) tools.push_back(tool->listing);
  return tools;
}

std::optional<std::string> Toolkit::ParamHeaderMismatch(
    std::string_view tool, const json& arguments,
    const std::function<std::optional<std::string_view>(const std::string& name)>& header) const {
  auto it = by_name_.find(tool);
  if (it == by_name_.end()) return std::nullopt;
  return modern::ParamHeaderMismatch(it->second->param_headers, arguments, header);
}

json Toolkit::ListTools(const std::vector<std::string>& roles) const {
  json tools = json::array();
  const auto policy = policy_.load();
  for (const auto& tool : tools_)
    if (policy->Permits(roles, tool->definition.name)) tools.push_back(tool->listing);
  return tools;
}

void Toolkit::RunHandler(RequestContext& ctx, const RegisteredTool& tool, const json& arguments,
                         CallRecord& record, ToolCallResponse& response) const {
  Result<ToolResult> result = Fail(ErrorCode::kInternal, "");
  try {
    result = tool.handler(ctx, arguments);
  } catch (const std::exception& e) {
    OpsLog().error("tool '{}' threw: {}", tool.definition.name, e.what());
    result = Fail(ErrorCode::kInternal, "Internal error in tool " + tool.definition.name);
  }
  auto tool_error = [&](std::string message, std::string reason) {
    response.outcome = Outcome::kFailure;
    response.result = ToolErrorResult(message);
    record.error = AuditError{0, std::move(message), std::move(reason)};
  };
  if (ctx.cancelled.stop_requested()) {
    response.cancelled = true;
    return tool_error("Cancelled by the client", "cancelled");
  }
  if (auto input = ctx.channel ? ctx.channel->TakeInputRequired() : std::nullopt) {
    // 2026-07-28: the tool asked for input the request did not carry. This
    // round is recorded as such (the call is recorded once, in its last
    // round); the next round's record names the state issued here.
    ctx.round = std::max<uint32_t>(ctx.round, 1);
    record.event_type = std::string(kInputRequestedEvent);
    record.details = {{"input_requests", std::move(input->requests)},
                      {"issued_request_state_digest", std::move(input->request_state_digest)}};
    response.result = std::move(input->result);
    return;
  }
  if (!result) return tool_error(result.error().message, std::string(kToolErrorReason));
  response.outcome = result->is_error ? Outcome::kFailure : Outcome::kSuccess;
  if (result->is_error) record.error = ToolReportedError(result->content);
  record.resources = std::move(result->resources);
  record.result_count = result->result_count
                            ? result->result_count
                            : std::optional<int64_t>(static_cast<int64_t>(result->content.size()));
  record.phi = result->phi;
  record.sensitivity = std::move(result->sensitivity);
  record.is_error = result->is_error;
  response.result = ResultToJson(*result);
}

// Applies the policy (classification, level, redaction, sampling) to the
// call's record; false when the policy keeps no record of it.
bool Toolkit::PrepareRecord(const RequestContext& ctx, const AuditPolicy& policy,
                            std::string_view name, const RegisteredTool* tool,
                            const json& arguments, std::chrono::steady_clock::time_point started,
                            CallRecord& record, ToolCallResponse& response) const {
  Classify(ctx, policy, name, record, response);
  record.outcome = response.outcome;
  const AuditLevel level = policy.LevelFor(name);
  if (level == AuditLevel::kNone && response.outcome == Outcome::kSuccess) return false;
  if (level >= AuditLevel::kRequest) {
    // Secrets never reach the record: names that look secret, and what the
    // tool's own schema marks sensitive.
    record.params = arguments;
    redactor_.Apply(record.params,
                    tool ? tool->sensitive : std::vector<nlohmann::json::json_pointer>{});
  }
  const bool input_requested = record.event_type == kInputRequestedEvent;
  if (level == AuditLevel::kFull && response.result && !input_requested)
    record.details = {{"result", ResultSummary(*response.result)}};
  // Sampling keeps 1 in N successful calls of high-volume tools; failures and
  // refusals are always recorded, and the skipped ones are counted in the log.
  // A call of several rounds is never sampled away: its earlier rounds are recorded.
  if (response.outcome == Outcome::kSuccess && !input_requested && ctx.round == 0 &&
      sampler_.Skip(name))
    return false;
  EmitSampleSummary(ctx, name);
  CloseRecord(record, started, response);
  return true;
}

void Toolkit::CloseRecord(CallRecord& record, std::chrono::steady_clock::time_point started,
                          ToolCallResponse& response) const {
  if (response.rpc_error) record.error = response.rpc_error;
  if (response.result) {
    record.is_error = response.result->value("isError", false);
    response.result_json = response.result->dump(-1, ' ', false, json::error_handler_t::replace);
    record.response_bytes = response.result_json.size();
  }
  record.duration = recorder_.clock().Monotonic() - started;
}

void Toolkit::Finish(const RequestContext& ctx, CallRecord& record,
                     std::chrono::steady_clock::time_point started,
                     ToolCallResponse& response) const {
  CloseRecord(record, started, response);
  Settle(recorder_.Record(ctx, record), record.event_type, record.tool, response);
}

void Toolkit::Settle(const Status& logged, std::string_view event_type, std::string_view tool,
                     ToolCallResponse& response) const {
  if (!logged) {
    audit_failures_.fetch_add(1, std::memory_order_relaxed);
    OpsLog().error("audit record ({} {}) was not accepted: {}", event_type, tool,
                   logged.error().message);
    if (fail_closed_ && !response.cancelled) {
      // No record, no result: the client must not act on an unaudited call.
      response.result.reset();
      response.result_json.clear();
      response.rpc_error =
          AuditError{rpc::kInternalError,
                     "Audit log unavailable: the call's result is withheld because its audit "
                     "record could not be written (" +
                         logged.error().message + ")",
                     "audit_unavailable"};
    }
  }
}

const ClassifyRule* Toolkit::ReasonRequiredByTool(const AuditPolicy& policy,
                                                  std::string_view name) {
  for (const auto& rule : policy.classify)
    if (rule.require_access_reason && policy.MatchesTool(rule, name)) return &rule;
  return nullptr;
}

void Toolkit::Classify(const RequestContext& ctx, const AuditPolicy& policy, std::string_view name,
                       CallRecord& record, ToolCallResponse& response) {
  for (const auto& rule : policy.classify) {
    if (!policy.MatchesTool(rule, name) && !policy.MatchesResources(rule, record.resources))
      continue;
    if (!rule.sensitivity.empty()) record.sensitivity = rule.sensitivity;
    record.phi = record.phi || rule.phi;
    if (rule.require_access_reason && ctx.access_reason.empty() && response.result) {
      // The result touched data that needs a reason: it is not released.
      response.result.reset();
      response.outcome = Outcome::kDenied;
      response.rpc_error =
          AuditError{rpc::kAccessDenied, kAccessReasonMessage, "access_reason_required"};
    }
  }
}

void Toolkit::EmitSampleSummary(const RequestContext& ctx, std::string_view tool) const {
  const uint64_t skipped = sampler_.TakeSkipped(tool);
  if (skipped == 0) return;
  CallRecord summary;
  summary.event_type = "sample_summary";
  summary.tool = std::string(tool);
  summary.details = {{"skipped", skipped}};
  if (auto logged = recorder_.Record(ctx, summary); !logged) {
    audit_failures_.fetch_add(1, std::memory_order_relaxed);
    OpsLog().error("sample summary for tool '{}' was not accepted: {}", tool,
                   logged.error().message);
  }
}

uint64_t Toolkit::audit_failures() const { return audit_failures_.load(std::memory_order_relaxed); }

ToolCallResponse Toolkit::Call(RequestContext& ctx, std::string_view name,
                               const json& arguments) const {
  CallRecord record;
  ToolCallResponse response;
  if (Run(ctx, name, arguments, record, response))
    Settle(recorder_.Record(ctx, record), record.event_type, record.tool, response);
  return response;
}

void Toolkit::CallThen(RequestContext& ctx, std::string_view name, const json& arguments,
                       Answer answer) const {
  CallRecord record;
  ToolCallResponse response;
  if (!Run(ctx, name, arguments, record, response)) return answer(std::move(response));
  // The record is made now, from the caller's context; the answer waits for the logger.
  recorder_.RecordThen(
      ctx, record,
      [this, type = record.event_type, tool = record.tool, response = std::move(response),
       answer = std::move(answer)](const Status& logged) mutable {
        Settle(logged, type, tool, response);
        answer(std::move(response));
      });
}

bool Toolkit::Run(RequestContext& ctx, std::string_view name, const json& arguments,
                  CallRecord& record, ToolCallResponse& response) const {
  const auto started = recorder_.clock().Monotonic();
  record.tool = std::string(name);
  const ToolCall call{name, arguments};
  const std::shared_ptr<const AuditPolicy> policy = policy_.load();  // this call's, to its end

  auto deny = [&](int code, std::string message, std::string reason) {
    response.outcome = Outcome::kDenied;
    response.rpc_error = AuditError{code, std::move(message), std::move(reason)};
  };
  auto tool_error = [&](Outcome outcome, std::string message, std::string reason) {
    response.outcome = outcome;
    response.result = ToolErrorResult(message);
    record.error = AuditError{0, std::move(message), std::move(reason)};
  };

  // Every path below ends in exactly one record: the audit wraps the whole chain.
  size_t before_ran = 0;
  const RegisteredTool* tool = nullptr;
  if (auto it = by_name_.find(name); it == by_name_.end()) {
    deny(rpc::kInvalidParams, "Unknown tool: " + std::string(name), "unknown_tool");
  } else if (tool = it->second; !arguments.is_object()) {
    deny(rpc::kInvalidParams, "Invalid params: 'arguments' must be an object", "invalid_arguments");
  } else if (std::string problems = tool->validator->Validate(arguments); !problems.empty()) {
    // A validation error is a tool execution error (MCP 2025-11-25), so that the
    // model can see it and correct its call; the record says it was denied.
    tool_error(Outcome::kDenied,
               "Invalid arguments for tool " + tool->definition.name + ":\n" + problems,
               "invalid_arguments");
  } else if (!policy->Permits(ctx.identity.roles, name)) {
    deny(rpc::kAccessDenied, ToolNotAllowedMessage(name), kToolNotAllowedReason);
  } else if (const ClassifyRule* rule = ReasonRequiredByTool(*policy, name);
             rule && ctx.access_reason.empty()) {
    deny(rpc::kAccessDenied, kAccessReasonMessage, "access_reason_required");
  } else if (Status ready = fail_closed_ ? logger_.Ready() : Status{}; !ready) {
    deny(rpc::kInternalError,
         "Audit log unavailable: the call is refused because its record could not be written (" +
             ready.error().message + ")",
         "audit_unavailable");
  } else {
    std::optional<Refusal> refusal;
    for (; before_ran < middleware_.size() && !refusal; ++before_ran) {
      try {
        refusal = middleware_[before_ran]->Before(ctx, call);
      } catch (const std::exception& e) {
        refusal = Refusal{rpc::kInternalError, "Internal error", "middleware_error"};
        OpsLog().error("middleware before tool '{}' threw: {}", name, e.what());
      }
    }
    if (refusal) {
      deny(refusal->code, std::move(refusal->message), std::move(refusal->reason));
    } else {
      RunHandler(ctx, *tool, arguments, record, response);
    }
  }
  for (size_t i = before_ran; i-- > 0;) {
    try {
      middleware_[i]->After(ctx, call, response);
    } catch (const std::exception& e) {
      OpsLog().error("middleware after tool '{}' threw: {}", name, e.what());
    }
  }

  return PrepareRecord(ctx, *policy, name, tool, arguments, started, record, response);
}

}  // namespace mcpaudit

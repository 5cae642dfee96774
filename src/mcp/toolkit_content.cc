// Resources, resource templates, prompts and completions: served like tools,
// and each read or get leaves its audit record (resource_read, prompt_get).
#include "base/ops_log.h"
#include "mcp/modern.h"
#include "mcpaudit/toolkit.h"

namespace mcpaudit {

using nlohmann::json;

namespace {

// Matches a level-1 URI template ("test://item/{id}/data"): each {name} takes
// one or more characters up to the next literal (never a '/').
std::optional<std::map<std::string, std::string>> MatchTemplate(std::string_view pattern, std::string_view uri) {
  std::map<std::string, std::string> variables;
  while (!pattern.empty()) {
    const size_t open = pattern.find('{');
    const std::string_view literal = pattern.substr(0, open);
    if (!uri.starts_with(literal)) return std::nullopt;
    uri.remove_prefix(literal.size());
    if (open == std::string_view::npos) break;
    const size_t close = pattern.find('}', open);
    if (close == std::string_view::npos) return std::nullopt;
    const std::string name(pattern.substr(open + 1, close - open - 1));
    pattern.remove_prefix(close + 1);
    const std::string_view next = pattern.substr(0, pattern.find('{'));
    size_t end = next.empty() ? uri.size() : uri.find(next);
    if (end == std::string_view::npos) return std::nullopt;
    const std::string_view value = uri.substr(0, end);
    if (value.empty() || value.find('/') != std::string_view::npos) return std::nullopt;
    variables[name] = std::string(value);
    uri.remove_prefix(end);
  }
  if (!uri.empty()) return std::nullopt;
  return variables;
}

json ResourceListing(const ResourceDefinition& d, const char* uri_key) {
  json entry = {{uri_key, d.uri}, {"name", d.name}};
  if (!d.title.empty()) entry["title"] = d.title;
  if (!d.description.empty()) entry["description"] = d.description;
  if (!d.mime_type.empty()) entry["mimeType"] = d.mime_type;
  return entry;
}

Status CheckResource(const ResourceDefinition& d, bool has_handler) {
  if (d.uri.empty() || d.name.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "a resource needs a uri and a name");
  }
  if (!has_handler) return Fail(ErrorCode::kInvalidArgument, "resource '" + d.uri + "' has no handler");
  return {};
}

}  // namespace

Status Toolkit::RegisterResource(ResourceDefinition definition, ResourceHandler handler) {
  if (auto ok = CheckResource(definition, static_cast<bool>(handler)); !ok) return ok;
  resources_.push_back({std::move(definition), std::move(handler)});
  return {};
}

Status Toolkit::RegisterResourceTemplate(ResourceDefinition definition, ResourceHandler handler) {
  if (auto ok = CheckResource(definition, static_cast<bool>(handler)); !ok) return ok;
  templates_.push_back({std::move(definition), std::move(handler)});
  return {};
}

Status Toolkit::RegisterPrompt(PromptDefinition definition, PromptHandler handler) {
  if (definition.name.empty()) return Fail(ErrorCode::kInvalidArgument, "a prompt needs a name");
  if (!handler) return Fail(ErrorCode::kInvalidArgument, "prompt '" + definition.name + "' has no handler");
  for (const auto& prompt : prompts_) {
    if (prompt.definition.name == definition.name) {
      return Fail(ErrorCode::kInvalidArgument, "prompt '" + definition.name + "' is already registered");
    }
  }
  prompts_.push_back({std::move(definition), std::move(handler)});
  return {};
}

void Toolkit::SetCompletion(CompletionHandler handler) { completion_ = std::move(handler); }

json Toolkit::ListResources() const {
  json list = json::array();
  for (const auto& r : resources_) list.push_back(ResourceListing(r.definition, "uri"));
  return list;
}

json Toolkit::ListResourceTemplates() const {
  json list = json::array();
  for (const auto& r : templates_) list.push_back(ResourceListing(r.definition, "uriTemplate"));
  return list;
}

json Toolkit::ListPrompts() const {
  json list = json::array();
  for (const auto& p : prompts_) {
    json entry = {{"name", p.definition.name}};
    if (!p.definition.title.empty()) entry["title"] = p.definition.title;
    if (!p.definition.description.empty()) entry["description"] = p.definition.description;
    json arguments = json::array();
    for (const auto& a : p.definition.arguments) {
      json argument = {{"name", a.name}, {"required", a.required}};
      if (!a.description.empty()) argument["description"] = a.description;
      arguments.push_back(std::move(argument));
    }
    if (!arguments.empty()) entry["arguments"] = std::move(arguments);
    list.push_back(std::move(entry));
  }
  return list;
}

json Toolkit::Complete(const json& ref, const std::string& argument, const std::string& value) const {
  std::vector<std::string> values = completion_ ? completion_(ref, argument, value) : std::vector<std::string>{};
  const size_t total = values.size();
  if (values.size() > 100) values.resize(100);  // the most MCP allows in one answer
  return {{"completion", {{"values", values}, {"total", total}, {"hasMore", total > values.size()}}}};
}

void Toolkit::RecordContent(const RequestContext& ctx, CallRecord& record,
                            std::chrono::steady_clock::time_point started, ToolCallResponse& response) const {
  Classify(ctx, *policy_.load(), record.tool, record, response);  // may withhold protected data read without a reason
  record.outcome = response.outcome;
  Finish(ctx, record, started, response);
}

ToolCallResponse Toolkit::ReadResource(RequestContext& ctx, const std::string& uri) const {
  const auto started = recorder_.clock().Monotonic();
  CallRecord record;
  record.event_type = "resource_read";
  record.params = {{"uri", uri}};
  record.resources = {uri};
  ToolCallResponse response;
  const RegisteredResource* found = nullptr;
  std::map<std::string, std::string> variables;
  for (const auto& r : resources_)
    if (!found && r.definition.uri == uri) found = &r;
  for (const auto& t : templates_) {
    if (found) break;
    if (auto matched = MatchTemplate(t.definition.uri, uri)) {
      found = &t;
      variables = std::move(*matched);
    }
  }
  if (!found) {
    response.outcome = Outcome::kDenied;
    // -32002 until 2025-11-25; 2026-07-28 says Invalid params.
    const int code = modern::IsVersion(ctx.protocol_version) ? rpc::kInvalidParams : -32002;
    response.rpc_error = AuditError{code, "Resource not found: " + uri, "unknown_resource"};
  } else if (fail_closed_ && !logger_.Ready()) {
    response.outcome = Outcome::kDenied;
    response.rpc_error = AuditError{rpc::kInternalError, "Audit log unavailable: the read is refused",
                                    "audit_unavailable"};
  } else {
    record.tool = found->definition.name;
    Result<json> contents = Fail(ErrorCode::kInternal, "the resource handler threw");
    try {
      contents = found->handler(ctx, uri, variables);
    } catch (const std::exception& e) {
      OpsLog().error("resource '{}': {}", uri, e.what());
    }
    if (contents) {
      response.result = json{{"contents", std::move(*contents)}};
    } else {
      response.outcome = Outcome::kFailure;
      response.rpc_error = AuditError{rpc::kInternalError, "Reading " + uri + " failed", "resource_error"};
    }
  }
  RecordContent(ctx, record, started, response);
  return response;
}

ToolCallResponse Toolkit::GetPrompt(RequestContext& ctx, const std::string& name, const json& arguments) const {
  const auto started = recorder_.clock().Monotonic();
  CallRecord record;
  record.event_type = "prompt_get";
  record.tool = name;
  record.params = arguments.is_object() ? arguments : json::object();
  redactor_.Apply(record.params);
  ToolCallResponse response;
  const RegisteredPrompt* found = nullptr;
  for (const auto& p : prompts_)
    if (p.definition.name == name) found = &p;
  std::string missing;
  if (found) {
    for (const auto& a : found->definition.arguments)
      if (a.required && (!arguments.is_object() || !arguments.contains(a.name))) missing = a.name;
  }
  if (!found) {
    response.outcome = Outcome::kDenied;
    response.rpc_error = AuditError{rpc::kInvalidParams, "Unknown prompt: " + name, "unknown_prompt"};
  } else if (!missing.empty()) {
    response.outcome = Outcome::kDenied;
    response.rpc_error = AuditError{rpc::kInvalidParams, "Invalid params: argument '" + missing + "' is required",
                                    "invalid_arguments"};
  } else {
    Result<json> result = Fail(ErrorCode::kInternal, "the prompt handler threw");
    try {
      result = found->handler(ctx, arguments.is_object() ? arguments : json::object());
    } catch (const std::exception& e) {
      OpsLog().error("prompt '{}': {}", name, e.what());
    }
    if (result) {
      response.result = std::move(*result);
    } else {
      response.outcome = Outcome::kFailure;
      response.rpc_error = AuditError{rpc::kInternalError, "Prompt " + name + " failed", "prompt_error"};
    }
  }
  RecordContent(ctx, record, started, response);
  return response;
}

}  // namespace mcpaudit

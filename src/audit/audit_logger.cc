#include "mcpaudit/audit_logger.h"

#include "mcpaudit/clock.h"
#include "mcpaudit/redaction.h"

namespace mcpaudit {

void FillFromContext(const RequestContext& ctx, AuditEvent& event) {
  event.timestamp = ctx.received_at;
  event.user = {ctx.identity.user_id, ctx.identity.email, ctx.identity.tenant_id,
                ctx.identity.roles, ctx.identity.auth_method};
  event.request.id = ctx.request_id;
  event.request.client_ip = ctx.client_ip;
  event.request.session_id = ctx.session_id;
  event.request.transport = ctx.transport;
  event.request.user_agent = ctx.user_agent;
  event.request.client = {ctx.client.name, ctx.client.version, ctx.client_capabilities};
  event.request.protocol_version = ctx.protocol_version;
  event.request.traceparent = ctx.traceparent;
  event.request.tracestate = ctx.tracestate;
  event.request.round = ctx.round;
  event.request.request_state_digest = ctx.request_state_digest;
  event.compliance.access_reason = ctx.access_reason;
}

Status AuditLogger::LogToolCall(const RequestContext& ctx, std::string_view tool,
                                const nlohmann::json& params, std::string_view user_id) {
  AuditEvent event;
  FillFromContext(ctx, event);
  if (event.timestamp == std::chrono::system_clock::time_point{})
    event.timestamp = std::chrono::system_clock::now();
  event.id = NewUuidV7(event.timestamp, SecureRandom());
  event.tool = std::string(tool);
  event.params = params;
  Redactor().Apply(event.params);  // secrets never reach the log, on this path either
  if (!user_id.empty()) event.user.id = std::string(user_id);
  return Log(event);
}

}  // namespace mcpaudit

#include "mcpaudit/recorder.h"

namespace mcpaudit {

Recorder::Recorder(AuditLogger& logger, AuditServer server, const Clock& clock, RandomSource random)
    : logger_(logger), server_(std::move(server)), clock_(clock), random_(std::move(random)) {}

AuditEvent Recorder::BuildEvent(const RequestContext& ctx, const CallRecord& call) const {
  AuditEvent event;
  FillFromContext(ctx, event);
  if (event.timestamp == std::chrono::system_clock::time_point{}) event.timestamp = clock_.Now();
  event.id = NewUuidV7(event.timestamp, random_);
  event.event_type = call.event_type;
  event.tool = call.tool;
  event.outcome = call.outcome;
  event.error = call.error;
  event.server = server_;
  event.params = call.params;
  event.resources = call.resources;
  AuditResponse response;
  response.result_count = call.result_count;
  // Microsecond resolution is enough to see where time goes and keeps lines short.
  response.duration_ms =
      static_cast<double>(
          std::chrono::duration_cast<std::chrono::microseconds>(call.duration).count()) /
      1000.0;
  response.is_error = call.is_error;
  response.bytes = call.response_bytes;
  event.response = response;
  event.compliance.sensitivity = call.sensitivity;
  event.compliance.phi = call.phi;
  event.details = call.details;
  return event;
}

Status Recorder::Record(const RequestContext& ctx, const CallRecord& call) const {
  return logger_.Log(BuildEvent(ctx, call));
}

void Recorder::RecordThen(const RequestContext& ctx, const CallRecord& call,
                          AuditLogger::Done done) const {
  logger_.LogThen(BuildEvent(ctx, call), std::move(done));
}

}  // namespace mcpaudit

// The pluggable destination of audit events. The toolkit's recorder calls Log()
// once for every tool call, whatever its outcome.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string_view>

#include "mcpaudit/audit_event.h"
#include "mcpaudit/request_context.h"
#include "mcpaudit/result.h"

namespace mcpaudit {

// What a queued logger does when its queue is full.
enum class OverflowPolicy {
  kBlock,  // Log() waits for room (no event is lost)
  kDrop,   // Log() refuses the event; drops are counted and an `audit_dropped`
           // event with the count is written when room returns
};

class AuditLogger {
 public:
  virtual ~AuditLogger() = default;

  // Takes one event. Must be thread-safe: calls arrive from every worker.
  // An error means the event was NOT accepted (the caller decides whether the
  // call may go on); success means what the logger's mode promises (queued,
  // or on disk in a durable logger).
  [[nodiscard]] virtual Status Log(const AuditEvent& event) = 0;

  // As Log, without waiting: `done` is called once with what Log would have
  // returned: at once by a logger that does not wait anyway, or later, on the
  // logger's own thread, by a durable logger once the record is on disk (or
  // cannot be). `done` must be quick and must not log. A server keeps many
  // durable calls in flight this way without a thread parked on each.
  using Done = std::function<void(const Status&)>;
  virtual void LogThen(const AuditEvent& event, Done done) { done(Log(event)); }

  // Whether a record logged now is expected to be accepted (e.g. the disk is
  // not below its threshold, the last write did not fail). A fail-closed
  // toolkit asks before running a tool, so that a call it would have to
  // refuse afterwards never runs. Thread-safe; cheap.
  [[nodiscard]] virtual Status Ready() const { return {}; }

  // Convenience for simple integrations that audit a call themselves: builds a
  // successful tool_call event from the context and logs it.
  [[nodiscard]] Status LogToolCall(const RequestContext& ctx, std::string_view tool,
                                   const nlohmann::json& params, std::string_view user_id);
};

// Copies who/where/when of a request into an event (user, request, timestamp).
void FillFromContext(const RequestContext& ctx, AuditEvent& event);

}  // namespace mcpaudit

// Builds exactly one AuditEvent per call from what happened to it, and hands it
// to the AuditLogger. Thread-safe; holds no per-call state.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mcpaudit/audit_event.h"
#include "mcpaudit/audit_logger.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/request_context.h"

namespace mcpaudit {

// Everything the recorder needs to know about one finished call.
struct CallRecord {
  std::string event_type = "tool_call";
  std::string tool;
  nlohmann::json params;
  Outcome outcome = Outcome::kSuccess;
  std::optional<AuditError> error;
  std::vector<std::string> resources;
  std::optional<int64_t> result_count;
  bool is_error = false;
  uint64_t response_bytes = 0;
  std::chrono::nanoseconds duration{0};
  std::string sensitivity;
  bool phi = false;
  nlohmann::json details;  // e.g. {"result": …} at level "full", {"skipped": n} in a sample_summary
};

class Recorder {
 public:
  // `logger` and `clock` must outlive the recorder.
  Recorder(AuditLogger& logger, AuditServer server, const Clock& clock, RandomSource random);

  // Logs the event for `call`. Returns the logger's verdict.
  [[nodiscard]] Status Record(const RequestContext& ctx, const CallRecord& call) const;
  // The same without waiting: `done` gets the verdict (AuditLogger::LogThen).
  void RecordThen(const RequestContext& ctx, const CallRecord& call, AuditLogger::Done done) const;

  AuditEvent BuildEvent(const RequestContext& ctx, const CallRecord& call) const;
  const Clock& clock() const { return clock_; }

 private:
  AuditLogger& logger_;
  AuditServer server_;
  const Clock& clock_;
  RandomSource random_;
};

}  // namespace mcpaudit

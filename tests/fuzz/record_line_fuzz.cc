// Any bytes as one line of a journal or a stored record: the fast reader
// (AuditEventFromLine) and the general one (a bounded parse, then
// AuditEventFromJson) must make the same record of it, or both refuse it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "base/bounded_json.h"
#include "mcpaudit/audit_event.h"

namespace {

std::string ReadAs(const mcpaudit::Result<mcpaudit::AuditEvent>& event) {
  if (!event) return "error";
  return mcpaudit::ToJsonLine(*event) + event->params.dump() + event->details.dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mcpaudit;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const nlohmann::json json = ParseWithin(line, kMaxRecordDepth);
  const std::string general = json.is_discarded() ? "error" : ReadAs(AuditEventFromJson(json));
  if (ReadAs(AuditEventFromLine(line)) != general) std::abort();
  return 0;
}

// The hot path of every audit record: an AuditEvent written straight to its
// JSON line (schema order) and to its canonical form C(N) (journal_format.h),
// without building a JSON tree. Equal, byte for byte, to ToJson(...).dump()
// reparsed and to CanonicalForHash(...) (tests hold them to it).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "mcpaudit/audit_event.h"

namespace mcpaudit {

// Appends the record as one JSON object in schema order, without "integrity"
// and WITHOUT its closing brace, so that the writer can add integrity last.
void AppendRecordPrefix(std::string& out, const AuditEvent& event);

// Appends C(N): canonical JSON without "integrity", erasable fields (the
// pointers in `salts`) replaced by their commitments.
void AppendRecordCanonical(std::string& out, const AuditEvent& event, const nlohmann::json& salts);

}  // namespace mcpaudit

// Selecting audit records and printing them for a person (table) or a program
// (JSON lines, CSV).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "mcpaudit/audit_event.h"
#include "mcpaudit/result.h"

namespace mcpaudit {

struct QueryFilter {
  std::optional<std::chrono::system_clock::time_point> since;  // inclusive
  std::optional<std::chrono::system_clock::time_point> until;  // exclusive
  std::string user;
  std::string tenant;
  std::string tool;
  std::string event_type;  // e.g. tool_call, erasure, checkpoint
  std::optional<Outcome> outcome;
  size_t limit = 0;  // 0: no limit
  std::string session;     // request.session_id
  std::string request_id;  // request.id
  std::string client_ip;
  std::string resource;  // one of the record's resources (a URN)
  bool phi_only = false;
  std::string text;  // in the tool, the error reason or the error message (any case)
};

bool Matches(const QueryFilter& filter, const AuditEvent& event);

// RFC 4180 quoting. Text cells that a spreadsheet would run as a formula
// (=, +, -, @ first) get a leading apostrophe: an audit export must not
// execute what a caller put in a parameter.
std::string CsvText(const std::string& value);
std::string Join(const std::vector<std::string>& items, const char* separator);

enum class OutputFormat { kTable, kJson, kCsv };
Result<OutputFormat> ParseOutputFormat(std::string_view text);

// Streams records to `out` in one format: Write() as they come, then End().
class RecordPrinter {
 public:
  virtual ~RecordPrinter() = default;
  virtual void Write(const AuditEvent& event) = 0;
  virtual void End() {}
};
std::unique_ptr<RecordPrinter> MakeRecordPrinter(OutputFormat format, std::ostream& out);

// `text` safe to print on a terminal: control characters (C0, DEL, C1: ESC and
// BEL among them) and ill-formed UTF-8 become '?', so that a recorded string
// can never drive the reader's terminal.
std::string Printable(std::string_view text);

}  // namespace mcpaudit

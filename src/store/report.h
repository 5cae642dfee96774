// The evidence an auditor asks for, built from the audit records of a period:
//   access-review  who used which tools on which resources (one row per user,
//                  tenant and tool: calls by outcome, first and last use)
//   phi-access     every access to data classified PHI, with its reason
//   failures       every denial and failure, and every refused authentication
// in CSV, JSON or a self-contained HTML page.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "mcpaudit/audit_event.h"
#include "mcpaudit/result.h"

namespace mcpaudit {

enum class ReportKind { kAccessReview, kPhiAccess, kFailures };
Result<ReportKind> ParseReportKind(std::string_view text);

enum class ReportFormat { kCsv, kJson, kHtml };
Result<ReportFormat> ParseReportFormat(std::string_view text);

struct ReportHeader {
  ReportKind kind = ReportKind::kAccessReview;
  std::optional<std::chrono::system_clock::time_point> since, until;
  std::string tenant;  // empty: every tenant
  std::string source;  // the journal or store the records came from
  std::chrono::system_clock::time_point generated_at;
};

// Writes rows in one format as they come (a table: columns, then rows, then totals).
class ReportWriter {
 public:
  virtual ~ReportWriter() = default;
  virtual void Begin(const ReportHeader& header, const std::vector<std::string>& columns) = 0;
  virtual void Row(const nlohmann::json& cells) = 0;  // one value per column
  virtual void End(const nlohmann::json& totals) = 0;
};
std::unique_ptr<ReportWriter> MakeReportWriter(ReportFormat format, std::ostream& out);

// Feeds records (already filtered to the period and tenant) into a report.
class Report {
 public:
  Report(ReportHeader header, std::unique_ptr<ReportWriter> writer);
  void Add(const AuditEvent& event);
  void Finish();

 private:
  struct Access {
    std::string email;
    std::set<std::string> roles;
    uint64_t calls = 0, succeeded = 0, failed = 0, denied = 0;
    std::chrono::system_clock::time_point first, last;
    std::set<std::string> resources;
    uint64_t more_resources = 0;  // beyond the ones listed
  };
  ReportHeader header_;
  std::unique_ptr<ReportWriter> writer_;
  std::map<std::tuple<std::string, std::string, std::string>, Access>
      access_;  // user, tenant, tool
  uint64_t rows_ = 0;
  std::map<std::string, uint64_t> counts_;  // totals by outcome or reason
};

}  // namespace mcpaudit

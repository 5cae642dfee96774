#include "store/query.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace mcpaudit {
namespace {

class JsonPrinter final : public RecordPrinter {
 public:
  explicit JsonPrinter(std::ostream& out) : out_(out) {}
  void Write(const AuditEvent& event) override { out_ << ToJsonLine(event) << '\n'; }

 private:
  std::ostream& out_;
};

std::string FormatDuration(double ms) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f", ms);
  return buffer;
}


class CsvPrinter final : public RecordPrinter {
 public:
  explicit CsvPrinter(std::ostream& out) : out_(out) {
    out_ << "id,timestamp,event_type,tool,outcome,user_id,tenant_id,request_id,session_id,transport,"
            "client_ip,duration_ms,result_count,is_error,bytes,error_reason,error_message,resources,"
            "phi,sensitivity,access_reason,params\r\n";
  }
  void Write(const AuditEvent& e) override {
    const AuditResponse r = e.response.value_or(AuditResponse{});
    out_ << CsvText(e.id) << ',' << FormatTimestamp(e.timestamp) << ',' << CsvText(e.event_type) << ','
         << CsvText(e.tool) << ',' << ToString(e.outcome) << ',' << CsvText(e.user.id) << ','
         << CsvText(e.user.tenant_id) << ',' << CsvText(e.request.id) << ','
         << CsvText(e.request.session_id) << ',' << CsvText(e.request.transport) << ','
         << CsvText(e.request.client_ip) << ',' << (e.response ? FormatDuration(r.duration_ms) : "")
         << ',' << (r.result_count ? std::to_string(*r.result_count) : "") << ','
         << (e.response ? (r.is_error ? "true" : "false") : "") << ','
         << (e.response ? std::to_string(r.bytes) : "") << ','
         << CsvText(e.error ? e.error->reason : "") << ',' << CsvText(e.error ? e.error->message : "")
         << ',' << CsvText(Join(e.resources, " ")) << ',' << (e.compliance.phi ? "true" : "false") << ','
         << CsvText(e.compliance.sensitivity) << ',' << CsvText(e.compliance.access_reason) << ','
         << CsvText(e.params.is_null() ? "" : e.params.dump(-1, ' ', false,
                                                            nlohmann::json::error_handler_t::replace))
         << "\r\n";
  }

 private:
  std::ostream& out_;
};

// A fixed-width table for people; long values are cut with "…" so that every
// record stays on one line.
class TablePrinter final : public RecordPrinter {
 public:
  explicit TablePrinter(std::ostream& out) : out_(out) {
    Row({"TIME", "OUTCOME", "TOOL", "USER", "TENANT", "MS", "RESOURCES", "REASON"});
  }
  void Write(const AuditEvent& e) override {
    ++rows_;
    Row({FormatTimestamp(e.timestamp), std::string(ToString(e.outcome)),
         e.tool.empty() ? e.event_type : e.tool, e.user.id, e.user.tenant_id,
         e.response ? FormatDuration(e.response->duration_ms) : "", Join(e.resources, " "),
         e.error ? e.error->reason : ""});
  }
  void End() override { out_ << "(" << rows_ << (rows_ == 1 ? " record" : " records") << ")\n"; }

 private:
  void Row(const std::vector<std::string>& cells) {
    static constexpr size_t kWidths[] = {24, 8, 22, 16, 12, 9, 40, 0};
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
      std::string cell = Printable(cells[i]);
      const size_t width = kWidths[i];
      if (width > 0) {
        if (cell.size() > width) cell = cell.substr(0, width - 1) + "~";
        cell.resize(width + 1, ' ');
      }
      line += cell;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out_ << line << '\n';
  }
  std::ostream& out_;
  size_t rows_ = 0;
};

// ASCII letters compared without case, as SQL's LIKE does.
bool ContainsIgnoringCase(std::string_view text, std::string_view part) {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return std::search(text.begin(), text.end(), part.begin(), part.end(),
                     [&](char a, char b) { return lower(a) == lower(b); }) != text.end();
}

}  // namespace

// RFC 4180 quoting. Text cells that a spreadsheet would run as a formula
// (=, +, -, @ first) get a leading apostrophe: an audit export must not
// execute what a caller put in a parameter.
std::string CsvText(const std::string& value) {
  std::string cell = Printable(value);  // opened in a terminal as often as in a spreadsheet
  if (!cell.empty() && (cell[0] == '=' || cell[0] == '+' || cell[0] == '-' || cell[0] == '@' ||
                        cell[0] == '\t' || cell[0] == '\r'))
    cell.insert(cell.begin(), '\'');
  if (cell.find_first_of(",\"\r\n") == std::string::npos) return cell;
  std::string quoted = "\"";
  for (char c : cell) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string Join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

bool Matches(const QueryFilter& f, const AuditEvent& e) {
  if (f.since && e.timestamp < *f.since) return false;
  if (f.until && e.timestamp >= *f.until) return false;
  if (!f.user.empty() && e.user.id != f.user) return false;
  if (!f.tenant.empty() && e.user.tenant_id != f.tenant) return false;
  if (!f.tool.empty() && e.tool != f.tool) return false;
  if (!f.event_type.empty() && e.event_type != f.event_type) return false;
  if (f.outcome && e.outcome != *f.outcome) return false;
  if (!f.session.empty() && e.request.session_id != f.session) return false;
  if (!f.request_id.empty() && e.request.id != f.request_id) return false;
  if (!f.client_ip.empty() && e.request.client_ip != f.client_ip) return false;
  if (!f.resource.empty() && std::find(e.resources.begin(), e.resources.end(), f.resource) == e.resources.end())
    return false;
  if (f.phi_only && !e.compliance.phi) return false;
  if (!f.text.empty() && !ContainsIgnoringCase(e.tool, f.text) &&
      !(e.error && (ContainsIgnoringCase(e.error->reason, f.text) || ContainsIgnoringCase(e.error->message, f.text))))
    return false;
  return true;
}

Result<OutputFormat> ParseOutputFormat(std::string_view text) {
  if (text == "table") return OutputFormat::kTable;
  if (text == "json" || text == "jsonl") return OutputFormat::kJson;
  if (text == "csv") return OutputFormat::kCsv;
  return Fail(ErrorCode::kInvalidArgument, "unknown format '" + std::string(text) + "' (table, json or csv)");
}

std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out.push_back(c < 0x20 || c == 0x7f ? (c == '\n' || c == '\r' || c == '\t' ? ' ' : '?') : static_cast<char>(c));
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence, not a C1 control (U+0080-U+009F), is kept whole.
    const size_t length = c > 0xf4 ? 0 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    bool ok = length > 0 && i + length <= text.size();
    for (size_t k = 1; ok && k < length; ++k) ok = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    if (ok && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0) ok = false;
    if (ok) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out.push_back('?');
      ++i;
    }
  }
  return out;
}

std::unique_ptr<RecordPrinter> MakeRecordPrinter(OutputFormat format, std::ostream& out) {
  switch (format) {
    case OutputFormat::kJson: return std::make_unique<JsonPrinter>(out);
    case OutputFormat::kCsv: return std::make_unique<CsvPrinter>(out);
    case OutputFormat::kTable: break;
  }
  return std::make_unique<TablePrinter>(out);
}

}  // namespace mcpaudit

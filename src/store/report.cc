#include "store/report.h"

#include "store/query.h"

namespace mcpaudit {
namespace {

using nlohmann::json;

constexpr size_t kResourcesListed = 50;  // per access-review row; the rest are counted

const char* KindName(ReportKind kind) {
  switch (kind) {
    case ReportKind::kAccessReview:
      return "access-review";
    case ReportKind::kPhiAccess:
      return "phi-access";
    case ReportKind::kFailures:
      return "failures";
  }
  return "?";
}

const char* KindTitle(ReportKind kind) {
  switch (kind) {
    case ReportKind::kAccessReview:
      return "Access review: who used which tools on which resources";
    case ReportKind::kPhiAccess:
      return "PHI access: every access to protected health information, with its reason";
    case ReportKind::kFailures:
      return "Denials and failures";
  }
  return "?";
}

std::string Period(const ReportHeader& h) {
  return (h.since ? FormatTimestamp(*h.since) : std::string("the beginning")) + " to " +
         (h.until ? FormatTimestamp(*h.until) : std::string("now"));
}

nlohmann::ordered_json HeaderJson(const ReportHeader& h) {
  return {{"report", KindName(h.kind)},
          {"since", h.since ? json(FormatTimestamp(*h.since)) : json(nullptr)},
          {"until", h.until ? json(FormatTimestamp(*h.until)) : json(nullptr)},
          {"tenant", h.tenant.empty() ? json(nullptr) : json(h.tenant)},
          {"source", h.source},
          {"generated_at", FormatTimestamp(h.generated_at)}};
}

std::string CellText(const json& cell) {
  if (cell.is_null()) return "";
  if (cell.is_string()) return cell.get<std::string>();
  if (cell.is_array()) {
    std::vector<std::string> items;
    for (const auto& item : cell) items.push_back(CellText(item));
    return Join(items, " ");
  }
  return cell.dump();
}

class CsvReport final : public ReportWriter {
 public:
  explicit CsvReport(std::ostream& out) : out_(out) {}
  void Begin(const ReportHeader&, const std::vector<std::string>& columns) override {
    WriteLine(json(columns));
  }
  void Row(const json& cells) override { WriteLine(cells); }
  void End(const json&) override { out_.flush(); }

 private:
  void WriteLine(const json& cells) {
    bool first = true;
    for (const auto& cell : cells) {
      if (!first) out_ << ',';
      first = false;
      out_ << (cell.is_number() || cell.is_boolean() ? cell.dump() : CsvText(CellText(cell)));
    }
    out_ << "\r\n";
  }
  std::ostream& out_;
};

// One JSON document; rows are written as they come.
class JsonReport final : public ReportWriter {
 public:
  explicit JsonReport(std::ostream& out) : out_(out) {}
  void Begin(const ReportHeader& header, const std::vector<std::string>& columns) override {
    columns_ = columns;
    std::string head =
        HeaderJson(header).dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    head.pop_back();  // the closing brace: rows and totals follow
    while (!head.empty() && head.back() == '\n') head.pop_back();
    out_ << head << ",\n  \"rows\": [";
  }
  void Row(const json& cells) override {
    nlohmann::ordered_json row = nlohmann::ordered_json::object();
    for (size_t i = 0; i < columns_.size() && i < cells.size(); ++i) row[columns_[i]] = cells[i];
    out_ << (rows_++ ? ",\n    " : "\n    ")
         << row.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  }
  void End(const json& totals) override {
    out_ << (rows_ ? "\n  ],\n" : "],\n")
         << "  \"totals\": " << totals.dump(-1, ' ', false, json::error_handler_t::replace)
         << "\n}\n";
    out_.flush();
  }

 private:
  std::ostream& out_;
  std::vector<std::string> columns_;
  size_t rows_ = 0;
};

std::string Html(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A page that opens anywhere: no script, no remote style, everything escaped.
class HtmlReport final : public ReportWriter {
 public:
  explicit HtmlReport(std::ostream& out) : out_(out) {}
  void Begin(const ReportHeader& h, const std::vector<std::string>& columns) override {
    out_ << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
            "'unsafe-inline'\">\n"
         << "<title>" << Html(std::string("mcp-audit ") + KindName(h.kind) + " report")
         << "</title>\n"
         << "<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
            "th,td{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}"
            "th{background:#eee}td.n{text-align:right}dl{display:grid;grid-template-columns:max-"
            "content auto;"
            "gap:2px 1em}dt{font-weight:bold}</style></head><body>\n"
         << "<h1>" << Html(KindTitle(h.kind)) << "</h1>\n<dl>"
         << "<dt>Period</dt><dd>" << Html(Period(h)) << "</dd>"
         << "<dt>Tenant</dt><dd>" << Html(h.tenant.empty() ? "all tenants" : h.tenant) << "</dd>"
         << "<dt>Source</dt><dd>" << Html(h.source) << "</dd>"
         << "<dt>Generated</dt><dd>" << Html(FormatTimestamp(h.generated_at)) << "</dd></dl>\n"
         << "<p>The integrity of the records is shown by <code>mcp-audit verify</code> on the same "
            "source.</p>\n"
         << "<table><thead><tr>";
    for (const auto& column : columns) out_ << "<th>" << Html(column) << "</th>";
    out_ << "</tr></thead><tbody>\n";
  }
  void Row(const json& cells) override {
    out_ << "<tr>";
    for (const auto& cell : cells)
      out_ << (cell.is_number() ? "<td class=\"n\">" : "<td>") << Html(CellText(cell)) << "</td>";
    out_ << "</tr>\n";
  }
  void End(const json& totals) override {
    out_ << "</tbody></table>\n<h2>Totals</h2>\n<dl>";
    for (auto it = totals.begin(); it != totals.end(); ++it)
      out_ << "<dt>" << Html(it.key()) << "</dt><dd>" << Html(CellText(it.value())) << "</dd>";
    out_ << "</dl>\n</body></html>\n";
    out_.flush();
  }

 private:
  std::ostream& out_;
};

std::vector<std::string> Columns(ReportKind kind) {
  switch (kind) {
    case ReportKind::kAccessReview:
      return {"user_id",   "email",  "tenant_id", "roles",     "tool",     "calls",
              "succeeded", "failed", "denied",    "first_use", "last_use", "resources"};
    case ReportKind::kPhiAccess:
      return {"timestamp",     "user_id",     "tenant_id", "event_type", "tool",       "resources",
              "access_reason", "sensitivity", "outcome",   "request_id", "session_id", "client_ip"};
    case ReportKind::kFailures:
      return {"timestamp",  "user_id", "tenant_id", "event_type", "tool",      "outcome",
              "error_code", "reason",  "message",   "client_ip",  "request_id"};
  }
  return {};
}

bool IsAccess(const AuditEvent& e) {
  return e.event_type == "tool_call" || e.event_type == "resource_read" ||
         e.event_type == "prompt_get";
}

// The tool, or what was accessed when there is no tool (a resource read).
std::string What(const AuditEvent& e) { return e.tool.empty() ? e.event_type : e.tool; }

}  // namespace

Result<ReportKind> ParseReportKind(std::string_view text) {
  if (text == "access-review") return ReportKind::kAccessReview;
  if (text == "phi-access") return ReportKind::kPhiAccess;
  if (text == "failures") return ReportKind::kFailures;
  return Fail(ErrorCode::kInvalidArgument,
              "unknown report '" + std::string(text) +
                  "' (expected access-review, phi-access or failures)");
}

Result<ReportFormat> ParseReportFormat(std::string_view text) {
  if (text == "csv") return ReportFormat::kCsv;
  if (text == "json") return ReportFormat::kJson;
  if (text == "html") return ReportFormat::kHtml;
  return Fail(ErrorCode::kInvalidArgument,
              "unknown format '" + std::string(text) + "' (expected csv, json or html)");
}

std::unique_ptr<ReportWriter> MakeReportWriter(ReportFormat format, std::ostream& out) {
  switch (format) {
    case ReportFormat::kCsv:
      return std::make_unique<CsvReport>(out);
    case ReportFormat::kJson:
      return std::make_unique<JsonReport>(out);
    case ReportFormat::kHtml:
      return std::make_unique<HtmlReport>(out);
  }
  return nullptr;
}

Report::Report(ReportHeader header, std::unique_ptr<ReportWriter> writer)
    : header_(std::move(header)), writer_(std::move(writer)) {
  writer_->Begin(header_, Columns(header_.kind));
}

void Report::Add(const AuditEvent& e) {
  switch (header_.kind) {
    case ReportKind::kAccessReview: {
      if (!IsAccess(e)) return;
      Access& a = access_[{e.user.id, e.user.tenant_id, What(e)}];
      if (a.calls == 0) a.first = e.timestamp;
      a.first = std::min(a.first, e.timestamp);
      a.last = std::max(a.last, e.timestamp);
      ++a.calls;
      (e.outcome == Outcome::kSuccess  ? a.succeeded
       : e.outcome == Outcome::kDenied ? a.denied
                                       : a.failed)++;
      if (!e.user.email.empty()) a.email = e.user.email;
      a.roles.insert(e.user.roles.begin(), e.user.roles.end());
      for (const auto& resource : e.resources) {
        if (a.resources.size() < kResourcesListed || a.resources.contains(resource))
          a.resources.insert(resource);
        else
          ++a.more_resources;
      }
      ++counts_[std::string(ToString(e.outcome))];
      return;
    }
    case ReportKind::kPhiAccess: {
      if (!e.compliance.phi) return;
      writer_->Row({FormatTimestamp(e.timestamp), e.user.id, e.user.tenant_id, e.event_type, e.tool,
                    e.resources, e.compliance.access_reason, e.compliance.sensitivity,
                    ToString(e.outcome), e.request.id, e.request.session_id, e.request.client_ip});
      ++rows_;
      ++counts_[std::string(ToString(e.outcome))];
      if (e.compliance.access_reason.empty()) ++counts_["without_reason"];
      return;
    }
    case ReportKind::kFailures: {
      if (e.outcome == Outcome::kSuccess && e.event_type != "auth_failure" &&
          e.event_type != "audit_dropped")
        return;
      writer_->Row({FormatTimestamp(e.timestamp), e.user.id, e.user.tenant_id, e.event_type, e.tool,
                    ToString(e.outcome), e.error ? json(e.error->code) : json(nullptr),
                    e.error ? e.error->reason : "", e.error ? e.error->message : "",
                    e.request.client_ip, e.request.id});
      ++rows_;
      ++counts_[e.error && !e.error->reason.empty() ? e.error->reason
                                                    : std::string(ToString(e.outcome))];
      return;
    }
  }
}

void Report::Finish() {
  json totals = json::object();
  if (header_.kind == ReportKind::kAccessReview) {
    std::set<std::string> users;
    for (const auto& [key, a] : access_) {
      const auto& [user, tenant, tool] = key;
      std::vector<std::string> resources(a.resources.begin(), a.resources.end());
      if (a.more_resources > 0)
        resources.push_back("(and " + std::to_string(a.more_resources) + " more)");
      writer_->Row({user, a.email, tenant, std::vector<std::string>(a.roles.begin(), a.roles.end()),
                    tool, a.calls, a.succeeded, a.failed, a.denied, FormatTimestamp(a.first),
                    FormatTimestamp(a.last), resources});
      users.insert(user);
    }
    totals["users"] = users.size();
    totals["rows"] = access_.size();
  } else {
    totals["rows"] = rows_;
  }
  for (const auto& [name, count] : counts_) totals[name] = count;
  writer_->End(totals);
}

}  // namespace mcpaudit

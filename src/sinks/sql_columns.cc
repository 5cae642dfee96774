#include "sinks/sql_columns.h"

#include <cstdlib>

#include "base/audit_files.h"

namespace mcpaudit {

std::optional<std::filesystem::path> SqlitePathFromUrl(std::string_view url) {
  constexpr std::string_view kScheme = "sqlite://";
  if (!url.starts_with(kScheme) || url.size() == kScheme.size()) return std::nullopt;
  return std::filesystem::path(url.substr(kScheme.size()));
}

bool IsPostgresUrl(std::string_view url) { return url.starts_with("postgres://") || url.starts_with("postgresql://"); }

bool IsMysqlUrl(std::string_view url) { return url.starts_with("mysql://") || url.starts_with("mariadb://"); }

void RollupCounts::Add(const RecordColumns& c) {
  // RFC 3339: the hour and the day are prefixes of the timestamp.
  const std::string_view timestamp = c.timestamp;
  Add(Keys{timestamp.substr(0, 13), timestamp.substr(0, 10), c.tenant_id, c.tool, c.event_type,
           c.outcome, c.error_reason, c.user_id});
}

void RollupCounts::Add(const Keys& k) {
  ++hours_[{Text(k.hour), Text(k.tenant_id), Text(k.tool), Text(k.event_type), Text(k.outcome),
            Text(k.error_reason)}];
  ++days_[{Text(k.day), Text(k.tenant_id), Text(k.user_id), Text(k.outcome)}];
}

std::string RollupCounts::Text(std::string_view value) const {
  return column_text_ ? column_text_(value) : std::string(value);
}

std::string SelectRecords(std::string_view table, StoredRecords which) {
  const std::string t(table);
  if (which == StoredRecords::kAll) return "SELECT record FROM " + t + " ORDER BY stream, seq";
  return "SELECT record FROM " + t + " AS a WHERE seq = (SELECT max(seq) FROM " + t +
         " AS b WHERE b.stream = a.stream)";
}

RecordColumns ColumnsOf(const SinkRecord& record) {
  const AuditEvent& e = record.event;
  RecordColumns c;
  c.id = e.id;
  if (e.integrity) {
    c.stream = e.integrity->stream;
    c.seq = e.integrity->seq;
  }
  c.timestamp = FormatTimestamp(e.timestamp);
  c.event_type = e.event_type;
  c.tool = e.tool;
  c.outcome = ToString(e.outcome);
  c.user_id = e.user.id;
  c.tenant_id = e.user.tenant_id;
  c.request_id = e.request.id;
  c.client_ip = e.request.client_ip;
  if (e.response) c.duration_ms = e.response->duration_ms;
  c.session_id = e.request.session_id;
  c.phi = e.compliance.phi;
  if (e.error) c.error_reason = e.error->reason;
  return c;
}

Result<std::string> ReadSinkPassword(const SinkConfig& config) {
  if (RedactUrl(config.url) != config.url)
    return Fail(ErrorCode::kInvalidArgument,
                "sink " + config.name +
                    ": the URL holds a password; put it in password_env or "
                    "password_file instead (URLs end up in logs and shell histories)");
  return ReadSecret(config.password_env, config.password_file, "sink " + config.name,
                    /*owner_only=*/false);
}

bool IsLoopbackHost(std::string_view host) {
  if (host.empty() || host.starts_with('/')) return true;
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

std::string_view TruncateUtf8(std::string_view text, size_t max_chars) {
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    // A character starts at every byte that is not a continuation byte (10xxxxxx).
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && chars++ == max_chars)
      return text.substr(0, i);
  }
  return text;
}

}  // namespace mcpaudit

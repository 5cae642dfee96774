#include "sinks/mysql_sink.h"

#include <mysql.h>

#include <charconv>
#include <vector>

#include "sinks/sql_columns.h"

namespace mcpaudit {
namespace {

// Statements are separated by ";" (MySQL runs DDL one statement at a time).
constexpr Migration kMigrations[] = {
    {1,
     "CREATE TABLE audit_log ("
     "  id VARCHAR(64) NOT NULL PRIMARY KEY,"
     "  `timestamp` DATETIME(3) NOT NULL,"
     "  tool VARCHAR(255) NULL,"
     "  user_id VARCHAR(255) NULL,"
     "  params JSON NULL,"
     "  request_id VARCHAR(255) NULL,"
     "  client_ip VARCHAR(64) NULL,"
     "  tenant_id VARCHAR(255) NULL,"
     "  event_type VARCHAR(64) NOT NULL,"
     "  outcome VARCHAR(16) NOT NULL,"
     "  duration_ms DOUBLE NULL,"
     "  resources JSON NULL,"
     "  compliance JSON NULL,"
     "  stream VARCHAR(64) NOT NULL,"
     "  seq BIGINT UNSIGNED NOT NULL,"
     "  integrity JSON NOT NULL,"
     "  record LONGTEXT NOT NULL,"
     "  INDEX idx_timestamp (`timestamp`),"
     "  INDEX idx_user (user_id, `timestamp`),"
     "  INDEX idx_tenant (tenant_id, `timestamp`),"
     "  INDEX idx_tool (tool, `timestamp`),"
     "  INDEX idx_stream_seq (stream, seq)"
     ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"},
    // The columns the console filters on, and indexes that end in (timestamp, id):
    // the order of a page, so that a filtered page is a walk of one index.
    {2,
     "ALTER TABLE audit_log ADD COLUMN session_id VARCHAR(255) NULL, ADD COLUMN phi BOOLEAN NOT NULL DEFAULT FALSE,"
     "  ADD COLUMN error_reason VARCHAR(255) NULL;"
     "UPDATE audit_log SET session_id = JSON_UNQUOTE(JSON_EXTRACT(record, '$.request.session_id')),"
     "  phi = COALESCE(JSON_UNQUOTE(JSON_EXTRACT(record, '$.compliance.phi')) = 'true', FALSE),"
     "  error_reason = JSON_UNQUOTE(JSON_EXTRACT(record, '$.error.reason')) WHERE JSON_VALID(record);"
     "ALTER TABLE audit_log DROP INDEX idx_timestamp, DROP INDEX idx_user, DROP INDEX idx_tenant, DROP INDEX idx_tool,"
     "  ADD INDEX idx_time (`timestamp`, id), ADD INDEX idx_user (user_id, `timestamp`, id),"
     "  ADD INDEX idx_tenant (tenant_id, `timestamp`, id), ADD INDEX idx_tool (tool, `timestamp`, id),"
     "  ADD INDEX idx_session (session_id, `timestamp`, id), ADD INDEX idx_kind (event_type, `timestamp`, id),"
     "  ADD INDEX idx_outcome (outcome, `timestamp`, id)"},
    // Counts the console reads instead of the records (see store/store_query.h):
    // per hour by tenant, tool, kind, outcome and reason; per day by tenant,
    // user and outcome (names cut at 191 characters: the key must fit InnoDB's
    // 3072 bytes). Triggers, one statement each, keep them equal to the records
    // through every insert, erasure (update) and retention (delete); a count of
    // 0 is deleted after an erasure, so that no erased user id stays behind.
    {3,
     "CREATE TABLE audit_rollup (hour CHAR(13) NOT NULL, tenant_id VARCHAR(191) NOT NULL,"
     " tool VARCHAR(191) NOT NULL, event_type VARCHAR(64) NOT NULL, outcome VARCHAR(16) NOT NULL,"
     " error_reason VARCHAR(191) NOT NULL, n BIGINT NOT NULL,"
     " PRIMARY KEY (hour, tenant_id, tool, event_type, outcome, error_reason))"
     " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;"
     "CREATE TABLE audit_rollup_users (day CHAR(10) NOT NULL, tenant_id VARCHAR(191) NOT NULL,"
     " user_id VARCHAR(191) NOT NULL, outcome VARCHAR(16) NOT NULL, n BIGINT NOT NULL,"
     " PRIMARY KEY (day, tenant_id, user_id, outcome)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;"
     "CREATE TRIGGER audit_rollup_add AFTER INSERT ON audit_log FOR EACH ROW"
     " INSERT INTO audit_rollup VALUES (DATE_FORMAT(NEW.`timestamp`, '%Y-%m-%dT%H'), LEFT(COALESCE(NEW.tenant_id, ''), 191), LEFT(COALESCE(NEW.tool, ''), 191), NEW.event_type, NEW.outcome, LEFT(COALESCE(NEW.error_reason, ''), 191), 1) ON DUPLICATE KEY UPDATE n = n + 1;"
     "CREATE TRIGGER audit_rollup_users_add AFTER INSERT ON audit_log FOR EACH ROW"
     " INSERT INTO audit_rollup_users VALUES (DATE_FORMAT(NEW.`timestamp`, '%Y-%m-%d'),"
     " LEFT(COALESCE(NEW.tenant_id, ''), 191), LEFT(COALESCE(NEW.user_id, ''), 191), NEW.outcome, 1)"
     " ON DUPLICATE KEY UPDATE n = n + 1;"
     "CREATE TRIGGER audit_rollup_remove AFTER DELETE ON audit_log FOR EACH ROW"
     " UPDATE audit_rollup SET n = n - 1 WHERE hour = DATE_FORMAT(OLD.`timestamp`, '%Y-%m-%dT%H')"
     " AND tenant_id = LEFT(COALESCE(OLD.tenant_id, ''), 191) AND tool = LEFT(COALESCE(OLD.tool, ''), 191)"
     " AND event_type = OLD.event_type AND outcome = OLD.outcome"
     " AND error_reason = LEFT(COALESCE(OLD.error_reason, ''), 191);"
     "CREATE TRIGGER audit_rollup_users_remove AFTER DELETE ON audit_log FOR EACH ROW"
     " UPDATE audit_rollup_users SET n = n - 1 WHERE day = DATE_FORMAT(OLD.`timestamp`, '%Y-%m-%d')"
     " AND tenant_id = LEFT(COALESCE(OLD.tenant_id, ''), 191) AND user_id = LEFT(COALESCE(OLD.user_id, ''), 191)"
     " AND outcome = OLD.outcome;"
     "CREATE TRIGGER audit_rollup_change_old AFTER UPDATE ON audit_log FOR EACH ROW"
     " UPDATE audit_rollup SET n = n - 1 WHERE hour = DATE_FORMAT(OLD.`timestamp`, '%Y-%m-%dT%H')"
     " AND tenant_id = LEFT(COALESCE(OLD.tenant_id, ''), 191) AND tool = LEFT(COALESCE(OLD.tool, ''), 191)"
     " AND event_type = OLD.event_type AND outcome = OLD.outcome"
     " AND error_reason = LEFT(COALESCE(OLD.error_reason, ''), 191);"
     "CREATE TRIGGER audit_rollup_change_new AFTER UPDATE ON audit_log FOR EACH ROW"
     " INSERT INTO audit_rollup VALUES (DATE_FORMAT(NEW.`timestamp`, '%Y-%m-%dT%H'), LEFT(COALESCE(NEW.tenant_id, ''), 191), LEFT(COALESCE(NEW.tool, ''), 191), NEW.event_type, NEW.outcome, LEFT(COALESCE(NEW.error_reason, ''), 191), 1) ON DUPLICATE KEY UPDATE n = n + 1;"
     "CREATE TRIGGER audit_rollup_users_change_old AFTER UPDATE ON audit_log FOR EACH ROW"
     " UPDATE audit_rollup_users SET n = n - 1 WHERE day = DATE_FORMAT(OLD.`timestamp`, '%Y-%m-%d')"
     " AND tenant_id = LEFT(COALESCE(OLD.tenant_id, ''), 191) AND user_id = LEFT(COALESCE(OLD.user_id, ''), 191)"
     " AND outcome = OLD.outcome;"
     "CREATE TRIGGER audit_rollup_users_change_new AFTER UPDATE ON audit_log FOR EACH ROW"
     " INSERT INTO audit_rollup_users VALUES (DATE_FORMAT(NEW.`timestamp`, '%Y-%m-%d'),"
     " LEFT(COALESCE(NEW.tenant_id, ''), 191), LEFT(COALESCE(NEW.user_id, ''), 191), NEW.outcome, 1)"
     " ON DUPLICATE KEY UPDATE n = n + 1;"
     "INSERT INTO audit_rollup SELECT DATE_FORMAT(`timestamp`, '%Y-%m-%dT%H'), LEFT(COALESCE(tenant_id, ''), 191),"
     " LEFT(COALESCE(tool, ''), 191), event_type, outcome, LEFT(COALESCE(error_reason, ''), 191), COUNT(*)"
     " FROM audit_log GROUP BY 1, 2, 3, 4, 5, 6;"
     "INSERT INTO audit_rollup_users SELECT DATE_FORMAT(`timestamp`, '%Y-%m-%d'), LEFT(COALESCE(tenant_id, ''), 191),"
     " LEFT(COALESCE(user_id, ''), 191), outcome, COUNT(*) FROM audit_log GROUP BY 1, 2, 3, 4"},
    // A tool's denials (or failures): both filters on one index, the question
    // an auditor asks of a tool that is rarely refused (one filter alone walked
    // every record of the other).
    {4, "ALTER TABLE audit_log ADD INDEX idx_tool_outcome (tool, outcome, `timestamp`, id)"},
};

// The widths of the VARCHAR columns, in characters: longer values are cut in
// their column copy (the record keeps them whole).
constexpr size_t kNameWidth = 255;
constexpr size_t kIpWidth = 64;

constexpr const char* kColumns =
    "id, `timestamp`, tool, user_id, params, request_id, client_ip, tenant_id, event_type, outcome, duration_ms,"
    " resources, compliance, stream, seq, integrity, record, session_id, phi, error_reason";
constexpr const char* kReplaceColumns[] = {"`timestamp`", "tool",      "user_id",    "params",      "request_id",
                                           "client_ip",   "tenant_id", "event_type", "outcome",     "duration_ms",
                                           "resources",   "compliance", "stream",    "seq",         "integrity",
                                           "record",      "session_id", "phi",       "error_reason"};

// Statements are cut at this size, well under the servers' max_allowed_packet (16 MiB and up).
constexpr size_t kMaxStatement = 4 << 20;

struct MysqlUrl {
  std::string user, host, database, socket;
  unsigned port = 3306;
};

Result<MysqlUrl> ParseMysqlUrl(const SinkConfig& config) {
  auto bad = [&](const std::string& why) {
    return Fail(ErrorCode::kInvalidArgument,
                "sink " + config.name + ": " + RedactUrl(config.url) + ": " + why +
                    " (mysql://user@host:port/database[?socket=/path])");
  };
  std::string_view url = config.url;
  url.remove_prefix(url.find("://") + 3);
  std::string_view query;
  if (const size_t q = url.find('?'); q != std::string_view::npos) query = url.substr(q + 1), url = url.substr(0, q);
  const size_t slash = url.find('/');
  if (slash == std::string_view::npos || slash + 1 == url.size()) return bad("no database");
  MysqlUrl out;
  out.database = url.substr(slash + 1);
  std::string_view authority = url.substr(0, slash);
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    out.user = authority.substr(0, at);
    authority.remove_prefix(at + 1);
  }
  if (out.user.empty()) return bad("no user");
  std::string_view host = authority;
  const size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    host = authority.substr(0, colon);
    const std::string_view port = authority.substr(colon + 1);
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
    if (ec != std::errc() || end != port.data() + port.size() || out.port == 0 || out.port > 65535)
      return bad("bad port");
  }
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  out.host = host.empty() ? "localhost" : host;
  while (!query.empty()) {
    const size_t amp = std::min(query.find('&'), query.size());
    const std::string_view pair = query.substr(0, amp);
    if (pair.starts_with("socket=")) out.socket = pair.substr(7);
    else return bad("unknown option '" + std::string(pair) + "'");
    query.remove_prefix(std::min(amp + 1, query.size()));
  }
  return out;
}

struct MysqlCloser {
  void operator()(MYSQL* mysql) const { mysql_close(mysql); }
};
using Connection = std::unique_ptr<MYSQL, MysqlCloser>;

Result<Connection> Connect(const SinkConfig& config) {
  auto url = ParseMysqlUrl(config);
  if (!url) return std::unexpected(url.error());
  auto password = ReadSinkPassword(config);
  if (!password) return std::unexpected(password.error());
  Connection conn(mysql_init(nullptr));
  if (!conn) return Fail(ErrorCode::kUnavailable, "cannot connect to " + RedactUrl(config.url) + ": out of memory");
  MYSQL* m = conn.get();
  mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");  // 4-byte UTF-8 stored as it is
  const unsigned connect_timeout = 10, io_timeout = 60;
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
  mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
  if (url->socket.empty() && !IsLoopbackHost(url->host)) {
    const my_bool on = 1;
    mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &on);
    mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
  }
  if (!mysql_real_connect(m, url->host.c_str(), url->user.c_str(), password->empty() ? nullptr : password->c_str(),
                          url->database.c_str(), url->port, url->socket.empty() ? nullptr : url->socket.c_str(), 0))
    return Fail(ErrorCode::kUnavailable, "cannot connect to " + RedactUrl(config.url) + ": " + mysql_error(m));
  // UTC, and strict: a value that does not fit fails the batch instead of being changed silently.
  for (const char* sql : {"SET time_zone = '+00:00'", "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"}) {
    if (mysql_query(m, sql) != 0)
      return Fail(ErrorCode::kUnavailable, RedactUrl(config.url) + ": " + mysql_error(m));
  }
  return conn;
}

class MysqlSink final : public Sink {
 public:
  explicit MysqlSink(SinkConfig config) : config_(std::move(config)) {}

  Status Store(std::span<const SinkRecord> batch) override { return Write(batch, false); }
  Status Replace(std::span<const SinkRecord> records) override {
    if (Status s = Write(records, true); !s) return s;
    return DropEmptyCounts();
  }

  Status Forget(std::string_view stream, uint64_t through_seq) override {
    if (Status s = EnsureConnected(); !s) return s;
    std::string quoted(stream.size() * 2 + 1, '\0');
    quoted.resize(mysql_real_escape_string(conn_.get(), quoted.data(), stream.data(), stream.size()));
    if (Status s = Exec(std::string("DELETE FROM ") + kMysqlAuditTable + " WHERE stream = '" + quoted +
                        "' AND seq <= " + std::to_string(through_seq));
        !s)
      return s;
    return DropEmptyCounts();
  }

 private:
  // After an erasure or a retention run: counts that fell to 0 go, with the values in their key.
  Status DropEmptyCounts() {
    if (Status s = Exec("DELETE FROM audit_rollup WHERE n <= 0"); !s) return s;
    return Exec("DELETE FROM audit_rollup_users WHERE n <= 0");
  }

  Status Write(std::span<const SinkRecord> batch, bool replace) {
    if (batch.empty()) return {};
    if (Status s = EnsureConnected(); !s) return s;
    Status written = WriteBatch(batch, replace);
    if (!written && (mysql_query(conn_.get(), "ROLLBACK") != 0)) conn_.reset();  // reconnect on the next batch
    return written;
  }

  Status WriteBatch(std::span<const SinkRecord> batch, bool replace) {
    if (Status s = Exec("START TRANSACTION"); !s) return s;
    std::string tail = " ON DUPLICATE KEY UPDATE ";
    if (replace) {
      for (const char* column : kReplaceColumns) tail += std::string(column) + " = VALUES(" + column + "),";
      tail.pop_back();
    } else {
      tail += "id = id";
    }
    const std::string head = std::string("INSERT INTO ") + kMysqlAuditTable + " (" + kColumns + ") VALUES ";
    statement_.clear();
    for (const SinkRecord& record : batch) {
      statement_ += statement_.empty() ? head : ",";
      AppendRow(record);
      if (statement_.size() >= kMaxStatement) {
        if (Status s = Exec(statement_ + tail); !s) return s;
        statement_.clear();
      }
    }
    if (!statement_.empty()) {
      if (Status s = Exec(statement_ + tail); !s) return s;
    }
    return Exec("COMMIT");
  }

  void AppendRow(const SinkRecord& record) {
    const RecordColumns c = ColumnsOf(record);
    const AuditEvent& e = record.event;
    statement_ += '(';
    auto text = [&](std::string_view value, bool null_when_empty = true) {
      if (value.empty() && null_when_empty) {
        statement_ += "NULL,";
        return;
      }
      statement_ += '\'';
      const size_t at = statement_.size();
      statement_.resize(at + value.size() * 2 + 1);
      const unsigned long n = mysql_real_escape_string(conn_.get(), statement_.data() + at, value.data(), value.size());
      statement_.resize(at + n);
      statement_ += "',";
    };
    text(c.id, false);
    // DATETIME wants "2026-11-27 10:30:00.000": the RFC 3339 form without T and Z.
    std::string when = c.timestamp;
    when[10] = ' ';
    when.pop_back();
    text(when, false);
    text(TruncateUtf8(c.tool, kNameWidth));
    text(TruncateUtf8(c.user_id, kNameWidth));
    text(e.params.is_null() ? "" : e.params.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    text(TruncateUtf8(c.request_id, kNameWidth));
    text(TruncateUtf8(c.client_ip, kIpWidth));
    text(TruncateUtf8(c.tenant_id, kNameWidth));
    text(TruncateUtf8(c.event_type, 64), false);
    text(c.outcome, false);
    if (c.duration_ms) {
      char number[32];
      statement_.append(number, std::to_chars(number, number + sizeof number, *c.duration_ms).ptr);
      statement_ += ',';
    } else {
      statement_ += "NULL,";
    }
    text(e.resources.empty() ? "" : nlohmann::json(e.resources).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    // The two members on their own: building the whole event's JSON again per record costs.
    const nlohmann::ordered_json compliance = ToJson(e.compliance);
    text(compliance.empty() ? "" : compliance.dump());
    text(TruncateUtf8(c.stream, 64), false);
    statement_ += std::to_string(c.seq);
    statement_ += ',';
    text(e.integrity ? ToJson(*e.integrity).dump() : "{}", false);
    text(record.line, false);
    text(TruncateUtf8(c.session_id, kNameWidth));
    statement_ += c.phi ? "TRUE," : "FALSE,";
    text(TruncateUtf8(c.error_reason, kNameWidth));
    statement_.back() = ')';
  }

  Status EnsureConnected() {
    if (conn_) return {};
    auto conn = Connect(config_);
    if (!conn) return std::unexpected(conn.error());
    conn_ = std::move(*conn);
    if (Status s = Migrate(); !s) {
      conn_.reset();
      return s;
    }
    return {};
  }

  // Two servers starting at once migrate once: GET_LOCK serialises them.
  Status Migrate() {
    if (Status s = Exec("DO GET_LOCK('mcp-audit-migrations', 60)"); !s) return s;
    Status migrated = ApplyMigrations();
    (void)Exec("DO RELEASE_LOCK('mcp-audit-migrations')");
    return migrated;
  }

  Status ApplyMigrations() {
    if (Status s = Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY,"
                        " applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB");
        !s)
      return s;
    if (Status s = Exec("SELECT coalesce(max(version), 0) FROM schema_migrations"); !s) return s;
    int version = 0;
    if (MYSQL_RES* result = mysql_store_result(conn_.get())) {
      if (MYSQL_ROW row = mysql_fetch_row(result); row && row[0]) version = std::atoi(row[0]);
      mysql_free_result(result);
    }
    for (const Migration& m : kMigrations) {
      if (m.version <= version) continue;
      // DDL commits on its own in MySQL: each statement is applied, then the version recorded.
      std::string_view sql = m.sql;
      while (!sql.empty()) {
        const size_t end = std::min(sql.find(';'), sql.size());
        if (Status s = Exec(std::string(sql.substr(0, end))); !s)
          return Fail(ErrorCode::kIo, "migration " + std::to_string(m.version) + " of " + RedactUrl(config_.url) +
                                          " failed: " + s.error().message);
        sql.remove_prefix(std::min(end + 1, sql.size()));
      }
      if (Status s = Exec("INSERT INTO schema_migrations (version) VALUES (" + std::to_string(m.version) + ")"); !s)
        return s;
    }
    return {};
  }

  Status Exec(const std::string& sql) {
    if (mysql_real_query(conn_.get(), sql.data(), sql.size()) == 0) return {};
    const unsigned code = mysql_errno(conn_.get());
    // 2000-2999 are the client's own errors: the connection is gone or never was.
    return Fail(code >= 2000 && code < 3000 ? ErrorCode::kUnavailable : ErrorCode::kIo,
                RedactUrl(config_.url) + ": " + mysql_error(conn_.get()));
  }

  SinkConfig config_;
  Connection conn_;
  std::string statement_;  // the INSERT being built, reused
};

}  // namespace

Result<std::unique_ptr<Sink>> OpenMysqlSink(const SinkConfig& config) {
  if (auto url = ParseMysqlUrl(config); !url) return std::unexpected(url.error());
  if (auto password = ReadSinkPassword(config); !password) return std::unexpected(password.error());
  return std::make_unique<MysqlSink>(config);
}

Status RunMysqlQuery(const SinkConfig& config, const SqlText& query, const RowVisitor& visit) {
  auto conn = Connect(config);
  if (!conn) return std::unexpected(conn.error());
  MYSQL* m = conn->get();
  // Each placeholder becomes its value, quoted and escaped for the connection's character set.
  std::string sql;
  size_t next = 0;
  for (char ch : query.sql) {
    if (ch != '?' || next == query.params.size()) {
      sql += ch;
      continue;
    }
    const std::string& value = query.params[next++];
    const size_t at = sql.size() + 1;
    sql += '\'';
    sql.resize(at + value.size() * 2 + 1);
    sql.resize(at + mysql_real_escape_string(m, sql.data() + at, value.data(), value.size()));
    sql += '\'';
  }
  if (mysql_query(m, sql.c_str()) != 0) return Fail(ErrorCode::kIo, RedactUrl(config.url) + ": " + mysql_error(m));
  MYSQL_RES* result = mysql_use_result(m);  // rows streamed, not held in memory
  if (result == nullptr) return Fail(ErrorCode::kIo, RedactUrl(config.url) + ": " + mysql_error(m));
  const unsigned fields = mysql_num_fields(result);
  std::vector<std::string_view> columns;
  while (MYSQL_ROW values = mysql_fetch_row(result)) {
    const unsigned long* lengths = mysql_fetch_lengths(result);
    columns.clear();
    for (unsigned i = 0; i < fields; ++i) columns.emplace_back(values[i] ? values[i] : "", lengths[i]);
    if (!visit(columns)) break;
  }
  const bool failed = mysql_errno(m) != 0;
  std::string message = failed ? mysql_error(m) : "";
  mysql_free_result(result);
  if (failed) return Fail(ErrorCode::kIo, "cannot read " + RedactUrl(config.url) + ": " + message);
  return {};
}

// Linking mcpaudit::mysql is enough to open mysql:// sinks and read them
// back: its target has the linker keep this (CMakeLists.txt).
namespace {
bool RegisterMysqlSinks() {
  RegisterSinkType("mysql", OpenMysqlSink);
  RegisterStoreReader("mysql", RunMysqlQuery);
  return true;
}
}  // namespace
extern "C" const bool mcpaudit_mysql_sinks = RegisterMysqlSinks();

}  // namespace mcpaudit

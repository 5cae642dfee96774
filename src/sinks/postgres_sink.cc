#include "sinks/postgres_sink.h"

#include <libpq-fe.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "sinks/sql_columns.h"

namespace mcpaudit {
namespace {

#define MCPAUDIT_PG_COLUMNS                                                                     \
  "id, stream, seq, \"timestamp\", event_type, tool, outcome, user_id, tenant_id, request_id, " \
  "client_ip,"                                                                                  \
  " duration_ms, record, session_id, phi, error_reason"

constexpr Migration kMigrations[] = {
    {1,
     "CREATE TABLE audit_events ("
     "  id text NOT NULL,"
     "  stream text NOT NULL,"
     "  seq bigint NOT NULL,"
     "  \"timestamp\" timestamptz NOT NULL,"
     "  event_type text NOT NULL,"
     "  tool text,"
     "  outcome text NOT NULL,"
     "  user_id text,"
     "  tenant_id text,"
     "  request_id text,"
     "  client_ip text,"
     "  duration_ms double precision,"
     "  record text NOT NULL,"
     "  PRIMARY KEY (id, \"timestamp\")"
     ") PARTITION BY RANGE (\"timestamp\");"
     "CREATE INDEX audit_events_stream_seq ON audit_events (stream, seq);"
     "CREATE INDEX audit_events_timestamp ON audit_events (\"timestamp\");"
     "CREATE INDEX audit_events_user ON audit_events (user_id, \"timestamp\");"
     "CREATE INDEX audit_events_tenant ON audit_events (tenant_id, \"timestamp\");"
     "CREATE INDEX audit_events_tool ON audit_events (tool, \"timestamp\");"},
    // The columns the console filters on, and indexes that end in (timestamp, id):
    // the order of a page, so that a filtered page is a walk of one index. The
    // backfill reads records jsonb can hold (not those with a \u0000 escape).
    {2,
     "ALTER TABLE audit_events ADD COLUMN session_id text, ADD COLUMN phi boolean NOT NULL DEFAULT "
     "false,"
     "  ADD COLUMN error_reason text;"
     "UPDATE audit_events SET session_id = record::jsonb #>> '{request,session_id}',"
     "  phi = coalesce((record::jsonb #>> '{compliance,phi}')::boolean, false),"
     "  error_reason = record::jsonb #>> '{error,reason}' WHERE strpos(record, '\\u0000') = 0;"
     "DROP INDEX audit_events_timestamp, audit_events_user, audit_events_tenant, audit_events_tool;"
     "CREATE INDEX audit_events_time ON audit_events (\"timestamp\", id);"
     "CREATE INDEX audit_events_user ON audit_events (user_id, \"timestamp\", id);"
     "CREATE INDEX audit_events_tenant ON audit_events (tenant_id, \"timestamp\", id);"
     "CREATE INDEX audit_events_tool ON audit_events (tool, \"timestamp\", id);"
     "CREATE INDEX audit_events_session ON audit_events (session_id, \"timestamp\", id);"
     "CREATE INDEX audit_events_kind ON audit_events (event_type, \"timestamp\", id);"
     "CREATE INDEX audit_events_outcome ON audit_events (outcome, \"timestamp\", id);"},
    // Counts the console reads instead of the records (see store/store_query.h):
    // per hour by tenant, tool, kind, outcome and reason; per day by tenant,
    // user and outcome. A trigger keeps them equal to the records through every
    // insert (COPY included), erasure (update) and retention (delete); a count
    // of 0 is deleted after an erasure, so that no erased user id stays behind.
    {3,
     "CREATE TABLE audit_rollup (hour text NOT NULL, tenant_id text NOT NULL, tool text NOT NULL,"
     " event_type text NOT NULL, outcome text NOT NULL, error_reason text NOT NULL, n bigint NOT "
     "NULL,"
     " PRIMARY KEY (hour, tenant_id, tool, event_type, outcome, error_reason));"
     "CREATE TABLE audit_rollup_users (day text NOT NULL, tenant_id text NOT NULL, user_id text "
     "NOT NULL,"
     " outcome text NOT NULL, n bigint NOT NULL, PRIMARY KEY (day, tenant_id, user_id, outcome));"
     "CREATE FUNCTION audit_rollup_count(at timestamptz, tenant text, tool_name text, kind text, "
     "result text,"
     " reason text, who text, d integer) RETURNS void LANGUAGE plpgsql AS $$ BEGIN"
     " INSERT INTO audit_rollup VALUES (to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24'), "
     "coalesce(tenant, ''),"
     "  coalesce(tool_name, ''), kind, result, coalesce(reason, ''), d)"
     "  ON CONFLICT (hour, tenant_id, tool, event_type, outcome, error_reason) DO UPDATE SET n = "
     "audit_rollup.n + d;"
     " INSERT INTO audit_rollup_users VALUES (to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), "
     "coalesce(tenant, ''),"
     "  coalesce(who, ''), result, d)"
     "  ON CONFLICT (day, tenant_id, user_id, outcome) DO UPDATE SET n = audit_rollup_users.n + d;"
     " END $$;"
     "CREATE FUNCTION audit_rollup_follow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
     " IF TG_OP <> 'INSERT' THEN PERFORM audit_rollup_count(OLD.\"timestamp\", OLD.tenant_id, "
     "OLD.tool,"
     "  OLD.event_type, OLD.outcome, OLD.error_reason, OLD.user_id, -1); END IF;"
     " IF TG_OP <> 'DELETE' THEN PERFORM audit_rollup_count(NEW.\"timestamp\", NEW.tenant_id, "
     "NEW.tool,"
     "  NEW.event_type, NEW.outcome, NEW.error_reason, NEW.user_id, 1); END IF;"
     " RETURN NULL; END $$;"
     "CREATE TRIGGER audit_rollup AFTER INSERT OR UPDATE OR DELETE ON audit_events"
     " FOR EACH ROW EXECUTE FUNCTION audit_rollup_follow();"
     "INSERT INTO audit_rollup SELECT to_char(\"timestamp\" AT TIME ZONE 'UTC', "
     "'YYYY-MM-DD\"T\"HH24'),"
     " coalesce(tenant_id, ''), coalesce(tool, ''), event_type, outcome, coalesce(error_reason, "
     "''), count(*)"
     " FROM audit_events GROUP BY 1, 2, 3, 4, 5, 6;"
     "INSERT INTO audit_rollup_users SELECT to_char(\"timestamp\" AT TIME ZONE 'UTC', "
     "'YYYY-MM-DD'),"
     " coalesce(tenant_id, ''), coalesce(user_id, ''), outcome, count(*) FROM audit_events GROUP "
     "BY 1, 2, 3, 4;"},
    // A tool's denials (or failures): both filters on one index, the question
    // an auditor asks of a tool that is rarely refused (one filter alone walked
    // every record of the other).
    {4,
     "CREATE INDEX audit_events_tool_outcome ON audit_events (tool, outcome, \"timestamp\", id);"},
    // The sink counts the records it inserts, per key and batch (RollupCounts),
    // and says so in its transaction (kSinkCounts): the trigger's two upserts
    // per row were most of an insert. Other writers (an older server) are
    // still counted by the trigger; erasure (update) and retention (delete) too.
    {5,
     "DROP TRIGGER audit_rollup ON audit_events;"
     "CREATE TRIGGER audit_rollup AFTER UPDATE OR DELETE ON audit_events"
     " FOR EACH ROW EXECUTE FUNCTION audit_rollup_follow();"
     "CREATE TRIGGER audit_rollup_insert AFTER INSERT ON audit_events FOR EACH ROW"
     " WHEN (current_setting('mcpaudit.sink_counts', true) IS DISTINCT FROM 'on')"
     " EXECUTE FUNCTION audit_rollup_follow();"},
};

// Taken by the writes whose triggers count row by row (erasure, retention):
// the rollup rows are then locked in no order that another writer could
// cross (a deadlock); the inserts of other writers wait for them.
constexpr const char* kLockCounts =
    "LOCK TABLE audit_rollup, audit_rollup_users IN SHARE ROW EXCLUSIVE MODE";

// In the sink's transactions: it counts what it inserts itself.
constexpr const char* kSinkCounts = "SET LOCAL mcpaudit.sink_counts = on";

// Inserts the incoming records the table lacks; returns the rollup keys of each.
constexpr const char* kInsertIncoming =
    "INSERT INTO audit_events (" MCPAUDIT_PG_COLUMNS ") SELECT " MCPAUDIT_PG_COLUMNS
    " FROM audit_events_incoming ON CONFLICT (id, \"timestamp\") DO NOTHING"
    " RETURNING to_char(\"timestamp\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24'),"
    " to_char(\"timestamp\" AT TIME ZONE 'UTC', 'YYYY-MM-DD'), coalesce(tenant_id, ''), "
    "coalesce(tool, ''),"
    " event_type, outcome, coalesce(error_reason, ''), coalesce(user_id, '')";

// Rewrites the stored versions of the incoming records (the trigger moves their counts).
constexpr const char* kUpdateFromIncoming =
    "UPDATE audit_events AS t SET stream = i.stream, seq = i.seq, event_type = i.event_type,"
    " tool = i.tool, outcome = i.outcome, user_id = i.user_id, tenant_id = i.tenant_id,"
    " request_id = i.request_id, client_ip = i.client_ip, duration_ms = i.duration_ms,"
    " record = i.record, session_id = i.session_id, phi = i.phi, error_reason = i.error_reason"
    " FROM audit_events_incoming AS i WHERE t.id = i.id AND t.\"timestamp\" = i.\"timestamp\"";

// After an erasure or a retention run: counts that fell to 0 go, with the values in their key.
constexpr const char* kDropEmptyCounts =
    "DELETE FROM audit_rollup WHERE n <= 0; DELETE FROM audit_rollup_users WHERE n <= 0";

// Taken while migrating, so that two servers starting at once migrate once.
constexpr const char* kMigrationLock = "SELECT pg_advisory_lock(7216380117)";
constexpr const char* kMigrationUnlock = "SELECT pg_advisory_unlock(7216380117)";

constexpr const char* kColumns = MCPAUDIT_PG_COLUMNS;
#undef MCPAUDIT_PG_COLUMNS

struct ConnectionCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using Connection = std::unique_ptr<PGconn, ConnectionCloser>;
struct ResultClearer {
  void operator()(PGresult* result) const { PQclear(result); }
};
using QueryResult = std::unique_ptr<PGresult, ResultClearer>;

std::string LastError(PGconn* conn) {
  std::string message = PQerrorMessage(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

Result<Connection> Connect(const SinkConfig& config) {
  auto password = ReadSinkPassword(config);
  if (!password) return std::unexpected(password.error());
  // What the URL asks for: the host decides whether TLS must be verified.
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(config.url.c_str(), &parse_error);
  if (options == nullptr) {
    std::string message = parse_error ? parse_error : "out of memory";
    PQfreemem(parse_error);
    return Fail(ErrorCode::kInvalidArgument,
                "sink " + config.name + ": " + RedactUrl(config.url) + ": " + message);
  }
  bool loopback = true, sslmode_given = false;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    if (std::string_view(o->keyword) == "host") {
      // A host list: every host must be loopback for TLS to be optional.
      std::string_view hosts = o->val;
      for (size_t start = 0; start <= hosts.size();) {
        const size_t comma = std::min(hosts.find(',', start), hosts.size());
        loopback = loopback && IsLoopbackHost(hosts.substr(start, comma - start));
        start = comma + 1;
      }
    }
    if (std::string_view(o->keyword) == "sslmode") sslmode_given = true;
  }
  PQconninfoFree(options);
  // Later keywords override earlier ones, and the URL (dbname, expanded) overrides the defaults
  // before it.
  std::vector<const char*> keys, values;
  if (!loopback && !sslmode_given) keys.push_back("sslmode"), values.push_back("verify-full");
  keys.push_back("connect_timeout"), values.push_back("10");
  keys.push_back("dbname"), values.push_back(config.url.c_str());
  keys.push_back("application_name"), values.push_back("mcp-audit");
  keys.push_back("client_encoding"), values.push_back("UTF8");
  if (!password->empty()) keys.push_back("password"), values.push_back(password->c_str());
  keys.push_back(nullptr), values.push_back(nullptr);
  Connection conn(PQconnectdbParams(keys.data(), values.data(), 1));
  if (!conn)
    return Fail(ErrorCode::kUnavailable,
                "cannot connect to " + RedactUrl(config.url) + ": out of memory");
  if (PQstatus(conn.get()) != CONNECTION_OK)
    return Fail(ErrorCode::kUnavailable,
                "cannot connect to " + RedactUrl(config.url) + ": " + LastError(conn.get()));
  // The server's notices ("relation already exists, skipping") are not for the operator.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  return conn;
}

// Appends `value` as one field of COPY's text format: backslash, tab and line
// breaks escaped. NUL cannot be stored in PostgreSQL text; the column copies
// drop it (the record keeps it, escaped as JSON does).
void AppendCopyField(std::string& out, std::string_view value) {
  size_t start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c != '\\' && c != '\t' && c != '\n' && c != '\r' && c != '\0') continue;
    out.append(value.substr(start, i - start));
    start = i + 1;
    if (c == '\\')
      out += "\\\\";
    else if (c == '\t')
      out += "\\t";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
  }
  out.append(value.substr(start));
}

// The text a key column holds: at most kColumnChars characters (an index
// entry must fit a btree page: a caller's 3 kB tool name must not stop the
// sink for good; the record keeps it whole), without NUL (PostgreSQL text
// holds none). The rollup keys are made the same way.
constexpr size_t kColumnChars = 191;
std::string ColumnText(std::string_view value) {
  std::string text(TruncateUtf8(value, kColumnChars));
  std::erase(text, '\0');
  return text;
}

void AppendCopyRow(std::string& out, const SinkRecord& record) {
  const RecordColumns c = ColumnsOf(record);
  auto field = [&](std::string_view value, bool null_when_empty = true) {
    if (value.empty() && null_when_empty)
      out += "\\N";
    else
      AppendCopyField(out, value);
    out += '\t';
  };
  field(c.id, false);
  field(c.stream, false);
  out += std::to_string(c.seq);
  out += '\t';
  field(c.timestamp, false);
  field(ColumnText(c.event_type), false);
  field(ColumnText(c.tool));
  field(ColumnText(c.outcome), false);
  field(ColumnText(c.user_id));
  field(ColumnText(c.tenant_id));
  field(ColumnText(c.request_id));
  field(ColumnText(c.client_ip));
  if (c.duration_ms) {
    char number[32];
    const auto end = std::to_chars(number, number + sizeof number, *c.duration_ms).ptr;
    out.append(number, end);
    out += '\t';
  } else {
    out += "\\N\t";
  }
  AppendCopyField(out, record.line);
  out += '\t';
  field(ColumnText(c.session_id));
  out += c.phi ? "t\t" : "f\t";
  const std::string error_reason = ColumnText(c.error_reason);
  if (error_reason.empty())
    out += "\\N";
  else
    AppendCopyField(out, error_reason);
  out += '\n';
}

// The month partition (UTC) a record falls in.
std::chrono::year_month MonthOf(const AuditEvent& event) {
  const std::chrono::year_month_day day(std::chrono::floor<std::chrono::days>(event.timestamp));
  return day.year() / day.month();
}

class PostgresSink final : public Sink {
 public:
  explicit PostgresSink(SinkConfig config) : config_(std::move(config)) {}

  Status Store(std::span<const SinkRecord> batch) override { return Write(batch, false); }

  // Without a connection (the server did not answer, or dropped it): whether
  // it accepts connections again, asked without logging in.
  std::optional<bool> Answers() override {
    if (conn_) return std::nullopt;
    const char* keys[] = {"dbname", "connect_timeout", nullptr};
    const char* values[] = {config_.url.c_str(), "2", nullptr};
    return PQpingParams(keys, values, 1) == PQPING_OK;
  }

  Status Replace(std::span<const SinkRecord> records) override {
    if (Status s = Write(records, true); !s) return s;
    if (Status s = Exec(kDropEmptyCounts); !s) return s;
    // The old versions are dead rows now: vacuum makes their space reusable
    // (PostgreSQL cannot zero it; VACUUM FULL rewrites the table for that).
    return Exec("VACUUM audit_events");
  }

  Status Forget(std::string_view stream, uint64_t through_seq) override {
    if (Status s = EnsureConnected(); !s) return s;
    std::unique_ptr<char, decltype(&PQfreemem)> literal(
        PQescapeLiteral(conn_.get(), stream.data(), stream.size()), &PQfreemem);
    if (!literal) return Error("cannot quote the stream name");
    Status deleted = Exec("BEGIN");
    if (deleted) deleted = Exec(kLockCounts);
    if (deleted)
      deleted = Exec("DELETE FROM audit_events WHERE stream = " + std::string(literal.get()) +
                     " AND seq <= " + std::to_string(through_seq));
    if (deleted) deleted = Exec(kDropEmptyCounts);
    if (deleted) deleted = Exec("COMMIT");
    if (!deleted) {
      (void)Exec("ROLLBACK");
      return deleted;
    }
    return Exec("VACUUM audit_events");
  }

 private:
  Status Write(std::span<const SinkRecord> batch, bool replace) {
    if (batch.empty()) return {};
    if (Status s = EnsureConnected(); !s) return s;
    Status written = WriteBatch(batch, replace);
    if (!written) {
      partitions_.clear();  // a partition may have been dropped (retention): look again
      if (PQstatus(conn_.get()) == CONNECTION_OK)
        (void)Exec("ROLLBACK");
      else
        conn_.reset();  // reconnect on the next batch
    }
    return written;
  }

  Status WriteBatch(std::span<const SinkRecord> batch, bool replace) {
    if (Status s = EnsurePartitions(batch); !s) return s;
    if (Status s = Exec("BEGIN"); !s) return s;
    if (Status s = Exec(kSinkCounts); !s) return s;
    // What the batch inserts, counted in the rollups by this sink: rows in key
    // order (std::map's, bytewise), hours then users, so that two writers take
    // the rollup rows' locks alike; the keys are the columns' text.
    RollupCounts inserted(ColumnText);
    if (!replace) {
      // The common case, no record of the batch stored yet: COPY straight into
      // the table. A record sent before (a retry) makes it fail on the primary
      // key; then the batch goes the careful way below.
      if (Status s = Exec("SAVEPOINT direct"); !s) return s;
      std::string sqlstate;
      if (Copy(batch, "audit_events", &sqlstate)) {
        for (const SinkRecord& record : batch) inserted.Add(ColumnsOf(record));  // all of them
        if (Status s = AddCounts(inserted); !s) return s;
        return Exec("COMMIT");
      }
      if (sqlstate != "23505") return Error("COPY failed");
      if (Status s = Exec("ROLLBACK TO SAVEPOINT direct"); !s) return s;
    }
    if (Status s = Copy(batch, "audit_events_incoming"); !s) return s;
    if (replace) {
      // The update trigger counts row by row (an hour, then a day, per row):
      // no other writer takes a rollup row meanwhile (kLockCounts).
      if (Status s = Exec(kLockCounts); !s) return s;
      if (Status s = Exec(kUpdateFromIncoming); !s) return s;
    }
    QueryResult added(PQexec(conn_.get(), kInsertIncoming));
    if (PQresultStatus(added.get()) != PGRES_TUPLES_OK) return Error("cannot insert the batch");
    for (int row = 0; row < PQntuples(added.get()); ++row) {
      auto column = [&](int i) {
        return std::string_view(PQgetvalue(added.get(), row, i), PQgetlength(added.get(), row, i));
      };
      inserted.Add(RollupCounts::Keys{column(0), column(1), column(2), column(3), column(4),
                                      column(5), column(6), column(7)});
    }
    if (Status s = AddCounts(inserted); !s) return s;
    return Exec("COMMIT");
  }

  // Adds `counts` to the rollup tables: one statement each, rows in key order.
  Status AddCounts(const RollupCounts& counts) {
    if (Status s =
            Upsert("audit_rollup", "hour, tenant_id, tool, event_type, outcome, error_reason",
                   counts.hours());
        !s)
      return s;
    return Upsert("audit_rollup_users", "day, tenant_id, user_id, outcome", counts.days());
  }

  // At most 1000 keys a statement (PostgreSQL takes 65535 parameters).
  template <typename Key>
  Status Upsert(const char* table, const char* key_columns, const std::map<Key, int64_t>& counts) {
    constexpr size_t kKeysPerStatement = 1000;
    auto next = counts.begin();
    while (next != counts.end()) {
      std::string sql = std::string("INSERT INTO ") + table + " VALUES ";
      std::vector<std::string> numbers;  // the counts' text (reserved: the values point into it)
      numbers.reserve(kKeysPerStatement);
      std::vector<const char*> values;
      int parameter = 0;
      for (; next != counts.end() && numbers.size() < kKeysPerStatement; ++next) {
        const auto& [key, n] = *next;
        sql += parameter == 0 ? "(" : ",(";
        std::apply(
            [&](const auto&... part) {
              ((values.push_back(part.c_str()), sql += "$" + std::to_string(++parameter) + ","),
               ...);
            },
            key);
        numbers.push_back(std::to_string(n));
        values.push_back(numbers.back().c_str());
        sql += "$" + std::to_string(++parameter) + "::bigint)";
      }
      sql += std::string(" ON CONFLICT (") + key_columns + ") DO UPDATE SET n = " + table +
             ".n + EXCLUDED.n";
      QueryResult result(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()),
                                      nullptr, values.data(), nullptr, nullptr, 0));
      if (PQresultStatus(result.get()) != PGRES_COMMAND_OK)
        return Error("cannot count the records in the rollups");
    }
    return {};
  }

  // COPY of the batch into `table`; on failure `sqlstate` (when given) says why.
  Status Copy(std::span<const SinkRecord> batch, const std::string& table,
              std::string* sqlstate = nullptr) {
    const std::string copy = "COPY " + table + " (" + kColumns + ") FROM STDIN";
    QueryResult started(PQexec(conn_.get(), copy.c_str()));
    if (PQresultStatus(started.get()) != PGRES_COPY_IN) return Error("cannot start COPY");
    constexpr size_t kChunk = 1 << 20;
    buffer_.clear();
    for (const SinkRecord& record : batch) {
      AppendCopyRow(buffer_, record);
      if (buffer_.size() >= kChunk) {
        if (PQputCopyData(conn_.get(), buffer_.data(), static_cast<int>(buffer_.size())) != 1)
          return Error("COPY failed");
        buffer_.clear();
      }
    }
    if (!buffer_.empty() &&
        PQputCopyData(conn_.get(), buffer_.data(), static_cast<int>(buffer_.size())) != 1)
      return Error("COPY failed");
    if (PQputCopyEnd(conn_.get(), nullptr) != 1) return Error("COPY failed");
    QueryResult finished(PQgetResult(conn_.get()));
    const bool ok = PQresultStatus(finished.get()) == PGRES_COMMAND_OK;
    std::string message = ok ? "" : PQresultErrorMessage(finished.get());
    if (!ok && sqlstate != nullptr) {
      const char* state = PQresultErrorField(finished.get(), PG_DIAG_SQLSTATE);
      *sqlstate = state ? state : "";
    }
    while (QueryResult rest{PQgetResult(conn_.get())}) {
    }
    if (!ok) return Fail(ErrorCode::kIo, RedactUrl(config_.url) + ": COPY failed: " + message);
    return {};
  }

  Status EnsureConnected() {
    if (conn_ && PQstatus(conn_.get()) == CONNECTION_OK) return {};
    auto conn = Connect(config_);
    if (!conn) return std::unexpected(conn.error());
    conn_ = std::move(*conn);
    if (Status s = Migrate(); !s) {
      conn_.reset();
      return s;
    }
    Status created = Exec(
        "CREATE TEMPORARY TABLE audit_events_incoming (LIKE audit_events) ON COMMIT DELETE ROWS");
    if (!created) conn_.reset();  // the next batch connects again (and makes it)
    return created;
  }

  Status Migrate() {
    if (Status s = Exec(kMigrationLock); !s) return s;
    Status migrated = ApplyMigrations();
    (void)Exec(kMigrationUnlock);
    return migrated;
  }

  Status ApplyMigrations() {
    if (Status s = Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
                        " applied_at timestamptz NOT NULL DEFAULT now())");
        !s)
      return s;
    QueryResult current(
        PQexec(conn_.get(), "SELECT coalesce(max(version), 0) FROM schema_migrations"));
    if (PQresultStatus(current.get()) != PGRES_TUPLES_OK)
      return Error("cannot read schema_migrations");
    const int version = std::atoi(PQgetvalue(current.get(), 0, 0));
    for (const Migration& m : kMigrations) {
      if (m.version <= version) continue;
      Status applied = Exec("BEGIN");
      if (applied) applied = Exec(m.sql);
      if (applied)
        applied = Exec("INSERT INTO schema_migrations (version) VALUES (" +
                       std::to_string(m.version) + ")");
      if (applied) applied = Exec("COMMIT");
      if (!applied) {
        (void)Exec("ROLLBACK");
        return Fail(ErrorCode::kIo, "migration " + std::to_string(m.version) + " of " +
                                        RedactUrl(config_.url) +
                                        " failed: " + applied.error().message);
      }
    }
    return {};
  }

  // Creates the month partitions the batch needs that this connection has not seen yet.
  Status EnsurePartitions(std::span<const SinkRecord> batch) {
    using std::chrono::months;
    std::set<std::chrono::year_month> needed;
    for (const SinkRecord& record : batch) {
      if (const auto month = MonthOf(record.event); !partitions_.contains(month))
        needed.insert(month);
    }
    for (const std::chrono::year_month month : needed) {
      const std::chrono::year_month next = month + months(1);
      const int year = static_cast<int>(month.year()),
                number = static_cast<int>(unsigned(month.month()));
      char sql[320];
      std::snprintf(sql, sizeof sql,
                    "CREATE TABLE IF NOT EXISTS audit_events_y%04dm%02d PARTITION OF audit_events "
                    "FOR VALUES FROM "
                    "('%04d-%02d-01 00:00:00+00') TO ('%04d-%02d-01 00:00:00+00')",
                    year, number, year, number, static_cast<int>(next.year()),
                    static_cast<int>(unsigned(next.month())));
      if (Status s = Exec(sql); !s) return s;
      partitions_.insert(month);
    }
    return {};
  }

  Status Exec(const std::string& sql) {
    QueryResult result(PQexec(conn_.get(), sql.c_str()));
    const ExecStatusType status = PQresultStatus(result.get());
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return {};
    std::string message = result ? PQresultErrorMessage(result.get()) : LastError(conn_.get());
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return Fail(PQstatus(conn_.get()) == CONNECTION_OK ? ErrorCode::kIo : ErrorCode::kUnavailable,
                RedactUrl(config_.url) + ": " + message);
  }

  Status Error(const std::string& what) {
    return Fail(PQstatus(conn_.get()) == CONNECTION_OK ? ErrorCode::kIo : ErrorCode::kUnavailable,
                RedactUrl(config_.url) + ": " + what + ": " + LastError(conn_.get()));
  }

  SinkConfig config_;
  Connection conn_;
  std::set<std::chrono::year_month> partitions_;  // months known to exist
  std::string buffer_;                            // COPY data, reused
};

}  // namespace

Result<std::unique_ptr<Sink>> OpenPostgresSink(const SinkConfig& config) {
  // Checked now (a wrong password source is a configuration error); the
  // connection itself is made by the first batch.
  if (auto password = ReadSinkPassword(config); !password) return std::unexpected(password.error());
  return std::make_unique<PostgresSink>(config);
}

namespace {

// Connections the reads keep between queries, by store: a read (a page of the
// console, a count) takes one instead of paying for a connection and its
// authentication each time (tens of milliseconds). At most 4 idle per store.
class ReadConnections {
 public:
  // An idle connection to `config`'s store, or a new one; `reused` says which.
  Result<Connection> Take(const SinkConfig& config, bool& reused) {
    {
      std::lock_guard lock(mutex_);
      auto& idle = idle_[Key(config)];
      while (!idle.empty()) {
        Connection conn = std::move(idle.back());
        idle.pop_back();
        if (PQstatus(conn.get()) == CONNECTION_OK) {
          reused = true;
          return conn;
        }
      }
    }
    reused = false;
    return Connect(config);
  }

  // Keeps `conn` for the next read, when it is healthy and between transactions.
  void Give(const SinkConfig& config, Connection conn) {
    if (PQstatus(conn.get()) != CONNECTION_OK || PQtransactionStatus(conn.get()) != PQTRANS_IDLE)
      return;
    std::lock_guard lock(mutex_);
    auto& idle = idle_[Key(config)];
    if (idle.size() < 4) idle.push_back(std::move(conn));
  }

 private:
  static std::string Key(const SinkConfig& config) {
    return config.url + '\n' + config.password_env + '\n' + config.password_file;
  }
  std::mutex mutex_;
  std::map<std::string, std::vector<Connection>> idle_;  // guarded by mutex_
};

ReadConnections& Reads() {
  static ReadConnections reads;
  return reads;
}

// Runs `query` on `c`; `visited` counts the rows handed to `visit`.
Status RunOn(PGconn* c, const SinkConfig& config, const SqlText& query, const RowVisitor& visit,
             size_t& visited) {
  // The placeholders as PostgreSQL numbers them; the values go apart from the text.
  std::string sql;
  int number = 0;
  for (char ch : query.sql) {
    if (ch == '?')
      sql += "$" + std::to_string(++number);
    else
      sql += ch;
  }
  std::vector<const char*> values;
  for (const std::string& param : query.params) values.push_back(param.c_str());
  if (PQsendQueryParams(c, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                        nullptr, nullptr, 0) != 1 ||
      PQsetSingleRowMode(c) != 1)
    return Fail(ErrorCode::kIo, RedactUrl(config.url) + ": " + LastError(c));
  Status status;
  bool more = true;
  size_t skipped = 0;  // rows after the visitor stopped
  std::vector<std::string_view> columns;
  while (QueryResult result{PQgetResult(c)}) {
    const ExecStatusType state = PQresultStatus(result.get());
    if (state == PGRES_SINGLE_TUPLE) {
      // A page's query ends by itself a row later: a cancel (a connection of its
      // own to the server) only for a long query the visitor left early.
      if (!more && ++skipped == 1000) PQrequestCancel(c);
      if (!more) continue;
      columns.clear();
      for (int i = 0; i < PQnfields(result.get()); ++i)
        columns.emplace_back(PQgetvalue(result.get(), 0, i),
                             static_cast<size_t>(PQgetlength(result.get(), 0, i)));
      ++visited;
      more = visit(columns);
    } else if (state != PGRES_TUPLES_OK && more && status) {
      std::string message = PQresultErrorMessage(result.get());
      while (!message.empty() && message.back() == '\n') message.pop_back();
      status = Fail(ErrorCode::kIo, RedactUrl(config.url) + ": " + message);
    }
  }
  return status;
}

}  // namespace

Status RunPostgresQuery(const SinkConfig& config, const SqlText& query, const RowVisitor& visit) {
  bool reused = false;
  auto conn = Reads().Take(config, reused);
  if (!conn) return std::unexpected(conn.error());
  size_t visited = 0;
  Status status = RunOn(conn->get(), config, query, visit, visited);
  // A kept connection the server closed meanwhile (a restart): once more on a new one.
  if (!status && reused && visited == 0 && PQstatus(conn->get()) != CONNECTION_OK) {
    conn = Connect(config);
    if (!conn) return std::unexpected(conn.error());
    status = RunOn(conn->get(), config, query, visit, visited);
  }
  if (status) Reads().Give(config, std::move(*conn));
  return status;
}

// Linking mcpaudit::postgres is enough to open postgres:// sinks and read
// them back: its target has the linker keep this (CMakeLists.txt).
namespace {
bool RegisterPostgresSinks() {
  RegisterSinkType("postgres", OpenPostgresSink);
  RegisterStoreReader("postgres", RunPostgresQuery);
  return true;
}
}  // namespace
extern "C" const bool mcpaudit_postgres_sinks = RegisterPostgresSinks();

}  // namespace mcpaudit

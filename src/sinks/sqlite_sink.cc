#include "sinks/sqlite_sink.h"

#include <sqlite3.h>
#include <unistd.h>

#include <map>
#include <tuple>

#include "base/audit_files.h"
#include "base/ops_log.h"
#include "sinks/sql_columns.h"

namespace mcpaudit {
namespace {

// What the rollup triggers do for one row: count `new` in, count `old` out.
#define MCPAUDIT_ROLLUP_COUNT_NEW                                                                  \
  " INSERT INTO audit_rollup VALUES (substr(new.timestamp, 1, 13), coalesce(new.tenant_id, ''),"   \
  "  coalesce(new.tool, ''), new.event_type, new.outcome, coalesce(new.error_reason, ''), 1)"      \
  "  ON CONFLICT DO UPDATE SET n = n + 1;"                                                         \
  " INSERT INTO audit_rollup_users VALUES (substr(new.timestamp, 1, 10), coalesce(new.tenant_id, " \
  "''),"                                                                                           \
  "  coalesce(new.user_id, ''), new.outcome, 1) ON CONFLICT DO UPDATE SET n = n + 1;"
#define MCPAUDIT_ROLLUP_UNCOUNT_OLD                                                            \
  " UPDATE audit_rollup SET n = n - 1 WHERE hour = substr(old.timestamp, 1, 13)"               \
  "  AND tenant_id = coalesce(old.tenant_id, '') AND tool = coalesce(old.tool, '')"            \
  "  AND event_type = old.event_type AND outcome = old.outcome AND error_reason = "            \
  "coalesce(old.error_reason, '');"                                                            \
  " UPDATE audit_rollup_users SET n = n - 1 WHERE day = substr(old.timestamp, 1, 10)"          \
  "  AND tenant_id = coalesce(old.tenant_id, '') AND user_id = coalesce(old.user_id, '') AND " \
  "outcome = old.outcome;"

constexpr Migration kMigrations[] = {
    {1,
     "CREATE TABLE audit_events ("
     "  id TEXT PRIMARY KEY,"
     "  stream TEXT NOT NULL,"
     "  seq INTEGER NOT NULL,"
     "  timestamp TEXT NOT NULL,"
     "  event_type TEXT NOT NULL,"
     "  tool TEXT,"
     "  outcome TEXT NOT NULL,"
     "  user_id TEXT,"
     "  tenant_id TEXT,"
     "  request_id TEXT,"
     "  client_ip TEXT,"
     "  duration_ms REAL,"
     "  record TEXT NOT NULL"
     ");"
     "CREATE INDEX audit_events_stream_seq ON audit_events(stream, seq);"
     "CREATE INDEX audit_events_timestamp ON audit_events(timestamp);"
     "CREATE INDEX audit_events_user ON audit_events(user_id, timestamp);"
     "CREATE INDEX audit_events_tenant ON audit_events(tenant_id, timestamp);"
     "CREATE INDEX audit_events_tool ON audit_events(tool, timestamp);"},
    // The columns the console filters on, and indexes that end in (timestamp, id):
    // the order of a page, so that a filtered page is a walk of one index.
    {2,
     "ALTER TABLE audit_events ADD COLUMN session_id TEXT;"
     "ALTER TABLE audit_events ADD COLUMN phi INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE audit_events ADD COLUMN error_reason TEXT;"
     "UPDATE audit_events SET session_id = json_extract(record, '$.request.session_id'),"
     "  phi = coalesce(json_extract(record, '$.compliance.phi'), 0),"
     "  error_reason = json_extract(record, '$.error.reason') WHERE json_valid(record);"
     "DROP INDEX audit_events_timestamp;"
     "DROP INDEX audit_events_user;"
     "DROP INDEX audit_events_tenant;"
     "DROP INDEX audit_events_tool;"
     "CREATE INDEX audit_events_time ON audit_events(timestamp, id);"
     "CREATE INDEX audit_events_user ON audit_events(user_id, timestamp, id);"
     "CREATE INDEX audit_events_tenant ON audit_events(tenant_id, timestamp, id);"
     "CREATE INDEX audit_events_tool ON audit_events(tool, timestamp, id);"
     "CREATE INDEX audit_events_session ON audit_events(session_id, timestamp, id);"
     "CREATE INDEX audit_events_kind ON audit_events(event_type, timestamp, id);"
     "CREATE INDEX audit_events_outcome ON audit_events(outcome, timestamp, id);"},
    // Counts the console reads instead of the records (see store/store_query.h):
    // per hour by tenant, tool, kind, outcome and reason; per day by tenant,
    // user and outcome. Triggers keep them equal to the records through every
    // insert, erasure (update) and retention (delete); a count of 0 is deleted
    // after an erasure, so that no erased user id stays behind.
    {3,
     "CREATE TABLE audit_rollup (hour TEXT NOT NULL, tenant_id TEXT NOT NULL, tool TEXT NOT NULL,"
     " event_type TEXT NOT NULL, outcome TEXT NOT NULL, error_reason TEXT NOT NULL, n INTEGER NOT "
     "NULL,"
     " PRIMARY KEY (hour, tenant_id, tool, event_type, outcome, error_reason)) WITHOUT ROWID;"
     "CREATE TABLE audit_rollup_users (day TEXT NOT NULL, tenant_id TEXT NOT NULL, user_id TEXT "
     "NOT NULL,"
     " outcome TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (day, tenant_id, user_id, outcome)) "
     "WITHOUT ROWID;"
     "CREATE TRIGGER audit_rollup_add AFTER INSERT ON audit_events BEGIN" MCPAUDIT_ROLLUP_COUNT_NEW
     "END;"
     "CREATE TRIGGER audit_rollup_remove AFTER DELETE ON audit_events "
     "BEGIN" MCPAUDIT_ROLLUP_UNCOUNT_OLD "END;"
     "CREATE TRIGGER audit_rollup_change AFTER UPDATE ON audit_events "
     "BEGIN" MCPAUDIT_ROLLUP_UNCOUNT_OLD MCPAUDIT_ROLLUP_COUNT_NEW "END;"
     "INSERT INTO audit_rollup SELECT substr(timestamp, 1, 13), coalesce(tenant_id, ''), "
     "coalesce(tool, ''),"
     " event_type, outcome, coalesce(error_reason, ''), count(*) FROM audit_events GROUP BY 1, 2, "
     "3, 4, 5, 6;"
     "INSERT INTO audit_rollup_users SELECT substr(timestamp, 1, 10), coalesce(tenant_id, ''),"
     " coalesce(user_id, ''), outcome, count(*) FROM audit_events GROUP BY 1, 2, 3, 4;"},
    // A tool's denials (or failures): both filters on one index, the question
    // an auditor asks of a tool that is rarely refused (one filter alone walked
    // every record of the other).
    {4, "CREATE INDEX audit_events_tool_outcome ON audit_events(tool, outcome, timestamp, id);"},
    // Inserted records are counted by the sink, once per key and batch
    // (RollupCounts): a trigger per row cost each insert a statement journal
    // and two upserts. Erasure (update) and retention (delete) keep theirs.
    {5, "DROP TRIGGER audit_rollup_add;"},
};

#undef MCPAUDIT_ROLLUP_COUNT_NEW
#undef MCPAUDIT_ROLLUP_UNCOUNT_OLD

// Adds `counts` to the rollup tables, inside the caller's transaction.
template <typename Key>
bool Upsert(sqlite3* db, const char* sql, const std::map<Key, int64_t>& counts) {
  if (counts.empty()) return true;
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) != SQLITE_OK) return false;
  bool ok = true;
  for (const auto& [key, n] : counts) {
    sqlite3_reset(statement);
    int column = 0;
    std::apply(
        [&](const auto&... part) {
          (sqlite3_bind_text(statement, ++column, part.data(), static_cast<int>(part.size()),
                             SQLITE_STATIC),
           ...);
        },
        key);
    sqlite3_bind_int64(statement, ++column, n);
    if (sqlite3_step(statement) != SQLITE_DONE) {
      ok = false;
      break;
    }
  }
  sqlite3_finalize(statement);
  return ok;
}

bool ApplyCounts(sqlite3* db, const RollupCounts& counts) {
  return Upsert(db,
                "INSERT INTO audit_rollup VALUES (?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET n = n + "
                "excluded.n",
                counts.hours()) &&
         Upsert(db,
                "INSERT INTO audit_rollup_users VALUES (?,?,?,?,?) ON CONFLICT DO UPDATE SET n = n + "
                "excluded.n",
                counts.days());
}

// After an erasure or a retention run: counts that fell to 0 go, with the values in their key.
constexpr const char* kDropEmptyCounts =
    "DELETE FROM audit_rollup WHERE n <= 0; DELETE FROM audit_rollup_users WHERE n <= 0";

class SqliteSink final : public Sink {
 public:
  SqliteSink(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteSink() override {
    sqlite3_finalize(insert_);
    sqlite3_finalize(replace_);
    sqlite3_finalize(exists_);
    sqlite3_close(db_);
  }

  Status Init() {
    // secure_delete: the space of an overwritten (erased) record is zeroed, not left readable.
    // temp_store=MEMORY: the statement journal that each insert needs once the
    // rollup triggers exist stays in memory (on disk it tripled the cost of a batch).
    for (const char* pragma :
         {"PRAGMA page_size=8192", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
          "PRAGMA busy_timeout=5000", "PRAGMA cache_size=-16384", "PRAGMA wal_autocheckpoint=8192",
          "PRAGMA temp_store=MEMORY", "PRAGMA analysis_limit=1000", "PRAGMA secure_delete=ON"}) {
      if (Status s = Exec(pragma); !s) return s;
    }
    if (Status s =
            Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                 "applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))");
        !s)
      return s;
    int current = 0;
    if (Status s = QueryInt("SELECT coalesce(max(version), 0) FROM schema_migrations", current); !s)
      return s;
    for (const Migration& m : kMigrations) {
      if (m.version <= current) continue;
      Status applied = Exec("BEGIN IMMEDIATE");
      if (applied) applied = Exec(m.sql);
      if (applied)
        applied = Exec("INSERT INTO schema_migrations(version) VALUES (" +
                       std::to_string(m.version) + ")");
      if (applied) applied = Exec("COMMIT");
      if (!applied) {
        (void)Exec("ROLLBACK");
        return Fail(ErrorCode::kIo, "migration " + std::to_string(m.version) + " of " + path_ +
                                        " failed: " + applied.error().message);
      }
    }
    int rows = 0;
    if (Status s = QueryInt("SELECT coalesce(max(rowid), 0) FROM audit_events", rows); !s) return s;
    rows_ = static_cast<uint64_t>(rows);
    if (Status s = Analyze(); !s) return s;
    const std::string insert =
        "INSERT INTO audit_events(id, stream, seq, timestamp, event_type, tool, outcome, user_id, "
        "tenant_id,"
        " request_id, client_ip, duration_ms, record, session_id, phi, error_reason)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) ";
    const std::string replace =
        "DO UPDATE SET stream=excluded.stream, seq=excluded.seq, timestamp=excluded.timestamp,"
        " event_type=excluded.event_type, tool=excluded.tool, outcome=excluded.outcome, "
        "user_id=excluded.user_id,"
        " tenant_id=excluded.tenant_id, request_id=excluded.request_id, "
        "client_ip=excluded.client_ip,"
        " duration_ms=excluded.duration_ms, record=excluded.record, session_id=excluded.session_id,"
        " phi=excluded.phi, error_reason=excluded.error_reason";
    if (sqlite3_prepare_v3(db_, (insert + "DO NOTHING").c_str(), -1, SQLITE_PREPARE_PERSISTENT,
                           &insert_, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v3(db_, (insert + replace).c_str(), -1, SQLITE_PREPARE_PERSISTENT,
                           &replace_, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v3(db_, "SELECT 1 FROM audit_events WHERE id = ?", -1,
                           SQLITE_PREPARE_PERSISTENT, &exists_, nullptr) != SQLITE_OK)
      return Error("cannot prepare the insert");
    return {};
  }

  Status Store(std::span<const SinkRecord> batch) override {
    if (Status s = Write(insert_, batch); !s) return s;
    rows_ += batch.size();
    // The batch is stored: statistics that cannot be taken now are taken at the next doubling.
    if (rows_ >= analyzed_at_ * 2 + 10000)
      if (Status analyzed = Analyze(); !analyzed)
        OpsLog().warn("{}: the planner's statistics are not refreshed: {}", path_,
                      analyzed.error().message);
    return {};
  }

  Status Replace(std::span<const SinkRecord> records) override {
    if (Status s = Write(replace_, records); !s) return s;
    if (Status s = Exec(kDropEmptyCounts); !s) return s;
    // The old versions may still sit in the write-ahead log: fold it into the
    // database (whose freed space secure_delete zeroed) and empty it.
    return Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  Status Forget(std::string_view stream, uint64_t through_seq) override {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_, "DELETE FROM audit_events WHERE stream = ? AND seq <= ?", -1,
                           &statement, nullptr) != SQLITE_OK)
      return Error("cannot prepare the delete");
    sqlite3_bind_text(statement, 1, stream.data(), static_cast<int>(stream.size()), SQLITE_STATIC);
    sqlite3_bind_int64(statement, 2, static_cast<sqlite3_int64>(through_seq));
    const int stepped = sqlite3_step(statement);
    sqlite3_finalize(statement);
    if (stepped != SQLITE_DONE) return Error("cannot delete the expired records");
    if (Status s = Exec(kDropEmptyCounts); !s) return s;
    return Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }

 private:
  // The planner's statistics (sqlite_stat1, sampled: analysis_limit), taken at
  // open and again each time the table has doubled, so that a query with two
  // filters (a tool's denials) walks the index of the rarer one. Milliseconds.
  Status Analyze() {
    analyzed_at_ = rows_;
    return Exec("ANALYZE");
  }

  Status Write(sqlite3_stmt* statement, std::span<const SinkRecord> batch) {
    if (Status s = Exec("BEGIN IMMEDIATE"); !s) return s;
    RollupCounts inserted;
    for (const SinkRecord& record : batch) {
      if (Status s = Insert(statement, record, inserted); !s) {
        (void)Exec("ROLLBACK");
        return s;
      }
    }
    if (!ApplyCounts(db_, inserted)) {
      Status failed = Error("cannot count the records in the rollups");
      (void)Exec("ROLLBACK");
      return failed;
    }
    if (Status s = Exec("COMMIT"); !s) {
      (void)Exec("ROLLBACK");
      return s;
    }
    return {};
  }

  // Inserts (or, with replace_, rewrites) one record; a new row is counted in
  // `inserted` (a rewritten one by the update trigger).
  Status Insert(sqlite3_stmt* statement, const SinkRecord& record, RollupCounts& inserted) {
    const RecordColumns c = ColumnsOf(record);
    bool existed = false;
    if (statement == replace_) {
      sqlite3_reset(exists_);
      sqlite3_bind_text(exists_, 1, c.id.data(), static_cast<int>(c.id.size()), SQLITE_STATIC);
      existed = sqlite3_step(exists_) == SQLITE_ROW;
      sqlite3_reset(exists_);  // no read left open in the transaction
    }
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
    int column = 0;
    auto text = [&](std::string_view value, bool null_when_empty = true) {
      ++column;
      if (value.empty() && null_when_empty) return sqlite3_bind_null(statement, column);
      return sqlite3_bind_text(statement, column, value.data(), static_cast<int>(value.size()),
                               SQLITE_STATIC);
    };
    text(c.id, false);
    text(c.stream, false);
    sqlite3_bind_int64(statement, ++column, static_cast<sqlite3_int64>(c.seq));
    text(c.timestamp, false);
    text(c.event_type, false);
    text(c.tool);
    text(c.outcome, false);
    text(c.user_id);
    text(c.tenant_id);
    text(c.request_id);
    text(c.client_ip);
    if (c.duration_ms)
      sqlite3_bind_double(statement, ++column, *c.duration_ms);
    else
      sqlite3_bind_null(statement, ++column);
    text(record.line, false);
    text(c.session_id);
    sqlite3_bind_int(statement, ++column, c.phi ? 1 : 0);
    text(c.error_reason);
    if (sqlite3_step(statement) != SQLITE_DONE)
      return Error("cannot insert record " + std::string(c.id));
    // DO NOTHING on a record already stored changes nothing.
    if (!existed && sqlite3_changes(db_) > 0) inserted.Add(c);
    return {};
  }

  Status Exec(const std::string& sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) == SQLITE_OK) return {};
    std::string text = message ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    return Fail(ErrorCode::kIo, path_ + ": " + text);
  }

  Status QueryInt(const char* sql, int& out) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) return Error("cannot query");
    const bool row = sqlite3_step(stmt) == SQLITE_ROW;
    if (row) out = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return row ? Status{} : Error("cannot query");
  }

  Status Error(const std::string& what) {
    return Fail(ErrorCode::kIo, path_ + ": " + what + ": " + sqlite3_errmsg(db_));
  }

  sqlite3* db_;
  std::string path_;
  uint64_t rows_ = 0;                // records stored (the largest rowid at open, then counted)
  uint64_t analyzed_at_ = 0;         // rows_ at the last ANALYZE
  sqlite3_stmt* insert_ = nullptr;   // a record already stored stays as it is
  sqlite3_stmt* replace_ = nullptr;  // a record already stored is overwritten
  sqlite3_stmt* exists_ = nullptr;   // whether a record is stored (replace_ does not say)
};

}  // namespace

Result<std::unique_ptr<Sink>> OpenSqliteSink(const std::filesystem::path& path) {
  if (path.has_parent_path()) {
    if (Status s = EnsureAuditDirectory(path.parent_path()); !s) return std::unexpected(s.error());
  }
  // Created 0600 before SQLite opens it (SQLite gives its -wal and -shm files the same mode).
  auto fd = OpenAuditFile(path);
  if (!fd) return std::unexpected(fd.error());
  ::close(*fd);
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Fail(ErrorCode::kIo, "cannot open " + path.string() + ": " + message);
  }
  auto sink = std::make_unique<SqliteSink>(db, path.string());
  if (Status s = sink->Init(); !s) return std::unexpected(s.error());
  return sink;
}

Status RunSqliteQuery(const std::filesystem::path& path, const SqlText& query,
                      const RowVisitor& visit) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Fail(ErrorCode::kNotFound, "cannot open " + path.string() + ": " + message);
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* stmt = nullptr;
  Status status;
  if (sqlite3_prepare_v2(db, query.sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    status = Fail(ErrorCode::kIo, path.string() + " holds no audit records: " + sqlite3_errmsg(db));
  } else {
    for (size_t i = 0; i < query.params.size(); ++i)
      sqlite3_bind_text(stmt, static_cast<int>(i + 1), query.params[i].data(),
                        static_cast<int>(query.params[i].size()), SQLITE_STATIC);
    std::vector<std::string_view> columns;
    int step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
      columns.clear();
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
        columns.emplace_back(text ? text : "", static_cast<size_t>(sqlite3_column_bytes(stmt, i)));
      }
      if (!visit(columns)) break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
      status = Fail(ErrorCode::kIo, "cannot read " + path.string() + ": " + sqlite3_errmsg(db));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return status;
}

// Linking mcpaudit::sqlite is enough to open sqlite:// sinks and read them
// back: its target has the linker keep this (CMakeLists.txt).
namespace {
bool RegisterSqliteSinks() {
  RegisterSinkType("sqlite", [](const SinkConfig& config) -> Result<std::unique_ptr<Sink>> {
    auto path = SqlitePathFromUrl(config.url);
    if (!path) return Fail(ErrorCode::kInvalidArgument, "sink " + config.name + ": sqlite needs a sqlite:///path URL");
    return OpenSqliteSink(*path);
  });
  RegisterStoreReader("sqlite", [](const SinkConfig& store, const SqlText& query, const RowVisitor& visit) -> Status {
    auto path = SqlitePathFromUrl(store.url);
    if (!path) return Fail(ErrorCode::kInvalidArgument, "store " + store.url + ": sqlite needs a sqlite:///path URL");
    return RunSqliteQuery(*path, query, visit);
  });
  return true;
}
}  // namespace
extern "C" const bool mcpaudit_sqlite_sinks = RegisterSqliteSinks();

}  // namespace mcpaudit

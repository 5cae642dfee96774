#include "sinks/sqlite_sink.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>

#include "store/record_store.h"
#include "store/store_query.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

SinkRecord Record(const std::string& id, nlohmann::json params, uint64_t seq) {
  SinkRecord r;
  r.event.id = id;
  r.event.timestamp = std::chrono::system_clock::now();
  r.event.tool = "catalog_search";
  r.event.user.id = "alice";
  r.event.params = std::move(params);
  r.event.integrity = AuditIntegrity{"s1", seq, "", ""};
  r.line = ToJsonLine(r.event);
  return r;
}

std::vector<std::string> StoredLines(const std::filesystem::path& db) {
  std::vector<std::string> lines;
  auto read = ForEachStoredLine({"test", "sqlite://" + db.string(), "", ""},
                                [&](size_t, const std::string& line) {
                                  lines.push_back(line);
                                  return true;
                                });
  EXPECT_TRUE(read.has_value()) << read.error().message;
  return lines;
}

TEST(SqliteSinkTest, StoresEachRecordOnceHoweverOftenABatchIsSent) {
  testing::TempDir dir;
  const auto db = dir.path() / "audit.db";
  auto sink = OpenSqliteSink(db);
  ASSERT_TRUE(sink.has_value()) << sink.error().message;
  std::vector<SinkRecord> batch = {Record("id-1", {{"q", "a"}}, 1),
                                   Record("id-2", {{"q", "b"}}, 2)};
  ASSERT_TRUE((*sink)->Store(batch).has_value());
  ASSERT_TRUE((*sink)->Store(batch).has_value());  // a retry after a lost confirmation
  auto lines = StoredLines(db);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], batch[0].line);
  EXPECT_EQ(lines[1], batch[1].line);
  struct stat st {};
  ASSERT_EQ(::stat(db.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(SqliteSinkTest, HostileValuesAreStoredVerbatimAndNeverBreakTheBatch) {
  testing::TempDir dir;
  const auto db = dir.path() / "audit.db";
  auto sink = OpenSqliteSink(db);
  ASSERT_TRUE(sink.has_value());
  std::vector<SinkRecord> batch = {
      Record("id-sql", {{"q", "'); DROP TABLE audit_events;--"}}, 1),
      Record("id-nul", {{"q", std::string("a\0b", 3)}}, 2),
      Record("id-utf8", {{"q", "\xF0\x9F\x94\x92 lock"}}, 3),
      Record("id-big", {{"q", std::string(1 << 20, 'x')}}, 4),
  };
  ASSERT_TRUE((*sink)->Store(batch).has_value());
  auto lines = StoredLines(db);
  ASSERT_EQ(lines.size(), 4u);
  for (size_t i = 0; i < batch.size(); ++i) EXPECT_EQ(lines[i], batch[i].line) << batch[i].event.id;
}

TEST(SqliteSinkTest, MigrationsRunOnceAndAreRecorded) {
  testing::TempDir dir;
  const auto db = dir.path() / "audit.db";
  ASSERT_TRUE(OpenSqliteSink(db).has_value());
  auto again = OpenSqliteSink(db);  // an existing database is not migrated twice
  ASSERT_TRUE(again.has_value()) << again.error().message;
  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(handle, "SELECT count(*), max(version) FROM schema_migrations", -1,
                               &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 5);
  EXPECT_EQ(sqlite3_column_int(stmt, 1), 5);
  sqlite3_finalize(stmt);
  sqlite3_close(handle);
}

TEST(SqliteSinkTest, AStoreOfTheFirstSchemaGainsTheConsoleColumnsFilledFromItsRecords) {
  testing::TempDir dir;
  const auto db = dir.path() / "audit.db";
  AuditEvent e;
  e.id = "0193a2b4-1c2d-7e3f-8a4b-5c6d7e8f9a0b";
  e.timestamp = std::chrono::system_clock::now();
  e.outcome = Outcome::kDenied;
  e.error = AuditError{-32001, "no reason given", "access_reason_required"};
  e.request.session_id = "session-from-before";
  e.compliance.phi = true;
  e.integrity = AuditIntegrity{"s1", 1, "", ""};
  {
    sqlite3* handle = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &handle), SQLITE_OK);
    const std::string v1 =
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL "
        "DEFAULT 'x');"
        "INSERT INTO schema_migrations(version) VALUES (1);"
        "CREATE TABLE audit_events (id TEXT PRIMARY KEY, stream TEXT NOT NULL, seq INTEGER NOT "
        "NULL,"
        " timestamp TEXT NOT NULL, event_type TEXT NOT NULL, tool TEXT, outcome TEXT NOT NULL, "
        "user_id TEXT,"
        " tenant_id TEXT, request_id TEXT, client_ip TEXT, duration_ms REAL, record TEXT NOT NULL);"
        "CREATE INDEX audit_events_stream_seq ON audit_events(stream, seq);"
        "CREATE INDEX audit_events_timestamp ON audit_events(timestamp);"
        "CREATE INDEX audit_events_user ON audit_events(user_id, timestamp);"
        "CREATE INDEX audit_events_tenant ON audit_events(tenant_id, timestamp);"
        "CREATE INDEX audit_events_tool ON audit_events(tool, timestamp);"
        "INSERT INTO audit_events VALUES ('" +
        e.id + "', 's1', 1, '" + FormatTimestamp(e.timestamp) +
        "', 'tool_call', NULL, 'denied', NULL, NULL, NULL, NULL, NULL, '" + ToJsonLine(e) +
        "');"
        "INSERT INTO audit_events VALUES ('x', 's1', 2, '" +
        FormatTimestamp(e.timestamp) +
        "', 'tool_call', NULL, 'denied', NULL, NULL, NULL, NULL, NULL, 'not json');";
    ASSERT_EQ(sqlite3_exec(handle, v1.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(handle);
    sqlite3_close(handle);
  }
  auto sink = OpenSqliteSink(db);  // migrates: a record that is not JSON does not stop it
  ASSERT_TRUE(sink.has_value()) << sink.error().message;
  const SinkConfig store{"db", "sqlite://" + db.string(), "", ""};
  QueryFilter filter;
  filter.session = "session-from-before";
  filter.phi_only = true;
  auto stats = CountStoredRecords(store, filter, Bucket::kDay);
  ASSERT_TRUE(stats.has_value()) << stats.error().message;
  EXPECT_EQ(stats->totals.denied, 1u);
  ASSERT_EQ(stats->denials_by_reason.size(), 1u);
  EXPECT_EQ(stats->denials_by_reason[0].first, "access_reason_required");
}

TEST(SqliteSinkTest, ReplaceOverwritesARecordAndLeavesNoCopyOfTheOldOne) {
  testing::TempDir dir;
  const auto db = dir.path() / "audit.db";
  auto sink = OpenSqliteSink(db);
  ASSERT_TRUE(sink.has_value());
  ASSERT_TRUE(
      (*sink)->Store(std::vector{Record("id-1", {{"q", "secret-value-42"}}, 1)}).has_value());
  ASSERT_TRUE((*sink)->Replace(std::vector{Record("id-1", {{"q", "[erased]"}}, 1)}).has_value());
  auto lines = StoredLines(db);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("[erased]"), std::string::npos);
  std::string bytes;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    std::ifstream in(entry.path(), std::ios::binary);
    bytes.append(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_EQ(bytes.find("secret-value-42"), std::string::npos);
}

TEST(SqliteSinkTest, UrlsNameTheirFile) {
  EXPECT_EQ(SqlitePathFromUrl("sqlite:///var/audit/audit.db"),
            std::filesystem::path("/var/audit/audit.db"));
  EXPECT_EQ(SqlitePathFromUrl("sqlite://audit.db"), std::filesystem::path("audit.db"));
  EXPECT_FALSE(SqlitePathFromUrl("postgres://db/audit").has_value());
  EXPECT_EQ(RedactUrl("postgres://audit:hunter2@db:5432/audit"),
            "postgres://audit:***@db:5432/audit");
  EXPECT_EQ(RedactUrl("postgres://audit@db/audit"), "postgres://audit@db/audit");
  auto unknown = OpenSink({"x", "ftp://nowhere", "", ""});
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.error().message.find("not a store URL"), std::string::npos);
}

}  // namespace
}  // namespace mcpaudit

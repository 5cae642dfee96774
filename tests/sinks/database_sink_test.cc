// The PostgreSQL and MariaDB sinks against real servers on loopback (each test
// program starts its own: tests/support/db-server.sh), fed from a real journal
// by the Shipper, read back the way `--store` reads them.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "mcpaudit/shipper.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/pipeline.h"
#include "sinks/mysql_sink.h"
#include "sinks/postgres_sink.h"
#include "store/erasure.h"
#include "store/journal_reader.h"
#include "store/record_store.h"
#include "store/retention.h"
#include "mcpaudit/verifier.h"
#include "support/database_server.h"
#include "support/shipping.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;
using testing::DatabaseServer;
using testing::FastShipping;
using testing::JournalLines;
using testing::LogCall;
using testing::OpenJournal;
using namespace std::chrono_literals;

std::string TableOf(DatabaseServer::Kind kind) {
  return kind == DatabaseServer::Kind::kPostgres ? "audit_events" : kMysqlAuditTable;
}

std::vector<std::string> StoredLines(const SinkConfig& store) {
  std::vector<std::string> lines;
  auto read = ForEachStoredLine(store, [&](size_t, const std::string& line) {
    lines.push_back(line);
    return true;
  });
  EXPECT_TRUE(read.has_value()) << read.error().message;
  return lines;
}

std::vector<std::string> IdsOf(const std::vector<std::string>& lines) {
  std::vector<std::string> ids;
  for (const auto& line : lines) ids.push_back(nlohmann::json::parse(line).at("id").get<std::string>());
  return ids;
}

// Waits until the store holds `count` records (or 60 s pass).
size_t WaitForStored(const SinkConfig& store, size_t count) {
  size_t stored = 0;
  for (auto deadline = std::chrono::steady_clock::now() + 60s; std::chrono::steady_clock::now() < deadline;) {
    stored = 0;
    auto read = ForEachStoredLine(store, [&](size_t, const std::string&) { return ++stored, true; });
    if (read && stored >= count) break;
    std::this_thread::sleep_for(50ms);
  }
  return stored;
}

class DatabaseSinkTest : public ::testing::TestWithParam<DatabaseServer::Kind> {
 protected:
  void SetUp() override { server().UseNewDatabase(); }
  DatabaseServer& server() { return DatabaseServer::Get(GetParam()); }
  std::unique_ptr<Sink> OpenStore() {
    auto sink = OpenSink(server().Config());
    EXPECT_TRUE(sink.has_value()) << sink.error().message;
    return sink ? std::move(*sink) : nullptr;
  }
  testing::TempDir dir_;
};

TEST_P(DatabaseSinkTest, ShipsTheJournalOnceInChainOrderAndVerifyPassesOnTheCopy) {
  {
    auto journal = OpenJournal(dir_.path());
    for (int i = 0; i < 1500; ++i) LogCall(*journal, {{"query", "q" + std::to_string(i)}});
  }
  const std::vector<std::string> journal = JournalLines(dir_.path());
  {
    auto shipper = Shipper::Start(FastShipping(dir_.path()), OpenStore());
    ASSERT_TRUE(shipper.has_value());
    ASSERT_TRUE((*shipper)->ShipAll().has_value());
  }
  EXPECT_EQ(StoredLines(server().Config()), journal);  // byte for byte, in order

  // A shipper that lost its cursor sends everything again: nothing is stored twice.
  fs::remove_all(dir_.path() / "shippers");
  {
    auto shipper = Shipper::Start(FastShipping(dir_.path()), OpenStore());
    ASSERT_TRUE(shipper.has_value());
    ASSERT_TRUE((*shipper)->ShipAll().has_value());
  }
  EXPECT_EQ(StoredLines(server().Config()).size(), journal.size());

  auto report = VerifyStore(server().Config(), nullptr);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_TRUE(report->valid());
  EXPECT_EQ(report->records, journal.size());
}

TEST_P(DatabaseSinkTest, HostileValuesAreStoredVerbatimAndNeverBreakTheBatch) {
  {
    auto journal = OpenJournal(dir_.path());
    LogCall(*journal, {{"q", "'); DROP TABLE audit_log;--"}});
    LogCall(*journal, {{"q", "'); DROP TABLE audit_events;--"}});
    LogCall(*journal, {{"q", std::string("nul\0byte", 8)}, {"tab", "a\tb\nc\\d"}});
    LogCall(*journal, {{"q", "emoji \xF0\x9F\x98\x80 and \xF0\x9D\x84\x9E"}});
    LogCall(*journal, {{"q", std::string(1 << 20, 'x')}});
    LogCall(*journal, {{"q", "long user"}}, std::string(300, 'u') + "\xF0\x9F\x98\x80");
    LogCall(*journal, {{"q", "user with NUL"}}, std::string("mallory\0x", 9));
  }
  const std::vector<std::string> journal = JournalLines(dir_.path());
  auto shipper = Shipper::Start(FastShipping(dir_.path()), OpenStore());
  ASSERT_TRUE(shipper.has_value());
  auto shipped = (*shipper)->ShipAll();
  ASSERT_TRUE(shipped.has_value()) << shipped.error().message;
  EXPECT_EQ(StoredLines(server().Config()), journal);
  EXPECT_EQ(server().Sql("SELECT count(*) FROM " + TableOf(GetParam())), std::to_string(journal.size()));
  // The user column holds what fits, cut at a character; the record all of it.
  EXPECT_EQ(server().Sql("SELECT count(*) FROM " + TableOf(GetParam()) + " WHERE user_id LIKE 'uuuu%'"), "1");
  auto report = VerifyStore(server().Config(), nullptr);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->valid());
}

TEST_P(DatabaseSinkTest, DatabaseStoppedMidStreamLosesNothingAndStoresNothingTwice) {
  auto journal = OpenJournal(dir_.path());
  auto shipper = Shipper::Start(FastShipping(dir_.path()), OpenStore());
  ASSERT_TRUE(shipper.has_value());
  std::set<std::string> logged;
  for (int i = 0; i < 300; ++i) logged.insert(LogCall(*journal, {{"i", i}}));
  ASSERT_GE(WaitForStored(server().Config(), 300), 300u);

  server().Stop();
  for (int i = 0; i < 300; ++i) logged.insert(LogCall(*journal, {{"i", i}}));  // calls go on
  for (auto until = std::chrono::steady_clock::now() + 20s;
       !(*shipper)->counters().failing && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(20ms);
  EXPECT_TRUE((*shipper)->counters().failing) << "the shipper noticed the database is down";
  EXPECT_FALSE((*shipper)->counters().last_error.empty());

  server().Start();
  for (int i = 0; i < 300; ++i) logged.insert(LogCall(*journal, {{"i", i}}));
  journal.reset();  // its audit_stopped and checkpoint records are shipped too
  const std::vector<std::string> lines = JournalLines(dir_.path());
  ASSERT_GE(WaitForStored(server().Config(), lines.size()), lines.size());
  std::this_thread::sleep_for(200ms);  // a duplicate would show up now

  const std::vector<std::string> stored = IdsOf(StoredLines(server().Config()));
  const std::set<std::string> unique(stored.begin(), stored.end());
  EXPECT_EQ(stored.size(), lines.size()) << "no record twice";
  EXPECT_EQ(unique.size(), lines.size());
  for (const auto& id : logged) EXPECT_TRUE(unique.contains(id)) << id << " was lost";
  EXPECT_FALSE((*shipper)->counters().failing);
}

// A database that answers slowly: the table is locked by another session for
// two seconds while calls go on; the shipper waits, then ships every record once.
TEST_P(DatabaseSinkTest, SlowDatabaseDelaysShippingButLosesAndDuplicatesNothing) {
  auto journal = OpenJournal(dir_.path());
  auto shipper = Shipper::Start(FastShipping(dir_.path()), OpenStore());
  ASSERT_TRUE(shipper.has_value());
  LogCall(*journal, {{"warm", true}});
  ASSERT_GE(WaitForStored(server().Config(), 2), 2u);  // the table exists

  const std::string table = TableOf(GetParam());
  const std::string lock = GetParam() == DatabaseServer::Kind::kPostgres
                               ? "BEGIN; LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;"
                               : "LOCK TABLES " + table + " WRITE; SELECT SLEEP(2); UNLOCK TABLES;";
  std::atomic<bool> locked_done = false;
  std::thread locker([&] {
    server().Sql(lock);
    locked_done = true;
  });
  std::this_thread::sleep_for(300ms);
  for (int i = 0; i < 500; ++i) LogCall(*journal, {{"i", i}});
  locker.join();
  EXPECT_TRUE(locked_done);
  journal.reset();
  const std::vector<std::string> lines = JournalLines(dir_.path());
  ASSERT_GE(WaitForStored(server().Config(), lines.size()), lines.size());
  std::this_thread::sleep_for(200ms);
  const std::vector<std::string> stored = IdsOf(StoredLines(server().Config()));
  EXPECT_EQ(stored, IdsOf(lines));
}

TEST_P(DatabaseSinkTest, ErasureOverwritesTheStoredRecordsAndVerifyStaysValid) {
  {
    auto journal = OpenJournal(dir_.path());
    for (int i = 0; i < 20; ++i) LogCall(*journal, {{"q", "bob's order " + std::to_string(i)}}, i % 2 ? "bob" : "carol");
  }
  {
    auto shipper = Shipper::Start(FastShipping(dir_.path()), OpenStore());
    ASSERT_TRUE(shipper.has_value());
    ASSERT_TRUE((*shipper)->ShipAll().has_value());
  }
  auto erased = EraseFromJournal(dir_.path(), {.user = "bob"});
  ASSERT_TRUE(erased.has_value()) << erased.error().message;
  ASSERT_EQ(erased->records_erased, 10u);
  std::vector<SinkRecord> records;
  for (const auto& line : erased->erased_lines)
    records.push_back({line, *AuditEventFromJson(nlohmann::json::parse(line))});
  auto replaced = OpenStore()->Replace(records);
  ASSERT_TRUE(replaced.has_value()) << replaced.error().message;

  const std::vector<std::string> stored = StoredLines(server().Config());
  EXPECT_EQ(stored, JournalLines(dir_.path()));
  for (const auto& line : stored) EXPECT_EQ(line.find("bob@example.com"), std::string::npos) << line;
  const std::string table = TableOf(GetParam());
  EXPECT_EQ(server().Sql("SELECT count(*) FROM " + table + " WHERE record LIKE '%bob@example.com%'"), "0");
  auto report = VerifyStore(server().Config(), nullptr);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->valid());
}

TEST_P(DatabaseSinkTest, RetentionDeletesTheStreamsBeginningAndVerifyAcceptsTheDeclaration) {
  {
    auto journal = OpenJournal(dir_.path());
    for (int i = 0; i < 20; ++i) LogCall(*journal, {{"q", "order " + std::to_string(i)}});
  }
  const nlohmann::json last_deleted = nlohmann::json::parse(JournalLines(dir_.path())[9])["integrity"];
  RetentionPlan plan;
  plan.cuts = {{last_deleted["stream"], last_deleted["seq"], last_deleted["hash"]}};
  {
    auto journal = OpenJournal(dir_.path());
    auto declaration = RetentionEvent(plan, nullptr, std::chrono::system_clock::now());
    ASSERT_TRUE(declaration.has_value());
    ASSERT_TRUE(journal->Log(*declaration).has_value());
  }
  {
    auto shipper = Shipper::Start(FastShipping(dir_.path()), OpenStore());
    ASSERT_TRUE(shipper.has_value());
    ASSERT_TRUE((*shipper)->ShipAll().has_value());
  }
  const size_t shipped = StoredLines(server().Config()).size();
  auto store = OpenStore();
  // A stream name is data, never SQL.
  ASSERT_TRUE(store->Forget("x' OR '1'='1", 1000).has_value());
  EXPECT_EQ(StoredLines(server().Config()).size(), shipped);
  auto forgot = store->Forget(last_deleted["stream"].get<std::string>(), 10);
  ASSERT_TRUE(forgot.has_value()) << forgot.error().message;

  const std::vector<std::string> stored = StoredLines(server().Config());
  ASSERT_EQ(stored.size(), shipped - 10);
  EXPECT_EQ(nlohmann::json::parse(stored.front())["integrity"]["seq"], 11);
  auto report = VerifyStore(server().Config(), nullptr);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->valid()) << (report->problems.empty() ? "" : report->problems[0].detail);
  bool noted = false;
  for (const auto& note : report->notes) noted |= note.find("seq 1-10 were deleted by retention") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST_P(DatabaseSinkTest, AWrongPasswordFailsTheBatchAndIsNeverShown) {
  ::setenv("MCPAUDIT_TEST_WRONG_PASSWORD", "not-the-password-4711", 1);
  SinkConfig config = server().Config();
  config.password_file.clear();
  config.password_env = "MCPAUDIT_TEST_WRONG_PASSWORD";
  auto sink = OpenSink(config);
  ASSERT_TRUE(sink.has_value()) << "a server may start while its database refuses it";
  {
    auto journal = OpenJournal(dir_.path());
  }
  auto shipper = Shipper::Start(FastShipping(dir_.path()), std::move(*sink));
  ASSERT_TRUE(shipper.has_value());
  auto shipped = (*shipper)->ShipAll();
  ASSERT_FALSE(shipped.has_value());
  EXPECT_EQ(shipped.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(shipped.error().message.find("cannot connect"), std::string::npos) << shipped.error().message;
  EXPECT_EQ(shipped.error().message.find("4711"), std::string::npos) << shipped.error().message;

  // A password in the URL is refused before anything connects.
  SinkConfig in_url = server().Config();
  in_url.url.insert(in_url.url.find('@'), ":" + server().Password());
  auto refused = OpenSink(in_url);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("password_env or password_file"), std::string::npos);
  EXPECT_EQ(refused.error().message.find(server().Password()), std::string::npos);
}

TEST_P(DatabaseSinkTest, TheSchemaIsMigratedOnceByTheSink) {
  SinkRecord record;
  record.event.id = "id-1";
  record.event.timestamp = std::chrono::system_clock::now();
  record.event.integrity = AuditIntegrity{"s1", 1, "", ""};
  record.line = ToJsonLine(record.event);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(OpenStore()->Store({&record, 1}).has_value());
  EXPECT_EQ(server().Sql("SELECT count(*), max(version) FROM schema_migrations"),
            GetParam() == DatabaseServer::Kind::kPostgres ? "5\t5" : "4\t4");
}

INSTANTIATE_TEST_SUITE_P(RealServers, DatabaseSinkTest,
                         ::testing::Values(DatabaseServer::Kind::kPostgres, DatabaseServer::Kind::kMariadb),
                         [](const auto& info) {
                           return info.param == DatabaseServer::Kind::kPostgres ? "PostgreSQL" : "MariaDB";
                         });

// The sink counts what it inserts; the rollup keys are the columns as stored
// (PostgreSQL text holds no NUL: names that differ only by one are one key).
// A writer that does not count (an older server) is counted by the trigger.
TEST(PostgresSinkTest, RollupCountsAreThoseOfTheStoredColumnsWhoeverInserts) {
  DatabaseServer& server = DatabaseServer::Get(DatabaseServer::Kind::kPostgres);
  server.UseNewDatabase();
  auto sink = OpenSink(server.Config());
  ASSERT_TRUE(sink.has_value());
  std::vector<SinkRecord> batch;
  for (const std::string tool : {std::string("zz"), std::string("zz\0a", 4), std::string("zz\0", 3),
                                 std::string("zz\0b", 4)}) {
    SinkRecord r;
    r.event.id = "id-" + std::to_string(batch.size());
    r.event.timestamp = *ParseTimestamp("2026-03-01T10:15:00.000Z");
    r.event.tool = tool;
    r.event.outcome = Outcome::kDenied;
    r.event.integrity = AuditIntegrity{"s1", batch.size() + 1, "", ""};
    r.line = ToJsonLine(r.event);
    batch.push_back(std::move(r));
  }
  // A caller's tool name of 3,000 characters that do not compress: no index
  // entry holds it whole (its column keeps the first 191, its record all).
  std::string long_tool;
  std::mt19937 random(7);
  for (int i = 0; i < 3000; ++i) {
    const uint32_t code = 0x4E00 + random() % 20000;  // CJK: three bytes each in UTF-8
    long_tool += static_cast<char>(0xE0 | (code >> 12));
    long_tool += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    long_tool += static_cast<char>(0x80 | (code & 0x3F));
  }
  {
    SinkRecord r = batch.front();
    r.event.id = "id-long";
    r.event.tool = long_tool;
    r.event.integrity->seq = 4;
    r.line = ToJsonLine(r.event);
    ASSERT_TRUE((*sink)->Store({&r, 1}).has_value());
    EXPECT_EQ(server.Sql("SELECT length(tool), n FROM audit_rollup WHERE tool LIKE '" + long_tool.substr(0, 30) + "%'"),
              "191\t1");
    EXPECT_EQ(server.Sql("SELECT octet_length(record) > 9000 FROM audit_events WHERE id = 'id-long'"), "t");
    server.Sql("DELETE FROM audit_events WHERE id = 'id-long'; DELETE FROM audit_rollup WHERE n <= 0;"
               " DELETE FROM audit_rollup_users WHERE n <= 0");
  }
  ASSERT_TRUE((*sink)->Store(batch).has_value());  // COPY straight in
  batch.push_back(batch.back());
  batch.back().event.id = "id-new";
  batch.back().event.integrity->seq = 5;
  batch.back().line = ToJsonLine(batch.back().event);
  ASSERT_TRUE((*sink)->Store(batch).has_value());  // a retry with one record more
  EXPECT_EQ(server.Sql("SELECT string_agg(tool || '=' || n, ',' ORDER BY tool) FROM audit_rollup"),
            "zz=2,zza=1,zzb=2");
  server.Sql("INSERT INTO audit_events (id, stream, seq, \"timestamp\", event_type, tool, outcome, record)"
             " VALUES ('id-old', 's1', 6, '2026-03-01T10:20:00Z', 'tool_call', 'zz', 'denied', '{}')");
  EXPECT_EQ(server.Sql("SELECT string_agg(tool || '=' || n, ',' ORDER BY tool) FROM audit_rollup"),
            "zz=3,zza=1,zzb=2");
  ASSERT_TRUE((*sink)->Forget("s1", 10).has_value());
  EXPECT_EQ(server.Sql("SELECT count(*) FROM audit_rollup"), "0") << "counts left without records";
}

TEST(PostgresSinkTest, RecordsGoIntoOnePartitionPerMonth) {
  DatabaseServer& server = DatabaseServer::Get(DatabaseServer::Kind::kPostgres);
  server.UseNewDatabase();
  auto sink = OpenSink(server.Config());
  ASSERT_TRUE(sink.has_value());
  std::vector<SinkRecord> batch;
  for (const char* when : {"2026-01-31T23:59:59.999Z", "2026-02-01T00:00:00.000Z", "2026-12-15T12:00:00.000Z"}) {
    SinkRecord r;
    r.event.id = std::string("id-") + when;
    r.event.timestamp = *ParseTimestamp(when);
    r.event.integrity = AuditIntegrity{"s1", batch.size() + 1, "", ""};
    r.line = ToJsonLine(r.event);
    batch.push_back(std::move(r));
  }
  ASSERT_TRUE((*sink)->Store(batch).has_value());
  EXPECT_EQ(server.Sql("SELECT string_agg(c.relname || '=' || (SELECT count(*) FROM audit_events e WHERE e.tableoid = "
                       "c.oid), ',' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       "WHERE i.inhparent = 'audit_events'::regclass"),
            "audit_events_y2026m01=1,audit_events_y2026m02=1,audit_events_y2026m12=1");
}

}  // namespace
}  // namespace mcpaudit

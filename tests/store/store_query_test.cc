// Reads of a SQL store on its indexes (SQLite, and real PostgreSQL and
// MariaDB servers on loopback): every filter selects exactly what the same
// filter selects from the journal, pages follow a cursor that stays valid while
// records arrive, and the counts are those of the records.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "mcpaudit/shipper.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/pipeline.h"
#include "store/journal_reader.h"
#include "store/store_query.h"
#include "support/database_server.h"
#include "support/shipping.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

using testing::DatabaseServer;
using namespace std::chrono_literals;

enum class Store { kSqlite, kPostgres, kMariadb };

class StoreQueryTest : public ::testing::TestWithParam<Store> {
 protected:
  void SetUp() override {
    if (GetParam() == Store::kSqlite) {
      store_.name = "db";
      store_.url = "sqlite://" + (dir_.path() / "audit.db").string();
      return;
    }
    auto& server = DatabaseServer::Get(GetParam() == Store::kPostgres ? DatabaseServer::Kind::kPostgres
                                                                      : DatabaseServer::Kind::kMariadb);
    server.UseNewDatabase();
    store_ = server.Config();
  }

  // Records of several users, tenants, tools, outcomes, sessions and
  // resources; some share their millisecond (the cursor must tell them apart).
  void LogVariedRecords(size_t count, std::chrono::system_clock::time_point start) {
    auto journal = testing::OpenJournal(dir_.path());
    const Outcome outcomes[] = {Outcome::kSuccess, Outcome::kSuccess, Outcome::kFailure, Outcome::kDenied};
    for (size_t i = 0; i < count; ++i) {
      AuditEvent e;
      e.timestamp = start + std::chrono::minutes(7 * (i / 3));  // three records per instant
      e.id = NewUuidV7(e.timestamp, SecureRandom());
      e.event_type = i % 17 == 0 ? "session_start" : "tool_call";
      e.tool = i % 17 == 0 ? "" : (i % 5 == 0 ? "patient_lookup" : "catalog_search");
      e.outcome = outcomes[i % 4];
      if (e.outcome != Outcome::kSuccess)
        e.error = AuditError{-32000, i % 2 ? "Rate Limit reached" : "no such item", i % 2 ? "rate_limited" : "not_found"};
      e.user.id = "user-" + std::to_string(i % 6);
      e.user.tenant_id = i % 3 == 0 ? "acme" : "globex";
      e.request.id = std::to_string(i);
      e.request.session_id = "session-" + std::to_string(i % 4);
      e.request.client_ip = i % 2 ? "10.0.0.1" : "10.0.0.2";
      if (i % 5 == 0) {
        e.resources = {"urn:patient:" + std::to_string(i % 3)};
        e.compliance.phi = true;
      }
      e.params = {{"q", "term " + std::to_string(i)}};
      ASSERT_TRUE(journal->Log(e).has_value());
    }
  }

  void ShipAll() {
    auto sink = OpenSink(store_);
    ASSERT_TRUE(sink.has_value()) << sink.error().message;
    auto shipper = Shipper::Start(testing::FastShipping(dir_.path()), std::move(*sink));
    ASSERT_TRUE(shipper.has_value());
    ASSERT_TRUE((*shipper)->ShipAll().has_value());
  }

  // The ids `filter` selects from the journal, newest first (by time, then id).
  std::vector<std::string> FromJournal(const QueryFilter& filter) {
    std::vector<std::pair<std::string, std::string>> found;
    auto read = ForEachRecord(
        dir_.path(),
        [&](const AuditEvent& e) {
          if (Matches(filter, e)) found.emplace_back(FormatTimestamp(e.timestamp), e.id);
          return true;
        },
        [](const BadLine&) { ADD_FAILURE(); });
    EXPECT_TRUE(read.has_value());
    std::sort(found.rbegin(), found.rend());
    std::vector<std::string> ids;
    for (auto& [time, id] : found) ids.push_back(id);
    return ids;
  }

  // The ids of the store, page after page of `page_size`, following the cursors.
  std::vector<std::string> FromStore(QueryFilter filter, size_t page_size, size_t* pages = nullptr) {
    std::vector<std::string> ids;
    filter.limit = page_size;
    Selection selection{.filter = filter, .newest_first = true, .after = std::nullopt, .max_rows = 0};
    for (size_t n = 1;; ++n) {
      auto page = SelectStoredRecords(
          store_, selection,
          [&](const AuditEvent& e, const std::string&) {
            ids.push_back(e.id);
            return true;
          },
          [](size_t, const std::string& reason) { ADD_FAILURE() << reason; });
      EXPECT_TRUE(page.has_value()) << page.error().message;
      if (!page || !page->next) {
        if (pages) *pages = n;
        return ids;
      }
      // The cursor as a caller hands it back: its text.
      auto position = DecodeCursor(EncodeCursor(*page->next));
      EXPECT_TRUE(position.has_value());
      selection.after = *position;
    }
  }

  testing::TempDir dir_;
  SinkConfig store_;
};

TEST_P(StoreQueryTest, EachFilterSelectsWhatTheJournalHoldsNewestFirstPageByPage) {
  const auto start = std::chrono::system_clock::now() - std::chrono::hours(48);
  LogVariedRecords(240, start);
  ShipAll();
  QueryFilter all;
  const size_t records = FromJournal(all).size();  // the calls, and the journal's own records
  ASSERT_GE(records, 240u);
  ASSERT_NE(records % 25, 0u);
  size_t pages = 0;
  EXPECT_EQ(FromStore(all, 25, &pages), FromJournal(all));
  EXPECT_EQ(pages, records / 25 + 1);  // the last page is short and has no cursor

  std::vector<QueryFilter> filters = {
      {.user = "user-3"},
      {.tenant = "acme"},
      {.tool = "patient_lookup"},
      {.event_type = "session_start"},
      {.outcome = Outcome::kDenied},
      {.user = "user-2", .outcome = Outcome::kFailure},
      {.since = start + 2h, .until = start + 5h},
      {.since = start + 3h, .tenant = "globex", .tool = "catalog_search"},
  };
  QueryFilter f;
  f.session = "session-1";
  filters.push_back(f);
  f = {};
  f.request_id = "17";
  filters.push_back(f);
  f = {};
  f.client_ip = "10.0.0.1";
  filters.push_back(f);
  f = {};
  f.resource = "urn:patient:2";
  filters.push_back(f);
  f = {};
  f.phi_only = true;
  f.outcome = Outcome::kSuccess;
  filters.push_back(f);
  f = {};
  f.text = "RATE limit";  // any case, in the error message
  filters.push_back(f);
  f = {};
  f.text = "lookup";  // in the tool
  f.user = "user-0";
  filters.push_back(f);
  f = {};
  f.text = "100%_";  // LIKE's own characters are text, not patterns
  filters.push_back(f);
  for (const QueryFilter& filter : filters) {
    const std::vector<std::string> expected = FromJournal(filter);
    EXPECT_EQ(FromStore(filter, 7), expected) << nlohmann::json(filter.user + filter.tool + filter.text).dump();
    EXPECT_EQ(FromStore(filter, 1000), expected);
  }
  EXPECT_TRUE(FromJournal(filters.back()).empty());
  EXPECT_FALSE(FromJournal(filters[filters.size() - 3]).empty());
  // The database itself finds no row for LIKE's own characters taken as text
  // (as patterns, "100%_" would match every record with "100" and one more character).
  auto flavour = FlavourOf(store_);
  ASSERT_TRUE(flavour.has_value());
  size_t rows = 0;
  ASSERT_TRUE(RunStoreQuery(store_, SelectSql(*flavour, {.filter = filters.back(), .newest_first = true,
                                                         .after = std::nullopt, .max_rows = 0}, 0),
                            [&](std::span<const std::string_view>) { return ++rows, true; })
                  .has_value());
  EXPECT_EQ(rows, 0u);
}

TEST_P(StoreQueryTest, ACursorStaysValidWhileRecordsArriveAndOldestFirstReadsForward) {
  const auto start = std::chrono::system_clock::now() - std::chrono::hours(2);
  LogVariedRecords(30, start);
  ShipAll();
  QueryFilter filter;
  filter.limit = 10;
  std::vector<std::string> first;
  auto page = SelectStoredRecords(
      store_, {.filter = filter, .newest_first = true, .after = std::nullopt, .max_rows = 0},
      [&](const AuditEvent& e, const std::string&) { return first.push_back(e.id), true; },
      [](size_t, const std::string&) {});
  ASSERT_TRUE(page && page->next);
  const std::string cursor = EncodeCursor(*page->next);
  // New records arrive (newer than every page): the next page goes on where the first ended.
  QueryFilter old;
  old.until = std::chrono::system_clock::now() + 1ms;
  std::this_thread::sleep_for(2ms);
  LogVariedRecords(12, std::chrono::system_clock::now());
  ShipAll();
  std::vector<std::string> rest;
  auto after = DecodeCursor(cursor);
  ASSERT_TRUE(after.has_value());
  filter.limit = 0;
  ASSERT_TRUE(SelectStoredRecords(
                  store_, {.filter = filter, .newest_first = true, .after = *after, .max_rows = 0},
                  [&](const AuditEvent& e, const std::string&) { return rest.push_back(e.id), true; },
                  [](size_t, const std::string&) {})
                  .has_value());
  std::vector<std::string> expected = FromJournal(old);
  first.insert(first.end(), rest.begin(), rest.end());
  EXPECT_EQ(first, expected);

  // Oldest first: the same records in the other order.
  std::vector<std::string> forward;
  old.limit = 4;
  std::optional<RecordPosition> at;
  for (;;) {
    auto p = SelectStoredRecords(
        store_, {.filter = old, .newest_first = false, .after = at, .max_rows = 0},
        [&](const AuditEvent& e, const std::string&) { return forward.push_back(e.id), true; },
        [](size_t, const std::string&) {});
    ASSERT_TRUE(p.has_value());
    if (!p->next) break;
    at = p->next;
  }
  std::reverse(expected.begin(), expected.end());
  EXPECT_EQ(forward, expected);
}

TEST_P(StoreQueryTest, CountsPerBucketAndTheTopToolsUsersAndDenialsAreThoseOfTheRecords) {
  const auto start = std::chrono::floor<std::chrono::hours>(std::chrono::system_clock::now()) - 24h;
  LogVariedRecords(120, start);
  ShipAll();
  QueryFilter filter;
  filter.since = start + 1h;
  filter.tenant = "globex";
  auto stats = CountStoredRecords(store_, filter, Bucket::kHour, 3);
  ASSERT_TRUE(stats.has_value()) << stats.error().message;

  std::map<std::string, OutcomeCounts> buckets;
  std::map<std::string, uint64_t> tools, users, reasons;
  OutcomeCounts totals;
  auto read = ForEachRecord(
      dir_.path(),
      [&](const AuditEvent& e) {
        if (!Matches(filter, e)) return true;
        const std::string hour = FormatTimestamp(std::chrono::floor<std::chrono::hours>(e.timestamp));
        for (OutcomeCounts* c : {&buckets[hour], &totals})
          ++(e.outcome == Outcome::kSuccess ? c->success : e.outcome == Outcome::kFailure ? c->failure : c->denied);
        if (!e.tool.empty()) ++tools[e.tool];
        ++users[e.user.id];
        if (e.outcome == Outcome::kDenied && e.error) ++reasons[e.error->reason];
        return true;
      },
      [](const BadLine&) {});
  ASSERT_TRUE(read.has_value());
  ASSERT_EQ(stats->buckets.size(), buckets.size());
  size_t i = 0;
  for (const auto& [hour, counts] : buckets) {
    EXPECT_EQ(stats->buckets[i].first, hour);
    EXPECT_EQ(stats->buckets[i].second.success, counts.success) << hour;
    EXPECT_EQ(stats->buckets[i].second.failure, counts.failure) << hour;
    EXPECT_EQ(stats->buckets[i].second.denied, counts.denied) << hour;
    ++i;
  }
  EXPECT_EQ(stats->totals.Total(), totals.Total());
  EXPECT_EQ(stats->totals.denied, totals.denied);
  ASSERT_EQ(stats->top_tools.size(), 2u);
  EXPECT_EQ(stats->top_tools[0], (std::pair<std::string, uint64_t>{"catalog_search", tools["catalog_search"]}));
  ASSERT_EQ(stats->top_users.size(), 3u);  // at most `top`
  for (const auto& [user, n] : stats->top_users) EXPECT_EQ(n, users[user]) << user;
  EXPECT_GE(stats->top_users[0].second, stats->top_users[2].second);
  ASSERT_EQ(stats->denials_by_reason.size(), reasons.size());
  for (const auto& [reason, n] : stats->denials_by_reason) EXPECT_EQ(n, reasons[reason]) << reason;

  filter.text = "x";
  EXPECT_FALSE(CountStoredRecords(store_, filter, Bucket::kDay).has_value());
}

// The counts come from rollups the store keeps beside the records: they follow
// a batch sent again (with records stored before and new ones), an erasure (an
// erased user id leaves them too) and a retention run.
TEST_P(StoreQueryTest, TheCountsFollowRetriesErasureAndRetentionAndKeepNoErasedUserId) {
  const auto start = std::chrono::system_clock::now() - 30h;
  LogVariedRecords(150, start);
  ShipAll();
  std::vector<SinkRecord> erased, again;
  ASSERT_TRUE(ForEachStoredLine(store_, [&](size_t index, const std::string& line) {
                auto event = AuditEventFromJson(nlohmann::json::parse(line));
                if (event && index % 7 == 3 && event->user.id != "user-3") {
                  again.push_back({line, *event});  // stored already
                  event->id += "-new";
                  again.push_back({ToJsonLine(*event), *event});  // not yet
                }
                if (event && event->user.id == "user-3") {
                  event->user.id = "[erased]";
                  erased.push_back({ToJsonLine(*event), *event});
                }
                return true;
              }).has_value());
  ASSERT_FALSE(erased.empty());
  auto sink = OpenSink(store_);
  ASSERT_TRUE(sink.has_value());
  ASSERT_TRUE((*sink)->Store(again).has_value());
  ASSERT_TRUE((*sink)->Replace(erased).has_value());
  ASSERT_TRUE((*sink)->Forget("s1", 40).has_value());
  sink->reset();

  QueryFilter filter;
  filter.since = start + 90min;  // ragged ends: from the records, the whole hours and days from the rollups
  filter.until = std::chrono::system_clock::now() - 20min;
  auto from_rollups = CountStoredRecords(store_, filter, Bucket::kHour, 1000);
  auto from_records = CountStoredRecords(store_, filter, Bucket::kMinute, 1000);  // minutes: the records only
  ASSERT_TRUE(from_rollups && from_records);
  EXPECT_EQ(from_rollups->totals.Total(), from_records->totals.Total());
  EXPECT_EQ(from_rollups->totals.denied, from_records->totals.denied);
  EXPECT_EQ(from_rollups->top_tools, from_records->top_tools);
  EXPECT_EQ(from_rollups->top_users, from_records->top_users);
  EXPECT_EQ(from_rollups->denials_by_reason, from_records->denials_by_reason);
  bool erased_counted = false;
  for (const auto& [user, n] : from_rollups->top_users) {
    EXPECT_NE(user, "user-3");
    erased_counted |= user == "[erased]";
  }
  EXPECT_TRUE(erased_counted);
  size_t kept = 0;
  ASSERT_TRUE(RunStoreQuery(store_, {"SELECT count(*) FROM audit_rollup_users WHERE user_id = ?", {"user-3"}},
                            [&](std::span<const std::string_view> row) {
                              kept = std::stoul(std::string(row[0]));
                              return true;
                            })
                  .has_value());
  EXPECT_EQ(kept, 0u) << "an erased user id stays in the counts";
}

TEST_P(StoreQueryTest, ACursorNotGivenOutByTheServerIsRefused) {
  for (const char* cursor : {"", "~", "nonsense", "2026-01-01T00:00:00.000Z~", "2026-13-01T00:00:00.000Z~abc",
                             "2026-01-01T00:00:00Z~abc", "2026-01-01T00:00:00.000Z~a'b"})
    EXPECT_FALSE(DecodeCursor(cursor).has_value()) << cursor;
  EXPECT_TRUE(DecodeCursor("2026-01-01T00:00:00.000Z~0193a2b4-1c2d-7e3f-8a4b-5c6d7e8f9a0b").has_value());
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreQueryTest, ::testing::Values(Store::kSqlite, Store::kPostgres, Store::kMariadb),
                         [](const auto& info) {
                           return info.param == Store::kSqlite     ? "SQLite"
                                  : info.param == Store::kPostgres ? "PostgreSQL"
                                                                   : "MariaDB";
                         });

}  // namespace
}  // namespace mcpaudit

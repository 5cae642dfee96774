#include "store/query.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "audit/journal_format.h"
#include "mcpaudit/pipeline.h"
#include "store/journal_reader.h"
#include "mcpaudit/verifier.h"
#include "support/journal_files.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

AuditEvent Event(std::string user, std::string tenant, std::string tool, Outcome outcome, int64_t ms) {
  AuditEvent e;
  e.id = user + "-" + tool + "-" + std::to_string(ms);
  e.timestamp = system_clock::time_point(milliseconds(ms));
  e.user.id = std::move(user);
  e.user.tenant_id = std::move(tenant);
  e.tool = std::move(tool);
  e.outcome = outcome;
  e.response = AuditResponse{3, 1.25, false, 10};
  return e;
}

TEST(QueryTest, FiltersByEveryField) {
  const AuditEvent e = Event("alice", "acme", "search", Outcome::kDenied, 1000);
  EXPECT_TRUE(Matches({}, e));
  EXPECT_TRUE(Matches({.user = "alice"}, e));
  EXPECT_FALSE(Matches({.user = "bob"}, e));
  EXPECT_TRUE(Matches({.tenant = "acme"}, e));
  EXPECT_FALSE(Matches({.tenant = "other"}, e));
  EXPECT_TRUE(Matches({.tool = "search"}, e));
  EXPECT_FALSE(Matches({.tool = "get"}, e));
  EXPECT_TRUE(Matches({.event_type = "tool_call"}, e));
  EXPECT_FALSE(Matches({.event_type = "erasure"}, e));
  EXPECT_TRUE(Matches({.outcome = Outcome::kDenied}, e));
  EXPECT_FALSE(Matches({.outcome = Outcome::kSuccess}, e));
  EXPECT_TRUE(Matches({.since = system_clock::time_point(milliseconds(1000))}, e));   // inclusive
  EXPECT_FALSE(Matches({.since = system_clock::time_point(milliseconds(1001))}, e));
  EXPECT_FALSE(Matches({.until = system_clock::time_point(milliseconds(1000))}, e));  // exclusive
  EXPECT_TRUE(Matches({.until = system_clock::time_point(milliseconds(1001))}, e));
}

TEST(QueryTest, CsvQuotesAndDefusesFormulas) {
  std::ostringstream out;
  auto printer = MakeRecordPrinter(OutputFormat::kCsv, out);
  AuditEvent e = Event("=HYPERLINK(\"http://x\")", "acme, inc", "search", Outcome::kSuccess, 0);
  e.params = {{"q", "line1\nline2"}};
  printer->Write(e);
  printer->End();
  const std::string csv = out.str();
  EXPECT_EQ(csv.substr(0, csv.find("\r\n")),
            "id,timestamp,event_type,tool,outcome,user_id,tenant_id,request_id,session_id,transport,client_ip,"
            "duration_ms,result_count,is_error,bytes,error_reason,error_message,resources,phi,sensitivity,"
            "access_reason,params");
  EXPECT_NE(csv.find(",\"'=HYPERLINK(\"\"http://x\"\")\",\"acme, inc\","), std::string::npos) << csv;
  EXPECT_NE(csv.find("\"{\"\"q\"\":\"\"line1\\nline2\"\"}\""), std::string::npos) << csv;
  EXPECT_NE(csv.find(",1.250,3,false,10,"), std::string::npos) << csv;
}

TEST(QueryTest, TableHasOneLinePerRecordAndACount) {
  std::ostringstream out;
  auto printer = MakeRecordPrinter(OutputFormat::kTable, out);
  AuditEvent e = Event("alice", "acme", "search", Outcome::kFailure, 0);
  e.error = AuditError{0, "x", "tool_error"};
  e.resources = {std::string(100, 'r')};
  printer->Write(e);
  printer->Write(Event("bob", "", "get", Outcome::kSuccess, 1));
  printer->End();
  std::istringstream lines(out.str());
  std::vector<std::string> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(line);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].substr(0, 4), "TIME");
  EXPECT_NE(rows[1].find("failure"), std::string::npos);
  EXPECT_NE(rows[1].find("tool_error"), std::string::npos);
  EXPECT_LT(rows[1].size(), 200u);  // long values are cut
  EXPECT_EQ(rows[3], "(2 records)");
}

TEST(QueryTest, RecordedStringsCannotDriveTheReadersTerminal) {
  std::ostringstream out;
  auto printer = MakeRecordPrinter(OutputFormat::kTable, out);
  // A caller chose its user name: an escape sequence that would clear the
  // screen and ring the bell, a C1 CSI, an ill-formed byte, and honest UTF-8.
  printer->Write(Event("\x1b[2J\x07" "eve\xc2\x9b" "31m\xff", "", "t\x1b]0;pwned\x07", Outcome::kDenied, 0));
  printer->Write(Event("zoë", "", "t", Outcome::kDenied, 1));
  const std::string text = out.str();
  for (char c : text) EXPECT_TRUE(c == '\n' || static_cast<unsigned char>(c) >= 0x20) << int(c);
  EXPECT_EQ(text.find("\xc2\x9b"), std::string::npos);
  EXPECT_NE(text.find("?[2J?eve??31m?"), std::string::npos) << text;
  EXPECT_NE(text.find("zoë"), std::string::npos);
  EXPECT_EQ(Printable("tab\there"), "tab here");
}

TEST(QueryTest, UnknownFormatIsAnError) {
  EXPECT_FALSE(ParseOutputFormat("xml").has_value());
  EXPECT_EQ(ParseOutputFormat("json").value(), OutputFormat::kJson);
}

TEST(JournalReaderTest, ReportsLinesThatAreNotRecordsAndGoesOn) {
  testing::TempDir dir;
  {
    std::ofstream out(dir.path() / "audit.jsonl");
    out << ToJsonLine(Event("a", "", "t", Outcome::kSuccess, 1)) << "\n"
        << "{torn line\n"
        << R"({"schema":"other"})" << "\n"
        << ToJsonLine(Event("b", "", "t", Outcome::kSuccess, 2)) << "\n";
  }
  std::vector<std::string> users;
  std::vector<size_t> bad_lines;
  ASSERT_TRUE(ForEachRecord(
                  dir.path(), [&](const AuditEvent& e) { users.push_back(e.user.id); return true; },
                  [&](const BadLine& bad) { bad_lines.push_back(bad.line_number); })
                  .has_value());
  EXPECT_EQ(users, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(bad_lines, (std::vector<size_t>{2, 3}));
}

// A journal in segments of ~4 KiB, without disk-space thresholds.
PipelineOptions SmallSegments(const std::filesystem::path& dir) {
  PipelineOptions options;
  options.directory = dir;
  options.stream = "s";
  options.max_segment_bytes = 4096;
  options.admin_space_left_bytes = options.space_left_bytes = 0;
  return options;
}

system_clock::time_point Year(int year) {
  return std::chrono::sys_days(std::chrono::year(year) / 1 / 1);
}

// Logs `count` tool calls by `user` stamped at `time`, one batch each.
void LogCalls(Pipeline& pipeline, const std::string& user, system_clock::time_point time, int count) {
  for (int i = 0; i < count; ++i) {
    AuditEvent e = Event(user, "", "search", Outcome::kSuccess, 0);
    e.id = user + "-" + std::to_string(i);
    e.timestamp = time;
    ASSERT_TRUE(pipeline.Log(e).has_value());
    ASSERT_TRUE(pipeline.Flush().has_value());
  }
}

// The users of the records a read with `window` visits, and the bad lines it met.
std::pair<std::multiset<std::string>, size_t> Read(const std::filesystem::path& dir, const TimeWindow& window) {
  std::multiset<std::string> users;
  size_t bad = 0;
  EXPECT_TRUE(ForEachRecordLineIn(
                  dir, {},
                  [&](const AuditEvent& e, const std::string&) {
                    if ((!window.since || e.timestamp >= *window.since) && (!window.until || e.timestamp < *window.until))
                      users.insert(e.user.id);
                    return true;
                  },
                  [&](const BadLine&) { ++bad; }, window)
                  .has_value());
  return {users, bad};
}

TEST(JournalReaderTest, ReadsByTimeOnlyTheSegmentsThatMayHoldSuchRecords) {
  testing::TempDir dir;
  {
    auto pipeline = Pipeline::Open(SmallSegments(dir.path()));
    ASSERT_TRUE(pipeline.has_value());
    LogCalls(**pipeline, "past", Year(2020), 30);
    LogCalls(**pipeline, "future", Year(2040), 30);
  }
  ASSERT_TRUE(VerifyJournal(dir.path(), nullptr)->valid());
  auto segments = testing::SegmentPaths(dir.path());
  ASSERT_GT(segments.size(), 4u);
  // A line of the oldest segment made unreadable: only a read of that segment meets it.
  auto lines = testing::ReadLines(segments.front());
  lines[2] = "{not a record";
  testing::WriteLines(segments.front(), lines);

  auto [all, bad_in_all] = Read(dir.path(), {});
  EXPECT_EQ(all.count("past"), 29u);
  EXPECT_EQ(all.count("future"), 30u);
  EXPECT_EQ(bad_in_all, 1u);

  auto [later, bad_in_later] = Read(dir.path(), {Year(2030), std::nullopt});
  EXPECT_EQ(later.count("future"), 30u);
  EXPECT_EQ(bad_in_later, 0u) << "the oldest segment was read";

  auto [earlier, bad_in_earlier] = Read(dir.path(), {std::nullopt, Year(2021)});
  EXPECT_EQ(earlier.count("past"), 29u);
  EXPECT_EQ(bad_in_earlier, 1u);
  EXPECT_FALSE(SegmentMayHold(segments.back(), {std::nullopt, Year(2021)}));
}

TEST(JournalReaderTest, ASegmentIsReadForAPeriodThatTouchesItsBoundsAndSkippedOnlyOutsideThem) {
  testing::TempDir dir;
  const auto segment = dir.path() / journal::SegmentName(1);
  testing::WriteLines(segment, {R"({"event_type":"checkpoint","details":{"segment":)"
                                R"({"earliest":"2020-01-01T00:00:00.000Z","latest":"2020-01-02T00:00:00.005Z"}}})"});
  const auto at = [](const char* text) { return *ParseTimestamp(text); };
  EXPECT_TRUE(SegmentMayHold(segment, {}));
  // [since, until): a record at the latest time is at or after a since equal to it.
  EXPECT_TRUE(SegmentMayHold(segment, {at("2020-01-02T00:00:00.005Z"), std::nullopt}));
  EXPECT_FALSE(SegmentMayHold(segment, {at("2020-01-02T00:00:00.006Z"), std::nullopt}));
  // ... and before an until just after the earliest, but not before one equal to it.
  EXPECT_TRUE(SegmentMayHold(segment, {std::nullopt, at("2020-01-01T00:00:00.001Z")}));
  EXPECT_FALSE(SegmentMayHold(segment, {std::nullopt, at("2020-01-01T00:00:00.000Z")}));
  EXPECT_TRUE(SegmentMayHold(segment, {at("2019-01-01"), at("2021-01-01")}));
  // No bounds, or a last line that is not whole: read.
  testing::WriteLines(segment, {R"({"event_type":"checkpoint","details":{}})"});
  EXPECT_TRUE(SegmentMayHold(segment, {at("2030-01-01"), std::nullopt}));
  std::ofstream(segment, std::ios::trunc) << R"({"event_type":"checkpoint","details":{"segment":)"
                                             R"({"earliest":"2020-01-01T00:00:00.000Z","latest":"2020-01-01T00:00:00.000Z"}}})";
  EXPECT_TRUE(SegmentMayHold(segment, {at("2030-01-01"), std::nullopt}));
}

TEST(JournalReaderTest, ASegmentLeftByACrashIsAlwaysRead) {
  testing::TempDir dir;
  {
    auto pipeline = Pipeline::Open(SmallSegments(dir.path()));
    ASSERT_TRUE(pipeline.has_value());
    LogCalls(**pipeline, "future", Year(2040), 1);
  }
  // The crash: the stop's records (audit_stopped and the final checkpoint) never written.
  auto segments = testing::SegmentPaths(dir.path());
  ASSERT_EQ(segments.size(), 1u);
  auto lines = testing::ReadLines(segments.front());
  lines.resize(lines.size() - 2);
  testing::WriteLines(segments.front(), lines);
  {
    // The writer cannot know when that segment's records were stamped: it starts another.
    auto pipeline = Pipeline::Open(SmallSegments(dir.path()));
    ASSERT_TRUE(pipeline.has_value());
    LogCalls(**pipeline, "past", Year(2020), 1);
  }
  EXPECT_EQ(testing::SegmentPaths(dir.path()).size(), 2u);
  EXPECT_EQ(Read(dir.path(), {Year(2030), std::nullopt}).first, std::multiset<std::string>{"future"});
  EXPECT_EQ(Read(dir.path(), {std::nullopt, Year(2021)}).first, std::multiset<std::string>{"past"});
}

TEST(JournalReaderTest, AfterACleanStopTheWriterGoesOnInTheSameSegmentAndItsBounds) {
  testing::TempDir dir;
  for (auto [user, year] : {std::pair{"future", 2040}, {"past", 2020}}) {
    auto pipeline = Pipeline::Open(SmallSegments(dir.path()));
    ASSERT_TRUE(pipeline.has_value());
    LogCalls(**pipeline, user, Year(year), 1);
  }
  ASSERT_EQ(testing::SegmentPaths(dir.path()).size(), 1u);
  EXPECT_TRUE(VerifyJournal(dir.path(), nullptr)->valid());
  EXPECT_EQ(Read(dir.path(), {Year(2030), std::nullopt}).first, std::multiset<std::string>{"future"});
  EXPECT_EQ(Read(dir.path(), {std::nullopt, Year(2021)}).first, std::multiset<std::string>{"past"});
}

TEST(JournalReaderTest, AMissingDirectoryIsNotFound) {
  auto status = ForEachRecord("/nonexistent/audit", [](const AuditEvent&) { return true; }, [](const BadLine&) {});
  ASSERT_FALSE(status.has_value());
  EXPECT_EQ(status.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace mcpaudit

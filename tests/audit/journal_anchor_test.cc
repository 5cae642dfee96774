// A hostile operator who can edit the files on the host shortens the journal
// and restarts the server. What the journal's store and its shippers have seen
// betrays it: `verify` names the missing seqs, the restarted server records an
// integrity alarm and ships again, and a seq edited beyond any real stream
// stops the server instead of wrapping around.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/cli_process.h"
#include "support/journal_files.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

using nlohmann::json;
using testing::Records;
using testing::RunCommand;
using testing::ServerProcess;

// A server run with `calls` catalog searches; the journal is shipped to <audit>/audit.db.
void Serve(const std::filesystem::path& audit, int calls, std::vector<std::string> args = {}) {
  args.insert(args.begin(), {"--user", "alice"});
  ServerProcess server(audit, args);
  server.Initialize();
  for (int i = 1; i <= calls; ++i)
    ASSERT_TRUE(server.Request(i, "tools/call", {{"name", "catalog_search"}, {"arguments", {{"query", "orders"}}}})
                    .contains("result"));
  ASSERT_EQ(server.CloseAndWait(), 0) << server.Stderr();
}

uint64_t SeqOf(const std::string& line) { return json::parse(line)["integrity"]["seq"].get<uint64_t>(); }

TEST(JournalAnchorTest, AJournalCutBackIsNamedByVerifyAndAlarmedAtRestartAndShippingGoesOn) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  Serve(audit, 5);
  ASSERT_EQ(RunCommand("verify --audit-dir " + audit.string()).first, 0);

  // The operator cuts the last six records (calls, audit_stopped, the final checkpoint).
  const auto segment = testing::SegmentPaths(audit).back();
  auto lines = testing::ReadLines(segment);
  const uint64_t last = SeqOf(lines.back());
  lines.resize(lines.size() - 6);
  const uint64_t kept = SeqOf(lines.back());
  testing::WriteLines(segment, lines);

  // verify compares the journal with its store and its shipper's cursor.
  const auto [status, out] = RunCommand("verify --audit-dir " + audit.string());
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("seq " + std::to_string(kept + 1) + "-" + std::to_string(last) + " are in the store"),
            std::string::npos)
      << out;
  const auto [status_code, status_out] = RunCommand("status --audit-dir " + audit.string());
  EXPECT_EQ(status_code, 0) << status_out;
  EXPECT_NE(status_out.find("ALARM: it shipped records up to seq " + std::to_string(last)), std::string::npos)
      << status_out;

  // The restarted server says so in the journal itself and goes on after the missing seqs.
  Serve(audit, 1);
  const auto records = Records(audit, true);
  const auto alarm = std::ranges::find_if(records, [](const AuditEvent& e) { return e.event_type == "integrity_alarm"; });
  ASSERT_NE(alarm, records.end());
  EXPECT_EQ(alarm->details["missing"], std::to_string(kept + 1) + "-" + std::to_string(last));
  EXPECT_EQ(alarm->error->reason, "journal_behind_anchor");
  const auto started = std::ranges::find_if(records, [&](const AuditEvent& e) {
    return e.event_type == "audit_started" && e.integrity && e.integrity->seq > kept;
  });
  ASSERT_NE(started, records.end());
  EXPECT_EQ(started->details["previous_stop"], "truncated");
  EXPECT_EQ(started->integrity->seq, last + 1);

  // The new call reached the store: the shipper was moved back to where the journal ends.
  const auto [query_status, query_out] = RunCommand("query --format json --store sqlite://" +
                                                    (audit / "audit.db").string() + " --audit-dir " + audit.string());
  EXPECT_EQ(query_status, 0) << query_out;
  EXPECT_NE(query_out.find(records.back().id), std::string::npos) << "the last record was not shipped";
  EXPECT_EQ(RunCommand("status --audit-dir " + audit.string()).second.find("ALARM"), std::string::npos);

  // The gap stays visible for good.
  const auto [after, after_out] = RunCommand("verify --audit-dir " + audit.string());
  EXPECT_EQ(after, 1) << after_out;
  EXPECT_NE(after_out.find("seq " + std::to_string(kept + 1) + ": missing"), std::string::npos) << after_out;
}

TEST(JournalAnchorTest, DeletedNewestSegmentsAreNoticedLikeDeletedLines) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  const auto config = dir.path() / "small-segments.toml";
  std::ofstream(config) << "[audit.segments]\nmax_bytes = 2000\n";
  Serve(audit, 12, {"--config", config.string()});
  auto segments = testing::SegmentPaths(audit);
  ASSERT_GE(segments.size(), 3u);
  const uint64_t last = SeqOf(testing::ReadLines(segments.back()).back());
  std::filesystem::remove(segments.back());
  std::filesystem::remove(segments[segments.size() - 2]);
  const uint64_t kept = SeqOf(testing::ReadLines(segments[segments.size() - 3]).back());

  const auto [status, out] = RunCommand("verify --audit-dir " + audit.string());
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("seq " + std::to_string(kept + 1) + "-" + std::to_string(last)), std::string::npos) << out;
  Serve(audit, 1, {"--config", config.string()});
  const auto records = Records(audit, true);
  EXPECT_TRUE(std::ranges::any_of(records, [](const AuditEvent& e) { return e.event_type == "integrity_alarm"; }));
}

TEST(JournalAnchorTest, RecordsReplacedByBlankLinesAreNoticedWithoutTheStore) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  Serve(audit, 3);
  const auto segment = testing::SegmentPaths(audit).back();
  auto lines = testing::ReadLines(segment);
  const uint64_t last = SeqOf(lines.back());
  lines[lines.size() - 1] = lines[lines.size() - 2] = "";  // as many lines as the shipper counted
  testing::WriteLines(segment, lines);
  std::filesystem::remove(audit / "audit.db");  // and the store beside it
  const auto [status, out] = RunCommand("verify --audit-dir " + audit.string());
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("modified"), std::string::npos) << out;
  Serve(audit, 1);
  const auto records = Records(audit, true);
  const auto alarm = std::ranges::find_if(records, [](const AuditEvent& e) { return e.event_type == "integrity_alarm"; });
  ASSERT_NE(alarm, records.end()) << "the shipper's cursor says seq " << last << " was shipped";
  EXPECT_EQ(alarm->details["missing"], std::to_string(last - 1) + "-" + std::to_string(last));
}

TEST(JournalAnchorTest, OneSeqEditedFarAheadIsOneVerdictNotAMillion) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  Serve(audit, 2);
  const auto segment = testing::SegmentPaths(audit).back();
  auto lines = testing::ReadLines(segment);
  json record = json::parse(lines[1]);
  record["integrity"]["seq"] = uint64_t{1} << 60;
  lines[1] = record.dump();
  testing::WriteLines(segment, lines);
  const auto [status, out] = RunCommand("verify --audit-dir " + audit.string());
  EXPECT_EQ(status, 1) << out;
  EXPECT_LT(std::ranges::count(out, '\n'), 20) << out;
}

TEST(JournalAnchorTest, ALinkOrADirectoryWithASegmentsNameIsNeverWrittenThrough) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  Serve(audit, 1);
  const auto victim = dir.path() / "victim.txt";
  std::ofstream(victim) << "precious\n";
  std::filesystem::create_symlink(victim, audit / "segment-99999999999999999998.jsonl");
  std::filesystem::create_directory(audit / "segment-99999999999999999999.jsonl");
  Serve(audit, 1);
  EXPECT_EQ(testing::ReadFile(victim), "precious\n");
  const auto [status, out] = RunCommand("verify --audit-dir " + audit.string());
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(Records(audit).size(), 2u);
}

TEST(JournalAnchorTest, ASeqEditedBeyondAnyRealStreamStopsTheServer) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  Serve(audit, 1);
  const auto segment = testing::SegmentPaths(audit).back();
  auto lines = testing::ReadLines(segment);
  json last = json::parse(lines.back());
  last["integrity"]["seq"] = std::numeric_limits<uint64_t>::max();
  lines.back() = last.dump();
  testing::WriteLines(segment, lines);
  ServerProcess server(audit, {"--user", "alice"});
  EXPECT_EQ(server.CloseAndWait(), 2);
  EXPECT_NE(server.Stderr().find("beyond any real stream"), std::string::npos) << server.Stderr();
}

}  // namespace
}  // namespace mcpaudit

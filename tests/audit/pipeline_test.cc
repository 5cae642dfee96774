#include "mcpaudit/pipeline.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "audit/journal_format.h"
#include "audit/merkle_tree.h"
#include "audit/signed_note.h"
#include "base/crypto.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/verifier.h"
#include "support/journal_files.h"
#include "support/small_filesystem.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::JournalRecords;

AuditEvent ToolEvent(int n) {
  AuditEvent e;
  e.timestamp = std::chrono::system_clock::now();
  e.id = NewUuidV7(e.timestamp, SecureRandom());
  e.tool = "catalog_search";
  e.user = {"alice", "alice@example.com", "acme", {}, "jwt"};
  e.request.client_ip = "10.0.0.7";
  e.params = {{"query", "q" + std::to_string(n)}};
  return e;
}

PipelineOptions Options(const fs::path& dir, DeliveryMode mode = DeliveryMode::kAsync) {
  PipelineOptions options;
  options.directory = dir;
  options.mode = mode;
  options.stream = "test-stream";
  options.admin_space_left_bytes = 0;  // tests run on whatever disk there is
  options.space_left_bytes = 0;
  return options;
}

VerifyReport Verify(const fs::path& dir, const SigningKey* key = nullptr) {
  auto report = VerifyJournal(dir, key);
  EXPECT_TRUE(report.has_value()) << report.error().message;
  for (const auto& p : report->problems)
    ADD_FAILURE() << "seq " << p.seq << ": " << p.verdict << ": " << p.detail;
  return *report;
}

// The Merkle tree's leaves cut to `leaves`, as a crash before the journal's
// sync leaves them: the writer adds leaves to the tree only once their
// records are synced, so the tree is never longer than the journal a crash left.
void CutTree(const fs::path& dir, uint64_t leaves) {
  fs::resize_file(merkle::TreeDirectory(dir, "test-stream") / "level-0", leaves * 32);
}

std::vector<std::string> Types(const std::vector<json>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r["event_type"]);
  return out;
}

TEST(PipelineTest, WritesAHashChainedJournalFramedByStartStopAndACheckpoint) {
  testing::TempDir dir;
  {
    auto pipeline = Pipeline::Open(Options(dir.path()));
    ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
    for (int i = 0; i < 100; ++i) ASSERT_TRUE((*pipeline)->Log(ToolEvent(i)).has_value());
  }
  auto records = JournalRecords(dir.path());
  ASSERT_EQ(records.size(), 103u);
  EXPECT_EQ(records.front()["event_type"], "audit_started");
  EXPECT_EQ(records[records.size() - 2]["event_type"], "audit_stopped");
  EXPECT_EQ(records.back()["event_type"], "checkpoint");
  std::string prev(journal::kGenesisHash);
  for (size_t i = 0; i < records.size(); ++i) {
    const json& integrity = records[i]["integrity"];
    EXPECT_EQ(integrity["stream"], "test-stream");
    EXPECT_EQ(integrity["seq"], i + 1);
    EXPECT_EQ(integrity["prev"], prev);
    prev = integrity["hash"];
  }
  EXPECT_EQ(records.back()["details"]["covers"]["seq"], 102);
  for (const auto& file : testing::SegmentPaths(dir.path()))
    EXPECT_EQ(fs::status(file).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
  VerifyReport report = Verify(dir.path());
  EXPECT_EQ(report.records, 103u);
}

// Readers take no line longer than journal::kMaxLineBytes: the writer writes
// none, and says so to the caller (durable: the call is refused with it).
TEST(PipelineTest, ARecordTooLargeForAJournalLineIsRefusedAndTheChainGoesOn) {
  testing::TempDir dir;
  {
    auto pipeline = Pipeline::Open(Options(dir.path(), DeliveryMode::kDurable));
    ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
    AuditEvent huge = ToolEvent(1);
    huge.params = {{"text", std::string(journal::kMaxLineBytes / 2, 'x')}};
    auto refused = (*pipeline)->Log(huge);
    ASSERT_FALSE(refused.has_value());
    EXPECT_NE(refused.error().message.find("larger than a journal line may be"), std::string::npos)
        << refused.error().message;
    ASSERT_TRUE((*pipeline)->Log(ToolEvent(2)).has_value());
  }
  auto records = JournalRecords(dir.path());
  EXPECT_EQ(Types(records), (std::vector<std::string>{"audit_started", "tool_call", "audit_stopped",
                                                      "checkpoint"}));
  Verify(dir.path());
}

TEST(PipelineTest, ErasableFieldsGetSaltsAndAnErasedValueStillVerifies) {
  testing::TempDir dir;
  {
    auto pipeline = Pipeline::Open(Options(dir.path()));
    ASSERT_TRUE(pipeline.has_value());
    ASSERT_TRUE((*pipeline)->Log(ToolEvent(1)).has_value());
  }
  const fs::path segment = testing::SegmentPaths(dir.path()).front();
  auto lines = testing::ReadLines(segment);
  json record = json::parse(lines[1]);
  ASSERT_EQ(record["event_type"], "tool_call");
  const json salts = record["integrity"]["salts"];
  EXPECT_EQ(salts.size(), 3u);  // /params, /user/email, /request/client_ip
  // Erase as DESIGN.md §5 says: the value becomes its commitment, the salt goes.
  for (const char* pointer : {"/params", "/user/email"}) {
    json::json_pointer p(pointer);
    record[p] = journal::Commitment(salts[pointer].get<std::string>(), record[p]);
    record["integrity"]["salts"].erase(pointer);
  }
  lines[1] = record.dump();
  testing::WriteLines(segment, lines);
  EXPECT_EQ(lines[1].find("alice@example.com"), std::string::npos);
  EXPECT_EQ(lines[1].find("q1"), std::string::npos);
  Verify(dir.path());
}

TEST(PipelineTest, ChecksumsEveryNRecordsAndSignsWithTheKey) {
  testing::TempDir dir;
  auto key = SigningKey::Generate();
  ASSERT_TRUE(key.has_value());
  ASSERT_TRUE(
      key->Save((dir.path() / "k.key").string(), (dir.path() / "k.pub").string()).has_value());
  PipelineOptions options = Options(dir.path() / "journal");
  options.checkpoint_every_records = 10;
  options.signing_key = dir.path() / "k.key";
  {
    auto pipeline = Pipeline::Open(options);
    ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
    for (int i = 0; i < 35; ++i) {
      ASSERT_TRUE((*pipeline)->Log(ToolEvent(i)).has_value());
      if (i % 5 == 4) {
        ASSERT_TRUE((*pipeline)->Flush().has_value());  // batches of 5
      }
    }
  }
  auto records = JournalRecords(dir.path() / "journal");
  size_t checkpoints = 0;
  for (const auto& r : records) {
    if (r["event_type"] != "checkpoint") continue;
    ++checkpoints;
    EXPECT_EQ(r["details"]["key_id"], key->KeyId());
    EXPECT_TRUE(r["details"].contains("signature"));
  }
  EXPECT_EQ(checkpoints, 4u);  // after 10, 20, 30 records and at the stop
  auto pub = SigningKey::LoadPublic((dir.path() / "k.pub").string());
  ASSERT_TRUE(pub.has_value());
  VerifyReport report = Verify(dir.path() / "journal", &*pub);
  EXPECT_EQ(report.signed_checkpoints, 4u);
}

TEST(PipelineTest, ASigningKeyReadableByOthersIsRefused) {
  testing::TempDir dir;
  auto key = SigningKey::Generate();
  ASSERT_TRUE(
      key->Save((dir.path() / "k.key").string(), (dir.path() / "k.pub").string()).has_value());
  fs::permissions(dir.path() / "k.key", fs::perms::group_read, fs::perm_options::add);
  PipelineOptions options = Options(dir.path() / "journal");
  options.signing_key = dir.path() / "k.key";
  auto pipeline = Pipeline::Open(options);
  ASSERT_FALSE(pipeline.has_value());
  EXPECT_NE(pipeline.error().message.find("chmod 600"), std::string::npos)
      << pipeline.error().message;
}

TEST(PipelineTest, DurableLogReturnsWithTheRecordInTheFileAndGroupCommits) {
  testing::TempDir dir;
  auto pipeline = Pipeline::Open(Options(dir.path(), DeliveryMode::kDurable));
  ASSERT_TRUE(pipeline.has_value());
  ASSERT_TRUE((*pipeline)->Log(ToolEvent(7)).has_value());
  // No flush: a durable Log() returns only when the record is written and synced.
  auto records = JournalRecords(dir.path());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["params"]["query"], "q7");

  std::vector<std::jthread> callers;
  for (int t = 0; t < 8; ++t)
    callers.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i)
        EXPECT_TRUE((*pipeline)->Log(ToolEvent(t * 100 + i)).has_value());
    });
  callers.clear();
  const PipelineCounters counters = (*pipeline)->counters();
  EXPECT_EQ(counters.accepted, 802u);
  // Group commit: one sync serves all the calls waiting at that moment.
  EXPECT_LT(counters.syncs, counters.accepted);
  EXPECT_EQ(JournalRecords(dir.path()).size(), 802u);
}

// The full-disk test: durable mode refuses with a clear error, never leaves a
// torn record, and logs again once space returns.
TEST(PipelineTest, AFullDiskRefusesDurableEventsAndLoggingResumesWhenSpaceReturns) {
  testing::SmallFilesystem disk(2 << 20);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << disk.error();
  const fs::path journal_dir = disk.path() / "journal";
  {
    auto pipeline = Pipeline::Open(Options(journal_dir, DeliveryMode::kDurable));
    ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
    ASSERT_TRUE((*pipeline)->Log(ToolEvent(1)).has_value());
    disk.Fill();
    AuditEvent big = ToolEvent(2);
    big.params["blob"] = std::string(64 * 1024, 'b');  // more than the few bytes left
    auto refused = (*pipeline)->Log(big);
    ASSERT_FALSE(refused.has_value());
    EXPECT_NE(refused.error().message.find("No space left on device"), std::string::npos)
        << refused.error().message;
    EXPECT_GT((*pipeline)->counters().failed, 0u);
    EXPECT_FALSE(
        (*pipeline)->Ready().has_value());  // a fail-closed toolkit refuses calls up front now
    disk.Free();
    ASSERT_TRUE((*pipeline)->Log(ToolEvent(3)).has_value());
    EXPECT_TRUE((*pipeline)->Ready().has_value());
  }
  std::vector<std::string> queries;
  for (const auto& r : JournalRecords(journal_dir))
    if (r["event_type"] == "tool_call") queries.push_back(r["params"]["query"]);
  EXPECT_EQ(queries, (std::vector<std::string>{"q1", "q3"}));  // the refused call left nothing
  Verify(journal_dir);
}

TEST(PipelineTest, AFullDiskWhileASegmentIsClosedLosesNothingAndSealsItOnce) {
  testing::SmallFilesystem disk(2 << 20);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << disk.error();
  const fs::path journal_dir = disk.path() / "journal";
  PipelineOptions options = Options(journal_dir, DeliveryMode::kDurable);
  options.max_segment_bytes = 1;  // every write closes the segment before it
  {
    auto pipeline = Pipeline::Open(options);
    ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
    ASSERT_TRUE((*pipeline)->Log(ToolEvent(1)).has_value());
    disk.Fill();
    AuditEvent big = ToolEvent(2);
    big.params["blob"] = std::string(64 * 1024, 'b');
    ASSERT_FALSE((*pipeline)
                     ->Log(big)
                     .has_value());  // its segment's seal, the next segment or the record: no room
    disk.Free();
    ASSERT_TRUE((*pipeline)->Log(ToolEvent(3)).has_value());
  }
  std::vector<std::string> queries;
  for (const auto& r : JournalRecords(journal_dir))
    if (r["event_type"] == "tool_call") queries.push_back(r["params"]["query"]);
  EXPECT_EQ(queries, (std::vector<std::string>{"q1", "q3"}));
  const auto segments = testing::SegmentPaths(journal_dir);
  for (const auto& segment : segments) {
    const auto lines = testing::ReadLines(segment);
    if (lines.empty()) continue;
    EXPECT_TRUE(journal::DeclaredSpan(json::parse(lines.back())).has_value())
        << segment << ": " << lines.back();
    for (size_t i = 1; i < lines.size(); ++i)
      EXPECT_FALSE(json::parse(lines[i - 1])["event_type"] == "checkpoint" &&
                   json::parse(lines[i])["event_type"] == "checkpoint")
          << segment << ": sealed twice";
  }
  Verify(journal_dir);
}

TEST(PipelineTest, AsyncModeKeepsRecordsThroughAFullDiskAndReportsTheFailure) {
  testing::SmallFilesystem disk(2 << 20);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << disk.error();
  const fs::path journal_dir = disk.path() / "journal";
  {
    auto pipeline = Pipeline::Open(Options(journal_dir));
    ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
    ASSERT_TRUE((*pipeline)->Flush().has_value());
    disk.Fill();
    AuditEvent big = ToolEvent(1);
    big.params["blob"] = std::string(64 * 1024, 'b');
    EXPECT_TRUE((*pipeline)->Log(big).has_value());  // the call goes on
    auto flushed = (*pipeline)->Flush();
    ASSERT_FALSE(flushed.has_value());
    EXPECT_NE(flushed.error().message.find("No space left on device"), std::string::npos);
    disk.Free();
    ASSERT_TRUE((*pipeline)->Flush().has_value());
  }
  auto records = JournalRecords(journal_dir);
  auto types = Types(records);
  ASSERT_EQ(types, (std::vector<std::string>{"audit_started", "audit_failed", "tool_call",
                                             "audit_stopped", "checkpoint"}));
  EXPECT_GT(records[1]["details"]["failed_attempts"], 0);
  Verify(journal_dir);
}

TEST(PipelineTest, BelowAdminSpaceLeftEventsAreRefused) {
  testing::TempDir dir;
  PipelineOptions options = Options(dir.path(), DeliveryMode::kDurable);
  options.admin_space_left_bytes = UINT64_MAX;  // no disk has that much free
  auto pipeline = Pipeline::Open(options);
  ASSERT_TRUE(pipeline.has_value());  // audit_started went in before the first check
  Status refused = (*pipeline)->Log(ToolEvent(1));
  for (int i = 0; i < 100 && refused.has_value(); ++i) refused = (*pipeline)->Log(ToolEvent(i));
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("admin_space_left"), std::string::npos);
  EXPECT_GT((*pipeline)->counters().refused, 0u);
}

TEST(PipelineTest, ADurablePipelineIsNotReadyTheMomentTheDiskIsBelowAdminSpaceLeft) {
  testing::TempDir dir;
  PipelineOptions options = Options(dir.path(), DeliveryMode::kDurable);
  options.admin_space_left_bytes = UINT64_MAX;  // no disk has that much free
  auto pipeline = Pipeline::Open(options);
  ASSERT_TRUE(pipeline.has_value());
  // Asked before a tool runs, before the writer has looked at the disk again:
  // the call is refused before it runs, not its result withheld after.
  const Status ready = (*pipeline)->Ready();
  ASSERT_FALSE(ready.has_value());
  EXPECT_NE(ready.error().message.find("admin_space_left"), std::string::npos);
}

TEST(PipelineTest, ATornLastLineIsSetAsideAndReportedAtTheNextStart) {
  testing::TempDir dir;
  { ASSERT_TRUE(Pipeline::Open(Options(dir.path())).has_value()); }
  const fs::path segment = testing::SegmentPaths(dir.path()).back();
  const std::string torn = R"({"schema":"mcp-audit/1","id":"0193)";
  { std::ofstream(segment, std::ios::app) << torn; }
  {
    auto pipeline = Pipeline::Open(Options(dir.path()));
    ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
  }
  auto records = JournalRecords(dir.path());
  ASSERT_EQ(Types(records),
            (std::vector<std::string>{"audit_started", "audit_stopped", "checkpoint",
                                      "audit_started", "audit_stopped", "checkpoint"}));
  const json& recovered = records[3]["details"]["recovered"];
  EXPECT_EQ(recovered["torn_bytes"], torn.size());
  std::ifstream aside(dir.path() / recovered["set_aside"].get<std::string>());
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(aside), {}), torn);
  EXPECT_EQ(records[3]["details"]["previous_stop"], "clean");
  Verify(dir.path());
}

TEST(PipelineTest, AnUncleanStopIsSaidAtTheNextStartAndTheChainGoesOn) {
  testing::TempDir dir;
  { ASSERT_TRUE(Pipeline::Open(Options(dir.path())).has_value()); }
  // Cut the final audit_stopped and checkpoint, as a crash would have left it.
  const fs::path segment = testing::SegmentPaths(dir.path()).back();
  auto lines = testing::ReadLines(segment);
  lines.resize(1);
  testing::WriteLines(segment, lines);
  CutTree(dir.path(), 1);
  { ASSERT_TRUE(Pipeline::Open(Options(dir.path())).has_value()); }
  auto records = JournalRecords(dir.path());
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[1]["details"]["previous_stop"], "unclean");
  EXPECT_EQ(records[1]["integrity"]["seq"], 2);
  Verify(dir.path());
}

TEST(PipelineTest, ACrashRightAfterACheckpointIsNoCleanStop) {
  testing::TempDir dir;
  PipelineOptions options = Options(dir.path());
  options.checkpoint_every_records = 2;
  {
    auto pipeline = Pipeline::Open(options);
    ASSERT_TRUE(pipeline.has_value());
    ASSERT_TRUE((*pipeline)->Log(ToolEvent(1)).has_value());
    ASSERT_TRUE((*pipeline)->Flush().has_value());
  }
  // The journal cut after the periodic checkpoint (audit_started, the call, checkpoint).
  const fs::path segment = testing::SegmentPaths(dir.path()).back();
  auto lines = testing::ReadLines(segment);
  ASSERT_EQ(json::parse(lines[2])["event_type"], "checkpoint");
  lines.resize(3);
  testing::WriteLines(segment, lines);
  CutTree(dir.path(), 3);
  { ASSERT_TRUE(Pipeline::Open(options).has_value()); }
  EXPECT_EQ(JournalRecords(dir.path())[3]["details"]["previous_stop"], "unclean");
}

// The leaves of `records` (C(N) hashed as RFC 6962 leaves), in seq order.
std::vector<Sha256Digest> LeavesOf(const std::vector<json>& records) {
  std::vector<Sha256Digest> leaves;
  for (const json& record : records)
    leaves.push_back(journal::LeafHash(*journal::CanonicalForHash(record, record["integrity"].value("salts", json::object()))));
  return leaves;
}

TEST(PipelineTest, CheckpointsSignANoteOfTheMerkleRootOfEveryRecordBeforeThem) {
  testing::TempDir dir;
  auto key = SigningKey::Generate();
  ASSERT_TRUE(key->Save((dir.path() / "k.key").string(), (dir.path() / "k.pub").string()));
  std::ofstream(dir.path() / "k.vkey") << note::VerifierKey("audit.example/log", *key) << "\n";
  // Durable: each record is a batch of its own, so a checkpoint follows every 5th.
  PipelineOptions options = Options(dir.path() / "audit", DeliveryMode::kDurable);
  options.signing_key = dir.path() / "k.key";
  options.checkpoint_every_records = 5;
  for (int run = 0; run < 2; ++run) {  // a second start goes on with the tree the first left
    auto pipeline = Pipeline::Open(options);
    ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
    for (int i = 0; i < 12; ++i) ASSERT_TRUE((*pipeline)->Log(ToolEvent(i)).has_value());
  }
  const auto records = JournalRecords(options.directory);
  const auto leaves = LeavesOf(records);
  auto verifier = note::ParseVerifierKey(note::VerifierKey("audit.example/log", *key));
  int notes = 0;
  for (const json& record : records) {
    if (record["event_type"] != "checkpoint") continue;
    ASSERT_TRUE(record["details"].contains("note")) << record.dump();
    const uint64_t covers = record["details"]["covers"]["seq"];
    auto opened = note::Open(record["details"]["note"].get<std::string>(), {&*verifier});
    ASSERT_TRUE(opened) << opened.error().message;
    auto checkpoint = note::ParseCheckpoint(opened->text);
    ASSERT_TRUE(checkpoint);
    EXPECT_EQ(checkpoint->origin, note::DefaultOrigin("test-stream"));
    EXPECT_EQ(checkpoint->size, covers);
    merkle::Frontier expected;
    for (uint64_t i = 0; i < covers; ++i) expected.Append(leaves[i]);
    EXPECT_EQ(checkpoint->root, expected.Root()) << "checkpoint after seq " << covers;
    ++notes;
  }
  EXPECT_GE(notes, 6);
  EXPECT_TRUE(Verify(options.directory, &*key).valid());
  // The stored tree holds every record, the last checkpoint too.
  auto tree = merkle::StoredTree::Open(merkle::TreeDirectory(options.directory, "test-stream"), false);
  ASSERT_TRUE(tree);
  EXPECT_EQ(tree->size(), records.size());
  merkle::Frontier all;
  for (const auto& leaf : leaves) all.Append(leaf);
  EXPECT_EQ(*tree->Root(records.size()), all.Root());
  Verify(options.directory);
}

TEST(PipelineTest, AMerkleTreeLostOrBehindIsBuiltAgainFromTheJournal) {
  testing::TempDir dir;
  { ASSERT_TRUE(Pipeline::Open(Options(dir.path())).has_value()); }
  {
    auto pipeline = Pipeline::Open(Options(dir.path()));
    for (int i = 0; i < 7; ++i) ASSERT_TRUE((*pipeline)->Log(ToolEvent(i)).has_value());
  }
  fs::remove_all(dir.path() / "merkle");  // a journal begun before trees, or a tree deleted
  {
    auto pipeline = Pipeline::Open(Options(dir.path()));
    ASSERT_TRUE(pipeline.has_value());
  }
  const auto records = JournalRecords(dir.path());
  EXPECT_EQ(records[records.size() - 3]["details"]["previous_stop"], "clean");
  auto tree = merkle::StoredTree::Open(merkle::TreeDirectory(dir.path(), "test-stream"), false);
  merkle::Frontier all;
  for (const auto& leaf : LeavesOf(records)) all.Append(leaf);
  EXPECT_EQ(tree->size(), records.size());
  EXPECT_EQ(*tree->Root(records.size()), all.Root());
  // The last checkpoint's note signs that same root (unsigned here: no key).
  auto checkpoint = note::ParseCheckpoint(records.back()["details"]["note"].get<std::string>());
  ASSERT_TRUE(checkpoint);
  EXPECT_EQ(checkpoint->size, records.size() - 1);
}

TEST(PipelineTest, AMerkleTreeWhoseHashesWereChangedIsBuiltAgainSoNoteStaysConsistent) {
  testing::TempDir dir;
  {
    auto pipeline = Pipeline::Open(Options(dir.path()));
    for (int i = 0; i < 9; ++i) ASSERT_TRUE((*pipeline)->Log(ToolEvent(i)).has_value());
  }
  const auto before = JournalRecords(dir.path());
  const auto signed_before = note::ParseCheckpoint(before.back()["details"]["note"].get<std::string>());
  ASSERT_TRUE(signed_before);
  // Someone overwrites leaf 3 of the stored tree.
  {
    std::fstream level0(merkle::TreeDirectory(dir.path(), "test-stream") / "level-0",
                        std::ios::in | std::ios::out | std::ios::binary);
    level0.seekp(3 * 32);
    level0.write(std::string(32, 'x').data(), 32);
  }
  { ASSERT_TRUE(Pipeline::Open(Options(dir.path())).has_value()); }
  const auto records = JournalRecords(dir.path());
  EXPECT_EQ(records[before.size()]["details"]["merkle_notes"], true);
  // The new checkpoint's tree starts with the tree the old one signed.
  auto tree = merkle::StoredTree::Open(merkle::TreeDirectory(dir.path(), "test-stream"), false);
  EXPECT_EQ(*tree->Root(signed_before->size), signed_before->root);
  merkle::Frontier all;
  for (const auto& leaf : LeavesOf(records)) all.Append(leaf);
  EXPECT_EQ(*tree->Root(records.size()), all.Root());
}

TEST(PipelineTest, AJournalCutBehindItsMerkleTreeIsTruncatedNotUnclean) {
  testing::TempDir dir;
  {
    auto pipeline = Pipeline::Open(Options(dir.path()));
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*pipeline)->Log(ToolEvent(i)).has_value());
  }
  // Someone takes the newest records out of the journal (they were synced: the tree has them).
  const fs::path segment = testing::SegmentPaths(dir.path()).back();
  auto lines = testing::ReadLines(segment);
  const size_t written = lines.size();
  lines.resize(3);
  testing::WriteLines(segment, lines);
  { ASSERT_TRUE(Pipeline::Open(Options(dir.path())).has_value()); }
  const auto records = JournalRecords(dir.path());
  const json& started = records[3];
  ASSERT_EQ(started["event_type"], "audit_started");
  EXPECT_EQ(started["details"]["previous_stop"], "truncated");
  // The numbering goes on after the seqs the tree knows: none is used twice, and
  // the tree stays the one every earlier checkpoint signed.
  EXPECT_EQ(started["integrity"]["seq"], written + 1);
  auto report = VerifyJournal(dir.path(), nullptr);
  ASSERT_TRUE(report);
  EXPECT_FALSE(report->valid());
}

TEST(PipelineTest, RotatesSegmentsBySizeNamedByTheirFirstSeq) {
  testing::TempDir dir;
  PipelineOptions options = Options(dir.path());
  options.max_segment_bytes = 4096;
  {
    auto pipeline = Pipeline::Open(options);
    ASSERT_TRUE(pipeline.has_value());
    for (int i = 0; i < 60; ++i) {
      AuditEvent event = ToolEvent(i);
      event.timestamp -=
          std::chrono::hours(60 - i);  // an hour apart: bounds that leave one out show
      ASSERT_TRUE((*pipeline)->Log(event).has_value());
      ASSERT_TRUE((*pipeline)->Flush().has_value());
    }
  }
  auto segments = testing::SegmentPaths(dir.path());
  ASSERT_GT(segments.size(), 5u);
  for (const auto& segment : segments) {
    const auto lines = testing::ReadLines(segment);
    auto first = json::parse(lines.front());
    EXPECT_EQ(segment.filename().string(),
              journal::SegmentName(first["integrity"]["seq"].get<uint64_t>()));
    // Each segment ends with a checkpoint that says when its records were stamped.
    auto last = json::parse(lines.back());
    EXPECT_EQ(last["event_type"], "checkpoint") << segment;
    auto span = journal::DeclaredSpan(last);
    ASSERT_TRUE(span.has_value()) << last.dump();
    for (const auto& line : lines) {
      auto time = ParseTimestamp(json::parse(line)["timestamp"].get<std::string>());
      ASSERT_TRUE(time.has_value()) << line;
      EXPECT_TRUE(span->earliest <= *time && *time <= span->latest) << line;
    }
    // Closed once full (by about one record more than the limit at most).
    if (segment != segments.back()) {
      EXPECT_LE(fs::file_size(segment), options.max_segment_bytes + 1024) << segment;
    }
  }
  // started, 60 calls, stopped, the final checkpoint and one closing each other segment.
  EXPECT_EQ(Verify(dir.path()).records, 63u + segments.size() - 1);
}

TEST(PipelineTest, DroppedEventsAreCountedAndTheCountIsInTheJournal) {
  testing::TempDir dir;
  PipelineOptions options = Options(dir.path());
  options.queue_capacity = 1;
  options.overflow = OverflowPolicy::kDrop;
  uint64_t refused = 0;
  {
    auto pipeline = Pipeline::Open(options);
    ASSERT_TRUE(pipeline.has_value());
    for (int i = 0; i < 5000; ++i)
      if (!(*pipeline)->Log(ToolEvent(i)).has_value()) ++refused;
    ASSERT_GT(refused, 0u);
    EXPECT_EQ((*pipeline)->counters().dropped, refused);
  }
  uint64_t reported = 0, tool_calls = 0;
  for (const auto& r : JournalRecords(dir.path())) {
    if (r["event_type"] == "audit_dropped") reported += r["details"]["dropped"].get<uint64_t>();
    if (r["event_type"] == "tool_call") ++tool_calls;
  }
  EXPECT_EQ(reported, refused);
  EXPECT_EQ(tool_calls + refused, 5000u);
  Verify(dir.path());
}

TEST(PipelineTest, TheFirstStartOfAJournalSaysSoAndTheNextAClean) {
  testing::TempDir dir;
  { ASSERT_TRUE(Pipeline::Open(Options(dir.path())).has_value()); }
  { ASSERT_TRUE(Pipeline::Open(Options(dir.path())).has_value()); }
  auto records = JournalRecords(dir.path());
  ASSERT_EQ(records.size(), 6u);
  EXPECT_EQ(records[0]["details"]["previous_stop"], "first_start");
  EXPECT_EQ(records[3]["details"]["previous_stop"], "clean");
}

TEST(PipelineTest, TwoJournalsOnOneHostAreTwoStreamsThatKeepTheirNames) {
  testing::TempDir one, two;
  auto stream_of = [](const fs::path& dir) {
    PipelineOptions options = Options(dir);
    options.stream.clear();  // the default
    { EXPECT_TRUE(Pipeline::Open(options).has_value()); }
    return JournalRecords(dir).back()["integrity"]["stream"].get<std::string>();
  };
  const std::string first = stream_of(one.path());
  EXPECT_NE(first, stream_of(two.path()));
  EXPECT_EQ(stream_of(one.path()), first);  // the same journal, the same stream
  EXPECT_EQ(KnownJournalStream(one.path()), first);
  EXPECT_EQ(fs::status(one.path() / "stream").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  Verify(one.path());
}

TEST(PipelineTest, AJournalWithoutItsStreamFileGoesOnWithTheStreamOfItsNewestRecord) {
  testing::TempDir dir;
  // Begun before stream files existed (its stream set by hand here).
  { ASSERT_TRUE(Pipeline::Open(Options(dir.path())).has_value()); }
  auto stream = JournalStream(dir.path());
  ASSERT_TRUE(stream.has_value()) << stream.error().message;
  EXPECT_EQ(*stream, "test-stream");
  // The file deleted by someone: the chain still goes on, not a new one.
  fs::remove(dir.path() / "stream");
  PipelineOptions options = Options(dir.path());
  options.stream.clear();
  { ASSERT_TRUE(Pipeline::Open(options).has_value()); }
  EXPECT_EQ(JournalRecords(dir.path()).back()["integrity"]["stream"], "test-stream");
  Verify(dir.path());
}

TEST(PipelineTest, AStreamFileWithoutANameIsRefusedWithWhatToDo) {
  testing::TempDir dir;
  testing::WriteLines(dir.path() / "stream", {"two words"});
  PipelineOptions options = Options(dir.path());
  options.stream.clear();
  auto pipeline = Pipeline::Open(options);
  ASSERT_FALSE(pipeline.has_value());
  EXPECT_NE(pipeline.error().message.find("holds no stream name"), std::string::npos)
      << pipeline.error().message;
}

TEST(PipelineTest, ASecondWriterOnTheSameDirectoryIsRefused) {
  testing::TempDir dir;
  auto first = Pipeline::Open(Options(dir.path()));
  ASSERT_TRUE(first.has_value());
  auto second = Pipeline::Open(Options(dir.path()));
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().message.find("another mcp-audit process"), std::string::npos);
}

}  // namespace
}  // namespace mcpaudit

// The tamper matrix: real journals, changed in each way an attacker could,
// and the verdict verify gives for each. Clean journals give none.
#include "mcpaudit/verifier.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "audit/canonical_json.h"
#include "audit/journal_format.h"
#include "audit/key_rotation.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/pipeline.h"
#include "store/retention.h"
#include "support/journal_files.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class VerifierTest : public ::testing::Test {
 protected:
  // A signed journal: audit_started, 20 tool calls (checkpoints after every 5
  // records), audit_stopped, final checkpoint — in segments of ~4 KiB.
  VerifierTest() : key_(*SigningKey::Generate()) {
    pub_.emplace(testing::SaveTestKeys(key_, dir_.path()));
    auto pipeline = Pipeline::Open(testing::SmallSignedJournal(journal_, dir_.path()));
    EXPECT_TRUE(pipeline.has_value()) << pipeline.error().message;
    for (int i = 0; i < 20; ++i) {
      AuditEvent e;
      e.timestamp = std::chrono::system_clock::now();
      e.id = NewUuidV7(e.timestamp, SecureRandom());
      e.tool = "catalog_get_entity";
      e.user.id = "user" + std::to_string(i % 3);
      e.user.email = e.user.id + "@example.com";
      e.params = {{"urn", "urn:li:dataset:" + std::to_string(i)}};
      EXPECT_TRUE((*pipeline)->Log(e).has_value());
      EXPECT_TRUE(
          (*pipeline)->Flush().has_value());  // one record per batch: checkpoints land every 5
    }
  }

  // All lines of all segments, and a way to put them back: each record in the
  // segment it was in (a line that is no record stays with the line before),
  // so that each segment's closing checkpoint still declares its time bounds.
  std::vector<std::string> Lines() {
    std::vector<std::string> lines;
    for (const auto& file : testing::SegmentPaths(journal_))
      for (auto& line : testing::ReadLines(file)) {
        json record = json::parse(line, nullptr, false);
        if (!record.is_discarded()) home_[record["integrity"]["seq"].get<uint64_t>()] = file;
        lines.push_back(line);
      }
    return lines;
  }
  void Rewrite(const std::vector<std::string>& lines) {
    std::map<fs::path, std::vector<std::string>> segments;
    fs::path file = testing::SegmentPaths(journal_).front();
    for (const auto& line : lines) {
      json record = json::parse(line, nullptr, false);
      if (!record.is_discarded() && record.contains("integrity") &&
          home_.contains(record["integrity"].value("seq", 0u)))
        file = home_[record["integrity"]["seq"].get<uint64_t>()];
      segments[file].push_back(line);
    }
    for (const auto& path : testing::SegmentPaths(journal_)) fs::remove(path);
    for (const auto& [path, content] : segments) testing::WriteLines(path, content);
  }
  size_t LineOfSeq(const std::vector<std::string>& lines, uint64_t seq) {
    for (size_t i = 0; i < lines.size(); ++i)
      if (json::parse(lines[i])["integrity"]["seq"] == seq) return i;
    ADD_FAILURE() << "no seq " << seq;
    return 0;
  }

  // The user of record `seq` changed, nothing else.
  void ChangeUserOf(uint64_t seq) {
    auto lines = Lines();
    const size_t at = LineOfSeq(lines, seq);
    json record = json::parse(lines[at]);
    record["user"]["id"] = "someone-else";
    lines[at] = record.dump();
    Rewrite(lines);
  }

  // `change` made to the record `seq`, and the hashes after it recomputed (the
  // checkpoints' covers too), as by an attacker without the signing key.
  void Rechain(std::vector<std::string>& lines, uint64_t seq,
               const std::function<void(json&)>& change) {
    std::string prev;
    for (auto& line : lines) {
      json record = json::parse(line);
      json& integrity = record["integrity"];
      if (integrity["seq"] == seq) change(record);
      if (integrity["seq"] >= seq) {
        if (record["event_type"] == "checkpoint") record["details"]["covers"]["hash"] = prev;
        integrity["prev"] = prev;
        integrity["hash"] =
            journal::ChainHash(prev, journal::LeafHash(*journal::CanonicalForHash(
                                         record, integrity.value("salts", json::object()))));
      }
      prev = integrity["hash"];
      line = record.dump();
    }
  }

  // How many checkpoints the journal has after seq `after`.
  size_t Checkpoints(uint64_t after = 0) {
    size_t n = 0;
    for (const auto& line : Lines()) {
      json record = json::parse(line);
      n += record["event_type"] == "checkpoint" && record["integrity"]["seq"] > after;
    }
    return n;
  }

  // (verdict, seq) of every problem.
  std::vector<std::pair<std::string, uint64_t>> Verdicts(const SigningKey* key) {
    auto report = VerifyJournal(journal_, key);
    EXPECT_TRUE(report.has_value()) << report.error().message;
    std::vector<std::pair<std::string, uint64_t>> out;
    for (const auto& p : report->problems) out.emplace_back(p.verdict, p.seq);
    return out;
  }
  using Verdict = std::vector<std::pair<std::string, uint64_t>>;

  testing::TempDir dir_;
  fs::path journal_ = dir_.path() / "journal";
  SigningKey key_;
  std::optional<SigningKey> pub_;
  std::map<uint64_t, fs::path> home_;  // the segment each seq was written to
};

TEST_F(VerifierTest, ACleanJournalWithRotatedSegmentsIsValid) {
  EXPECT_GT(testing::SegmentPaths(journal_).size(), 2u);
  auto report = VerifyJournal(journal_, &*pub_);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->valid());
  // started + 20 + stopped, and the checkpoints: every 5 records, at the end
  // of each segment (unless it ends with one already) and the final one.
  const size_t checkpoints = Checkpoints();
  EXPECT_GE(checkpoints, 5u);
  EXPECT_EQ(report->records, 22u + checkpoints);
  EXPECT_EQ(report->signed_checkpoints, checkpoints);
}

TEST_F(VerifierTest, ErasedFieldsAreNoFalseAlarm) {
  auto lines = Lines();
  for (auto& line : lines) {
    json record = json::parse(line);
    json& salts = record["integrity"]["salts"];
    if (!salts.is_object() || !salts.contains("/user/email")) continue;
    for (const char* pointer : {"/user/email", "/params"}) {
      json::json_pointer p(pointer);
      record[p] = journal::Commitment(salts[pointer].get<std::string>(), record[p]);
      salts.erase(pointer);
    }
    line = record.dump();
  }
  Rewrite(lines);
  EXPECT_EQ(Verdicts(&*pub_), Verdict{});
}

TEST_F(VerifierTest, TheWriterLaysOutEachRecordSoThatItsBytesAreHashedAsTheyAre) {
  for (const auto& line : Lines()) {
    const json record = json::parse(line);
    // The record's canonical form (values in plain), then integrity: C(N) is
    // those bytes with the salted values replaced by their commitments.
    const size_t at = line.rfind(",\"integrity\":{");
    ASSERT_NE(at, std::string::npos);
    json plain = record;
    plain.erase("integrity");
    EXPECT_EQ(line.substr(0, at) + "}", CanonicalJson(plain));
    EXPECT_EQ(record["integrity"]["v"], journal::kFormat);
    EXPECT_EQ(journal::RecordLeaf(line.substr(0, at) + "}",
                                  record["integrity"].value("salts", json::object())),
              journal::LeafHash(*journal::CanonicalForHash(
                  record, record["integrity"].value("salts", json::object()))));
  }
}

TEST_F(VerifierTest, ABytePatchedAnywhereInALineIsModified) {
  const auto original = Lines();
  const size_t at = LineOfSeq(original, 7);
  const json record = json::parse(original[at]);
  const std::string salt = record["integrity"]["salts"]["/user/email"];
  // In an erasable value, in a plain one, in the timestamp, in a salt.
  for (const std::string& part : {std::string("@example.com"), std::string("catalog_get_entity"),
                                  record["timestamp"].get<std::string>(), salt}) {
    auto lines = original;
    const size_t where = lines[at].find(part);
    ASSERT_NE(where, std::string::npos) << part;
    lines[at][where + part.size() - 1] = lines[at][where + part.size() - 1] == '1' ? '2' : '1';
    Rewrite(lines);
    EXPECT_EQ(Verdicts(&*pub_), (Verdict{{"modified", 7}})) << part;
  }
}

// JSON text holds no NUL byte; a reader that stopped at one would take the
// record before it for the whole line and never see what follows.
TEST_F(VerifierTest, BytesHiddenAfterANulInALineAreNotValid) {
  auto lines = Lines();
  const size_t at = LineOfSeq(lines, 7);
  lines[at] += std::string(1, '\0') + "{\"hidden\":\"\xff\xfe tampered\"}";
  Rewrite(lines);
  EXPECT_EQ(Verdicts(&*pub_), (Verdict{{"modified", 0}, {"missing", 7}}));
}

// A line longer than any record (here a sparse file's 65 MiB, no line break
// in it) is one unreadable line: read once, its bytes not kept, the chain
// around it intact.
TEST_F(VerifierTest, ALineLongerThanAnyRecordIsModifiedAndTheRestIsRead) {
  const auto lines = Lines();
  const fs::path segment = home_.at(7);
  std::string before, after;
  bool past = false;
  for (const auto& line : testing::ReadLines(segment)) {
    (past ? after : before) += line + "\n";
    past = past || json::parse(line)["integrity"]["seq"] == 7;
  }
  const int fd = ::open(segment.c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, before.data(), before.size()), static_cast<ssize_t>(before.size()));
  ASSERT_GE(::lseek(fd, static_cast<off_t>(journal::kMaxLineBytes + (1 << 20)), SEEK_CUR), 0);
  const std::string rest = "\n" + after;
  ASSERT_EQ(::write(fd, rest.data(), rest.size()), static_cast<ssize_t>(rest.size()));
  ::close(fd);
  auto report = VerifyJournal(journal_, &*pub_);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_EQ(report->problems[0].verdict, "modified");
  EXPECT_NE(report->problems[0].detail.find("longer than any record"), std::string::npos)
      << report->problems[0].detail;
  EXPECT_EQ(report->records, lines.size()) << "every record around it read";
}

// The writer writes seq numbers as whole numbers; one written as a float
// (which nlohmann would convert with undefined behaviour) is an edit.
TEST_F(VerifierTest, ASeqThatIsNotAWholeNumberIsModified) {
  auto lines = Lines();
  const size_t at = LineOfSeq(lines, 7);
  const size_t seq = lines[at].find("\"seq\":7,");
  ASSERT_NE(seq, std::string::npos);
  lines[at].replace(seq, 8, "\"seq\":4e33,");
  Rewrite(lines);
  auto report = VerifyJournal(journal_, &*pub_);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  ASSERT_FALSE(report->problems.empty());
  EXPECT_EQ(report->problems[0].verdict, "modified");
  EXPECT_EQ(report->problems[0].detail, "its seq is not a whole number");
}

TEST_F(VerifierTest, MembersAddedAfterIntegrityOrEscapedTwiceInItAreNotValid) {
  const auto original = Lines();
  const size_t at = LineOfSeq(original, 7);
  // verify reads such a line as every parser does: another user, another
  // integrity (its seq 999 is then the record that does not match).
  auto lines = original;
  lines[at].insert(lines[at].size() - 1, R"(,"user":{"id":"intruder"})");
  Rewrite(lines);
  EXPECT_EQ(Verdicts(&*pub_), (Verdict{{"modified", 7}}));
  for (const std::string& key : {"integrity", "\\u0069ntegrity"}) {
    lines = original;
    lines[at].insert(lines[at].size() - 1,
                     ",\"" + key + R"(":{"stream":"s","seq":999,"prev":"p","hash":"h"})");
    Rewrite(lines);
    EXPECT_EQ(Verdicts(&*pub_).front(), std::make_pair(std::string("modified"), uint64_t{999}))
        << key;
  }
  lines = original;
  lines[at].insert(lines[at].size() - 2, R"(,"s\u0065q":70)");
  Rewrite(lines);
  // Read as seq 70, as every parser reads it: the records after it come out of order.
  EXPECT_EQ(Verdicts(&*pub_).front(), std::make_pair(std::string("reordered"), uint64_t{8}));
}

// A journal of one stream with `erasable`, holding one call with `params`.
fs::path JournalWith(const fs::path& dir, std::vector<std::string> erasable, const json& params) {
  PipelineOptions options;
  options.directory = dir;
  options.stream = "s";
  options.erasable = std::move(erasable);
  options.admin_space_left_bytes = options.space_left_bytes = 0;
  auto pipeline = Pipeline::Open(options);
  EXPECT_TRUE(pipeline.has_value()) << pipeline.error().message;
  AuditEvent e;
  e.timestamp = std::chrono::system_clock::now();
  e.id = NewUuidV7(e.timestamp, SecureRandom());
  e.tool = "pay";
  e.params = params;
  EXPECT_TRUE((*pipeline)->Log(e).has_value());
  return testing::SegmentPaths(dir).front();
}

TEST(VerifierFormatTest, ABytesMovedBetweenASaltAndItsValueIsModified) {
  testing::TempDir dir;
  const fs::path segment = JournalWith(dir.path(), {"/params/amount"}, {{"amount", -5}});
  auto lines = testing::ReadLines(segment);
  std::string& call = lines[1];
  const size_t amount = call.find(R"("amount":-5)");
  const size_t salt_end = call.find(R"("}})", call.find(R"("/params/amount":")"));
  ASSERT_NE(amount, std::string::npos);
  ASSERT_NE(salt_end, std::string::npos);
  // SHA-256(salt ‖ "-5") = SHA-256(salt + "-" ‖ "5"): the same commitment for another amount.
  call.insert(salt_end, "-");
  call.erase(amount + 9, 1);
  testing::WriteLines(segment, lines);
  auto report = VerifyJournal(dir.path(), nullptr);
  ASSERT_TRUE(report.has_value());
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_EQ(report->problems[0].verdict, "modified");
  EXPECT_EQ(report->problems[0].seq, 2u);
}

TEST(VerifierFormatTest, ACallWhoseArgumentsLookErasedIsValid) {
  testing::TempDir dir;
  JournalWith(dir.path(), {"/params", "/params/inner"},
              {{"$erased", "x"}, {"inner", {{"$erased", "y"}}}});
  auto report = VerifyJournal(dir.path(), nullptr);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->valid()) << report->problems[0].detail;
}

// verify reads a segment in blocks and examines its lines in batches: a
// segment of several megabytes has lines across both boundaries; it is valid
// whole, and a byte changed in a line far into it is found at that record.
TEST(VerifierBatchTest, ALargeSegmentIsReadWholeAndAChangeDeepInItIsFound) {
  testing::TempDir dir;
  PipelineOptions options;
  options.directory = dir.path();
  options.stream = "s";
  options.admin_space_left_bytes = options.space_left_bytes = 0;
  constexpr int kCalls = 10000;  // more lines than one batch, ~7 MB: several blocks
  {
    auto pipeline = Pipeline::Open(options);
    ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
    for (int i = 0; i < kCalls; ++i) {
      AuditEvent e;
      e.timestamp = std::chrono::system_clock::now();
      e.id = NewUuidV7(e.timestamp, SecureRandom());
      e.tool = "catalog_search";
      e.params = {{"query", std::string(400 + i % 97, 'q')}, {"n", i}};
      ASSERT_TRUE((*pipeline)->Log(e).has_value());
    }
  }
  const auto segments = testing::SegmentPaths(dir.path());
  ASSERT_EQ(segments.size(), 1u);
  auto report = VerifyJournal(dir.path(), nullptr);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_TRUE(report->problems.empty()) << report->problems.front().detail;
  EXPECT_GE(report->records, static_cast<uint64_t>(kCalls));
  auto lines = testing::ReadLines(segments.front());
  const size_t at = lines.size() - 500;  // past the first batch and the first blocks
  const uint64_t seq = json::parse(lines[at])["integrity"]["seq"];
  const size_t n = lines[at].find("\"n\":");
  ASSERT_NE(n, std::string::npos);
  lines[at][n + 4] = lines[at][n + 4] == '1' ? '2' : '1';
  testing::WriteLines(segments.front(), lines);
  report = VerifyJournal(dir.path(), nullptr);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_EQ(report->problems[0].verdict, "modified");
  EXPECT_EQ(report->problems[0].seq, seq);
}

TEST_F(VerifierTest, AJournalOfTheFirstFormatStaysValidAndGoesOnInTheSecond) {
  // The journal as the first format wrote it: no "v", H(N) over the hex of
  // H(N-1) and C(N) itself, checkpoints signed over those hashes.
  auto lines = Lines();
  std::string prev(journal::kGenesisHash);
  for (auto& line : lines) {
    json record = json::parse(line);
    json& integrity = record["integrity"];
    integrity.erase("v");
    if (record["event_type"] == "checkpoint") {
      json& details = record["details"];
      details.erase("note");  // the first format had no Merkle tree
      details["covers"]["hash"] = prev;
      details["signature"] =
          *key_.Sign(journal::CheckpointMessage("s", details["covers"]["seq"], prev));
    }
    integrity["prev"] = prev;
    integrity["hash"] = prev = journal::ChainHashV1(
        prev, *journal::CanonicalForHash(record, integrity.value("salts", json::object())));
    line = record.dump();
  }
  Rewrite(lines);
  std::filesystem::remove_all(journal_ / "merkle");
  EXPECT_EQ(Verdicts(&*pub_), Verdict{});

  // A writer of today goes on from its head (and builds the tree of the records so far).
  {
    auto pipeline = Pipeline::Open(testing::SmallSignedJournal(journal_, dir_.path()));
    ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
    AuditEvent e;
    e.timestamp = std::chrono::system_clock::now();
    e.id = NewUuidV7(e.timestamp, SecureRandom());
    e.tool = "catalog_get_entity";
    ASSERT_TRUE((*pipeline)->Log(e).has_value());
  }
  size_t first = 0, second = 0;
  for (const auto& line : Lines())
    (json::parse(line)["integrity"].contains("v") ? second : first) += 1;
  EXPECT_EQ(first, lines.size());
  EXPECT_GE(second, 3u);  // audit_started, the call, audit_stopped, checkpoints
  EXPECT_EQ(Verdicts(&*pub_), Verdict{});
  // An edit in the older part is still seen.
  ChangeUserOf(7);
  EXPECT_EQ(Verdicts(&*pub_), (Verdict{{"modified", 7}}));
}

TEST_F(VerifierTest, AChangedValueIsModified) {
  ChangeUserOf(7);
  EXPECT_EQ(Verdicts(&*pub_), (Verdict{{"modified", 7}}));
}

TEST_F(VerifierTest, AnErasureWithAForgedCommitmentIsModified) {
  auto lines = Lines();
  const size_t at = LineOfSeq(lines, 10);
  json record = json::parse(lines[at]);
  record["params"] = {{std::string(journal::kErasedKey), std::string(64, 'a')}};
  record["integrity"]["salts"].erase("/params");
  lines[at] = record.dump();
  Rewrite(lines);
  EXPECT_EQ(Verdicts(&*pub_), (Verdict{{"modified", 10}}));
}

TEST_F(VerifierTest, ADeletedRecordIsMissing) {
  auto lines = Lines();
  lines.erase(lines.begin() + static_cast<long>(LineOfSeq(lines, 4)));
  Rewrite(lines);
  EXPECT_EQ(Verdicts(&*pub_), (Verdict{{"missing", 4}}));
}

TEST_F(VerifierTest, SwappedRecordsAreReordered) {
  auto lines = Lines();
  ASSERT_EQ(home_[10], home_[11]) << "a swap across segments would be undone by Rewrite";
  std::swap(lines[LineOfSeq(lines, 10)], lines[LineOfSeq(lines, 11)]);
  Rewrite(lines);
  EXPECT_EQ(Verdicts(&*pub_), (Verdict{{"reordered", 10}}));
}

TEST_F(VerifierTest, ADuplicatedRecordIsInserted) {
  auto lines = Lines();
  const size_t at = LineOfSeq(lines, 12);
  lines.insert(lines.begin() + static_cast<long>(at) + 1, lines[at]);
  Rewrite(lines);
  EXPECT_EQ(Verdicts(&*pub_), (Verdict{{"inserted", 12}}));
}

// A record made up from scratch, with a self-consistent hash but no knowledge
// of the chain head.
json Forge(const std::string& line, uint64_t seq) {
  json forged = json::parse(line);
  forged["user"]["id"] = "intruder";
  forged["integrity"]["seq"] = seq;
  forged["integrity"]["prev"] = std::string(journal::kGenesisHash);
  forged["integrity"]["hash"] = journal::ChainHash(
      forged["integrity"]["prev"].get<std::string>(),
      journal::LeafHash(*journal::CanonicalForHash(forged, forged["integrity"]["salts"])));
  return forged;
}

TEST_F(VerifierTest, AForgedRecordSlippedIntoTheChainIsInserted) {
  auto lines = Lines();
  const size_t at = LineOfSeq(lines, 14);
  lines.insert(lines.begin() + static_cast<long>(at) + 1, Forge(lines[at], 15).dump());
  Rewrite(lines);
  EXPECT_EQ(Verdicts(&*pub_), (Verdict{{"inserted", 15}}));
}

TEST_F(VerifierTest, AReplacedRecordIsInsertedAndTheOriginalMissing) {
  auto lines = Lines();
  const size_t at = LineOfSeq(lines, 14);
  lines[at] = Forge(lines[at], 14).dump();
  Rewrite(lines);
  EXPECT_EQ(Verdicts(&*pub_), (Verdict{{"inserted", 14}, {"missing", 14}}));
}

TEST_F(VerifierTest, CuttingTheTailIsTruncated) {
  auto lines = Lines();
  lines.resize(LineOfSeq(lines, 15) +
               1);  // the end of the stream is gone, up to a periodic checkpoint
  Rewrite(lines);
  auto verdicts = Verdicts(&*pub_);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].first, "truncated");
}

TEST_F(VerifierTest, ARewrittenChainWithRecomputedHashesHasBadSignatures) {
  // The attacker changes seq 3 and recomputes every hash after it (and the
  // checkpoints' covers) — but cannot sign, and the checkpoints' notes still
  // sign the Merkle root of the records as they were.
  auto lines = Lines();
  Rechain(lines, 3, [](json& record) { record["user"]["id"] = "nobody"; });
  Rewrite(lines);
  auto verdicts = Verdicts(&*pub_);
  ASSERT_FALSE(verdicts.empty());
  size_t bad_signatures = 0, other_roots = 0;
  for (const auto& [verdict, seq] : verdicts) {
    EXPECT_GT(seq, 3u);
    (verdict == "bad signature" ? bad_signatures : other_roots) += 1;
    EXPECT_TRUE(verdict == "bad signature" || verdict == "modified") << verdict;
  }
  // Every checkpoint after the change: its signature; and the first note after it.
  EXPECT_EQ(bad_signatures, Checkpoints(3));
  EXPECT_EQ(other_roots, 1u);
}

// The seq of the first checkpoint after `seq` in `lines`.
uint64_t NextCheckpoint(const std::vector<std::string>& lines, uint64_t seq) {
  for (const auto& line : lines) {
    const json record = json::parse(line);
    if (record["event_type"] == "checkpoint" && record["integrity"]["seq"].get<uint64_t>() > seq)
      return record["integrity"]["seq"];
  }
  return 0;
}

TEST_F(VerifierTest, TimeBoundsThatLeaveOutRecordsOfTheirSegmentAreModified) {
  // The checkpoint closing the first segment made to say its records are of
  // 2099: a query by time would pass over them. Without the key, only the
  // bounds give it away.
  auto lines = Lines();
  const auto first_segment = testing::ReadLines(testing::SegmentPaths(journal_).front());
  ASSERT_EQ(json::parse(first_segment.back())["event_type"], "checkpoint");
  const uint64_t seal = json::parse(first_segment.back())["integrity"]["seq"];
  Rechain(lines, seal, [](json& record) {
    record["details"]["segment"] = {{"earliest", "2099-01-01T00:00:00.000Z"},
                                    {"latest", "2099-01-01T00:00:00.000Z"}};
  });
  Rewrite(lines);
  // The bounds, and the next checkpoint's note: the checkpoint it signed had other bounds.
  EXPECT_EQ(Verdicts(nullptr), (Verdict{{"modified", seal}, {"modified", NextCheckpoint(lines, seal)}}));
  auto report = VerifyJournal(journal_, nullptr);
  EXPECT_NE(report->problems.front().detail.find("a query by time would pass over some"),
            std::string::npos);
}

TEST_F(VerifierTest, TimeBoundsThatAreNotTwoTimesInOrderAreModified) {
  auto lines = Lines();
  const auto first_segment = testing::ReadLines(testing::SegmentPaths(journal_).front());
  const uint64_t seal = json::parse(first_segment.back())["integrity"]["seq"];
  Rechain(lines, seal, [](json& record) {
    record["details"]["segment"] = {{"earliest", "2099-01-01T00:00:00.000Z"},
                                    {"latest", "2000-01-01"}};
  });
  Rewrite(lines);
  EXPECT_EQ(Verdicts(nullptr), (Verdict{{"modified", seal}, {"modified", NextCheckpoint(lines, seal)}}));
}

TEST_F(VerifierTest, CheckpointsSignedByAnotherKeyAreUnknownKey) {
  auto other = SigningKey::Generate();
  ASSERT_TRUE(
      other->Save((dir_.path() / "o.key").string(), (dir_.path() / "o.pub").string()).has_value());
  auto other_pub = SigningKey::LoadPublic((dir_.path() / "o.pub").string());
  auto verdicts = Verdicts(&*other_pub);
  ASSERT_EQ(verdicts.size(), Checkpoints());
  for (const auto& [verdict, seq] : verdicts) EXPECT_EQ(verdict, "unknown key");
}

TEST_F(VerifierTest, WithoutAPublicKeyItSaysSignaturesWereNotChecked) {
  auto report = VerifyJournal(journal_, nullptr);
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->valid());
  ASSERT_EQ(report->notes.size(), 1u);
  EXPECT_NE(report->notes[0].find("not checked"), std::string::npos);
}

TEST_F(VerifierTest, AnEmptyDirectoryIsAnErrorNotAVerdict) {
  testing::TempDir empty;
  auto report = VerifyJournal(empty.path(), nullptr);
  ASSERT_FALSE(report.has_value());
  EXPECT_EQ(report.error().code, ErrorCode::kNotFound);
}

// Forward-secure keys: the journal above goes on with a new key each second.
class KeyEpochTest : public VerifierTest {
 protected:
  PipelineOptions Options(std::chrono::seconds epoch = std::chrono::seconds(1)) {
    PipelineOptions options = testing::SmallSignedJournal(journal_, dir_.path());
    options.key_epoch = epoch;
    return options;
  }

  // Logs a call every 250 ms for `seconds`.
  void Run(int seconds, std::chrono::seconds epoch = std::chrono::seconds(1)) {
    auto pipeline = Pipeline::Open(Options(epoch));
    ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
    for (int i = 0; i < 4 * seconds; ++i) {
      AuditEvent e;
      e.timestamp = std::chrono::system_clock::now();
      e.id = NewUuidV7(e.timestamp, SecureRandom());
      e.tool = "catalog_get_entity";
      e.user.id = "user" + std::to_string(i);
      EXPECT_TRUE((*pipeline)->Log(e).has_value());
      EXPECT_TRUE((*pipeline)->Flush().has_value());
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  }

  // Runs retention with every record expired, as a running server does: each
  // segment but the newest goes, and the writer signs the run's record.
  // `before_logging` runs between the plan and the record. Returns the plan.
  RetentionPlan DeleteAllButTheNewestSegment(const std::function<void()>& before_logging = [] {}) {
    auto pipeline = Pipeline::Open(Options());
    EXPECT_TRUE(pipeline.has_value()) << pipeline.error().message;
    if (!pipeline) return {};
    EXPECT_TRUE((*pipeline)->Flush().has_value());
    RetentionPolicy everything;
    everything.keep = std::chrono::days(0);
    auto plan = PlanRetention(journal_, {everything, std::chrono::system_clock::now(), {}, false, true});
    EXPECT_TRUE(plan.has_value()) << plan.error().message;
    if (!plan) return {};
    auto event = RetentionEvent(*plan, nullptr, std::chrono::system_clock::now());
    EXPECT_TRUE(event.has_value());
    before_logging();
    EXPECT_TRUE((*pipeline)->LogSigned(*event, SignRetentionCuts).has_value());
    pipeline->reset();
    EXPECT_TRUE(DeleteExpiredSegments(journal_, *plan).has_value());
    return *plan;
  }

  // The problems verify reports from the first public key.
  void ExpectValidFromTheFirstKey() {
    auto report = VerifyJournal(journal_, &*pub_);
    ASSERT_TRUE(report.has_value()) << report.error().message;
    for (const auto& p : report->problems) ADD_FAILURE() << p.verdict << " at seq " << p.seq << ": " << p.detail;
    EXPECT_TRUE(std::ranges::any_of(report->notes, [](const std::string& n) {
      return n.find("were deleted by retention") != std::string::npos;
    }));
  }

  // The seqs of the key_rotation records.
  std::vector<uint64_t> Rotations() {
    std::vector<uint64_t> seqs;
    for (const auto& line : Lines()) {
      const json record = json::parse(line);
      if (record["event_type"] == "key_rotation") seqs.push_back(record["integrity"]["seq"]);
    }
    return seqs;
  }
};

TEST_F(KeyEpochTest, VerifyFollowsTheRotationsFromTheFirstKeyAndEachOldKeyIsDestroyed) {
  Run(3);
  const auto rotations = Rotations();
  ASSERT_GE(rotations.size(), 2u);
  // The key file holds the newest epoch's key: the first is gone from it.
  const fs::path key_file = Options().signing_key;
  auto current = SigningKey::LoadPrivate(key_file.string());
  ASSERT_TRUE(current.has_value()) << current.error().message;
  EXPECT_NE(current->KeyId(), key_.KeyId());
  EXPECT_FALSE(fs::exists(key_file.string() + ".next"));
  EXPECT_EQ(fs::status(key_file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);

  auto report = VerifyJournal(journal_, &*pub_);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  for (const auto& p : report->problems) ADD_FAILURE() << p.verdict << " at seq " << p.seq << ": " << p.detail;
  const std::string followed = std::to_string(rotations.size()) + " key rotations followed from the given key; key " +
                               current->KeyId() + " signs its newest epoch";
  EXPECT_TRUE(std::ranges::any_of(report->notes, [&](const std::string& n) { return n.ends_with(followed); }));
  // From the newest key alone, every checkpoint before it is another key's.
  auto public_now = SigningKey::FromPublicKeyBytes(current->PublicKeyBytes());
  auto from_newest = VerifyJournal(journal_, &*public_now);
  ASSERT_TRUE(from_newest.has_value());
  EXPECT_FALSE(from_newest->valid());
}

TEST_F(KeyEpochTest, AKeyStolenInALaterEpochCannotSignACheckpointOfAnEarlierOne) {
  Run(3);
  const auto rotations = Rotations();
  ASSERT_GE(rotations.size(), 2u);
  auto stolen = SigningKey::LoadPrivate(Options().signing_key.string());
  ASSERT_TRUE(stolen.has_value());
  // The thief changes seq 3, recomputes every hash after it, and signs every
  // checkpoint again with the key it stole (notes dropped: their signature
  // alone would need the same key).
  auto lines = Lines();
  std::string prev;
  std::vector<uint64_t> resigned;
  for (auto& line : lines) {
    json record = json::parse(line);
    json& integrity = record["integrity"];
    const uint64_t seq = integrity["seq"];
    if (seq == 3) record["user"]["id"] = "nobody";
    if (seq >= 3) {
      if (record["event_type"] == "checkpoint") {
        json& details = record["details"];
        details["covers"]["hash"] = prev;
        details["key_id"] = stolen->KeyId();
        details["signature"] =
            *stolen->Sign(journal::CheckpointMessage("s", details["covers"]["seq"].get<uint64_t>(), prev));
        details.erase("note");
        resigned.push_back(seq);
      }
      integrity["prev"] = prev;
      integrity["hash"] = journal::ChainHash(
          prev, journal::LeafHash(*journal::CanonicalForHash(record, integrity.value("salts", json::object()))));
    }
    prev = integrity["hash"];
    line = record.dump();
  }
  Rewrite(lines);
  const auto verdicts = Verdicts(&*pub_);
  std::set<uint64_t> unknown_key, refused_rotations;
  for (const auto& [verdict, seq] : verdicts) {
    if (verdict == "unknown key") unknown_key.insert(seq);
    if (std::ranges::find(rotations, seq) != rotations.end()) refused_rotations.insert(seq);
  }
  // Each rotation vouched for the records before it with the key it ended:
  // the first no longer holds ("bad signature"), so no later key is handed
  // the signing (the later rotations are another key's), and every
  // checkpoint the thief signed is another key's than its epoch's.
  EXPECT_EQ(refused_rotations, std::set<uint64_t>(rotations.begin(), rotations.end()));
  EXPECT_TRUE(std::ranges::find(verdicts, std::pair<std::string, uint64_t>("bad signature", rotations[0])) !=
              verdicts.end());
  for (uint64_t seq : resigned) EXPECT_TRUE(unknown_key.contains(seq)) << "seq " << seq;
}

TEST_F(KeyEpochTest, EpochsWithoutASigningKeyAreRefusedAtTheStart) {
  PipelineOptions options = Options();
  options.signing_key.clear();
  auto refused = Pipeline::Open(options);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("no signing key is given"), std::string::npos) << refused.error().message;
}

TEST_F(KeyEpochTest, ARotationCutShortIsFinishedWhenTheJournalNamesTheNewKeyElseUndone) {
  const fs::path key_file = Options().signing_key;
  const fs::path next = key_file.string() + ".next";
  // The new key was written, the record naming it was not: undone.
  auto stray = SigningKey::Generate();
  ASSERT_TRUE(stray->Save(next.string(), (dir_.path() / "stray.pub").string()).has_value());
  Run(0, std::chrono::seconds(0));
  EXPECT_FALSE(fs::exists(next));
  EXPECT_EQ(SigningKey::LoadPrivate(key_file.string())->KeyId(), key_.KeyId());

  // A new key that cannot be read is never removed (it may be the only copy
  // of the key the journal names): the start is refused, saying why.
  ASSERT_TRUE(stray->Save(next.string(), (dir_.path() / "stray2.pub").string()).has_value());
  fs::permissions(next, fs::perms::group_read, fs::perm_options::add);
  auto refused = Pipeline::Open(Options(std::chrono::seconds(0)));
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("its new key cannot be read"), std::string::npos) << refused.error().message;
  EXPECT_TRUE(fs::exists(next));
  fs::remove(next);

  // The record was written, the old key not destroyed yet: finished.
  Run(2);
  ASSERT_FALSE(Rotations().empty());
  const std::string newest = SigningKey::LoadPrivate(key_file.string())->KeyId();
  fs::rename(key_file, next);
  auto old = SigningKey::Generate();
  ASSERT_TRUE(old->Save(key_file.string(), (dir_.path() / "old.pub").string()).has_value());
  auto pipeline = Pipeline::Open(Options(std::chrono::seconds(0)));
  ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
  EXPECT_FALSE(fs::exists(next));
  EXPECT_EQ(SigningKey::LoadPrivate(key_file.string())->KeyId(), newest);
}

TEST_F(KeyEpochTest, TheWriterSignsARetentionRecordWithTheKeyOfTheEpochItWritesItIn) {
  Run(3);
  // The run plans with the key of one epoch, which ends before its record is
  // written: the writer rotates first, then signs the cuts with the new key.
  std::string planned_under;
  const RetentionPlan plan = DeleteAllButTheNewestSegment([&] {
    planned_under = SigningKey::LoadPrivate(Options().signing_key.string())->KeyId();
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  });
  ASSERT_EQ(plan.cuts.size(), 1u);
  EXPECT_FALSE(plan.cuts[0].key_rotations.empty());
  const auto records = testing::JournalRecords(journal_);
  auto run = std::ranges::find_if(records, [](const json& r) { return r["event_type"] == "retention"; });
  ASSERT_NE(run, records.end());
  auto rotation = std::find_if(std::make_reverse_iterator(run), records.rend(),
                               [](const json& r) { return r["event_type"] == "key_rotation"; });
  ASSERT_NE(rotation, records.rend());
  // The writer rotated (once or more, polling) after the run was logged.
  EXPECT_NE((*run)["details"]["key_id"], planned_under);
  EXPECT_EQ((*run)["details"]["key_id"], (*rotation)["details"]["key_id"]);
  ExpectValidFromTheFirstKey();
}

TEST_F(KeyEpochTest, ARunThatDeletesAnEarlierRetentionRecordCarriesItsRotationsOn) {
  Run(3);
  const RetentionPlan first = DeleteAllButTheNewestSegment();
  ASSERT_EQ(first.cuts.size(), 1u);
  const std::vector<std::string> carried_first = first.cuts[0].key_rotations;
  ASSERT_FALSE(carried_first.empty());
  Run(3);
  const RetentionPlan second = DeleteAllButTheNewestSegment();
  ASSERT_EQ(second.cuts.size(), 1u);
  // The first run's record went with its segment: the second carries its rotations on, then the newer ones.
  const auto records = testing::JournalRecords(journal_);
  ASSERT_EQ(std::ranges::count_if(records, [](const json& r) { return r["event_type"] == "retention"; }), 1);
  const std::vector<std::string>& carried = second.cuts[0].key_rotations;
  ASSERT_GT(carried.size(), carried_first.size());
  EXPECT_TRUE(std::equal(carried_first.begin(), carried_first.end(), carried.begin()));
  ExpectValidFromTheFirstKey();
}

TEST_F(KeyEpochTest, TheRingOfUpcomingKeysDestroysWhatIsNoKeyAndNeverKeepsTheKeySigningNow) {
  const fs::path key_file = Options().signing_key;
  const fs::path ring = key_rotation::RingDirectory(key_file);
  ASSERT_TRUE(key_rotation::FillRing(key_file, 2, "audit.example/log", key_).has_value());
  // A crash left: a key half destroyed (noise), a temporary file, and a copy of the key signing now.
  std::ofstream(ring / "00000000000000000007.key") << "noise";
  std::ofstream(ring / "00000000000000000003.key.tmp") << "-----BEGIN PRIVATE KEY-----";
  ASSERT_TRUE(key_.Save((ring / "00000000000000000005.key").string(), (dir_.path() / "copy.pub").string()).has_value());
  ASSERT_TRUE(key_rotation::FillRing(key_file, 3, "audit.example/log", key_).has_value());
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(ring)) {
    names.push_back(entry.path().filename().string());
    auto kept = SigningKey::LoadPrivate(entry.path().string());
    ASSERT_TRUE(kept.has_value()) << entry.path();
    EXPECT_NE(kept->KeyId(), key_.KeyId());
  }
  std::ranges::sort(names);
  EXPECT_EQ(names, (std::vector<std::string>{"00000000000000000001.key", "00000000000000000002.key",
                                             "00000000000000000008.key"}));
  std::ifstream vkeys(key_rotation::UpcomingKeysPath(key_file));
  const std::string upcoming((std::istreambuf_iterator<char>(vkeys)), std::istreambuf_iterator<char>());
  EXPECT_EQ(std::ranges::count(upcoming, '\n'), 3) << upcoming;
  // A rotation moves the oldest out: no copy stays.
  const fs::path next = key_rotation::NextKeyPath(key_file);
  auto taken = key_rotation::TakeRingKey(key_file, next);
  ASSERT_TRUE(taken.has_value() && taken->has_value());
  EXPECT_FALSE(fs::exists(ring / "00000000000000000001.key"));
  EXPECT_EQ(SigningKey::LoadPrivate(next.string())->KeyId(), (*taken)->KeyId());
}

TEST_F(KeyEpochTest, ANotePlantedBesideARealRotationIsPassedOver) {
  Run(2);
  key_rotation::History history;
  std::string stream;
  uint64_t first_rotation = 0;
  for (const std::string& line : Lines()) {
    const json record = json::parse(line);
    if (record["event_type"] != "key_rotation") continue;
    stream = record["integrity"]["stream"];
    if (first_rotation == 0) {
      // A forger's note for the same seq, filed first: signed by a key of its own.
      first_rotation = record["integrity"]["seq"];
      auto forger = SigningKey::Generate(), next = SigningKey::Generate();
      auto planted = key_rotation::Details(stream, first_rotation, "x", "audit.example/log", *forger, *next);
      ASSERT_TRUE(planted.has_value());
      history.Add({{"event_type", "key_rotation"},
                   {"integrity", {{"stream", stream}, {"seq", first_rotation}}},
                   {"details", *planted}});
    }
    history.Add(record);
  }
  ASSERT_GT(first_rotation, 0u);
  const auto notes = history.Notes(stream, UINT64_MAX);
  auto followed = key_rotation::FollowNotes(*pub_, notes, stream, UINT64_MAX);
  ASSERT_TRUE(followed.has_value()) << followed.error().message;
  EXPECT_EQ(followed->KeyId(), SigningKey::LoadPrivate(Options().signing_key.string())->KeyId());
  // Alone, it hands on nothing: no key of its epoch signed it.
  auto alone = key_rotation::FollowNotes(*pub_, {notes.front()}, stream, UINT64_MAX);
  ASSERT_FALSE(alone.has_value());
  EXPECT_EQ(alone.error().code, ErrorCode::kNotFound) << alone.error().message;
}

}  // namespace
}  // namespace mcpaudit

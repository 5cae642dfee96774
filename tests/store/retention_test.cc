// Retention and anonymisation on real journals: what is deleted, what is
// anonymised, what must stay and why, and that verify stays valid (or says
// exactly what is wrong when the beginning of a chain is gone undeclared).
#include "store/retention.h"

#include <gtest/gtest.h>

#include "audit/journal_format.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/pipeline.h"
#include "mcpaudit/verifier.h"
#include "support/journal_files.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::days;

class RetentionTest : public ::testing::Test {
 protected:
  // 20 calls of tenant shop and then 10 of tenant clinic with one of shop
  // among them (a segment holds both), 400 days old, then 10 of shop from
  // today; segments of ~4 KiB, signed checkpoints.
  RetentionTest() : key_(*SigningKey::Generate()) {
    pub_.emplace(testing::SaveTestKeys(key_, dir_.path()));
    const auto now = std::chrono::system_clock::now();
    auto pipeline = Open();
    for (int i = 0; i < 41; ++i) {
      AuditEvent e;
      e.timestamp = i < 31 ? now - days(400) : now;
      e.id = NewUuidV7(e.timestamp, SecureRandom());
      e.tool = "catalog_get_entity";
      e.user.id = "user" + std::to_string(i);
      e.user.email = e.user.id + "@example.com";
      e.user.tenant_id = i >= 20 && i <= 30 && i != 25 ? "clinic" : "shop";
      e.params = {{"urn", "urn:li:dataset:" + std::to_string(i)}};
      EXPECT_TRUE(pipeline->Log(e).has_value());
      EXPECT_TRUE(pipeline->Flush().has_value());
    }
    policy_.tenants = {{"shop", days(365), days(30)}, {"clin*", days(6 * 365), days(30)}};
  }

  std::unique_ptr<Pipeline> Open() {
    auto pipeline = Pipeline::Open(testing::SmallSignedJournal(journal_, dir_.path()));
    EXPECT_TRUE(pipeline.has_value()) << pipeline.error().message;
    return pipeline ? std::move(*pipeline) : nullptr;
  }

  RetentionPlan Plan(bool dry_run = false, std::vector<std::string> sinks = {}) {
    auto plan = PlanRetention(
        journal_, {policy_, std::chrono::system_clock::now(), std::move(sinks), dry_run, false});
    EXPECT_TRUE(plan.has_value()) << plan.error().message;
    return plan ? *plan : RetentionPlan{};
  }

  // What `mcp-audit retention` does after planning: record the run, then delete.
  void RecordAndDelete(const RetentionPlan& plan, const SigningKey* key) {
    auto event = RetentionEvent(plan, key, std::chrono::system_clock::now());
    ASSERT_TRUE(event.has_value()) << event.error().message;
    auto pipeline = Open();
    ASSERT_TRUE(pipeline->Log(*event).has_value());
    pipeline.reset();
    ASSERT_TRUE(DeleteExpiredSegments(journal_, plan).has_value());
  }

  VerifyReport Verify(const SigningKey* key) {
    auto report = VerifyJournal(journal_, key);
    EXPECT_TRUE(report.has_value()) << report.error().message;
    return report ? *report : VerifyReport{};
  }

  static std::string Summary(const VerifyReport& report) {
    std::string out;
    for (const auto& p : report.problems)
      out += p.verdict + " seq " + std::to_string(p.seq) + ": " + p.detail + "\n";
    for (const auto& n : report.notes) out += "note: " + n + "\n";
    return out;
  }

  testing::TempDir dir_;
  fs::path journal_ = dir_.path() / "journal";
  SigningKey key_;
  std::optional<SigningKey> pub_;
  RetentionPolicy policy_;
};

TEST_F(RetentionTest, DeletesTheExpiredBeginningAnonymisesTheRestAndVerifyStaysValid) {
  const RetentionPlan plan = Plan();
  ASSERT_FALSE(plan.segments_to_delete.empty());
  ASSERT_EQ(plan.cuts.size(), 1u);
  EXPECT_EQ(plan.cuts[0].stream, "s");
  EXPECT_GT(plan.records_anonymised, 0u);
  RecordAndDelete(plan, &key_);

  for (const auto& segment : plan.segments_to_delete)
    EXPECT_FALSE(fs::exists(journal_ / segment)) << segment;
  const auto records = testing::JournalRecords(journal_);
  EXPECT_EQ(records.front()["integrity"]["seq"], plan.cuts[0].seq + 1);
  const auto cutoff = std::chrono::system_clock::now() - days(365);
  size_t clinic = 0, recent_shop = 0;
  for (const json& r : records) {
    if (!r.contains("user")) continue;
    const auto time = *ParseTimestamp(r["timestamp"].get<std::string>());
    const json& email = r["user"]["email"];
    if (r["user"]["tenant_id"] == "clinic") {
      ++clinic;  // kept 6 years, anonymised after 30 days
      EXPECT_TRUE(journal::IsErased(email)) << r.dump();
    } else if (time < cutoff) {
      // An expired shop record that shares a segment with clinic records: it stays, anonymised.
      EXPECT_TRUE(journal::IsErased(email)) << r.dump();
    } else {
      ++recent_shop;
      EXPECT_EQ(email, r["user"]["id"].get<std::string>() + "@example.com");
    }
  }
  EXPECT_EQ(clinic, 10u);
  EXPECT_EQ(recent_shop, 10u);

  // The run is a record of its own, with the signed cut.
  const json& run = *std::find_if(records.begin(), records.end(),
                                  [](const json& r) { return r["event_type"] == "retention"; });
  EXPECT_EQ(run["details"]["records_deleted"], plan.records_to_delete);
  EXPECT_EQ(run["details"]["key_id"], key_.KeyId());

  const VerifyReport report = Verify(&*pub_);
  EXPECT_TRUE(report.valid()) << Summary(report);
  EXPECT_NE(Summary(report).find("were deleted by retention"), std::string::npos)
      << Summary(report);

  // Running again finds nothing more to delete (the clinic records hold the rest).
  const RetentionPlan again = Plan();
  EXPECT_TRUE(again.segments_to_delete.empty());
  EXPECT_FALSE(again.held.empty());
}

TEST_F(RetentionTest, BeginningDeletedWithoutARetentionRecordIsMissing) {
  const auto segments = testing::SegmentPaths(journal_);
  fs::remove(segments[0]);
  const VerifyReport report = Verify(&*pub_);
  ASSERT_EQ(report.problems.size(), 1u) << Summary(report);
  EXPECT_EQ(report.problems[0].verdict, "missing");
  EXPECT_NE(report.problems[0].detail.find("no retention record declares it"), std::string::npos);
}

TEST_F(RetentionTest, DeletingMoreThanDeclaredIsMissing) {
  const RetentionPlan plan = Plan();
  RecordAndDelete(plan, &key_);
  fs::remove(testing::SegmentPaths(journal_)[0]);  // one segment more than the run declared
  const VerifyReport report = Verify(&*pub_);
  ASSERT_FALSE(report.valid());
  EXPECT_EQ(report.problems[0].verdict, "missing") << Summary(report);
}

TEST_F(RetentionTest, AnUnsignedDeclarationIsNotProofWhenAKeyIsGiven) {
  RecordAndDelete(Plan(), nullptr);
  EXPECT_TRUE(Verify(nullptr).valid()) << Summary(Verify(nullptr));
  const VerifyReport report = Verify(&*pub_);
  ASSERT_EQ(report.problems.size(), 1u) << Summary(report);
  EXPECT_NE(report.problems[0].detail.find("unsigned"), std::string::npos) << Summary(report);
}

TEST_F(RetentionTest, DeclarationSignedByAnotherKeyIsABadSignature) {
  const SigningKey other = *SigningKey::Generate();
  RecordAndDelete(Plan(), &other);
  const VerifyReport report = Verify(&*pub_);
  bool bad = false;
  for (const auto& p : report.problems) bad |= p.verdict == "bad signature";
  EXPECT_TRUE(bad) << Summary(report);
}

TEST_F(RetentionTest, NothingLeavesBeforeEverySinkShippedIt) {
  const RetentionPlan plan = Plan(false, {"warehouse"});
  EXPECT_TRUE(plan.segments_to_delete.empty());
  ASSERT_FALSE(plan.held.empty());
  EXPECT_NE(plan.held[0].find("wait for sink(s) warehouse"), std::string::npos) << plan.held[0];
}

TEST_F(RetentionTest, OverTheDiskBudgetTheOldestSegmentsGoAndTheRecordSaysWhatEachSinkLost) {
  policy_ = {};
  policy_.max_journal_bytes = 8192;  // about two of its segments
  const uint64_t before = JournalBytes(journal_);
  ASSERT_GT(before, policy_.max_journal_bytes);
  const RetentionPlan plan = Plan(false, {"warehouse"});  // a sink that has shipped nothing
  ASSERT_FALSE(plan.segments_to_delete.empty());
  EXPECT_EQ(plan.segments_forced, plan.segments_to_delete.size());
  EXPECT_EQ(plan.given_up.at("warehouse"), plan.records_to_delete);
  RecordAndDelete(plan, &key_);
  EXPECT_LT(JournalBytes(journal_), before);
  const auto records = testing::JournalRecords(journal_);
  const json& run = *std::find_if(records.begin(), records.end(),
                                  [](const json& r) { return r["event_type"] == "retention"; });
  EXPECT_EQ(run["details"]["disk_budget"]["records_given_up"]["warehouse"], plan.records_to_delete);
  const VerifyReport report = Verify(&*pub_);
  EXPECT_TRUE(report.valid()) << Summary(report);
}

TEST_F(RetentionTest, DryRunChangesNoByte) {
  std::vector<std::vector<std::string>> before;
  for (const auto& file : testing::SegmentPaths(journal_))
    before.push_back(testing::ReadLines(file));
  const RetentionPlan plan = Plan(/*dry_run=*/true);
  EXPECT_FALSE(plan.segments_to_delete.empty());
  EXPECT_GT(plan.records_anonymised, 0u);
  std::vector<std::vector<std::string>> after;
  for (const auto& file : testing::SegmentPaths(journal_))
    after.push_back(testing::ReadLines(file));
  EXPECT_EQ(before, after);
}

TEST_F(RetentionTest, WithoutAnAgeForATenantItsRecordsStay) {
  policy_.tenants = {
      {"clinic", days(6 * 365), std::nullopt}};  // shop: no rule, no default: kept forever
  const RetentionPlan plan = Plan();
  EXPECT_TRUE(plan.segments_to_delete.empty());
  EXPECT_EQ(plan.records_anonymised, 0u);
}

}  // namespace
}  // namespace mcpaudit

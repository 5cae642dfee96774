// The documented example configurations, one per regime (examples/compliance),
// run as a user would run them: calls go through the real server and the
// stored records are checked field by field against what the regime asks.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <regex>

#include "support/cli_process.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::AllBytes;
using testing::ReadFile;
using testing::Records;
using testing::RunCommand;
using testing::ServerProcess;

constexpr const char* kPatients = "urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.patients,PROD)";
constexpr const char* kPayments = "urn:li:dataset:(urn:li:dataPlatform:postgres,billing.public.payments,PROD)";

// An example with its /etc/mcp-audit and /var/lib/mcp-audit paths moved into a
// temporary directory, and the keys its comment says to make, made.
class RegimeTest : public ::testing::Test {
 protected:
  void Use(const std::string& example) {
    std::string text = ReadFile(fs::path(MCPAUDIT_EXAMPLES_DIR) / "compliance" / example);
    ASSERT_FALSE(text.empty()) << example;
    text = std::regex_replace(text, std::regex("/var/lib/mcp-audit/audit"), audit_.string());
    text = std::regex_replace(text, std::regex("/etc/mcp-audit/"), (dir_.path() / "etc").string() + "/");
    config_ = dir_.path() / example;
    std::ofstream(config_) << text;
    auto [keygen, keygen_out] = RunCommand("keygen --out " + (dir_.path() / "etc").string());
    ASSERT_EQ(keygen, 0) << keygen_out;
    const fs::path hmac = dir_.path() / "etc" / "hmac.key";
    std::ofstream(hmac) << "an HMAC key of at least 32 bytes, for the test only";
    fs::permissions(hmac, fs::perms::owner_read | fs::perms::owner_write);
    auto [check, check_out] = RunCommand("config check " + config_.string());
    ASSERT_EQ(check, 0) << check_out;
  }

  ServerProcess Serve(const std::string& user) {
    return ServerProcess({"serve", "--stdio", "--config", config_.string(), "--user", user}, dir_.path() / "err.txt");
  }

  static json Call(ServerProcess& server, int id, const std::string& tool, const json& arguments,
                   const json& meta = nullptr) {
    json params = {{"name", tool}, {"arguments", arguments}};
    if (!meta.is_null()) params["_meta"] = meta;
    return server.Request(id, "tools/call", params);
  }

  // The journal verifies, with every checkpoint signed by the example's key.
  void ExpectSignedAndValid() {
    auto [code, out] = RunCommand("verify --audit-dir " + audit_.string() + " --pubkey " +
                                  (dir_.path() / "etc" / "audit-signing.pub").string());
    EXPECT_EQ(code, 0) << out;
    EXPECT_NE(out.find("signed by key"), std::string::npos) << out;
    EXPECT_EQ(out.find("unsigned"), std::string::npos) << out;
  }

  testing::TempDir dir_;
  fs::path audit_ = dir_.path() / "audit";
  fs::path config_;
};

TEST_F(RegimeTest, HipaaRecordsEveryPhiAccessWithItsReasonAndRefusesOneWithout) {
  Use("hipaa.toml");
  {
    ServerProcess server = Serve("dr.grey");
    server.Initialize();
    json refused = Call(server, 1, "catalog_get_entity", {{"urn", kPatients}});
    EXPECT_EQ(refused["error"]["code"], -32001) << refused;
    json allowed = Call(server, 2, "catalog_get_entity", {{"urn", kPatients}}, {{"access_reason", "treatment"}});
    EXPECT_EQ(allowed["result"]["structuredContent"]["urn"], kPatients) << allowed;
    Call(server, 3, "catalog_search", {{"query", "Jane Roe"}});
    Call(server, 4, "catalog_search", {{"query", "Jane Roe"}});
    EXPECT_EQ(server.CloseAndWait(), 0) << server.Stderr();
  }
  const std::vector<AuditEvent> calls = Records(audit_);
  ASSERT_EQ(calls.size(), 4u);
  // Refused without a reason: recorded as denied, marked PHI.
  EXPECT_EQ(calls[0].outcome, Outcome::kDenied);
  EXPECT_EQ(calls[0].error->reason, "access_reason_required");
  EXPECT_TRUE(calls[0].compliance.phi);
  // Allowed with one: who, what, which record, why.
  EXPECT_EQ(calls[1].outcome, Outcome::kSuccess);
  EXPECT_EQ(calls[1].user.id, "dr.grey");
  EXPECT_EQ(calls[1].tool, "catalog_get_entity");
  EXPECT_TRUE(calls[1].compliance.phi);
  EXPECT_EQ(calls[1].compliance.sensitivity, "restricted");
  EXPECT_EQ(calls[1].compliance.access_reason, "treatment");
  EXPECT_NE(std::find(calls[1].resources.begin(), calls[1].resources.end(), kPatients), calls[1].resources.end());
  ASSERT_TRUE(calls[1].response.has_value());
  // A patient's name searched for is kept as a keyed hash: equal searches correlate, the name is not on disk.
  const json query3 = calls[2].params["query"], query4 = calls[3].params["query"];
  EXPECT_EQ(query3.get<std::string>().rfind("hmac-sha256:", 0), 0u) << query3;
  EXPECT_EQ(query3, query4);
  EXPECT_EQ(AllBytes(audit_).find("Jane Roe"), std::string::npos);
  ExpectSignedAndValid();

  // The auditor's view: every PHI access with its reason.
  auto [code, out] = RunCommand("report --kind phi-access --format json --audit-dir " + audit_.string());
  ASSERT_EQ(code, 0) << out;
  const json report = json::parse(out);
  ASSERT_EQ(report["rows"].size(), 2u) << out;
  EXPECT_EQ(report["rows"][1]["access_reason"], "treatment");
  EXPECT_EQ(report["totals"]["without_reason"], 1);
}

TEST_F(RegimeTest, PciDssKeepsCardDataOutOfTheLogAndRecordsWhoReadTheLog) {
  Use("pci-dss.toml");
  {
    ServerProcess server = Serve("clerk-7");
    server.Initialize();
    Call(server, 1, "catalog_get_entity", {{"urn", kPayments}});
    // Card data sent along with a call is never written.
    Call(server, 2, "catalog_search", {{"query", "payments"}, {"card_number", "4111111111111111"}, {"cvv", "737"}});
    Call(server, 3, "catalog_search", {{"query", std::string(1000, 'x')}});
    EXPECT_EQ(server.CloseAndWait(), 0) << server.Stderr();
  }
  const std::vector<AuditEvent> calls = Records(audit_);
  ASSERT_EQ(calls.size(), 3u);
  // 10.2.2: user, type, time, outcome, origin, affected resource.
  EXPECT_EQ(calls[0].user.id, "clerk-7");
  EXPECT_EQ(calls[0].event_type, "tool_call");
  EXPECT_EQ(calls[0].outcome, Outcome::kSuccess);
  EXPECT_EQ(calls[0].request.transport, "stdio");
  EXPECT_EQ(calls[0].compliance.sensitivity, "restricted");
  EXPECT_NE(std::find(calls[0].resources.begin(), calls[0].resources.end(), kPayments), calls[0].resources.end());
  // 3.3: no card data on disk, in any file.
  EXPECT_EQ(calls[1].params["card_number"], "[REDACTED]");
  EXPECT_EQ(calls[1].params["cvv"], "[REDACTED]");
  EXPECT_EQ(calls[1].params["query"], "payments");
  EXPECT_EQ(AllBytes(audit_).find("4111111111111111"), std::string::npos);
  // Long values are cut, with their size kept.
  EXPECT_EQ(calls[2].params["query"]["truncated_from"], 1000);
  ExpectSignedAndValid();

  // 10.2.1.3: reading the log is in the log (in the signed chain once a server runs again).
  auto [code, out] = RunCommand("query --tool catalog_search --audit-dir " + audit_.string());
  ASSERT_EQ(code, 0) << out;
  {
    ServerProcess server = Serve("clerk-7");
    server.Initialize();
    EXPECT_EQ(server.CloseAndWait(), 0) << server.Stderr();
  }
  size_t reads = 0;
  for (const auto& e : Records(audit_, /*all=*/true)) reads += e.event_type == "audit_read";
  EXPECT_EQ(reads, 2u);  // the verify above and this query
  // 10.5.1: a year of records is kept; today's calls are not due.
  auto [dry, dry_out] = RunCommand("retention --dry-run --config " + config_.string());
  ASSERT_EQ(dry, 0) << dry_out;
  EXPECT_NE(dry_out.find("would delete 0 records"), std::string::npos) << dry_out;
}

TEST_F(RegimeTest, Soc2RecordsEachToolAtItsLevelForTheAccessReview) {
  Use("soc2.toml");
  {
    ServerProcess server = Serve("analyst-1");
    server.Initialize();
    Call(server, 1, "catalog_list_tags", {{"filter", "pii"}});
    Call(server, 2, "catalog_get_schema", {{"urn", kPayments}});
    Call(server, 3, "catalog_search", {{"query", "revenue"}});
    Call(server, 4, "no_such_tool", json::object());
    EXPECT_EQ(server.CloseAndWait(), 0) << server.Stderr();
  }
  const std::vector<AuditEvent> calls = Records(audit_);
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_TRUE(calls[0].params.is_null()) << "metadata level: no parameters";
  EXPECT_EQ(calls[1].params["urn"], kPayments);
  EXPECT_TRUE(calls[1].details.contains("result")) << "full level: a summary of the result";
  EXPECT_EQ(calls[2].params["query"], "revenue");
  EXPECT_FALSE(calls[2].details.contains("result")) << "request level: no result";
  EXPECT_EQ(calls[3].outcome, Outcome::kDenied);
  ExpectSignedAndValid();

  auto [code, out] = RunCommand("report --kind access-review --format csv --audit-dir " + audit_.string());
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("analyst-1,,,,catalog_get_schema,1,1,0,0,"), std::string::npos) << out;
  EXPECT_NE(out.find("analyst-1,,,,no_such_tool,1,0,0,1,"), std::string::npos) << out;
}

TEST_F(RegimeTest, GdprPseudonymisesSearchesAndErasesAPersonWithVerifyStillValid) {
  Use("gdpr.toml");
  {
    ServerProcess server = Serve("data-subject-42");
    server.Initialize();
    Call(server, 1, "catalog_search", {{"query", "my own orders"}});
    Call(server, 2, "catalog_get_entity", {{"urn", kPayments}});
    EXPECT_EQ(server.CloseAndWait(), 0) << server.Stderr();
  }
  std::vector<AuditEvent> calls = Records(audit_);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].params["query"].get<std::string>().rfind("hmac-sha256:", 0), 0u);
  EXPECT_EQ(calls[1].params["urn"], kPayments);
  EXPECT_EQ(AllBytes(audit_).find("my own orders"), std::string::npos);

  auto [code, out] =
      RunCommand("erase --user data-subject-42 --reason art17-ticket-42 --config " + config_.string() +
                 " --audit-dir " + audit_.string() + " --signing-key " + (dir_.path() / "etc/audit-signing.key").string());
  ASSERT_EQ(code, 0) << out;
  calls = Records(audit_);
  EXPECT_EQ(calls[1].user.id, "data-subject-42");  // the erasure removes the erasable fields (params), not the id
  EXPECT_TRUE(calls[1].params.contains("$erased")) << calls[1].params;
  ExpectSignedAndValid();
  // Storage limitation is configured and applies to nothing yet.
  auto [dry, dry_out] = RunCommand("retention --dry-run --config " + config_.string());
  ASSERT_EQ(dry, 0) << dry_out;
  EXPECT_NE(dry_out.find("would anonymise 0 records"), std::string::npos) << dry_out;
}

}  // namespace
}  // namespace mcpaudit

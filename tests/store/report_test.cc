// The auditor's reports: what each kind selects and counts, in each format,
// and that what a caller controls cannot run in a spreadsheet or a browser.
#include "store/report.h"

#include <gtest/gtest.h>

#include <sstream>

#include "mcpaudit/clock.h"

namespace mcpaudit {
namespace {

using nlohmann::json;

AuditEvent Call(const std::string& user, const std::string& tool, Outcome outcome, int minute) {
  AuditEvent e;
  e.timestamp = *ParseTimestamp("2026-03-01T10:00:00.000Z") + std::chrono::minutes(minute);
  e.id = NewUuidV7(e.timestamp, SecureRandom());
  e.event_type = "tool_call";
  e.tool = tool;
  e.outcome = outcome;
  e.user = {
      .id = user, .email = user + "@clinic.example", .tenant_id = "clinic", .roles = {"nurse"}};
  e.request.id = "req-" + std::to_string(minute);
  e.request.client_ip = "10.0.0.7";
  if (outcome != Outcome::kSuccess)
    e.error = AuditError{-32001, "refused", "access_reason_required"};
  return e;
}

std::string Render(ReportKind kind, ReportFormat format, const std::vector<AuditEvent>& events) {
  std::ostringstream out;
  Report report({kind, std::nullopt, std::nullopt, "clinic", "journal test",
                 std::chrono::system_clock::now()},
                MakeReportWriter(format, out));
  for (const auto& e : events) report.Add(e);
  report.Finish();
  return out.str();
}

std::vector<AuditEvent> Day() {
  AuditEvent read = Call("ann", "patient_lookup", Outcome::kSuccess, 1);
  read.resources = {"urn:ehr:patient:1", "urn:ehr:patient:2"};
  read.compliance = {"restricted", true, "treatment"};
  AuditEvent again = Call("ann", "patient_lookup", Outcome::kSuccess, 5);
  again.resources = {"urn:ehr:patient:2", "urn:ehr:patient:3"};
  again.compliance = {"restricted", true, "billing"};
  AuditEvent refused = Call("bob", "patient_lookup", Outcome::kDenied, 7);
  refused.compliance = {"restricted", true, ""};
  AuditEvent search = Call("bob", "catalog_search", Outcome::kSuccess, 9);
  AuditEvent auth;
  auth.timestamp = search.timestamp;
  auth.event_type = "auth_failure";
  auth.outcome = Outcome::kDenied;
  auth.request.client_ip = "203.0.113.9";
  auth.error = AuditError{401, "invalid token", "invalid_token"};
  AuditEvent checkpoint;
  checkpoint.event_type = "checkpoint";
  return {read, again, refused, search, auth, checkpoint};
}

TEST(ReportTest, AccessReviewHasOneRowPerUserTenantAndToolWithOutcomesAndResources) {
  const json report = json::parse(Render(ReportKind::kAccessReview, ReportFormat::kJson, Day()));
  EXPECT_EQ(report["report"], "access-review");
  EXPECT_EQ(report["tenant"], "clinic");
  const json& rows = report["rows"];
  ASSERT_EQ(rows.size(), 3u) << report.dump(
      2);  // ann/patient_lookup, bob/catalog_search, bob/patient_lookup
  const json& ann = rows[0];
  EXPECT_EQ(ann["user_id"], "ann");
  EXPECT_EQ(ann["tool"], "patient_lookup");
  EXPECT_EQ(ann["calls"], 2);
  EXPECT_EQ(ann["succeeded"], 2);
  EXPECT_EQ(ann["first_use"], "2026-03-01T10:01:00.000Z");
  EXPECT_EQ(ann["last_use"], "2026-03-01T10:05:00.000Z");
  EXPECT_EQ(ann["resources"],
            json({"urn:ehr:patient:1", "urn:ehr:patient:2", "urn:ehr:patient:3"}));
  EXPECT_EQ(ann["roles"], json({"nurse"}));
  EXPECT_EQ(rows[2]["denied"], 1);
  EXPECT_EQ(report["totals"]["users"], 2);
}

TEST(ReportTest, PhiAccessListsEveryAccessWithItsReasonAndCountsThoseWithout) {
  const std::string csv = Render(ReportKind::kPhiAccess, ReportFormat::kCsv, Day());
  std::istringstream lines(csv);
  std::vector<std::string> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(line);
  ASSERT_EQ(rows.size(), 4u)
      << csv;  // header + three PHI accesses; the search and the auth failure are not
  EXPECT_EQ(rows[0].rfind("timestamp,user_id,tenant_id,event_type,tool,resources,access_reason", 0),
            0u);
  EXPECT_NE(rows[1].find(",treatment,restricted,success,req-1,"), std::string::npos) << rows[1];
  EXPECT_NE(rows[3].find(",,restricted,denied,"), std::string::npos) << rows[3];
  const json totals =
      json::parse(Render(ReportKind::kPhiAccess, ReportFormat::kJson, Day()))["totals"];
  EXPECT_EQ(totals["rows"], 3);
  EXPECT_EQ(totals["without_reason"], 1);
}

TEST(ReportTest, FailuresListDenialsFailuresAndRefusedAuthentications) {
  const json report = json::parse(Render(ReportKind::kFailures, ReportFormat::kJson, Day()));
  const json& rows = report["rows"];
  ASSERT_EQ(rows.size(), 2u) << report.dump(2);
  EXPECT_EQ(rows[0]["reason"], "access_reason_required");
  EXPECT_EQ(rows[0]["user_id"], "bob");
  EXPECT_EQ(rows[1]["event_type"], "auth_failure");
  EXPECT_EQ(rows[1]["client_ip"], "203.0.113.9");
  EXPECT_EQ(rows[1]["error_code"], 401);
  EXPECT_EQ(report["totals"]["invalid_token"], 1);
}

TEST(ReportTest, WhatACallerControlsCannotRunInABrowserOrASpreadsheet) {
  AuditEvent hostile =
      Call("=HYPERLINK(\"http://x\")", "<script>alert(1)</script>", Outcome::kDenied, 1);
  hostile.error->message = "<img src=x onerror=alert(1)>";
  const std::string html = Render(ReportKind::kFailures, ReportFormat::kHtml, {hostile});
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
  const std::string csv = Render(ReportKind::kFailures, ReportFormat::kCsv, {hostile});
  EXPECT_NE(csv.find(",\"'=HYPERLINK(\"\"http://x\"\")\","), std::string::npos) << csv;
}

TEST(ReportTest, AnEmptyPeriodIsAValidReportWithNoRows) {
  const json report = json::parse(Render(ReportKind::kPhiAccess, ReportFormat::kJson, {}));
  EXPECT_TRUE(report["rows"].empty());
  EXPECT_EQ(report["totals"]["rows"], 0);
  EXPECT_NE(Render(ReportKind::kAccessReview, ReportFormat::kHtml, {}).find("</html>"),
            std::string::npos);
}

TEST(ReportTest, UnknownKindsAndFormatsSayWhatThereIs) {
  EXPECT_NE(ParseReportKind("sox").error().message.find("access-review, phi-access or failures"),
            std::string::npos);
  EXPECT_NE(ParseReportFormat("pdf").error().message.find("csv, json or html"), std::string::npos);
}

}  // namespace
}  // namespace mcpaudit

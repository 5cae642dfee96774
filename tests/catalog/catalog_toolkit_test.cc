#include "catalog/catalog_toolkit.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace mcpaudit {
namespace {

using nlohmann::json;

constexpr const char* kPatients = "urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.patients,PROD)";
constexpr const char* kOrders = "urn:li:dataset:(urn:li:dataPlatform:postgres,crm.public.orders,PROD)";
constexpr const char* kRevenue = "urn:li:dataset:(urn:li:dataPlatform:snowflake,analytics.sales.daily_revenue,PROD)";
constexpr const char* kDashboard = "urn:li:dashboard:(looker,revenue_overview)";

class CatalogTest : public ::testing::Test {
 protected:
  CatalogTest() : toolkit_(logger_) { EXPECT_TRUE(RegisterCatalogTools(toolkit_).has_value()); }

  // Calls a tool; returns its structured result (or the error text) and the record.
  std::pair<json, AuditEvent> Call(const std::string& tool, const json& args) {
    RequestContext ctx;
    ToolCallResponse response = toolkit_.Call(ctx, tool, args);
    EXPECT_TRUE(response.result.has_value()) << tool;
    const json& result = *response.result;
    json out = result.value("isError", false) ? json(result["content"][0]["text"]) : result["structuredContent"];
    if (!result.value("isError", false)) {
      // The text content carries the same JSON for clients that only read text.
      EXPECT_EQ(json::parse(result["content"][0]["text"].get<std::string>()), out);
    }
    return {out, logger_.events().back()};
  }

  testing::RecordingLogger logger_;
  Toolkit toolkit_;
};

TEST_F(CatalogTest, OffersTheFiveDocumentedTools) {
  std::vector<std::string> names;
  for (const auto& tool : toolkit_.ListTools()) names.push_back(tool["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"catalog_search", "catalog_get_entity", "catalog_get_schema",
                                             "catalog_get_lineage", "catalog_list_tags"}));
}

TEST_F(CatalogTest, SearchFindsByNameTagAndFieldAndRecordsTheUrns) {
  auto [result, event] = Call("catalog_search", {{"query", "revenue"}});
  ASSERT_GE(result["results"].size(), 2u);
  EXPECT_EQ(result["total"], result["results"].size());
  std::vector<std::string> urns;
  for (const auto& r : result["results"]) urns.push_back(r["urn"]);
  EXPECT_NE(std::find(urns.begin(), urns.end(), kRevenue), urns.end());
  EXPECT_EQ(event.resources, urns);
  EXPECT_EQ(event.response->result_count, static_cast<int64_t>(urns.size()));
  EXPECT_FALSE(event.compliance.phi);

  auto [by_field, _] = Call("catalog_search", {{"query", "diagnosis_code"}});
  ASSERT_EQ(by_field["results"].size(), 1u);
  EXPECT_EQ(by_field["results"][0]["name"], "encounters");
}

TEST_F(CatalogTest, SearchFiltersByTypeAndPages) {
  auto [dashboards, e1] = Call("catalog_search", {{"query", ""}, {"entity_type", "DASHBOARD"}});
  EXPECT_EQ(dashboards["total"], 2);
  auto [page1, e2] = Call("catalog_search", {{"query", ""}, {"limit", 3}, {"offset", 0}});
  auto [page2, e3] = Call("catalog_search", {{"query", ""}, {"limit", 3}, {"offset", 3}});
  EXPECT_EQ(page1["results"].size(), 3u);
  EXPECT_EQ(page2["results"].size(), 3u);
  EXPECT_NE(page1["results"][0]["urn"], page2["results"][0]["urn"]);
  EXPECT_EQ(page1["total"], 18);
}

TEST_F(CatalogTest, LikeWildcardsInTheQueryAreLiteral) {
  auto [result, event] = Call("catalog_search", {{"query", "%"}});
  EXPECT_EQ(result["total"], 0);
}

TEST_F(CatalogTest, TouchingPhiDataMarksTheRecord) {
  auto [entity, event] = Call("catalog_get_entity", {{"urn", kPatients}});
  EXPECT_EQ(entity["name"], "patients");
  EXPECT_EQ(entity["owner"], "health-services");
  EXPECT_EQ(entity["glossary_terms"][0]["name"], "Protected health information");
  EXPECT_TRUE(event.compliance.phi);
  EXPECT_EQ(event.compliance.sensitivity, "restricted");
  EXPECT_EQ(event.resources, std::vector<std::string>{kPatients});
}

TEST_F(CatalogTest, AnUnknownUrnIsAToolFailure) {
  auto [text, event] = Call("catalog_get_entity", {{"urn", "urn:li:dataset:nope"}});
  EXPECT_EQ(text, "No entity with URN urn:li:dataset:nope in the catalog");
  EXPECT_EQ(event.outcome, Outcome::kFailure);
}

TEST_F(CatalogTest, SchemaListsFieldsWithTags) {
  auto [schema, event] = Call("catalog_get_schema", {{"urn", kPatients}});
  ASSERT_EQ(schema["fields"].size(), 4u);
  EXPECT_EQ(schema["fields"][2]["name"], "date_of_birth");
  EXPECT_EQ(schema["fields"][2]["tags"], json::array({"phi"}));
  EXPECT_EQ(event.response->result_count, 4);
  auto [text, failed] = Call("catalog_get_schema", {{"urn", kDashboard}});
  EXPECT_NE(text.get<std::string>().find("not a dataset"), std::string::npos);
}

TEST_F(CatalogTest, LineageWalksToTheRequestedDepth) {
  auto [one, e1] = Call("catalog_get_lineage", {{"urn", kOrders}, {"direction", "downstream"}});
  EXPECT_EQ(one["downstream"].size(), 3u);
  EXPECT_TRUE(one["upstream"].empty());
  auto [two, e2] = Call("catalog_get_lineage", {{"urn", kOrders}, {"direction", "downstream"}, {"depth", 2}});
  EXPECT_EQ(two["downstream"].size(), 4u);  // + the revenue dashboard
  EXPECT_EQ(two["downstream"].back()["urn"], kDashboard);
  EXPECT_EQ(two["downstream"].back()["degree"], 2);
  EXPECT_EQ(e2.resources.size(), 5u);
  auto [up, e3] = Call("catalog_get_lineage", {{"urn", kDashboard}, {"direction", "upstream"}, {"depth", 5}});
  EXPECT_EQ(up["upstream"].size(), 3u);  // daily_revenue, orders, payments
}

TEST_F(CatalogTest, ListsTagsWithCounts) {
  auto [all, e1] = Call("catalog_list_tags", json::object());
  auto [phi, e2] = Call("catalog_list_tags", {{"filter", "ph"}});
  ASSERT_EQ(phi["tags"].size(), 1u);
  EXPECT_EQ(phi["tags"][0], json({{"tag", "phi"}, {"count", 4}}));
  EXPECT_GT(all["tags"].size(), 5u);
}

TEST_F(CatalogTest, OutOfRangeArgumentsAreDenied) {
  auto [text, event] = Call("catalog_search", {{"query", "x"}, {"limit", 1000}});
  EXPECT_EQ(event.outcome, Outcome::kDenied);
  auto [text2, event2] = Call("catalog_get_lineage", {{"urn", kOrders}, {"direction", "sideways"}});
  EXPECT_EQ(event2.outcome, Outcome::kDenied);
}

}  // namespace
}  // namespace mcpaudit

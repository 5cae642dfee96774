// x-mcp-header (2026-07-28): the tool parameters a Streamable HTTP request
// mirrors into Mcp-Param-* headers, which tools may declare them, and what a
// server refuses when header and body disagree (an intermediary may route on
// the header while the server runs the body).
#include <gtest/gtest.h>

#include <map>

#include "mcp/modern.h"

namespace mcpaudit::modern {
namespace {

using nlohmann::json;

const json kSchema = {
    {"type", "object"},
    {"properties",
     {{"region", {{"type", "string"}, {"x-mcp-header", "Region"}}},
      {"limit", {{"type", "integer"}, {"x-mcp-header", "Limit"}}},
      {"dry_run", {{"type", "boolean"}, {"x-mcp-header", "Dry-Run"}}},
      {"target",
       {{"type", "object"},
        {"properties", {{"zone", {{"type", "string"}, {"x-mcp-header", "Zone"}}}}}}},
      {"query", {{"type", "string"}}}}}};

// The headers of a request, looked up as a server does.
struct Sent {
  std::map<std::string, std::string> headers;
  // The same headers but `name`'s, which says `value` (nullopt: is left out).
  Sent With(const std::string& name, std::optional<std::string> value) const {
    Sent changed = *this;
    if (value)
      changed.headers[name] = *value;
    else
      changed.headers.erase(name);
    return changed;
  }
  std::optional<std::string> Mismatch(const json& arguments) const {
    return ParamHeaderMismatch(*ParamHeaders(kSchema), arguments,
                               [&](const std::string& name) -> std::optional<std::string_view> {
                                 auto it = headers.find(name);
                                 if (it == headers.end()) return std::nullopt;
                                 return it->second;
                               });
  }
};

TEST(ParamHeadersTest, AnnotatedPropertiesReachedThroughPropertiesAloneAreFound) {
  auto found = ParamHeaders(kSchema);
  ASSERT_TRUE(found) << found.error();
  std::map<std::string, std::string> paths;
  for (const ParamHeader& header : *found) {
    std::string path;
    for (const std::string& name : header.path) path += "/" + name;
    paths[header.name] = path;
  }
  EXPECT_EQ(paths, (std::map<std::string, std::string>{{"Region", "/region"},
                                                       {"Limit", "/limit"},
                                                       {"Dry-Run", "/dry_run"},
                                                       {"Zone", "/target/zone"}}));
}

TEST(ParamHeadersTest, AnAnnotationThatBreaksTheRulesMakesTheToolInvalid) {
  auto with = [](json property) {
    return json{{"type", "object"}, {"properties", {{"p", std::move(property)}}}};
  };
  // Not a header-name token, on a number, on an object.
  EXPECT_FALSE(ParamHeaders(with({{"type", "string"}, {"x-mcp-header", ""}})));
  EXPECT_FALSE(ParamHeaders(with({{"type", "string"}, {"x-mcp-header", "Two Words"}})));
  EXPECT_FALSE(ParamHeaders(with({{"type", "string"}, {"x-mcp-header", "A\r\nB"}})));
  EXPECT_FALSE(ParamHeaders(with({{"type", "number"}, {"x-mcp-header", "P"}})));
  EXPECT_FALSE(ParamHeaders(with({{"type", "object"}, {"x-mcp-header", "P"}})));
  // Declared twice, whatever the case.
  EXPECT_FALSE(ParamHeaders({{"type", "object"},
                             {"properties",
                              {{"a", {{"type", "string"}, {"x-mcp-header", "Same"}}},
                               {"b", {{"type", "string"}, {"x-mcp-header", "SAME"}}}}}}));
  // Not statically reachable: under items, a composition or a definition.
  EXPECT_FALSE(ParamHeaders(
      with({{"type", "array"}, {"items", {{"type", "string"}, {"x-mcp-header", "Item"}}}})));
  EXPECT_FALSE(ParamHeaders(
      {{"type", "object"},
       {"oneOf", {{{"properties", {{"a", {{"type", "string"}, {"x-mcp-header", "A"}}}}}}}}}));
  EXPECT_FALSE(ParamHeaders(
      {{"type", "object"}, {"$defs", {{"d", {{"type", "string"}, {"x-mcp-header", "D"}}}}}}));
  // A value that only looks like an annotation is data.
  EXPECT_TRUE(ParamHeaders(with({{"type", "object"}, {"default", {{"x-mcp-header", 5}}}})));
}

TEST(ParamHeadersTest, AServerRefusesHeadersThatDoNotSayWhatTheBodySays) {
  const json arguments = {{"region", "us-west1"},
                          {"limit", 42},
                          {"dry_run", false},
                          {"target", {{"zone", "Zürich"}}},
                          {"query", "SELECT 1"}};
  Sent sent{{{"Mcp-Param-Region", "us-west1"},
             {"Mcp-Param-Limit", "42.0"},  // compared as a number
             {"Mcp-Param-Dry-Run", "false"},
             {"Mcp-Param-Zone", "=?base64?WsO8cmljaA==?="}}};
  EXPECT_EQ(sent.Mismatch(arguments), std::nullopt);

  EXPECT_NE(sent.With("Mcp-Param-Region", "eu-west1")
                .Mismatch(arguments)
                .value_or("")
                .find("'eu-west1' does not match"),
            std::string::npos);
  EXPECT_TRUE(sent.With("Mcp-Param-Zone", std::nullopt).Mismatch(arguments));
  EXPECT_TRUE(sent.With("Mcp-Param-Zone", "=?base64?not base64?=").Mismatch(arguments));
  EXPECT_TRUE(sent.With("Mcp-Param-Region", "us-west1\x01").Mismatch(arguments));
  // Integers are compared exactly, within the range a JavaScript client can say.
  json big = arguments;
  big["limit"] = 9007199254740993;  // 2^53 + 1: the same double as 2^53
  EXPECT_TRUE(sent.With("Mcp-Param-Limit", "9007199254740992").Mismatch(big));
  EXPECT_TRUE(sent.With("Mcp-Param-Limit", "42.5").Mismatch(arguments));
  EXPECT_TRUE(sent.With("Mcp-Param-Limit", "42abc").Mismatch(arguments));
  // A property path never reaches into an array, whatever its names look like.
  json odd = arguments;
  odd["target"] = json::array({"Zürich"});
  EXPECT_EQ(sent.With("Mcp-Param-Zone", std::nullopt).Mismatch(odd), std::nullopt);
  // A header for a parameter the body does not have (or has null) is refused too.
  json without = arguments;
  without["region"] = nullptr;
  EXPECT_TRUE(sent.Mismatch(without));
  without.erase("region");
  EXPECT_EQ(sent.With("Mcp-Param-Region", std::nullopt).Mismatch(without), std::nullopt);
}

TEST(ParamHeadersTest, AClientMirrorsEachAnnotatedValueEncodedWhenItIsNotPlain) {
  const json request = {
      {"jsonrpc", "2.0"},
      {"id", 1},
      {"method", "tools/call"},
      {"params",
       {{"name", "run"},
        {"arguments",
         {{"region", " padded "}, {"limit", 7}, {"dry_run", true}, {"target", json::object()}}},
        {"_meta", {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"}}}}}};
  auto mirrored = MirroredHeaders(request, *ParamHeaders(kSchema));
  ASSERT_TRUE(mirrored);
  const std::vector<std::string> expected = {"MCP-Protocol-Version: 2026-07-28",
                                             "Mcp-Method: tools/call",
                                             "Mcp-Name: run",
                                             "Mcp-Param-Region: =?base64?IHBhZGRlZCA=?=",
                                             "Mcp-Param-Limit: 7",
                                             "Mcp-Param-Dry-Run: true"};
  std::vector<std::string> sorted_expected = expected, sorted = *mirrored;
  std::ranges::sort(sorted_expected);
  std::ranges::sort(sorted);
  EXPECT_EQ(sorted, sorted_expected) << "no header for the zone the arguments do not have";
}

}  // namespace
}  // namespace mcpaudit::modern

#include "mcpaudit/audit_event.h"

#include <gtest/gtest.h>

#include <regex>

#include "base/bounded_json.h"
#include "mcpaudit/clock.h"
#include "support/test_support.h"

namespace mcpaudit {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

AuditEvent SampleEvent() {
  AuditEvent e;
  e.id = "0193c1b2-0000-7000-8000-000000000000";
  e.timestamp = system_clock::time_point(milliseconds(1705314600123));
  e.tool = "catalog_search";
  e.outcome = Outcome::kSuccess;
  e.user = {"user123", "user@example.com", "acme-corp", {"analyst"}, "jwt"};
  e.request = {"req-abc123", "192.168.1.1", "s-1", "http", "curl/8", {"claude", "1.0"}};
  e.server = {"mcp-audit", "0.1.0", "host-a"};
  e.params = {{"query", "customers"}, {"limit", 10}};
  e.resources = {"urn:li:dataset:(x)"};
  e.response = AuditResponse{5, 150.5, false, 1834};
  e.compliance = {"restricted", true, "treatment"};
  return e;
}

TEST(TimestampTest, FormatsUtcWithMillisecondsAndZ) {
  EXPECT_EQ(FormatTimestamp(system_clock::time_point(milliseconds(1705314600123))),
            "2024-01-15T10:30:00.123Z");
  EXPECT_EQ(FormatTimestamp(system_clock::time_point(milliseconds(0))), "1970-01-01T00:00:00.000Z");
}

TEST(TimestampTest, ParsesWhatItFormatsAndPlainDates) {
  const auto t = system_clock::time_point(milliseconds(1705314600123));
  EXPECT_EQ(ParseTimestamp(FormatTimestamp(t)).value(), t);
  EXPECT_EQ(ParseTimestamp("2024-01-15").value(), system_clock::time_point(milliseconds(1705276800000)));
  EXPECT_EQ(ParseTimestamp("2024-01-15T10:30:00Z").value(),
            system_clock::time_point(milliseconds(1705314600000)));
  EXPECT_EQ(ParseTimestamp("2024-01-15T10:30:00.5Z").value(),
            system_clock::time_point(milliseconds(1705314600500)));
}

TEST(TimestampTest, RejectsWhatIsNotUtcRfc3339) {
  for (const char* bad : {"", "yesterday", "2024-13-01", "2024-01-15T10:30:00", "2024-01-15T10:30:00+02:00",
                          "2024-01-15 10:30:00Z", "2024-01-15T25:00:00Z"}) {
    auto parsed = ParseTimestamp(bad);
    ASSERT_FALSE(parsed.has_value()) << bad;
    EXPECT_NE(parsed.error().message.find("RFC 3339"), std::string::npos);
  }
}

TEST(AuditEventTest, SerialisesTheDesignSchemaInOrder) {
  const std::string line = ToJsonLine(SampleEvent());
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.rfind(R"({"schema":"mcp-audit/1","id":"0193c1b2-0000-7000-8000-000000000000",)"
                       R"("timestamp":"2024-01-15T10:30:00.123Z","event_type":"tool_call",)"
                       R"("tool":"catalog_search","outcome":"success",)",
                       0),
            0u)
      << line;
  const auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["user"]["tenant_id"], "acme-corp");
  EXPECT_EQ(json["user"]["roles"], nlohmann::json::array({"analyst"}));
  EXPECT_EQ(json["request"]["client_ip"], "192.168.1.1");
  EXPECT_EQ(json["request"]["client"]["name"], "claude");
  EXPECT_EQ(json["params"]["limit"], 10);
  EXPECT_EQ(json["response"]["result_count"], 5);
  EXPECT_EQ(json["response"]["duration_ms"], 150.5);
  EXPECT_EQ(json["response"]["bytes"], 1834);
  EXPECT_EQ(json["compliance"]["phi"], true);
  EXPECT_EQ(json["compliance"]["access_reason"], "treatment");
  EXPECT_FALSE(json.contains("error"));
  EXPECT_FALSE(json.contains("integrity"));
}

TEST(AuditEventTest, LeavesOutWhatIsUnknown) {
  AuditEvent e;
  e.id = "x";
  e.event_type = "audit_started";
  const auto json = nlohmann::json::parse(ToJsonLine(e));
  for (const char* absent : {"tool", "user", "request", "params", "resources", "response", "compliance", "error"})
    EXPECT_FALSE(json.contains(absent)) << absent;
}

TEST(AuditEventTest, RoundTripsThroughJson) {
  AuditEvent e = SampleEvent();
  e.outcome = Outcome::kDenied;
  e.error = AuditError{-32001, "no", "rate_limited"};
  e.integrity = AuditIntegrity{"host-a", 42, "aa", "bb"};
  auto back = AuditEventFromJson(nlohmann::json::parse(ToJsonLine(e)));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(ToJsonLine(*back), ToJsonLine(e));
}

TEST(AuditEventTest, InvalidUtf8InParamsIsReplacedNotLost) {
  AuditEvent e = SampleEvent();
  e.params = {{"query", std::string("caf\xc3", 4)}};
  const std::string line = ToJsonLine(e);
  const auto json = nlohmann::json::parse(line);  // valid JSON, valid UTF-8
  EXPECT_EQ(json["params"]["query"], "caf\xEF\xBF\xBD");
}

TEST(AuditEventTest, RefusesRecordsOfAnotherSchema) {
  auto json = nlohmann::json::parse(ToJsonLine(SampleEvent()));
  json["schema"] = "other/2";
  auto parsed = AuditEventFromJson(json);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_NE(parsed.error().message.find("other/2"), std::string::npos);
}

// What a reader makes of a line: the record as written again, or the error.
std::string ReadAs(const Result<AuditEvent>& event) {
  return event ? ToJsonLine(*event) + " params:" + event->params.dump() + " details:" + event->details.dump()
               : "error: " + event.error().message;
}

std::string ReadByTheGeneralPath(std::string_view line) {
  const nlohmann::json json = ParseWithin(line, kMaxRecordDepth);
  if (json.is_discarded()) return "error: not valid JSON";
  return ReadAs(AuditEventFromJson(json));
}

TEST(AuditEventFromLineTest, ReadsEveryLineAsTheGeneralReaderDoes) {
  AuditEvent full = SampleEvent();
  full.error = AuditError{-32001, "no", "rate_limited"};
  full.integrity = AuditIntegrity{"host-a", 42, "aa", "bb"};
  full.details = {{"dropped", 12}, {"nested", {{"a", {1, -2, 3.5, nullptr, true}}}}};
  full.params = {{"n", -7}, {"u", 18446744073709551615ull}, {"f", 0.1}, {"s", "caf\xC3\xA9 \"q\" \\"},
                 {"a", nlohmann::json::array()}, {"o", nlohmann::json::object()}};
  const std::string line = ToJsonLine(full);
  const std::string head = R"({"schema":"mcp-audit/1","id":"x","timestamp":"2024-01-15T10:30:00.123Z","outcome":"success")";
  auto with = [&](std::string_view member) { return head + "," + std::string(member) + "}"; };
  std::string deep_params;
  for (int i = 0; i < 600; ++i) deep_params += "[";
  deep_params += std::string(600, ']');
  const std::vector<std::string> readable = {
      line, ToJsonLine(SampleEvent()), head + "}", "  " + line + " \r",
      with(R"("params":{"a":1,"a":2})"), with(R"("\u0074ool":"t")"), with(R"("unknown":{"x":[1]})"),
      with(R"("params":[0,-0,1e2,1.5E-3,-1,9223372036854775807,9223372036854775808])"),
      with(R"("params":123456789012345678901234567890)"), with(R"("params":1e400)"),
      with(R"("params":)" + deep_params), with(R"("tool":"a","tool":"b")"),
      with(R"("integrity":{"stream":"s","seq":-1,"prev":"","hash":""})"),
      with(R"("integrity":{"stream":"s","seq":1.5})"), with(R"("error":{"code":"x"})"),
      with(R"("error":{"code":4294967297})"), with(R"("error":5)"), with(R"("user":[])"),
      with(R"("user":{"roles":"analyst"})"), with(R"("response":{"duration_ms":true})"),
      with(R"("response":{"bytes":-1,"result_count":1.5})"),
      with(R"("response":{"result_count":9223372036854775809})"), with(R"("response":{"is_error":1})"),
      with(R"("compliance":{"phi":"yes"})"), with(R"("resources":[1,"a"])"), with(R"("server":{"name":7})"),
      with(R"("request":{"client":{"name":"c","name":"d"}})"), with(R"("event_type":null)")};
  for (const std::string& text : readable) {
    EXPECT_EQ(ReadAs(AuditEventFromLine(text)), ReadByTheGeneralPath(text)) << text.substr(0, 300);
  }
  // Most of them are records (the comparison is not between two errors).
  EXPECT_EQ(ReadAs(AuditEventFromLine(line)), ReadAs(AuditEventFromJson(nlohmann::json::parse(line))));
  EXPECT_TRUE(AuditEventFromLine(with(R"("params":{"a":1,"a":2})")).has_value());
  EXPECT_EQ(AuditEventFromLine(with(R"("params":{"a":1,"a":2})"))->params, nlohmann::json({{"a", 2}}));
}

TEST(AuditEventFromLineTest, SaysWhyALineIsNotARecord) {
  const std::string line = ToJsonLine(SampleEvent());
  const std::vector<std::string> unreadable = {
      "", "not json", "[]", "42", line + "x", line.substr(0, line.size() - 1),
      std::string(R"({"schema":"mcp-audit/1","id":"caf)") + "\xC3" + R"(","timestamp":"2024-01-15T10:30:00Z","outcome":"success"})",
      R"({"schema":"other/2","id":"x","timestamp":"2024-01-15T10:30:00Z","outcome":"success"})",
      R"({"schema":"mcp-audit/1","id":"x","timestamp":"yesterday","outcome":"success"})",
      R"({"schema":"mcp-audit/1","id":"x","timestamp":"2024-01-15T10:30:00Z","outcome":"maybe"})"};
  for (const std::string& text : unreadable) {
    const auto event = AuditEventFromLine(text);
    EXPECT_FALSE(event.has_value()) << text;
    EXPECT_EQ(ReadAs(event), ReadByTheGeneralPath(text)) << text;
  }
  EXPECT_EQ(AuditEventFromLine("not json").error().message, "not valid JSON");
}

TEST(UuidV7Test, IsVersion7VariantRfcAndTimeOrdered) {
  auto random = testing::CountingRandom();
  const auto t = system_clock::time_point(milliseconds(1705314600123));
  const std::string a = NewUuidV7(t, random);
  const std::string b = NewUuidV7(t + milliseconds(1), random);
  EXPECT_TRUE(std::regex_match(a, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << a;
  EXPECT_EQ(a.substr(0, 13), "018d0cab-c4bb");  // 1705314600123 ms = 0x018d0cabc4bb
  EXPECT_LT(a, b);
}

TEST(UuidV7Test, IdsMadeInOneMillisecondGoUpInTheOrderTheyWereMade) {
  const auto now = system_clock::now();
  std::string previous = NewUuidV7(now, SecureRandom());
  for (int i = 0; i < 10000; ++i) {
    std::string next = NewUuidV7(now, SecureRandom());
    ASSERT_LT(previous, next) << i;
    EXPECT_EQ(next.substr(0, 13), previous.substr(0, 13));  // the same millisecond
    previous = std::move(next);
  }
}

TEST(UuidV7Test, SecureIdsDiffer) {
  const auto now = system_clock::now();
  EXPECT_NE(NewUuidV7(now, SecureRandom()), NewUuidV7(now, SecureRandom()));
}

}  // namespace
}  // namespace mcpaudit

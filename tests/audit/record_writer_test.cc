// The fast record writers must agree, byte for byte, with the generic path the
// verifier takes on the parsed line: otherwise a clean journal would not verify.
#include "audit/record_writer.h"

#include <gtest/gtest.h>

#include "audit/journal_format.h"

namespace mcpaudit {
namespace {

using nlohmann::json;

std::vector<AuditEvent> Events() {
  std::vector<AuditEvent> events;
  AuditEvent minimal;
  minimal.id = "x";
  minimal.event_type = "audit_started";
  events.push_back(minimal);

  AuditEvent full;
  full.id = "0193c1b2-0000-7000-8000-000000000000";
  full.timestamp = std::chrono::system_clock::time_point(std::chrono::milliseconds(1705314600123));
  full.tool = "catalog_search";
  full.outcome = Outcome::kDenied;
  full.error = AuditError{-32001, "Rate \"limit\"\n exceeded", "rate_limited"};
  full.user = {"user123", "user@example.com", "acme-corp", {"analyst", "ops"}, "jwt"};
  full.request = {"req-abc123", "192.168.1.1", "s-1", "http", "curl/8.0", {"claude", "1.0"}};
  full.server = {"mcp-audit", "0.1.0", "host-a"};
  full.params = json::parse(R"({"query":"caf\u00e9 \ud83d\ude00","limit":10,"ratio":0.1,"big":1e30,
                                "nested":{"b":[1,{"z":null,"a":true}],"a":"x"},"\u20ac":1,"\r":2})");
  full.resources = {"urn:li:dataset:(a)", "urn:li:dataset:(b)"};
  full.response = AuditResponse{5, 150.125, true, 1834};
  full.compliance = {"restricted", true, "treatment"};
  full.details = {{"dropped", 3}, {"why", "queue full"}};
  events.push_back(full);

  AuditEvent odd = full;
  odd.params = {{"bad", std::string("caf\xc3\x28 \xff", 7)}, {"ctl", std::string("a\x01\x1f", 3)}};
  odd.user.email = std::string("\xe2\x82", 2);  // truncated UTF-8
  odd.response = AuditResponse{std::nullopt, 0.000001, false, 0};
  events.push_back(odd);
  return events;
}

TEST(RecordWriterTest, TheLineIsTheSchemaJson) {
  const auto events = Events();
  for (size_t i = 0; i < events.size(); ++i) {
    std::string line;
    AppendRecordPrefix(line, events[i]);
    line.push_back('}');
    const json parsed = json::parse(line);  // valid JSON and valid UTF-8, always
    EXPECT_EQ(line.rfind("{\"schema\":\"mcp-audit/1\",\"id\":", 0), 0u);
    if (i < 2) {  // well-formed text: the same values as the JSON tree
      EXPECT_EQ(parsed, json::parse(ToJson(events[i]).dump())) << line;
    } else {  // ill-formed UTF-8 became U+FFFD, byte by byte
      EXPECT_EQ(parsed["user"]["email"], "\xef\xbf\xbd\xef\xbf\xbd");
      EXPECT_EQ(parsed["params"]["ctl"], "a\x01\x1f");
    }
  }
}

TEST(RecordWriterTest, TheCanonicalFormIsWhatTheVerifierComputes) {
  const std::vector<json> salt_sets = {
      json::object(),
      {{"/params", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
       {"/user/email", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},
       {"/request/client_ip", "cccccccccccccccccccccccccccccccc"}},
      {{"/params/nested", "dddddddddddddddddddddddddddddddd"},
       {"/user/id", "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"},
       {"/details", "ffffffffffffffffffffffffffffffff"},
       {"/error/message", "11111111111111111111111111111111"},
       {"/compliance/access_reason", "22222222222222222222222222222222"},
       {"/request/user_agent", "33333333333333333333333333333333"}},
  };
  for (const AuditEvent& e : Events()) {
    std::string line;
    AppendRecordPrefix(line, e);
    line.push_back('}');
    const json parsed = json::parse(line);
    for (const json& salts : salt_sets) {
      std::string fast;
      AppendRecordCanonical(fast, e, salts);
      auto generic = journal::CanonicalForHash(parsed, salts);
      ASSERT_TRUE(generic.has_value());
      EXPECT_EQ(fast, *generic) << "salts " << salts.dump();
      // The leaf the writer hashes from its plain text is the one any RFC 8785 verifier computes.
      std::string plain;
      AppendRecordCanonical(plain, e, json::object());
      EXPECT_EQ(journal::RecordLeaf(plain, salts), journal::LeafHash(*generic))
          << "salts " << salts.dump();
    }
  }
}

}  // namespace
}  // namespace mcpaudit

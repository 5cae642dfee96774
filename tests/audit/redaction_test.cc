#include "mcpaudit/redaction.h"

#include <gtest/gtest.h>

#include "mcpaudit/toolkit.h"
#include "support/test_support.h"

namespace mcpaudit {
namespace {

using nlohmann::json;

TEST(RedactionTest, MasksSecretLookingKeysAtAnyDepth) {
  json params = json::parse(R"({
    "query": "customers", "password": "hunter2", "DB_Password": "x", "X-Api-Key": "k",
    "auth": {"accessToken": "t", "user": "bob"}, "headers": [{"Authorization": "Bearer abc"}],
    "client_secret": "s", "limit": 5})");
  Redactor().Apply(params);
  EXPECT_EQ(params["query"], "customers");
  EXPECT_EQ(params["limit"], 5);
  EXPECT_EQ(params["auth"]["user"], "bob");
  for (const char* pointer : {"/password", "/DB_Password", "/X-Api-Key", "/auth/accessToken",
                              "/headers/0/Authorization", "/client_secret"})
    EXPECT_EQ(params[json::json_pointer(pointer)], kRedacted) << pointer;
  EXPECT_EQ(params.dump().find("hunter2"), std::string::npos);
}

TEST(RedactionTest, TheToolSchemaMarksWhatElseIsSensitive) {
  const json schema = json::parse(R"({"type": "object", "properties": {
    "ssn": {"type": "string", "x-sensitive": true},
    "pin": {"type": "string", "format": "password"},
    "note": {"type": "string", "writeOnly": true},
    "patient": {"type": "object", "properties": {"dob": {"type": "string", "x-sensitive": true},
                                                   "ward": {"type": "string"}}},
    "query": {"type": "string"}}})");
  auto sensitive = SensitiveProperties(schema);
  EXPECT_EQ(sensitive.size(), 4u);
  json params = {{"ssn", "123-45-6789"}, {"pin", "0000"}, {"note", "n"}, {"query", "q"},
                 {"patient", {{"dob", "1980-01-01"}, {"ward", "B"}}}};
  Redactor().Apply(params, sensitive);
  EXPECT_EQ(params["ssn"], kRedacted);
  EXPECT_EQ(params["pin"], kRedacted);
  EXPECT_EQ(params["note"], kRedacted);
  EXPECT_EQ(params["patient"]["dob"], kRedacted);
  EXPECT_EQ(params["patient"]["ward"], "B");
  EXPECT_EQ(params["query"], "q");
}

TEST(RedactionTest, PatternsAreConfigurable) {
  Redactor redactor({.key_patterns = {"iban"}});
  json params = {{"IBAN", "DE00"}, {"password", "kept: not a pattern here"}};
  redactor.Apply(params);
  EXPECT_EQ(params["IBAN"], kRedacted);
  EXPECT_EQ(params["password"], "kept: not a pattern here");
}

TEST(RedactionTest, TheToolGetsTheRealValueAndTheRecordTheMask) {
  testing::RecordingLogger logger;
  Toolkit toolkit(logger);
  std::string seen;
  ASSERT_TRUE(toolkit.Register({.name = "login",
                                .input_schema = json::parse(R"({"type": "object", "properties": {
                                    "user": {"type": "string"}, "otp": {"type": "string", "x-sensitive": true}}})")},
                               [&](const RequestContext&, const json& args) -> Result<ToolResult> {
                                 seen = args["password"].get<std::string>() + "/" + args["otp"].get<std::string>();
                                 return ToolResult::Text("ok");
                               })
                  .has_value());
  RequestContext ctx;
  toolkit.Call(ctx, "login", {{"user", "bob"}, {"password", "hunter2"}, {"otp", "123456"}});
  EXPECT_EQ(seen, "hunter2/123456");
  auto events = logger.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].params, json({{"user", "bob"}, {"password", kRedacted}, {"otp", kRedacted}}));
}

}  // namespace
}  // namespace mcpaudit

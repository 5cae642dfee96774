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
  json params = {{"ssn", "123-45-6789"},
                 {"pin", "0000"},
                 {"note", "n"},
                 {"query", "q"},
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
  ASSERT_TRUE(toolkit
                  .Register({.name = "login",
                             .input_schema = json::parse(R"({"type": "object", "properties": {
                                    "user": {"type": "string"}, "otp": {"type": "string", "x-sensitive": true}}})")},
                            [&](const RequestContext&, const json& args) -> Result<ToolResult> {
                              seen = args["password"].get<std::string>() + "/" +
                                     args["otp"].get<std::string>();
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

namespace mcpaudit {
namespace {

const std::string kKey(40, 'k');

TEST(RedactionModesTest, DropLeavesSecretsOut) {
  json params = {
      {"user", "bob"}, {"password", "hunter2"}, {"nested", {{"api_key", "abc"}, {"keep", 1}}}};
  Redactor({.mode = RedactionMode::kDrop}).Apply(params);
  EXPECT_EQ(params, (json{{"user", "bob"}, {"nested", {{"keep", 1}}}}));
}

TEST(RedactionModesTest, HmacKeepsEqualValuesEqualWithoutTheValue) {
  Redactor redactor({.mode = RedactionMode::kHmac, .hmac_key = kKey});
  json first = {{"token", "s3cr3t"}}, second = {{"token", "s3cr3t"}}, other = {{"token", "else"}};
  redactor.Apply(first);
  redactor.Apply(second);
  redactor.Apply(other);
  const std::string mac = first["token"];
  EXPECT_TRUE(mac.starts_with("hmac-sha256:"));
  EXPECT_EQ(mac.size(), 12u + 64u);
  EXPECT_EQ(first, second);  // the same caller's token correlates across records
  EXPECT_NE(first, other);
  EXPECT_EQ(mac.find("s3cr3t"), std::string::npos);
  // Another deployment's key gives another value: the records alone do not reveal it.
  json elsewhere = {{"token", "s3cr3t"}};
  Redactor({.mode = RedactionMode::kHmac, .hmac_key = std::string(40, 'z')}).Apply(elsewhere);
  EXPECT_NE(elsewhere, first);
  // A value that merely looks like a digest is still treated as the secret it is.
  json forged = {{"password", "hmac-sha256:not-really"}};
  redactor.Apply(forged);
  EXPECT_NE(forged["password"], "hmac-sha256:not-really");
}

TEST(RedactionModesTest, PointerRulesNameValuesAnywhere) {
  RedactionOptions options{
      .hmac_key = kKey,
      .pointers = {{json::json_pointer("/patient/ssn"), RedactionMode::kHmac},
                   {json::json_pointer("/patient/notes"), RedactionMode::kDrop},
                   {json::json_pointer("/query"), RedactionMode::kMask}},
      .max_value_bytes = 0};
  json params = {{"patient", {{"ssn", "123-45-6789"}, {"notes", "private"}, {"name", "Ann"}}},
                 {"query", "x"}};
  Redactor(options).Apply(params);
  EXPECT_TRUE(params["patient"]["ssn"].get<std::string>().starts_with("hmac-sha256:"));
  EXPECT_FALSE(params["patient"].contains("notes"));
  EXPECT_EQ(params["patient"]["name"], "Ann");
  EXPECT_EQ(params["query"], kRedacted);
}

// A rule's value keeps what the rule made it, wherever it is: under keys
// with "/" and "~" (escaped in pointers) and in arrays.
TEST(RedactionModesTest, AValueARuleNamesIsNotRedactedAgainByTheKeyPatterns) {
  RedactionOptions options{
      .hmac_key = kKey,
      .pointers = {{json::json_pointer("/a~1b/1/api~0token"), RedactionMode::kHmac}},
      .max_value_bytes = 0};
  json params = {{"a/b", json::array({{{"api~token", "first"}}, {{"api~token", "second"}}})}};
  Redactor(options).Apply(params);
  EXPECT_EQ(params["a/b"][0]["api~token"], kRedacted) << "no rule: the key pattern masks it";
  EXPECT_TRUE(params["a/b"][1]["api~token"].get<std::string>().starts_with("hmac-sha256:"))
      << params.dump();
}

// A truncate rule names a value to cut, not one to trust: a caller who sends
// an object there still has its secrets masked and its strings cut.
TEST(RedactionModesTest, WhatATruncateRuleNamesIsStillRedactedBelowIt) {
  RedactionOptions options{
      .pointers = {{json::json_pointer("/query"), RedactionMode::kTruncate},
                   {json::json_pointer("/password"), RedactionMode::kTruncate}},
      .max_value_bytes = 16};
  json params = {{"query", {{"password", "hunter2"}, {"blob", std::string(49, 'a')}}},
                 {"password", std::string(40, 's')}};
  Redactor(options).Apply(params);
  EXPECT_EQ(params["query"]["password"], kRedacted) << params.dump();
  EXPECT_EQ(params["query"]["blob"]["truncated_from"], 49) << params.dump();
  EXPECT_EQ(params["password"], kRedacted) << "a secret's first bytes are a secret too";
}

TEST(RedactionModesTest, LongValuesAreTruncatedWithTheirSizeRecorded) {
  json params = {
      {"text", std::string(5000, 'a')}, {"short", "ok"}, {"list", {std::string(300, 'b')}}};
  Redactor({.max_value_bytes = 256}).Apply(params);
  EXPECT_EQ(params["text"], (json{{"truncated_from", 5000}, {"value", std::string(256, 'a')}}));
  EXPECT_EQ(params["short"], "ok");
  EXPECT_EQ(params["list"][0]["truncated_from"], 300);
  // Never in the middle of a UTF-8 character.
  json accents = {{"text", "\xC3\xA9\xC3\xA9\xC3\xA9"}};  // three two-byte characters
  Redactor({.max_value_bytes = 3}).Apply(accents);
  EXPECT_EQ(accents["text"]["value"], "\xC3\xA9");
}

TEST(RedactionModesTest, BadOptionsAreRefused) {
  EXPECT_NE(CheckRedaction({.mode = RedactionMode::kHmac}).error().message.find("hmac needs a key"),
            std::string::npos);
  EXPECT_NE(CheckRedaction({.mode = RedactionMode::kHmac, .hmac_key = "short"})
                .error()
                .message.find("shorter"),
            std::string::npos);
  EXPECT_FALSE(CheckRedaction({.pointers = {{json::json_pointer("/a"), RedactionMode::kTruncate}}})
                   .has_value());
  EXPECT_TRUE(CheckRedaction({}).has_value());
}

}  // namespace
}  // namespace mcpaudit

// The requestState of multi round-trip requests (2026-07-28) is the client's
// to carry and the attacker's to forge: what it lets through, and what not.
#include "mcp/input_rounds.h"

#include <gtest/gtest.h>

#include "mcp/jsonrpc.h"
#include "mcp/modern.h"

namespace mcpaudit::input_rounds {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kKey[] = "0123456789abcdef0123456789abcdef";
const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

const Binding kBinding = {"tools/call", "delete_dataset", "digest-of-arguments",
                          R"(["alice","acme","api_key"])"};

const json kAsked = {
    {"input-1", {{"method", "elicitation/create"}, {"params", {{"message", "Delete X?"}}}}}};

// The retry of a request whose first round asked kAsked, answered `answer`.
json Retry(const std::string& state, const json& answer = {{"action", "accept"}}) {
  return {{"requestState", state}, {"inputResponses", {{"input-1", answer}}}};
}

TEST(InputRoundsTest, ARetryCarriesTheAnswerToTheQuestionItWasAsked) {
  const std::string state = Seal(Round{}, kAsked, kBinding, kKey, kNow);
  auto round = Resume(Retry(state), kBinding, kKey, kNow + 1min, 64);
  ASSERT_TRUE(round.has_value()) << round.error();
  EXPECT_EQ(round->number, 2u);
  EXPECT_EQ(round->answers["input-1"]["a"], json({{"action", "accept"}}));
  EXPECT_EQ(round->answers["input-1"]["q"],
            QuestionDigest("elicitation/create", {{"message", "Delete X?"}}));
  EXPECT_NE(round->answers["input-1"]["q"],
            QuestionDigest("elicitation/create", {{"message", "Delete Y?"}}))
      << "an answer is bound to its question";
  EXPECT_EQ(round->received_digest.size(), 64u);
  EXPECT_TRUE(Resume(json::object(), kBinding, kKey, kNow, 64)->answers.empty())
      << "no state: the first round";
}

TEST(InputRoundsTest, AStateIsRefusedForAnotherCallerRequestKeyOrAfterItsLifetime) {
  const std::string state = Seal(Round{}, kAsked, kBinding, kKey, kNow);
  Binding other = kBinding;
  other.caller = R"(["mallory","acme","api_key"])";
  EXPECT_EQ(Resume(Retry(state), other, kKey, kNow, 64).error(),
            "'requestState' belongs to another caller");
  other = kBinding;
  other.arguments = "digest-of-other-arguments";
  EXPECT_EQ(Resume(Retry(state), other, kKey, kNow, 64).error(),
            "'requestState' belongs to another request");
  EXPECT_EQ(
      Resume(Retry(state), kBinding, "another key of another server instance", kNow, 64).error(),
      "'requestState' was not issued by this server");
  EXPECT_EQ(Resume(Retry(state), kBinding, kKey, kNow + kLifetime + 1s, 64).error(),
            "'requestState' has expired");
  std::string forged = state;
  forged[5] = forged[5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(Resume(Retry(forged), kBinding, kKey, kNow, 64).has_value());
  EXPECT_FALSE(Resume(Retry(state + "0"), kBinding, kKey, kNow, 64).has_value());
  EXPECT_FALSE(Resume({{"requestState", 7}}, kBinding, kKey, kNow, 64).has_value());
  EXPECT_FALSE(
      Resume({{"requestState", state}, {"inputResponses", "yes"}}, kBinding, kKey, kNow, 64)
          .has_value());
}

TEST(InputRoundsTest, TheLifetimeRunsFromTheFirstRoundAndOnlyWhatWasAskedIsTaken) {
  const std::string first = Seal(Round{}, kAsked, kBinding, kKey, kNow);
  json retry = Retry(first);
  retry["inputResponses"]["input-9"] = "not asked";
  auto second = Resume(retry, kBinding, kKey, kNow + 9min, 64);
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(second->answers.contains("input-9"));
  const json asked_again = {
      {"input-2", {{"method", "sampling/createMessage"}, {"params", json::object()}}}};
  const std::string later = Seal(*second, asked_again, kBinding, kKey, kNow + 9min);
  auto third =
      Resume({{"requestState", later}, {"inputResponses", {{"input-2", {{"role", "assistant"}}}}}},
             kBinding, kKey, kNow + 11min, 64);
  ASSERT_FALSE(third.has_value()) << "the call's 10 minutes ran from its first round";
}

TEST(ModernHeadersTest, HeadersMustSayWhatTheBodySays) {
  auto request = [](const std::string& method, json params) {
    params["_meta"] = {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"}};
    return jsonrpc::Message{jsonrpc::Message::Kind::kRequest, 1, method, std::move(params)};
  };
  const auto call = request("tools/call", {{"name", "search"}});
  EXPECT_EQ(modern::HeaderMismatch(call, "2026-07-28", "tools/call", "search"), std::nullopt);
  EXPECT_EQ(modern::HeaderMismatch(call, "2026-07-28", "tools/call", "=?base64?c2VhcmNo?="),
            std::nullopt);
  EXPECT_NE(modern::HeaderMismatch(call, "2026-07-28", "tools/call", "=?base64?not base64?="),
            std::nullopt);
  EXPECT_NE(modern::HeaderMismatch(call, "2026-07-28", "tools/call", "delete"), std::nullopt);
  EXPECT_NE(modern::HeaderMismatch(call, "2026-07-28", "tools/call", std::nullopt), std::nullopt);
  EXPECT_NE(modern::HeaderMismatch(call, "2026-07-28", "tools/list", "search"), std::nullopt);
  EXPECT_NE(modern::HeaderMismatch(call, std::nullopt, "tools/call", "search"), std::nullopt);
  EXPECT_NE(modern::HeaderMismatch(call, "2025-11-25", "tools/call", "search"), std::nullopt);
  const auto read = request("resources/read", {{"uri", "file:///a b"}});
  EXPECT_EQ(modern::HeaderMismatch(read, "2026-07-28", "resources/read", "file:///a b"),
            std::nullopt);
  EXPECT_EQ(modern::HeaderMismatch(request("tools/list", json::object()), "2026-07-28",
                                   "tools/list", std::nullopt),
            std::nullopt);
}

TEST(ModernResultTest, AResultSerialisedOnceGetsItsResultTypeAndServerInfo) {
  const json info = {{"name", "s"}, {"version", "1"}};
  EXPECT_EQ(json::parse(modern::Complete(R"({"content":[]})", info)),
            json({{"resultType", "complete"},
                  {"_meta", {{"io.modelcontextprotocol/serverInfo", info}}},
                  {"content", json::array()}}));
  EXPECT_EQ(json::parse(modern::Complete("{}", info))["resultType"], "complete");
  EXPECT_FALSE(modern::Spliceable(json({{"_meta", 1}})));
  EXPECT_FALSE(modern::Spliceable(json::array()));
  json odd = {{"_meta", "not an object"}};
  modern::Complete(odd, info);
  EXPECT_EQ(odd["_meta"]["io.modelcontextprotocol/serverInfo"], info);
}

}  // namespace
}  // namespace mcpaudit::input_rounds

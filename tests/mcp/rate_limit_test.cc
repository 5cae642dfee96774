// Rate limits: what a caller over the limit sees, and what the record says.
#include "mcpaudit/rate_limit.h"

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace mcpaudit {
namespace {

using nlohmann::json;

class RateLimitTest : public ::testing::Test {
 protected:
  RateLimitTest() : toolkit_(logger_, {.clock = &clock_}) {
    for (const char* name : {"search", "export"}) {
      ToolDefinition tool;
      tool.name = name;
      EXPECT_TRUE(toolkit_.Register(tool, [](auto&, auto&) -> Result<ToolResult> { return ToolResult::Text("ok"); })
                      .has_value());
    }
    toolkit_.Use(std::make_shared<RateLimiter>(
        std::vector<RateLimitRule>{{.tools = {"export"}, .per = RateLimitRule::Per::kTenant, .per_second = 1, .burst = 1},
                                   {.tools = {"*"}, .per = RateLimitRule::Per::kUser, .per_second = 1, .burst = 3}},
        &clock_));
  }
  ToolCallResponse Call(const std::string& user, const std::string& tenant, const std::string& tool) {
    RequestContext ctx;
    ctx.identity.user_id = user;
    ctx.identity.tenant_id = tenant;
    return toolkit_.Call(ctx, tool, json::object());
  }

  testing::FakeClock clock_;
  testing::RecordingLogger logger_;
  Toolkit toolkit_;
};

TEST_F(RateLimitTest, ABurstPassesThenCallsAreRefusedUntilTokensReturn) {
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(Call("ana", "acme", "search").rpc_error) << i;
  ToolCallResponse refused = Call("ana", "acme", "search");
  ASSERT_TRUE(refused.rpc_error);
  EXPECT_EQ(refused.rpc_error->code, kRateLimitedCode);
  EXPECT_EQ(refused.rpc_error->message, "Rate limit exceeded for user 'ana' on 'search': retry in 1000 ms");
  EXPECT_FALSE(Call("bob", "acme", "search").rpc_error);  // another user has a bucket of their own
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_FALSE(Call("ana", "acme", "search").rpc_error);

  auto events = logger_.events();
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[3].outcome, Outcome::kDenied);
  EXPECT_EQ(events[3].error->reason, "rate_limited");
  EXPECT_EQ(events[3].user.id, "ana");
}

TEST_F(RateLimitTest, ATenantRuleIsSharedByTheTenantsUsers) {
  EXPECT_FALSE(Call("ana", "acme", "export").rpc_error);
  EXPECT_EQ(Call("bob", "acme", "export").rpc_error->reason, "rate_limited");
  EXPECT_FALSE(Call("cy", "globex", "export").rpc_error);
}

TEST(RateLimiterTest, CallersWhoseBucketsFilledUpAgainAreForgotten) {
  testing::FakeClock clock;
  RateLimiter limiter({{.tools = {"*"}, .per = RateLimitRule::Per::kUser, .per_second = 0.1, .burst = 2}}, &clock);
  const json arguments = json::object();
  // A caller can name itself anything: ten thousand names, one call each.
  for (int i = 0; i < 10000; ++i) {
    RequestContext ctx;
    ctx.identity.user_id = "user-" + std::to_string(i);
    EXPECT_FALSE(limiter.Before(ctx, {"search", arguments}).has_value());
  }
  EXPECT_EQ(limiter.buckets(), 10000u);
  // Once their buckets are full again they weigh nothing: the next sweep drops them.
  clock.Advance(std::chrono::seconds(11));
  RequestContext ana;
  ana.identity.user_id = "ana";
  EXPECT_FALSE(limiter.Before(ana, {"search", arguments}).has_value());
  EXPECT_EQ(limiter.buckets(), 1u);
  // A caller still over its limit keeps its bucket: forgetting it would lift the limit.
  EXPECT_FALSE(limiter.Before(ana, {"search", arguments}).has_value());
  EXPECT_TRUE(limiter.Before(ana, {"search", arguments}).has_value());
  clock.Advance(std::chrono::milliseconds(10500));
  RequestContext other;
  other.identity.user_id = "bo";
  (void)limiter.Before(other, {"search", arguments});
  EXPECT_EQ(limiter.buckets(), 2u);
}

}  // namespace
}  // namespace mcpaudit

namespace mcpaudit {
namespace {

TEST(RateLimitReloadTest, RulesSetWhileServingApplyToTheNextCall) {
  testing::FakeClock clock;
  testing::RecordingLogger logger;
  Toolkit toolkit(logger, {.clock = &clock});
  ASSERT_TRUE(toolkit
                  .Register({.name = "export"},
                            [](auto&, auto&) -> Result<ToolResult> { return ToolResult::Text("ok"); })
                  .has_value());
  auto limiter = std::make_shared<RateLimiter>(std::vector<RateLimitRule>{}, &clock);
  toolkit.Use(limiter);
  RequestContext ctx;
  ctx.identity.user_id = "ana";
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(toolkit.Call(ctx, "export", nlohmann::json::object()).rpc_error) << "no rules yet";
  limiter->SetRules({{.tools = {"export"}, .per_second = 1, .burst = 2}});
  EXPECT_FALSE(toolkit.Call(ctx, "export", nlohmann::json::object()).rpc_error);
  EXPECT_FALSE(toolkit.Call(ctx, "export", nlohmann::json::object()).rpc_error);
  const auto refused = toolkit.Call(ctx, "export", nlohmann::json::object());
  ASSERT_TRUE(refused.rpc_error);
  EXPECT_EQ(refused.rpc_error->code, kRateLimitedCode);
  limiter->SetRules({});
  EXPECT_FALSE(toolkit.Call(ctx, "export", nlohmann::json::object()).rpc_error) << "rules taken away";
}

}  // namespace
}  // namespace mcpaudit

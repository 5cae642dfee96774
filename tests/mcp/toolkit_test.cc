#include "mcpaudit/toolkit.h"

#include <gtest/gtest.h>

#include <future>
#include <stdexcept>
#include <thread>

#include "support/test_support.h"

namespace mcpaudit {
namespace {

using nlohmann::json;
using testing::FakeClock;
using testing::RecordingLogger;

class ToolkitTest : public ::testing::Test {
 protected:
  ToolkitTest()
      : toolkit_(logger_, {{"test-server", "1.0", "host:1"}, &clock_, testing::CountingRandom()}) {
    ToolDefinition echo;
    echo.name = "echo";
    echo.input_schema = {
        {"type", "object"},
        {"properties",
         {{"text", {{"type", "string"}}}, {"times", {{"type", "integer"}, {"minimum", 1}}}}},
        {"required", {"text"}}};
    EXPECT_TRUE(
        toolkit_
            .Register(echo,
                      [this](const RequestContext&, const json& args) -> Result<ToolResult> {
                        clock_.Advance(std::chrono::milliseconds(150));
                        ToolResult result = ToolResult::Text(args["text"].get<std::string>());
                        result.resources = {"urn:test:" + args["text"].get<std::string>()};
                        return result;
                      })
            .has_value());
  }

  RequestContext Context() {
    RequestContext ctx;
    ctx.request_id = "req-1";
    ctx.received_at = clock_.Now();
    ctx.transport = "stdio";
    ctx.identity.user_id = "user123";
    return ctx;
  }

  Status Register(std::string name, ToolHandler handler) {
    ToolDefinition d;
    d.name = std::move(name);
    return toolkit_.Register(d, std::move(handler));
  }

  RecordingLogger logger_;
  FakeClock clock_;
  Toolkit toolkit_;
};

// The classic: one call, exactly one event, with tool, user, params, outcome.
TEST_F(ToolkitTest, OneCallLeavesExactlyOneEvent) {
  RequestContext ctx = Context();
  ToolCallResponse response = toolkit_.Call(ctx, "echo", {{"text", "hello"}});
  ASSERT_TRUE(response.result.has_value());
  EXPECT_EQ((*response.result)["content"][0]["text"], "hello");

  auto events = logger_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].tool, "echo");
  EXPECT_EQ(events[0].user.id, "user123");
  EXPECT_EQ(events[0].params, json({{"text", "hello"}}));
  EXPECT_EQ(events[0].outcome, Outcome::kSuccess);
  EXPECT_EQ(events[0].resources, std::vector<std::string>{"urn:test:hello"});
  ASSERT_TRUE(events[0].response.has_value());
  EXPECT_DOUBLE_EQ(events[0].response->duration_ms, 150.0);
  EXPECT_EQ(events[0].response->result_count, 1);
  EXPECT_EQ(events[0].response->bytes, response.result->dump().size());
  EXPECT_EQ(events[0].server.name, "test-server");
}

TEST_F(ToolkitTest, UnknownToolIsDeniedWithAJsonRpcErrorAndRecorded) {
  RequestContext ctx = Context();
  ToolCallResponse response = toolkit_.Call(ctx, "no_such_tool", json::object());
  ASSERT_TRUE(response.rpc_error.has_value());
  EXPECT_EQ(response.rpc_error->code, rpc::kInvalidParams);
  EXPECT_EQ(response.rpc_error->message, "Unknown tool: no_such_tool");
  auto events = logger_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].outcome, Outcome::kDenied);
  EXPECT_EQ(events[0].tool, "no_such_tool");
  EXPECT_EQ(events[0].error->reason, "unknown_tool");
}

TEST_F(ToolkitTest, InvalidArgumentsAreAToolErrorTheModelCanReadAndADenial) {
  RequestContext ctx = Context();
  ToolCallResponse response = toolkit_.Call(ctx, "echo", {{"text", 5}, {"times", 0}});
  ASSERT_TRUE(response.result.has_value());
  EXPECT_EQ((*response.result)["isError"], true);
  const std::string text = (*response.result)["content"][0]["text"];
  EXPECT_NE(text.find("/text"), std::string::npos) << text;
  EXPECT_NE(text.find("/times"), std::string::npos) << text;
  auto events = logger_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].outcome, Outcome::kDenied);
  EXPECT_EQ(events[0].error->reason, "invalid_arguments");
  EXPECT_EQ(events[0].params["text"], 5);
}

TEST_F(ToolkitTest, ArgumentsThatAreNotAnObjectAreDenied) {
  RequestContext ctx = Context();
  ToolCallResponse response = toolkit_.Call(ctx, "echo", json::array({1}));
  ASSERT_TRUE(response.rpc_error.has_value());
  EXPECT_EQ(response.rpc_error->code, rpc::kInvalidParams);
  EXPECT_EQ(logger_.events().at(0).outcome, Outcome::kDenied);
}

TEST_F(ToolkitTest, HandlerErrorsThrowsAndIsErrorResultsAreFailures) {
  ASSERT_TRUE(Register("fails", [](const RequestContext&, const json&) -> Result<ToolResult> {
                return Fail(ErrorCode::kNotFound, "no such dataset");
              }).has_value());
  ASSERT_TRUE(Register("throws", [](const RequestContext&, const json&) -> Result<ToolResult> {
                throw std::runtime_error("boom with secret detail");
              }).has_value());
  ASSERT_TRUE(Register("reports", [](const RequestContext&, const json&) -> Result<ToolResult> {
                ToolResult r = ToolResult::Text("quota exceeded");
                r.is_error = true;
                return r;
              }).has_value());
  for (const char* name : {"fails", "throws", "reports"}) {
    RequestContext ctx = Context();
    ToolCallResponse response = toolkit_.Call(ctx, name, json::object());
    ASSERT_TRUE(response.result.has_value()) << name;
    EXPECT_EQ((*response.result)["isError"], true) << name;
    EXPECT_EQ(response.outcome, Outcome::kFailure) << name;
  }
  auto events = logger_.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].error->message, "no such dataset");
  EXPECT_EQ(events[0].error->reason, "tool_error");
  // An exception's text stays in the operational log, not in the client's answer.
  EXPECT_EQ(events[1].error->message, "Internal error in tool throws");
  EXPECT_EQ(events[2].error->message, "quota exceeded");
  EXPECT_EQ(events[2].error->reason, "tool_error");  // as the proxy records the same answer
  for (const auto& e : events) {
    EXPECT_EQ(e.outcome, Outcome::kFailure);
    EXPECT_TRUE(e.response->is_error);
  }
}

// Records the order in which hooks run, and refuses when told to.
class TracingMiddleware : public Middleware {
 public:
  TracingMiddleware(std::string name, std::vector<std::string>& trace, bool refuse = false)
      : name_(std::move(name)), trace_(trace), refuse_(refuse) {}
  std::optional<Refusal> Before(RequestContext& ctx, const ToolCall&) override {
    trace_.push_back("before:" + name_);
    ctx.identity.tenant_id = "tenant-from-" + name_;
    if (refuse_) return Refusal{rpc::kAccessDenied, "Rate limit exceeded", "rate_limited"};
    return std::nullopt;
  }
  void After(const RequestContext&, const ToolCall&, ToolCallResponse& response) override {
    trace_.push_back("after:" + name_ + (response.rpc_error ? ":denied" : ":ok"));
  }

 private:
  std::string name_;
  std::vector<std::string>& trace_;
  bool refuse_;
};

TEST_F(ToolkitTest, MiddlewareRunsBeforeInOrderAndAfterInReverse) {
  std::vector<std::string> trace;
  toolkit_.Use(std::make_shared<TracingMiddleware>("auth", trace));
  toolkit_.Use(std::make_shared<TracingMiddleware>("policy", trace));
  RequestContext ctx = Context();
  toolkit_.Call(ctx, "echo", {{"text", "x"}});
  EXPECT_EQ(trace, (std::vector<std::string>{"before:auth", "before:policy", "after:policy:ok",
                                             "after:auth:ok"}));
  // What a Before hook learned (here: the tenant) is in the record.
  EXPECT_EQ(logger_.events().at(0).user.tenant_id, "tenant-from-policy");
}

// The bug of the designs this project grew from: a refused call left no record.
TEST_F(ToolkitTest, ABeforeHookRefusalIsRecordedAsDeniedAndTheHandlerNeverRuns) {
  std::vector<std::string> trace;
  toolkit_.Use(std::make_shared<TracingMiddleware>("auth", trace));
  toolkit_.Use(std::make_shared<TracingMiddleware>("ratelimit", trace, /*refuse=*/true));
  toolkit_.Use(std::make_shared<TracingMiddleware>("never", trace));
  RequestContext ctx = Context();
  ToolCallResponse response = toolkit_.Call(ctx, "echo", {{"text", "x"}});
  ASSERT_TRUE(response.rpc_error.has_value());
  EXPECT_EQ(response.rpc_error->code, rpc::kAccessDenied);
  EXPECT_EQ(response.rpc_error->message, "Rate limit exceeded");
  EXPECT_EQ(trace, (std::vector<std::string>{"before:auth", "before:ratelimit",
                                             "after:ratelimit:denied", "after:auth:denied"}));
  auto events = logger_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].outcome, Outcome::kDenied);
  EXPECT_EQ(events[0].error->reason, "rate_limited");
  EXPECT_EQ(events[0].error->code, rpc::kAccessDenied);
  EXPECT_TRUE(events[0].resources.empty());  // the handler never ran
}

TEST_F(ToolkitTest, ACancelledCallIsRecordedAsFailureAndNotAnswered) {
  std::stop_source cancel;
  ASSERT_TRUE(Register("slow", [&](const RequestContext&, const json&) -> Result<ToolResult> {
                cancel.request_stop();  // the client's cancellation arrives while the tool runs
                return ToolResult::Text("late");
              }).has_value());
  RequestContext ctx = Context();
  ctx.cancelled = cancel.get_token();
  ToolCallResponse response = toolkit_.Call(ctx, "slow", json::object());
  EXPECT_TRUE(response.cancelled);
  auto events = logger_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].outcome, Outcome::kFailure);
  EXPECT_EQ(events[0].error->reason, "cancelled");
}

TEST_F(ToolkitTest, ARefusedAuditRecordIsCounted) {
  logger_.set_refuse(true);
  RequestContext ctx = Context();
  toolkit_.Call(ctx, "echo", {{"text", "x"}});
  EXPECT_EQ(toolkit_.audit_failures(), 1u);
}

// A toolkit in fail-closed mode (durable audit) with one tool that counts its runs.
class FailClosedToolkitTest : public ::testing::Test {
 protected:
  FailClosedToolkitTest() : toolkit_(logger_, {.fail_closed = true}) {
    EXPECT_TRUE(RegisterAct(toolkit_).has_value());
  }
  Status RegisterAct(Toolkit& toolkit) {
    return toolkit.Register({.name = "act"},
                            [this](const RequestContext&, const json&) -> Result<ToolResult> {
                              ++runs_;
                              return ToolResult::Text("done");
                            });
  }
  RecordingLogger logger_;
  Toolkit toolkit_;
  int runs_ = 0;
};

TEST_F(FailClosedToolkitTest, WithholdsTheResultWhenTheRecordIsNotAccepted) {
  logger_.set_refuse(true);
  RequestContext ctx;
  ToolCallResponse response = toolkit_.Call(ctx, "act", json::object());
  EXPECT_FALSE(response.result.has_value());
  ASSERT_TRUE(response.rpc_error.has_value());
  EXPECT_EQ(response.rpc_error->reason, "audit_unavailable");
  EXPECT_NE(response.rpc_error->message.find("Audit log unavailable"), std::string::npos);
  EXPECT_EQ(runs_, 1);
}

// A logger that answers for a record only when the test says (as a durable
// pipeline does after its sync, on another thread).
class HeldLogger final : public AuditLogger {
 public:
  Status Log(const AuditEvent& event) override {
    events.push_back(event);
    return {};
  }
  void LogThen(const AuditEvent& event, Done done) override {
    events.push_back(event);
    held.push_back(std::move(done));
  }
  std::vector<AuditEvent> events;
  std::vector<Done> held;
};

TEST(CallThenTest, TheAnswerWaitsForTheLoggerAndNoRecordWithholdsTheResult) {
  HeldLogger logger;
  Toolkit toolkit(logger, {.fail_closed = true});
  int runs = 0;
  ASSERT_TRUE(toolkit
                  .Register({.name = "act"},
                            [&](const RequestContext&, const json&) -> Result<ToolResult> {
                              ++runs;
                              return ToolResult::Text("done");
                            })
                  .has_value());
  std::vector<ToolCallResponse> answers;
  RequestContext ctx;
  toolkit.CallThen(ctx, "act", json::object(),
                   [&](ToolCallResponse r) { answers.push_back(std::move(r)); });
  toolkit.CallThen(ctx, "act", json::object(),
                   [&](ToolCallResponse r) { answers.push_back(std::move(r)); });
  EXPECT_EQ(runs, 2);  // the tools ran; their records are made ...
  ASSERT_EQ(logger.events.size(), 2u);
  EXPECT_EQ(logger.events[0].outcome, Outcome::kSuccess);
  EXPECT_TRUE(answers.empty());  // ... and nobody is answered before the logger has them
  ASSERT_EQ(logger.held.size(), 2u);
  logger.held[0](Status{});
  ASSERT_EQ(answers.size(), 1u);
  ASSERT_TRUE(answers[0].result.has_value());
  EXPECT_NE(answers[0].result_json.find("done"), std::string::npos);
  logger.held[1](Fail(ErrorCode::kIo, "disk gone"));
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_FALSE(answers[1].result.has_value());
  EXPECT_TRUE(answers[1].result_json.empty());
  ASSERT_TRUE(answers[1].rpc_error.has_value());
  EXPECT_EQ(answers[1].rpc_error->reason, "audit_unavailable");
  EXPECT_NE(answers[1].rpc_error->message.find("disk gone"), std::string::npos);
  EXPECT_EQ(toolkit.audit_failures(), 1u);
}

TEST(CallThenTest, ACallThePolicyKeepsNoRecordOfIsAnsweredAtOnce) {
  HeldLogger logger;
  AuditPolicy policy;
  policy.default_level = AuditLevel::kNone;
  Toolkit toolkit(logger, {.policy = policy, .fail_closed = true});
  ASSERT_TRUE(toolkit
                  .Register({.name = "act"},
                            [](const RequestContext&, const json&) -> Result<ToolResult> {
                              return ToolResult::Text("done");
                            })
                  .has_value());
  std::optional<ToolCallResponse> answer;
  RequestContext ctx;
  toolkit.CallThen(ctx, "act", json::object(), [&](ToolCallResponse r) { answer = std::move(r); });
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE(answer->result.has_value());
  EXPECT_TRUE(logger.events.empty());
}

TEST_F(FailClosedToolkitTest, RefusesBeforeTheToolRunsWhenTheLoggerIsNotReady) {
  logger_.set_ready(false);
  RequestContext ctx;
  ToolCallResponse response = toolkit_.Call(ctx, "act", json::object());
  ASSERT_TRUE(response.rpc_error.has_value());
  EXPECT_EQ(response.rpc_error->reason, "audit_unavailable");
  EXPECT_EQ(runs_, 0);  // the tool never ran
  auto events = logger_.events();
  ASSERT_EQ(events.size(), 1u);  // the attempt is still offered to the log
  EXPECT_EQ(events[0].outcome, Outcome::kDenied);
  // Without fail_closed the same logger state does not stop calls.
  Toolkit lenient(logger_);
  ASSERT_TRUE(RegisterAct(lenient).has_value());
  EXPECT_TRUE(lenient.Call(ctx, "act", json::object()).result.has_value());
  EXPECT_EQ(runs_, 1);
}

TEST(AuditPolicyTest, GlobsAndFirstMatchWins) {
  EXPECT_TRUE(GlobMatch("catalog_*", "catalog_search"));
  EXPECT_TRUE(GlobMatch("*", "anything"));
  EXPECT_TRUE(GlobMatch("get_?", "get_x"));
  EXPECT_FALSE(GlobMatch("get_?", "get_xy"));
  EXPECT_FALSE(GlobMatch("catalog_*", "xcatalog_search"));
  AuditPolicy policy{
      .levels = {{{"catalog_get_*"}, AuditLevel::kFull}, {{"catalog_*"}, AuditLevel::kMetadata}},
      .default_level = AuditLevel::kRequest};
  EXPECT_EQ(policy.LevelFor("catalog_get_entity"), AuditLevel::kFull);
  EXPECT_EQ(policy.LevelFor("catalog_search"), AuditLevel::kMetadata);
  EXPECT_EQ(policy.LevelFor("other"), AuditLevel::kRequest);
  EXPECT_FALSE(ParseAuditLevel("loud").has_value());
}

TEST(AuditPolicyTest, ToolAccessPerRoleAllowsOnlyWhatARuleForTheCallerAllows) {
  AuditPolicy open;
  EXPECT_TRUE(open.Permits({}, "anything")) << "no access rules: no restriction";
  AuditPolicy policy{
      .access = {
          {.roles = {"analyst", "admin"}, .allow = {"catalog_*"}, .deny = {"catalog_get_schema"}},
          {.roles = {"admin"}, .allow = {"admin_*"}},
          {.roles = {"*"}, .allow = {"ping_tool"}}}};
  EXPECT_TRUE(policy.Permits({"analyst"}, "catalog_search"));
  EXPECT_FALSE(policy.Permits({"analyst"}, "catalog_get_schema")) << "deny wins";
  EXPECT_FALSE(policy.Permits({"admin"}, "catalog_get_schema"))
      << "deny wins for every role the rule names";
  EXPECT_FALSE(policy.Permits({"analyst"}, "admin_reset")) << "no rule for analysts allows it";
  EXPECT_TRUE(policy.Permits({"viewer", "admin"}, "admin_reset")) << "any of the caller's roles";
  EXPECT_TRUE(policy.Permits({}, "ping_tool")) << "\"*\" names callers without roles too";
  EXPECT_FALSE(policy.Permits({}, "catalog_search")) << "default deny once rules exist";
}

TEST(AuditPolicyTest, AToolTheCallersRolesDoNotAllowIsRefusedBeforeItRunsAndRecorded) {
  RecordingLogger logger;
  ToolkitOptions options;
  options.policy.access = {{.roles = {"analyst"}, .allow = {"read_*"}}};
  Toolkit toolkit(logger, options);
  int runs = 0;
  auto handler = [&runs](const RequestContext&, const json&) -> Result<ToolResult> {
    ++runs;
    return ToolResult::Text("done");
  };
  for (const char* name : {"read_report", "delete_report"})
    ASSERT_TRUE(toolkit.Register({.name = name}, handler).has_value());
  RequestContext analyst;
  analyst.identity.user_id = "ann";
  analyst.identity.roles = {"analyst"};
  EXPECT_TRUE(toolkit.Call(analyst, "read_report", json::object()).result.has_value());
  const auto refused = toolkit.Call(analyst, "delete_report", {{"id", 7}});
  ASSERT_TRUE(refused.rpc_error.has_value());
  EXPECT_EQ(refused.rpc_error->code, rpc::kAccessDenied);
  EXPECT_NE(refused.rpc_error->message.find("do not allow the tool delete_report"),
            std::string::npos);
  EXPECT_EQ(runs, 1) << "the refused call never ran";
  // Nor is it offered: tools/list shows a caller what its roles may call.
  ASSERT_EQ(toolkit.ListTools({"analyst"}).size(), 1u);
  EXPECT_EQ(toolkit.ListTools({"analyst"})[0]["name"], "read_report");
  EXPECT_TRUE(toolkit.ListTools({"guest"}).empty());
  EXPECT_EQ(toolkit.ListTools().size(), 2u);
  auto events = logger.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].outcome, Outcome::kDenied);
  EXPECT_EQ(events[1].error->reason, "tool_not_allowed");
  EXPECT_EQ(events[1].params["id"], 7);
}

TEST(AuditPolicyTest, ANewPolicyReachesTheNextCallAndACallInFlightFinishesUnderItsOwn) {
  RecordingLogger logger;
  Toolkit toolkit(logger, {});
  std::promise<void> started, release;
  std::shared_future<void> released = release.get_future().share();
  bool first = true;
  auto handler = [&](const RequestContext&, const json&) -> Result<ToolResult> {
    if (std::exchange(first, false)) {
      started.set_value();
      released.wait();
    }
    return ToolResult::Text("report");
  };
  ASSERT_TRUE(toolkit.Register({.name = "read_report"}, handler).has_value());
  RequestContext analyst;
  analyst.identity.user_id = "ann";
  analyst.identity.roles = {"analyst"};
  std::thread in_flight([&] {
    RequestContext ctx = analyst;
    EXPECT_TRUE(toolkit.Call(ctx, "read_report", {{"id", 1}}).result.has_value());
  });
  started.get_future().wait();
  // Analysts may no longer read reports, and what is read is kept in metadata only.
  AuditPolicy stricter;
  stricter.access = {{.roles = {"auditor"}, .allow = {"*"}}};
  stricter.levels = {{{"*"}, AuditLevel::kMetadata}};
  toolkit.SetPolicy(stricter);
  release.set_value();
  in_flight.join();
  const auto refused = toolkit.Call(analyst, "read_report", {{"id", 2}});
  ASSERT_TRUE(refused.rpc_error.has_value());
  EXPECT_EQ(refused.rpc_error->reason, "tool_not_allowed");
  auto events = logger.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].outcome, Outcome::kSuccess);
  EXPECT_EQ(events[0].params["id"], 1) << "recorded under the policy it began with";
  EXPECT_EQ(events[1].outcome, Outcome::kDenied);
  EXPECT_TRUE(events[1].params.is_null()) << "the new level keeps no parameters";
}

TEST(AuditLevelsTest, EachLevelKeepsWhatItSays) {
  RecordingLogger logger;
  ToolkitOptions options;
  options.policy.levels = {{{"quiet"}, AuditLevel::kNone},
                           {{"meta"}, AuditLevel::kMetadata},
                           {{"full_*"}, AuditLevel::kFull}};
  Toolkit toolkit(logger, options);
  auto handler = [](const RequestContext&, const json& args) -> Result<ToolResult> {
    if (args.value("fail", false)) return Fail(ErrorCode::kNotFound, "nothing there");
    ToolResult result = ToolResult::Text(std::string(2000, 'r'));
    result.resources = {"urn:x"};
    return result;
  };
  for (const char* name : {"quiet", "meta", "full_dump", "plain"})
    ASSERT_TRUE(toolkit.Register({.name = name}, handler).has_value());
  RequestContext ctx;
  const json args = {{"q", "v"}};
  for (const char* name : {"quiet", "meta", "full_dump", "plain"}) toolkit.Call(ctx, name, args);
  toolkit.Call(ctx, "quiet", {{"fail", true}});  // a failure is recorded whatever the level
  auto events = logger.events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].tool, "meta");
  EXPECT_TRUE(events[0].params.is_null());
  EXPECT_EQ(events[0].resources, std::vector<std::string>{"urn:x"});
  EXPECT_EQ(events[1].tool, "full_dump");
  EXPECT_EQ(events[1].params, args);
  EXPECT_EQ(events[1].details["result"]["bytes"], 2000);
  EXPECT_EQ(events[1].details["result"]["truncated"], true);
  EXPECT_EQ(events[1].details["result"]["text"].get<std::string>().size(), 1024u);
  EXPECT_EQ(events[2].tool, "plain");
  EXPECT_EQ(events[2].params, args);
  EXPECT_TRUE(events[2].details.is_null());
  EXPECT_EQ(events[3].tool, "quiet");
  EXPECT_EQ(events[3].outcome, Outcome::kFailure);
}

TEST(SamplingTest, KeepsOneInNSuccessesAllFailuresAndCountsTheRest) {
  RecordingLogger logger;
  {
    ToolkitOptions options;
    options.policy.sampling = {{.tools = {"hot_*"}, .keep_one_in = 4}};
    Toolkit toolkit(logger, options);
    for (const char* name : {"hot_read", "cold"})
      ASSERT_TRUE(toolkit
                      .Register({.name = name},
                                [](const RequestContext&, const json& args) -> Result<ToolResult> {
                                  if (args.value("fail", false))
                                    return Fail(ErrorCode::kNotFound, "no");
                                  return ToolResult::Text("ok");
                                })
                      .has_value());
    RequestContext ctx;
    for (int i = 0; i < 10; ++i) toolkit.Call(ctx, "hot_read", json::object());
    for (int i = 0; i < 2; ++i) toolkit.Call(ctx, "hot_read", {{"fail", true}});
    for (int i = 0; i < 3; ++i) toolkit.Call(ctx, "cold", json::object());
  }  // the toolkit's end tells the last skipped count
  uint64_t kept = 0, failures = 0, cold = 0, skipped = 0;
  for (const auto& e : logger.events()) {
    if (e.event_type == "sample_summary") {
      EXPECT_EQ(e.tool, "hot_read");
      skipped += e.details["skipped"].get<uint64_t>();
    } else if (e.tool == "cold") {
      ++cold;
    } else if (e.outcome == Outcome::kFailure) {
      ++failures;
    } else {
      ++kept;
    }
  }
  EXPECT_EQ(kept, 3u);      // calls 1, 5 and 9
  EXPECT_EQ(failures, 2u);  // never sampled out
  EXPECT_EQ(cold, 3u);      // no rule: every call
  EXPECT_EQ(skipped, 7u);   // and the log says how many it did not keep
}

// HIPAA: protected data needs a reason for access, and the record keeps it.
class AccessReasonTest : public ::testing::Test {
 protected:
  AccessReasonTest() : toolkit_(logger_, Options()) {
    for (const char* name : {"read_chart", "lookup"}) {
      EXPECT_TRUE(
          toolkit_
              .Register({.name = name},
                        [this](const RequestContext&, const json& args) -> Result<ToolResult> {
                          ++runs_;
                          ToolResult result = ToolResult::Text("data");
                          result.resources = {args.value("urn", "urn:none")};
                          return result;
                        })
              .has_value());
    }
  }
  static ToolkitOptions Options() {
    ToolkitOptions options;
    options.policy.classify = {
        {.tools = {"read_chart"},
         .sensitivity = "restricted",
         .phi = true,
         .require_access_reason = true},
        {.resources = {"urn:clinic:*"}, .phi = true, .require_access_reason = true}};
    return options;
  }
  RecordingLogger logger_;
  Toolkit toolkit_;
  int runs_ = 0;
};

TEST_F(AccessReasonTest, AToolThatNeedsAReasonIsRefusedBeforeItRuns) {
  RequestContext ctx;
  ToolCallResponse response = toolkit_.Call(ctx, "read_chart", json::object());
  ASSERT_TRUE(response.rpc_error.has_value());
  EXPECT_EQ(response.rpc_error->code, rpc::kAccessDenied);
  EXPECT_NE(response.rpc_error->message.find("_meta.access_reason"), std::string::npos);
  EXPECT_EQ(runs_, 0);
  auto events = logger_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].outcome, Outcome::kDenied);
  EXPECT_EQ(events[0].error->reason, "access_reason_required");
  EXPECT_TRUE(events[0].compliance.phi);
}

TEST_F(AccessReasonTest, WithAReasonTheCallRunsAndTheRecordSaysWhy) {
  RequestContext ctx;
  ctx.access_reason = "treatment";
  ASSERT_TRUE(toolkit_.Call(ctx, "read_chart", json::object()).result.has_value());
  auto events = logger_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].outcome, Outcome::kSuccess);
  EXPECT_EQ(events[0].compliance.access_reason, "treatment");
  EXPECT_EQ(events[0].compliance.sensitivity, "restricted");
  EXPECT_TRUE(events[0].compliance.phi);
}

TEST_F(AccessReasonTest, AResultThatTouchedProtectedResourcesIsWithheldWithoutAReason) {
  RequestContext ctx;
  ToolCallResponse plain = toolkit_.Call(ctx, "lookup", {{"urn", "urn:shop:orders"}});
  EXPECT_TRUE(plain.result.has_value());
  ToolCallResponse clinic = toolkit_.Call(ctx, "lookup", {{"urn", "urn:clinic:patients"}});
  EXPECT_FALSE(clinic.result.has_value());
  ASSERT_TRUE(clinic.rpc_error.has_value());
  EXPECT_EQ(clinic.rpc_error->reason, "access_reason_required");
  auto events = logger_.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_FALSE(events[0].compliance.phi);
  EXPECT_EQ(events[1].outcome, Outcome::kDenied);
  EXPECT_TRUE(events[1].compliance.phi);
  EXPECT_EQ(events[1].resources, std::vector<std::string>{"urn:clinic:patients"});
}

TEST_F(ToolkitTest, RegistrationRefusesBadToolsWithAReason) {
  auto handler = [](const RequestContext&, const json&) -> Result<ToolResult> {
    return ToolResult{};
  };
  auto duplicate = Register("echo", handler);
  ASSERT_FALSE(duplicate.has_value());
  EXPECT_NE(duplicate.error().message.find("already registered"), std::string::npos);
  EXPECT_FALSE(Register("bad name!", handler).has_value());
  EXPECT_FALSE(Register("", handler).has_value());
  ToolDefinition not_object;
  not_object.name = "arr";
  not_object.input_schema = {{"type", "array"}};
  EXPECT_FALSE(toolkit_.Register(not_object, handler).has_value());
  ToolDefinition broken;
  broken.name = "broken";
  broken.input_schema = {{"type", "object"}, {"properties", {{"x", {{"type", 12}}}}}};
  auto invalid = toolkit_.Register(broken, handler);
  ASSERT_FALSE(invalid.has_value());
  EXPECT_NE(invalid.error().message.find("broken"), std::string::npos);
}

TEST_F(ToolkitTest, ListsToolsWithSchemasAndAnnotations) {
  ToolDefinition d;
  d.name = "annotated";
  d.title = "Annotated";
  d.description = "desc";
  d.output_schema = json{{"type", "object"}};
  d.annotations.read_only_hint = true;
  ASSERT_TRUE(toolkit_
                  .Register(d,
                            [](const RequestContext&, const json&) -> Result<ToolResult> {
                              return ToolResult{};
                            })
                  .has_value());
  json tools = toolkit_.ListTools();
  ASSERT_EQ(tools.size(), 2u);
  EXPECT_EQ(tools[0]["name"], "echo");
  EXPECT_EQ(tools[0]["inputSchema"]["required"], json::array({"text"}));
  EXPECT_EQ(tools[1]["title"], "Annotated");
  EXPECT_EQ(tools[1]["outputSchema"], json({{"type", "object"}}));
  EXPECT_EQ(tools[1]["annotations"]["readOnlyHint"], true);
}

}  // namespace
}  // namespace mcpaudit

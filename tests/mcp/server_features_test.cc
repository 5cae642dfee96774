// Beyond tools: resources, prompts, completions, log levels, and the channel
// back to the client (progress, log messages, requests to the client) — what a
// client sees and what the audit log keeps.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "mcpaudit/server.h"
#include "support/test_support.h"

namespace mcpaudit {
namespace {

using nlohmann::json;

class ServerFeaturesTest : public ::testing::Test {
 protected:
  ServerFeaturesTest() : toolkit_(logger_) {
    ToolDefinition work;
    work.name = "work";
    EXPECT_TRUE(toolkit_.Register(work, [](const RequestContext& ctx, const json&) -> Result<ToolResult> {
      ctx.channel->Progress(1, 2, "half way");
      ctx.channel->Log("debug", "not shown at level info");
      ctx.channel->Log("warning", {{"disk", "low"}}, "storage");
      auto answer = ctx.channel->Request("sampling/createMessage", {{"maxTokens", 5}}, std::chrono::seconds(5));
      if (!answer) return std::unexpected(answer.error());
      return ToolResult::Text("model said " + (*answer)["content"]["text"].get<std::string>());
    }).has_value());
    EXPECT_TRUE(toolkit_.RegisterResource({"memo://one", "one", "", "A memo", "text/plain"},
                                          [](auto&, const std::string& uri, auto&) -> Result<json> {
                                            return json::array({{{"uri", uri}, {"text", "first memo"}}});
                                          }).has_value());
    EXPECT_TRUE(toolkit_.RegisterResourceTemplate(
        {"memo://by-id/{id}", "by-id", "", "A memo by id", "text/plain"},
        [](auto&, const std::string& uri, const std::map<std::string, std::string>& vars) -> Result<json> {
          return json::array({{{"uri", uri}, {"text", "memo " + vars.at("id")}}});
        }).has_value());
    EXPECT_TRUE(toolkit_.RegisterPrompt({"greet", "", "Greets", {{"name", "who", true}}},
                                        [](auto&, const json& args) -> Result<json> {
                                          return json{{"messages", json::array({{{"role", "user"},
                                                                                 {"content", {{"type", "text"}, {"text", "hello " + args["name"].get<std::string>()}}}}})}};
                                        }).has_value());
    toolkit_.SetCompletion([](const json&, const std::string&, const std::string& value) {
      return std::vector<std::string>{value + "1", value + "2"};
    });
    server_ = std::make_unique<Server>(ServerOptions{.name = "test", .version = "1"}, toolkit_);
    connection_ = server_->Connect({.transport = "stdio", .session_id = "s"}, [this](OutgoingMessage m) {
      std::lock_guard lock(mutex_);
      sent_.push_back({json::parse(m.text), m.request_id});
      arrived_.notify_all();
    });
    connection_->Receive(json{{"jsonrpc", "2.0"}, {"id", 0}, {"method", "initialize"},
                              {"params", {{"protocolVersion", "2025-11-25"},
                                          {"capabilities", {{"sampling", json::object()}}},
                                          {"clientInfo", {{"name", "t"}, {"version", "1"}}}}}}
                             .dump());
  }
  ~ServerFeaturesTest() override {
    connection_.reset();
    server_.reset();
  }

  json Request(int id, const std::string& method, const json& params) {
    connection_->Receive(json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump());
    connection_->Drain();
    return WaitFor([&](const json& m) { return m.contains("id") && m["id"] == id && !m.contains("method"); });
  }
  // Waits for a message that `match` accepts.
  json WaitFor(const std::function<bool(const json&)>& match) {
    std::unique_lock lock(mutex_);
    json found;
    arrived_.wait_for(lock, std::chrono::seconds(5), [&] {
      for (auto& [message, route] : sent_)
        if (match(message)) return found = message, true;
      return false;
    });
    return found;
  }
  std::string RouteOf(const std::string& method) {
    std::lock_guard lock(mutex_);
    for (auto& [message, route] : sent_)
      if (message.value("method", "") == method) return route;
    return "<none>";
  }

  testing::RecordingLogger logger_;
  Toolkit toolkit_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Connection> connection_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<std::pair<json, std::string>> sent_;  // message, the request it belongs to
};

TEST_F(ServerFeaturesTest, InitializeDeclaresWhatTheToolkitServes) {
  json init = WaitFor([](const json& m) { return m.value("id", json()) == 0; });
  const json& capabilities = init["result"]["capabilities"];
  EXPECT_TRUE(capabilities.contains("tools"));
  EXPECT_TRUE(capabilities.contains("logging"));
  EXPECT_EQ(capabilities["resources"]["subscribe"], true);
  EXPECT_TRUE(capabilities.contains("prompts"));
  EXPECT_TRUE(capabilities.contains("completions"));
}

TEST_F(ServerFeaturesTest, AToolReportsProgressLogsAndAsksTheClientOnItsRequestsStream) {
  connection_->Receive(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"work","_meta":{"progressToken":"p-1"}}})");
  json ask = WaitFor([](const json& m) { return m.value("method", "") == "sampling/createMessage"; });
  ASSERT_TRUE(ask.contains("id")) << "a request to the client has an id";
  connection_->Receive(json{{"jsonrpc", "2.0"}, {"id", ask["id"]},
                            {"result", {{"role", "assistant"}, {"content", {{"type", "text"}, {"text", "42"}}}}}}
                           .dump());
  connection_->Drain();
  json result = WaitFor([](const json& m) { return m.value("id", json()) == 7; });
  EXPECT_EQ(result["result"]["content"][0]["text"], "model said 42");

  json progress = WaitFor([](const json& m) { return m.value("method", "") == "notifications/progress"; });
  EXPECT_EQ(progress["params"], (json{{"progressToken", "p-1"}, {"progress", 1}, {"total", 2}, {"message", "half way"}}));
  json log = WaitFor([](const json& m) { return m.value("method", "") == "notifications/message"; });
  EXPECT_EQ(log["params"], (json{{"level", "warning"}, {"data", {{"disk", "low"}}}, {"logger", "storage"}}));
  // Everything went to the stream of request 7 (over HTTP: that POST's response).
  EXPECT_EQ(RouteOf("notifications/progress"), "7");
  EXPECT_EQ(RouteOf("notifications/message"), "7");
  EXPECT_EQ(RouteOf("sampling/createMessage"), "7");
  std::lock_guard lock(mutex_);
  int logs = 0;
  for (auto& [message, route] : sent_) logs += message.value("method", "") == "notifications/message";
  EXPECT_EQ(logs, 1);  // the debug message is below the session's level
}

TEST_F(ServerFeaturesTest, WhenTheSessionEndsAToolWaitingForTheClientIsToldAtOnce) {
  connection_->Receive(R"({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"work"}})");
  WaitFor([](const json& m) { return m.value("method", "") == "sampling/createMessage"; });
  const auto started = std::chrono::steady_clock::now();
  connection_.reset();  // the client went away without answering
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));  // not the 5 s timeout
  auto events = logger_.calls();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].outcome, Outcome::kFailure);
  EXPECT_EQ(events[0].error->message, "the session ended");
}

TEST_F(ServerFeaturesTest, ResourcesAndTemplatesAreReadAndRecorded) {
  EXPECT_EQ(Request(1, "resources/list", json::object())["result"]["resources"][0]["uri"], "memo://one");
  EXPECT_EQ(Request(2, "resources/templates/list", json::object())["result"]["resourceTemplates"][0]["uriTemplate"],
            "memo://by-id/{id}");
  EXPECT_EQ(Request(3, "resources/read", {{"uri", "memo://by-id/17"}})["result"]["contents"][0]["text"], "memo 17");
  json missing = Request(4, "resources/read", {{"uri", "memo://nowhere"}});
  EXPECT_EQ(missing["error"]["code"], -32002);
  auto events = logger_.calls();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event_type, "resource_read");
  EXPECT_EQ(events[0].tool, "by-id");
  EXPECT_EQ(events[0].resources, std::vector<std::string>{"memo://by-id/17"});
  EXPECT_EQ(events[0].outcome, Outcome::kSuccess);
  EXPECT_EQ(events[1].outcome, Outcome::kDenied);
  EXPECT_EQ(events[1].error->reason, "unknown_resource");
}

TEST(ResourcePolicyTest, AProtectedResourceIsNotReadWithoutAnAccessReason) {
  testing::RecordingLogger logger;
  AuditPolicy policy;
  policy.classify.push_back({.resources = {"chart://*"}, .sensitivity = "restricted", .phi = true,
                             .require_access_reason = true});
  Toolkit toolkit(logger, {.policy = policy});
  ASSERT_TRUE(toolkit.RegisterResourceTemplate({"chart://{patient}", "chart", "", "A patient chart", "text/plain"},
                                               [](auto&, const std::string& uri, auto&) -> Result<json> {
                                                 return json::array({{{"uri", uri}, {"text", "allergies: none"}}});
                                               }).has_value());
  RequestContext without;
  ToolCallResponse refused = toolkit.ReadResource(without, "chart://p-17");
  ASSERT_TRUE(refused.rpc_error);
  EXPECT_EQ(refused.rpc_error->code, rpc::kAccessDenied);
  EXPECT_FALSE(refused.result);
  RequestContext with;
  with.access_reason = "treatment";
  EXPECT_EQ((*toolkit.ReadResource(with, "chart://p-17").result)["contents"][0]["text"], "allergies: none");
  auto events = logger.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].outcome, Outcome::kDenied);
  EXPECT_EQ(events[0].error->reason, "access_reason_required");
  EXPECT_TRUE(events[0].compliance.phi);
  EXPECT_EQ(events[1].compliance.access_reason, "treatment");
}

TEST_F(ServerFeaturesTest, PromptsAreBuiltAndRecordedWithTheirArguments) {
  EXPECT_EQ(Request(1, "prompts/list", json::object())["result"]["prompts"][0]["arguments"][0]["required"], true);
  json got = Request(2, "prompts/get", {{"name", "greet"}, {"arguments", {{"name", "ana"}}}});
  EXPECT_EQ(got["result"]["messages"][0]["content"]["text"], "hello ana");
  json refused = Request(3, "prompts/get", {{"name", "greet"}});
  EXPECT_EQ(refused["error"]["code"], -32602);
  auto events = logger_.calls();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event_type, "prompt_get");
  EXPECT_EQ(events[0].tool, "greet");
  EXPECT_EQ(events[0].params, (json{{"name", "ana"}}));
  EXPECT_EQ(events[1].outcome, Outcome::kDenied);
  EXPECT_EQ(events[1].error->reason, "invalid_arguments");
}

TEST_F(ServerFeaturesTest, CompletionAndLogLevelAnswer) {
  json completion = Request(1, "completion/complete", {{"ref", {{"type", "ref/prompt"}, {"name", "greet"}}},
                                                       {"argument", {{"name", "name"}, {"value", "an"}}}});
  EXPECT_EQ(completion["result"]["completion"]["values"], (json{"an1", "an2"}));
  EXPECT_EQ(Request(2, "logging/setLevel", {{"level", "error"}})["result"], json::object());
  EXPECT_EQ(Request(3, "logging/setLevel", {{"level", "loud"}})["error"]["code"], -32602);
}

}  // namespace
}  // namespace mcpaudit

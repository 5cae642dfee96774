#include "mcpaudit/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "support/test_support.h"

namespace mcpaudit {
namespace {

using nlohmann::json;

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() : toolkit_(logger_) {
    testing::RegisterEchoTool(toolkit_);
    ToolDefinition wait;
    wait.name = "wait_for_cancel";
    EXPECT_TRUE(toolkit_
                    .Register(wait,
                              [](const RequestContext& ctx, const json&) -> Result<ToolResult> {
                                std::mutex m;
                                std::condition_variable_any cv;
                                std::unique_lock lock(m);
                                cv.wait(lock, ctx.cancelled, [] { return false; });
                                return ToolResult::Text("cancelled");
                              })
                    .has_value());
    server_ = std::make_unique<Server>(ServerOptions{.name = "test", .version = "9.9"}, toolkit_);
    ConnectionInfo info;
    info.transport = "stdio";
    info.session_id = "session-1";
    info.identity.user_id = "alice";
    connection_ = server_->Connect(info, [this](OutgoingMessage message) {
      std::lock_guard lock(mutex_);
      sent_.push_back(json::parse(message.text));
      routes_.push_back({message.request_id, message.is_response});
    });
  }
  ~ServerTest() override {
    connection_.reset();
    server_.reset();
  }

  // Sends one message and returns every message sent back once the calls in
  // flight have finished.
  std::vector<json> Send(const std::string& text) {
    connection_->Receive(text);
    connection_->Drain();
    std::lock_guard lock(mutex_);
    auto out = std::move(sent_);
    sent_.clear();
    return out;
  }
  json Request(int id, const std::string& method, const json& params = json::object()) {
    auto replies =
        Send(json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump());
    EXPECT_EQ(replies.size(), 1u) << method;
    return replies.empty() ? json() : replies[0];
  }
  void Initialize(const std::string& version = "2025-06-18") {
    json reply = Request(0, "initialize",
                         {{"protocolVersion", version},
                          {"capabilities", json::object()},
                          {"clientInfo", {{"name", "test-client"}, {"version", "3.1"}}}});
    ASSERT_TRUE(reply.contains("result")) << reply;
    EXPECT_TRUE(Send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})").empty());
  }

  testing::RecordingLogger logger_;
  Toolkit toolkit_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Connection> connection_;
  std::mutex mutex_;
  std::vector<json> sent_;
  std::vector<std::pair<std::string, bool>> routes_;  // request id, is the response
};

TEST_F(ServerTest, TheIdsOneAndQuotedOneAreTwoRequests) {
  Initialize();
  // Both in flight at once: neither is "already in use", and each is cancelled by its own id.
  connection_->Receive(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"wait_for_cancel"}})");
  connection_->Receive(
      R"({"jsonrpc":"2.0","id":"1","method":"tools/call","params":{"name":"wait_for_cancel"}})");
  connection_->Receive(
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}})");
  auto replies =
      Send(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"1"}})");
  EXPECT_TRUE(replies.empty()) << replies[0];
  auto events = logger_.calls();
  ASSERT_EQ(events.size(), 2u);
  for (const auto& event : events) EXPECT_EQ(event.error->reason, "cancelled");
}

TEST_F(ServerTest, SaysWhichRequestEachMessageAnswers) {
  Initialize();
  Request(7, "tools/list");
  Request(8, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "hi"}}}});
  Send(R"({"jsonrpc":"2.0","id":"x-1","method":"no/such"})");
  Send("{not json");
  std::lock_guard lock(mutex_);
  // The transport routes a response to the request it answers (HTTP: that POST's stream).
  const std::vector<std::pair<std::string, bool>> expected = {
      {"0", true}, {"7", true}, {"8", true}, {"\"x-1\"", true}, {"", false}};
  EXPECT_EQ(routes_, expected);
}

TEST_F(ServerTest, NegotiatesTheProtocolVersion) {
  json reply = Request(1, "initialize",
                       {{"protocolVersion", "2025-11-25"},
                        {"capabilities", json::object()},
                        {"clientInfo", {{"name", "c"}, {"version", "1"}}}});
  EXPECT_EQ(reply["result"]["protocolVersion"], "2025-11-25");
  EXPECT_EQ(reply["result"]["serverInfo"]["name"], "test");
  EXPECT_EQ(reply["result"]["serverInfo"]["version"], "9.9");
  EXPECT_TRUE(reply["result"]["capabilities"].contains("tools"));
}

TEST_F(ServerTest, AnswersAnOlderKnownVersionWithItAndAnUnknownOneWithTheNewest) {
  Initialize("2025-06-18");
  // A second connection asks for a version we do not know.
  std::vector<json> replies;
  auto other =
      server_->Connect({}, [&](OutgoingMessage m) { replies.push_back(json::parse(m.text)); });
  other->Receive(
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"1999-01-01","capabilities":{},"clientInfo":{"name":"c","version":"1"}}})");
  other->Drain();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0]["result"]["protocolVersion"], "2025-11-25");
}

TEST_F(ServerTest, ASessionsStartAndEndAreRecordedAroundItsCalls) {
  Initialize();
  Request(1, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "hi"}}}});
  connection_->Ending(kEndExpired);
  connection_.reset();
  const auto events = logger_.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event_type, "session_start");
  EXPECT_EQ(events[0].user.id, "alice");
  EXPECT_EQ(events[0].request.session_id, "session-1");
  EXPECT_EQ(events[0].request.client.name, "test-client");
  EXPECT_EQ(events[0].request.id, "0") << "the initialize request";
  EXPECT_EQ(events[0].details["protocol_version"], "2025-06-18");
  EXPECT_EQ(events[1].event_type, "tool_call");
  EXPECT_EQ(events[2].event_type, "session_end");
  EXPECT_EQ(events[2].details["reason"], "expired");
  EXPECT_EQ(events[2].request.session_id, "session-1");
}

// A logger that is slow to take a session's start, as a disk may be.
class SlowSessionStartLogger final : public AuditLogger {
 public:
  Status Log(const AuditEvent& event) override {
    if (event.event_type == "session_start")
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::lock_guard lock(mutex_);
    types_.push_back(event.event_type);
    return {};
  }
  Status Ready() const override { return {}; }
  std::vector<std::string> types() const {
    std::lock_guard lock(mutex_);
    return types_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> types_;
};

TEST(ServerSessionTest, CallsSentBeforeInitializeIsAnsweredAreRecordedAfterTheSessionsStart) {
  SlowSessionStartLogger logger;
  Toolkit toolkit(logger);
  testing::RegisterEchoTool(toolkit);
  Server server(ServerOptions{.name = "test", .version = "1", .workers = 4}, toolkit);
  auto connection = server.Connect({}, [](OutgoingMessage) {});
  // A client that does not wait (as a shell pipe does).
  connection->Receive(
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}})");
  connection->Receive(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  connection->Receive(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}})");
  connection->Drain();
  connection.reset();
  EXPECT_EQ(logger.types(),
            (std::vector<std::string>{"session_start", "tool_call", "session_end"}));
}

// A logger that holds each LogThen's record until the test lets it go, as a
// durable pipeline does until its sync (on another thread).
class HeldLogger final : public AuditLogger {
 public:
  Status Log(const AuditEvent&) override { return {}; }
  void LogThen(const AuditEvent& event, Done done) override {
    std::lock_guard lock(mutex_);
    held_.emplace_back(event.event_type, std::move(done));
    changed_.notify_all();
  }
  // Waits until `n` records are held.
  bool WaitFor(size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return held_.size() >= n; });
  }
  void ReleaseAll() {
    std::vector<std::pair<std::string, Done>> held;
    {
      std::lock_guard lock(mutex_);
      held.swap(held_);
    }
    for (auto& [type, done] : held) done(Status{});
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::pair<std::string, Done>> held_;
};

TEST(ServerSessionTest, InDurableModeAWorkerGoesOnWhileAnswersWaitForTheirRecords) {
  HeldLogger logger;
  Toolkit toolkit(logger, {.fail_closed = true});
  testing::RegisterEchoTool(toolkit);
  Server server(ServerOptions{.name = "test", .version = "1", .workers = 1}, toolkit);
  std::vector<json> sent;
  std::mutex mutex;
  auto connection = server.Connect({}, [&](OutgoingMessage message) {
    std::lock_guard lock(mutex);
    sent.push_back(json::parse(message.text));
  });
  connection->Receive(
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}})");
  connection->Receive(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  for (int id = 1; id <= 3; ++id)
    connection->Receive(json{{"jsonrpc", "2.0"},
                             {"id", id},
                             {"method", "tools/call"},
                             {"params", {{"name", "echo"}, {"arguments", {{"text", "hi"}}}}}}
                            .dump());
  // One worker ran all three tools: none of them waited for its record.
  ASSERT_TRUE(logger.WaitFor(3));
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(sent.size(),
              1u);  // initialize's answer only: no call is answered before its record is kept
  }
  std::atomic<bool> drained = false;
  std::thread drain([&] {
    connection->Drain();  // shutdown waits for the answers still waiting for their records
    drained = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(drained);
  logger.ReleaseAll();
  drain.join();
  std::lock_guard lock(mutex);
  ASSERT_EQ(sent.size(), 4u);
  for (size_t i = 1; i < sent.size(); ++i) EXPECT_TRUE(sent[i].contains("result")) << sent[i];
}

TEST(ServerSessionTest, InDurableModeNoSessionStartsWithoutItsRecord) {
  testing::RecordingLogger logger;
  ToolkitOptions options;
  options.fail_closed = true;
  Toolkit toolkit(logger, options);
  Server server(ServerOptions{.name = "test", .version = "1"}, toolkit);
  std::vector<json> sent;
  std::mutex mutex;
  auto connection = server.Connect({}, [&](OutgoingMessage message) {
    std::lock_guard lock(mutex);
    sent.push_back(json::parse(message.text));
  });
  const std::string initialize =
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}})";
  logger.set_refuse(true);  // the journal cannot take the record
  connection->Receive(initialize);
  connection->Drain();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["error"]["code"], rpc::kInternalError) << sent[0];
  EXPECT_NE(sent[0]["error"]["message"].get<std::string>().find("audit_unavailable"),
            std::string::npos);
  // Not initialized: calls are refused; once the journal takes records again, the client can start
  // over.
  connection->Receive(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
  logger.set_refuse(false);
  connection->Receive(initialize);
  connection->Drain();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[1]["error"]["code"], rpc::kInvalidRequest);
  EXPECT_TRUE(sent[2].contains("result")) << sent[2];
  connection.reset();
  EXPECT_EQ(logger.events().front().event_type, "session_start");
}

TEST_F(ServerTest, ASessionThatNeverStartedHasNoEnd) {
  Request(1, "ping");
  connection_.reset();
  EXPECT_TRUE(logger_.events().empty());
}

TEST_F(ServerTest, RefusesRequestsBeforeInitializeButAnswersPing) {
  EXPECT_EQ(Request(1, "tools/list")["error"]["code"], rpc::kInvalidRequest);
  EXPECT_EQ(Request(2, "ping")["result"], json::object());
}

TEST_F(ServerTest, RefusesASecondInitialize) {
  Initialize();
  json reply = Request(5, "initialize", {{"protocolVersion", "2025-06-18"}});
  EXPECT_EQ(reply["error"]["code"], rpc::kInvalidRequest);
}

TEST_F(ServerTest, InitializeWithoutAVersionIsInvalidParams) {
  EXPECT_EQ(Request(1, "initialize", {{"capabilities", json::object()}})["error"]["code"],
            rpc::kInvalidParams);
}

TEST_F(ServerTest, ListsAndCallsToolsAndRecordsTheCallWithSessionAndClient) {
  Initialize();
  json list = Request(1, "tools/list");
  ASSERT_EQ(list["result"]["tools"].size(), 2u);
  json call = Request(2, "tools/call", {{"name", "echo"}, {"arguments", {{"text", "hi"}}}});
  EXPECT_EQ(call["id"], 2);
  EXPECT_EQ(call["result"]["content"][0]["text"], "hi from alice");
  auto events = logger_.calls();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].request.id, "2");
  EXPECT_EQ(events[0].request.session_id, "session-1");
  EXPECT_EQ(events[0].request.transport, "stdio");
  EXPECT_EQ(events[0].request.client.name, "test-client");
  EXPECT_EQ(events[0].request.client.version, "3.1");
  EXPECT_EQ(events[0].user.id, "alice");
}

TEST_F(ServerTest, ACallWithoutArgumentsGetsAnEmptyObject) {
  Initialize();
  json call = Request(3, "tools/call", {{"name", "echo"}});
  EXPECT_EQ(call["result"]["content"][0]["text"], " from alice");
}

TEST_F(ServerTest, AToolsCallWithoutANameIsInvalidParamsAndStillRecorded) {
  Initialize();
  json reply = Request(4, "tools/call", {{"arguments", {{"text", "x"}}}});
  EXPECT_EQ(reply["error"]["code"], rpc::kInvalidParams);
  connection_.reset();
  server_.reset();  // recorded as a refusal, off the caller's thread (never waiting for the disk):
                    // by now
  auto events = logger_.calls();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].outcome, Outcome::kDenied);
  EXPECT_EQ(events[0].error->reason, "invalid_request");
}

TEST_F(ServerTest, UnknownMethodsAreMethodNotFound) {
  Initialize();
  json reply = Request(6, "resources/list");
  EXPECT_EQ(reply["error"]["code"], rpc::kMethodNotFound);
  EXPECT_EQ(reply["id"], 6);
}

TEST_F(ServerTest, GarbageGetsErrorsAndTheSessionGoesOn) {
  Initialize();
  for (const char* garbage :
       {"not json", "[1,2,3]", "{}", R"({"jsonrpc":"2.0","id":[],"method":"x"})"}) {
    auto replies = Send(garbage);
    ASSERT_EQ(replies.size(), 1u) << garbage;
    EXPECT_TRUE(replies[0].contains("error")) << garbage;
    EXPECT_EQ(replies[0]["id"], nullptr) << garbage;
  }
  EXPECT_EQ(Request(7, "ping")["result"], json::object());
}

TEST_F(ServerTest, UnknownNotificationsAreIgnoredSilently) {
  Initialize();
  EXPECT_TRUE(Send(R"({"jsonrpc":"2.0","method":"notifications/whatever","params":{}})").empty());
}

TEST_F(ServerTest, CancellationStopsTheCallWithoutAResponseAndRecordsIt) {
  Initialize();
  connection_->Receive(
      R"({"jsonrpc":"2.0","id":"c-1","method":"tools/call","params":{"name":"wait_for_cancel"}})");
  auto replies = Send(
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c-1","reason":"user"}})");
  EXPECT_TRUE(replies.empty());  // no response to a cancelled request
  auto events = logger_.calls();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].tool, "wait_for_cancel");
  EXPECT_EQ(events[0].outcome, Outcome::kFailure);
  EXPECT_EQ(events[0].error->reason, "cancelled");
  EXPECT_EQ(events[0].request.id, "c-1");
}

TEST_F(ServerTest, ManyConcurrentCallsEachGetOneResponseAndOneRecord) {
  Initialize();
  for (int i = 0; i < 200; ++i)
    connection_->Receive(
        json{{"jsonrpc", "2.0"},
             {"id", 100 + i},
             {"method", "tools/call"},
             {"params", {{"name", "echo"}, {"arguments", {{"text", std::to_string(i)}}}}}}
            .dump());
  auto replies = Send(R"({"jsonrpc":"2.0","id":"last","method":"ping"})");
  ASSERT_EQ(replies.size(), 201u);
  std::set<int> ids;
  for (const auto& r : replies)
    if (r["id"].is_number()) ids.insert(r["id"].get<int>());
  EXPECT_EQ(ids.size(), 200u);
  EXPECT_EQ(logger_.calls().size(), 200u);
}

}  // namespace
}  // namespace mcpaudit

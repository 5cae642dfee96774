// The record of a task's end is written before any client sees that end: a
// poll that sees it while another poll's answer is having that record written
// waits for the record too. The audit log here is a stand-in that holds the
// record until the test lets it go, as a durable log on a slow disk would.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "mcpaudit/recorder.h"
#include "proxy/upstream_session.h"
#include "support/modern_client.h"
#include "support/shell.h"
#include "support/temp_dir.h"
#include "support/test_support.h"

namespace mcpaudit {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Takes every record at once, but holds the records of a task's end until
// Release(): whoever waits for them waits until then.
class HeldTaskEndLogger final : public AuditLogger {
 public:
  Status Log(const AuditEvent&) override { return {}; }
  void LogThen(const AuditEvent& event, Done done) override {
    if (event.event_type == "tool_call" && event.details.contains("task_id")) {
      std::lock_guard lock(mutex_);
      held_.push_back(std::move(done));
      changed_.notify_all();
      return;
    }
    done(Status{});
  }
  bool WaitUntilHeld(size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return held_.size() >= count; });
  }
  void Release() {
    std::vector<Done> held;
    {
      std::lock_guard lock(mutex_);
      held.swap(held_);
    }
    for (Done& done : held) done(Status{});
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Done> held_;
};

// What the session sent its client.
class Client {
 public:
  MessageSender Sender() {
    return [this](OutgoingMessage message) {
      std::lock_guard lock(mutex_);
      if (!message.text.empty()) received_.push_back(json::parse(message.text));
      changed_.notify_all();
    };
  }
  // The answer to `id`, waiting up to `patience` for it.
  std::optional<json> AnswerTo(const json& id, std::chrono::milliseconds patience = 10s) {
    std::unique_lock lock(mutex_);
    std::optional<json> found;
    changed_.wait_for(lock, patience, [&] {
      for (const json& message : received_)
        if (message.value("id", json()) == id && !message.contains("method")) found = message;
      return found.has_value();
    });
    return found;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<json> received_;
};

// An upstream whose one tool makes task t-1, which every poll shows completed;
// it leaves a file for each poll it has answered.
std::filesystem::path WriteCompletedTaskServer(const std::filesystem::path& dir) {
  return testing::WriteScript(dir / "task-server.sh", R"SH(#!/bin/sh
cd "$(dirname "$0")"
answer() { echo "{\"jsonrpc\":\"2.0\",\"id\":$1,\"result\":$2}"; }
while IFS= read -r line; do
  id=$(printf '%s' "$line" | sed -n 's/^{"id":\([^,}]*\).*/\1/p')
  case "$line" in
    *'"method":"tools/list"'*)
      answer "$id" '{"resultType":"complete","tools":[{"name":"probe","inputSchema":{"type":"object"}}]}' ;;
    *'"method":"tools/call"'*)
      answer "$id" '{"resultType":"task","taskId":"t-1","status":"working","createdAt":"2026-07-28T10:00:00Z","lastUpdatedAt":"2026-07-28T10:00:00Z","pollIntervalMs":10}' ;;
    *'"method":"tasks/get"'*)
      answer "$id" '{"resultType":"complete","taskId":"t-1","status":"completed","createdAt":"2026-07-28T10:00:00Z","lastUpdatedAt":"2026-07-28T10:00:01Z","result":{"content":[]}}'
      touch "answered-$(printf '%s' "$id" | tr -dc 'a-z0-9')" ;;
  esac
done
)SH");
}

TEST(TaskPollsTest, APollThatSeesATasksEndWaitsForTheRecordAnotherPollIsHavingWritten) {
  testing::TempDir dir;
  HeldTaskEndLogger logger;
  testing::FakeClock clock;
  const Recorder recorder(logger, {"proxy", "1", "host"}, clock, testing::CountingRandom());
  ProxyOptions options;
  options.command = {WriteCompletedTaskServer(dir.path()).string()};
  options.fail_closed = true;
  ProxyShared shared(options, recorder);
  ConnectionInfo info;
  info.transport = "stdio";
  info.session_id = "s-1";
  Client client;
  UpstreamSession session(shared, info, client.Sender());
  const json tasks_capable = testing::ModernMeta(
      {{"extensions", {{"io.modelcontextprotocol/tasks", json::object()}}}});
  auto send = [&](const json& id, const std::string& method, const json& params) {
    session.Receive(testing::ModernRequest(id, method, params, tasks_capable).dump(), {});
  };

  send("c1", "tools/call", {{"name", "probe"}, {"arguments", json::object()}});
  ASSERT_TRUE(client.AnswerTo("c1").has_value());
  send("g1", "tasks/get", {{"taskId", "t-1"}});
  ASSERT_TRUE(logger.WaitUntilHeld(1)) << "the record of the task's end";
  send("g2", "tasks/get", {{"taskId", "t-1"}});
  for (int i = 0; i < 200 && !std::filesystem::exists(dir.path() / "answered-g2"); ++i)
    std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(std::filesystem::exists(dir.path() / "answered-g2"));
  EXPECT_FALSE(client.AnswerTo("g1", 300ms).has_value()) << "answered before its record";
  EXPECT_FALSE(client.AnswerTo("g2", 300ms).has_value()) << "answered before the task's record";

  logger.Release();
  for (const char* poll : {"g1", "g2"}) {
    const std::optional<json> answer = client.AnswerTo(poll);
    ASSERT_TRUE(answer.has_value()) << poll;
    EXPECT_EQ((*answer)["result"]["status"], "completed") << *answer;
  }
  session.Drain();
  EXPECT_EQ(session.Finish(), 0);
}

}  // namespace
}  // namespace mcpaudit

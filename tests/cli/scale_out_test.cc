// Scale-out on an existing engine: three `serve --http` instances, each with a
// journal (and so a stream) of its own, ship into one PostgreSQL under a load
// spread over them; one is killed with SIGKILL mid-load and restarted.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "support/cli_process.h"
#include "support/database_server.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

using nlohmann::json;
using testing::DatabaseServer;
using testing::RunCommand;
using testing::ServerProcess;

// One instance: its journal, and the process serving it (restartable).
struct Instance {
  std::filesystem::path audit;
  std::unique_ptr<ServerProcess> process;
  unsigned short port = 0;
  std::string key;
};

class ScaleOutTest : public ::testing::Test {
 protected:
  void Start(Instance& instance, const std::filesystem::path& config, int restarts) {
    const auto log = instance.audit.parent_path() /
                     (instance.audit.filename().string() + "-" + std::to_string(restarts) + ".txt");
    instance.process = std::make_unique<ServerProcess>(
        std::vector<std::string>{"serve", "--http", "127.0.0.1:0", "--dev-api-key", "--mode",
                                 "durable", "--config", config.string(), "--audit-dir",
                                 instance.audit.string()},
        log);
    const auto [port, key] = testing::WaitForEndpoint(*instance.process);
    ASSERT_NE(port, 0) << instance.process->Stderr();
    std::lock_guard lock(mutex_);
    instance.port = port;
    instance.key = key;
  }

  // One call of `catalog_search` for `query` on a new session; true when the
  // caller got its result (the call is acknowledged).
  bool Call(const Instance& instance, const std::string& query) {
    unsigned short port;
    std::string key;
    {
      std::lock_guard lock(mutex_);
      port = instance.port;
      key = instance.key;
    }
    try {
      const testing::HttpClient http("127.0.0.1", port);
      auto headers = testing::McpPostHeaders();
      headers.emplace_back("X-API-Key", key);
      auto opened = http.Post(
          R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"load","version":"1"}}})",
          headers);
      const std::string session = opened.header("mcp-session-id");
      if (opened.status != 200 || session.empty()) return false;
      headers.emplace_back("Mcp-Session-Id", session);
      http.Post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", headers);
      const json call = {
          {"jsonrpc", "2.0"},
          {"id", 2},
          {"method", "tools/call"},
          {"params", {{"name", "catalog_search"}, {"arguments", {{"query", query}}}}}};
      const auto answer = http.Post(call.dump(), headers);
      return answer.status == 200 && answer.body.find("\"result\"") != std::string::npos;
    } catch (const std::exception&) {
      return false;  // refused or cut: the instance is down
    }
  }

  std::mutex mutex_;
};

TEST_F(ScaleOutTest, ThreeInstancesShipIntoOnePostgresqlAndAKilledOneLosesNoAcknowledgedCall) {
  DatabaseServer& postgres = DatabaseServer::Get(DatabaseServer::Kind::kPostgres);
  postgres.UseNewDatabase();
  const SinkConfig sink = postgres.Config("warehouse");
  testing::TempDir dir;
  const auto config = dir.path() / "mcp-audit.toml";
  std::ofstream(config) << "[[sinks]]\nname = \"warehouse\"\nurl = \"" << sink.url
                        << "\"\npassword_file = \"" << sink.password_file << "\"\n";
  std::vector<Instance> instances(3);
  for (size_t i = 0; i < instances.size(); ++i) {
    instances[i].audit = dir.path() / ("instance" + std::to_string(i));
    Start(instances[i], config, 0);
  }

  // Three callers spread 450 calls over the instances; instance 1 is killed a
  // third of the way through and started again.
  constexpr int kCalls = 450;
  std::atomic<int> next{0};
  std::mutex acknowledged_mutex;
  std::set<std::string> acknowledged;
  std::atomic<bool> restarted{false};
  std::atomic<int> acknowledged_after_restart{0};  // by instance 1
  auto caller = [&] {
    for (int k; (k = next.fetch_add(1)) < kCalls;) {
      const std::string query = "call-" + std::to_string(k);
      const bool after_restart = restarted;
      if (Call(instances[k % 3], query)) {
        if (k % 3 == 1 && after_restart) ++acknowledged_after_restart;
        std::lock_guard lock(acknowledged_mutex);
        acknowledged.insert(query);
      }
    }
  };
  std::vector<std::thread> callers;
  for (int i = 0; i < 3; ++i) callers.emplace_back(caller);
  while (next.load() < kCalls / 3) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(instances[1].process->Signal(SIGKILL), 128 + SIGKILL);
  Start(instances[1], config, 1);
  restarted = true;
  for (auto& t : callers) t.join();
  EXPECT_GT(acknowledged_after_restart.load(), 0) << "the restarted instance served calls again";

  // Every acknowledged call reaches PostgreSQL, once.
  const std::string count_sql =
      "SELECT count(*) FROM audit_events WHERE tool = 'catalog_search' AND event_type = "
      "'tool_call'";
  for (int i = 0; i < 600 && std::stoul(postgres.Sql(count_sql)) < acknowledged.size(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (auto& instance : instances) EXPECT_EQ(instance.process->Signal(SIGTERM), 0);
  std::map<std::string, int> stored;
  std::istringstream rows(
      postgres.Sql("SELECT record::jsonb #>> '{params,query}', count(*) FROM audit_events"
                   " WHERE tool = 'catalog_search' AND event_type = 'tool_call' GROUP BY 1"));
  for (std::string line; std::getline(rows, line);)
    stored[line.substr(0, line.find('\t'))] = std::stoi(line.substr(line.find('\t') + 1));
  size_t missing = 0, twice = 0;
  for (const auto& query : acknowledged) missing += stored.contains(query) ? 0 : 1;
  for (const auto& [query, n] : stored) twice += n > 1 ? 1 : 0;
  EXPECT_EQ(missing, 0u) << "acknowledged calls not in PostgreSQL";
  EXPECT_EQ(twice, 0u) << "calls stored more than once";

  // Three streams, one per journal; each verifies in the store and in its journal.
  EXPECT_EQ(postgres.Sql("SELECT count(DISTINCT stream) FROM audit_events"), "3");
  const std::string store = "--store " + sink.url + " --store-password-file " + sink.password_file;
  auto [verified, report] = RunCommand("verify " + store);
  EXPECT_EQ(verified, 0) << report;
  for (const auto& instance : instances) {
    auto [ok, said] = RunCommand("verify --audit-dir " + instance.audit.string());
    EXPECT_EQ(ok, 0) << said;
  }
  // Read across streams: query, and the console's read API on one instance.
  auto [queried, lines] =
      RunCommand("query --format json --tool catalog_search --limit 0 " + store);
  ASSERT_EQ(queried, 0) << lines;
  size_t records = 0;
  std::istringstream printed(lines);
  for (std::string line; std::getline(printed, line);) records += line.starts_with('{') ? 1 : 0;
  EXPECT_EQ(records, std::stoul(postgres.Sql(count_sql))) << lines.substr(0, 300);
  Start(instances[0], config, 1);
  const testing::HttpClient http("127.0.0.1", instances[0].port);
  const auto page = http.Send("GET", "/api/v1/events?tool=catalog_search&limit=500", "",
                              {{"X-API-Key", instances[0].key}});
  ASSERT_EQ(page.status, 200) << page.body;
  std::set<int> served_by;  // call-K went to instance K % 3
  const json events = json::parse(page.body)["events"];
  for (const auto& event : events)
    served_by.insert(std::stoi(event["params"]["query"].get<std::string>().substr(5)) % 3);
  EXPECT_EQ(served_by.size(), 3u) << "one instance's read API shows every instance's calls: "
                                  << page.body.substr(0, 300);
  EXPECT_EQ(instances[0].process->Signal(SIGTERM), 0);
}

}  // namespace
}  // namespace mcpaudit

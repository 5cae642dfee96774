// Running mcp-audit as a service: health and readiness for load balancers,
// and a reload of the configuration without a restart.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/cli_process.h"
#include "support/free_port.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

using nlohmann::json;
using testing::RunCommand;
using testing::ServerProcess;

std::string InitializeBody() {
  return R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
         R"("capabilities":{},"clientInfo":{"name":"operations-test","version":"1"}}})";
}

// A key made by `mcp-audit apikey`: the key, and its config entry.
std::pair<std::string, std::string> NewApiKey(const std::string& user) {
  auto [code, out] = RunCommand("apikey --user " + user);
  EXPECT_EQ(code, 0) << out;
  const size_t line = out.find('\n') + 1;
  return {out.substr(line, out.find('\n', line) - line), out.substr(out.find("[[auth.api_keys]]"))};
}

TEST(HealthTest, HealthzAndReadyzAnswerWithoutCredentialsAndSayWhichSinkIsNotReady) {
  testing::TempDir dir;
  const auto config = dir.path() / "mcp-audit.toml";
  // A database that is not there, with no backlog allowed: not ready once it has failed.
  std::ofstream(config) << "[[sinks]]\nname = \"local\"\nurl = \"sqlite://"
                        << (dir.path() / "local.db").string()
                        << "\"\n[[sinks]]\nname = \"warehouse\"\nready_backlog_mb = 0\n"
                        << "url = \"postgres://audit@127.0.0.1:" << testing::FreePort()
                        << "/audit\"\n";
  ServerProcess server({"serve", "--http", "127.0.0.1:0", "--dev-api-key", "--config",
                        config.string(), "--audit-dir", (dir.path() / "audit").string()},
                       dir.path() / "serve.txt");
  const auto [port, key] = testing::WaitForEndpoint(server);
  ASSERT_NE(port, 0) << server.Stderr();
  const testing::HttpClient http("127.0.0.1", port);
  // Asked by address, as a load balancer does: no key, a Host that is not allowed for MCP.
  const testing::Headers by_address = {{"Host", "10.1.2.3:8080"}};
  const auto alive = http.Send("GET", "/healthz", "", by_address);
  EXPECT_EQ(alive.status, 200);
  EXPECT_EQ(json::parse(alive.body)["status"], "alive");
  EXPECT_EQ(http.Send("POST", "/mcp", InitializeBody(), by_address).status, 403)
      << "the MCP endpoint still checks the Host";
  EXPECT_EQ(http.Send("POST", "/healthz", "", {}).status, 405);

  testing::HttpReply ready;
  for (int i = 0; i < 200; ++i) {  // until the warehouse's shipper has failed once
    ready = http.Send("GET", "/readyz", "", by_address);
    if (ready.status == 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(ready.status, 503) << ready.body;
  const json body = json::parse(ready.body);
  EXPECT_EQ(body["ready"], false);
  EXPECT_EQ(body["checks"]["journal"]["ok"], true);
  EXPECT_EQ(body["checks"]["disk"]["ok"], true);
  EXPECT_EQ(body["checks"]["sinks"]["local"]["ok"], true) << ready.body;
  EXPECT_EQ(body["checks"]["sinks"]["warehouse"]["ok"], false) << ready.body;
  EXPECT_EQ(body["checks"]["sinks"]["warehouse"]["failing"], true);
  // Nothing sensitive: no address, URL, path or error text of the sink.
  EXPECT_EQ(ready.body.find("127.0.0.1"), std::string::npos) << ready.body;
  EXPECT_EQ(ready.body.find("postgres"), std::string::npos) << ready.body;
  EXPECT_EQ(ready.body.find(dir.path().string()), std::string::npos) << ready.body;
  EXPECT_EQ(server.Signal(SIGTERM), 0) << server.Stderr();
}

TEST(ReloadTest, ReloadSwapsTheApiKeysRefusesABrokenConfigAndRecordsBoth) {
  testing::TempDir dir;
  const auto config = dir.path() / "mcp-audit.toml";
  const auto audit = dir.path() / "audit";
  const auto [alice_key, alice_entry] = NewApiKey("alice");
  const auto [bob_key, bob_entry] = NewApiKey("bob");
  const unsigned short port = testing::FreePort();
  const std::string http_table = "[http]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\n";
  std::ofstream(config) << http_table << alice_entry;
  ServerProcess server({"serve", "--config", config.string(), "--audit-dir", audit.string()},
                       dir.path() / "serve.txt");
  ASSERT_NE(testing::WaitForEndpoint(server).port, 0) << server.Stderr();
  const testing::HttpClient http("127.0.0.1", port);
  auto status_with = [&](const std::string& key) {
    auto headers = testing::McpPostHeaders();
    headers.emplace_back("X-API-Key", key);
    return http.Post(InitializeBody(), headers).status;
  };
  EXPECT_EQ(status_with(alice_key), 200);
  EXPECT_EQ(status_with(bob_key), 401);

  // Alice leaves, bob joins, and a second store joins the default one.
  const auto extra = dir.path() / "extra.db";
  const std::string sinks = "[[sinks]]\nname = \"sqlite\"\nurl = \"sqlite://" +
                            (audit / "audit.db").string() + "\"\n[[sinks]]\nname = \"extra\"\n" +
                            "url = \"sqlite://" + extra.string() + "\"\n";
  std::ofstream(config) << http_table << bob_entry << sinks;
  auto [reloaded, said] = RunCommand("reload --audit-dir " + audit.string());
  EXPECT_EQ(reloaded, 0) << said << server.Stderr();
  EXPECT_NE(said.find("reloaded"), std::string::npos) << said;
  EXPECT_EQ(status_with(alice_key), 401);
  EXPECT_EQ(status_with(bob_key), 200);
  std::string shipped;  // the new store gets the journal from its start, bob's call included
  for (int i = 0; i < 200 && shipped.find("\"id\":\"bob\"") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    shipped = RunCommand("query --format json --event-type session_start --store sqlite://" +
                         extra.string())
                  .second;
  }
  EXPECT_NE(shipped.find("\"id\":\"bob\""), std::string::npos) << shipped;

  std::ofstream(config, std::ios::app) << "[[sinks]]\nurl = \"ftp://nowhere\"\n";
  auto [refused, why] = RunCommand("reload --audit-dir " + audit.string());
  EXPECT_EQ(refused, 1) << why;
  EXPECT_NE(why.find("the running configuration stays"), std::string::npos) << why;
  EXPECT_EQ(status_with(bob_key), 200) << "the old configuration stays";

  // SIGHUP does the same as the command.
  std::ofstream(config) << http_table << alice_entry;
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  int alice = 0;
  for (int i = 0; i < 200 && (alice = status_with(alice_key)) != 200; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(alice, 200);
  EXPECT_EQ(server.Signal(SIGTERM), 0) << server.Stderr();

  std::vector<std::string> outcomes;
  for (const auto& e : testing::Records(audit, /*all=*/true))
    if (e.event_type == "config_reload")
      outcomes.push_back(e.outcome == Outcome::kSuccess ? "success" : "failure");
  EXPECT_EQ(outcomes, (std::vector<std::string>{"success", "failure", "success"}));
  auto [verified, report] = RunCommand("verify --audit-dir " + audit.string());
  EXPECT_EQ(verified, 0) << report;
}

}  // namespace
}  // namespace mcpaudit

// A hostile caller against every front end a client can reach: `serve` and
// `proxy`, each over stdio and over Streamable HTTP. The same messages go to
// each; the server must answer each one with a clear JSON-RPC error, keep
// serving, record the refusal, and leave a journal that `verify` calls valid
// and that `query` and `tail` can read.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "support/cli_process.h"
#include "support/http_client.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

using nlohmann::json;
using testing::Records;
using testing::RunCommand;
using testing::ServerProcess;

enum class Front { kServeStdio, kServeHttp, kProxyStdio, kProxyHttp };

std::string Name(Front front) {
  switch (front) {
    case Front::kServeStdio: return "ServeStdio";
    case Front::kServeHttp: return "ServeHttp";
    case Front::kProxyStdio: return "ProxyStdio";
    case Front::kProxyHttp: return "ProxyHttp";
  }
  return "";
}

// `[[[…]]]` nested `depth` levels deep.
std::string Nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string ToolCall(int id, const std::string& arguments) {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
         R"(,"method":"tools/call","params":{"name":"catalog_search","arguments":)" + arguments + "}}";
}

// One front end, started in <dir>/audit; messages go in as raw text, answers come back as JSON.
class Client {
 public:
  Client(Front front, const std::filesystem::path& dir) : front_(front), audit_(dir / "audit") {
    const bool http = front == Front::kServeHttp || front == Front::kProxyHttp;
    const bool proxy = front == Front::kProxyStdio || front == Front::kProxyHttp;
    std::vector<std::string> args = {proxy ? "proxy" : "serve", "--audit-dir", audit_.string(), "--user", "mallory"};
    if (http) args.insert(args.end(), {"--http", "127.0.0.1:0", "--dev-api-key"});
    if (proxy) {
      args.insert(args.end(), {"--", MCP_AUDIT_BINARY, "serve", "--stdio", "--audit-dir", (dir / "upstream").string()});
    }
    process_.emplace(args, dir / "stderr.txt");
    if (!http) {
      process_->Initialize();
      return;
    }
    const auto endpoint = testing::WaitForEndpoint(*process_);
    EXPECT_NE(endpoint.port, 0) << process_->Stderr();
    http_.emplace("127.0.0.1", endpoint.port);
    key_ = endpoint.dev_key;
    const auto init = http_->Post(json{{"jsonrpc", "2.0"}, {"id", 0}, {"method", "initialize"},
                                       {"params", {{"protocolVersion", "2025-06-18"}, {"capabilities", json::object()},
                                                   {"clientInfo", {{"name", "mallory"}, {"version", "1"}}}}}}
                                      .dump(),
                                  Headers());
    EXPECT_EQ(init.status, 200) << init.body;
    session_ = init.header("mcp-session-id");
    EXPECT_EQ(http_->Post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})", Headers()).status, 202);
  }

  // Sends one message; the answer (over HTTP: with the status it came with).
  json Send(const std::string& text) {
    if (!http_) {
      process_->Write(text + "\n");
      return process_->Read();
    }
    const auto reply = http_->Post(text, Headers());
    last_status_ = reply.status;
    const auto events = testing::SseData(reply.body);
    const std::string body = events.empty() ? reply.body : events.back();
    return json::parse(body, nullptr, false);
  }
  int last_status() const { return last_status_; }
  // The front end's resident memory (VmRSS), in KiB.
  long ResidentKiB() const {
    std::ifstream status("/proc/" + std::to_string(process_->pid()) + "/status");
    for (std::string line; std::getline(status, line);)
      if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
    return -1;
  }

  // Stops the front end as a user would (end of input, or SIGTERM); its exit status.
  int Stop() { return http_ ? process_->Signal(SIGTERM) : process_->CloseAndWait(); }
  std::string Stderr() const { return process_->Stderr(); }
  const std::filesystem::path& audit() const { return audit_; }

 private:
  testing::Headers Headers() const {
    testing::Headers headers = testing::McpPostHeaders(session_);
    headers.emplace_back("X-API-Key", key_);
    return headers;
  }

  Front front_;
  std::filesystem::path audit_;
  std::optional<ServerProcess> process_;
  std::optional<testing::HttpClient> http_;
  std::string key_, session_;
  int last_status_ = 0;
};

class HostileCallerTest : public ::testing::TestWithParam<Front> {};

TEST_P(HostileCallerTest, UnreadableMessagesAreRefusedRecordedAndTheServerStaysUp) {
  testing::TempDir dir;
  Client client(GetParam(), dir.path());
  const bool http = GetParam() == Front::kServeHttp || GetParam() == Front::kProxyHttp;

  // Arguments nested 100,000 levels deep (one level crashed the stack per few hundred bytes).
  const json deep = client.Send(ToolCall(1, Nested(100000)));
  EXPECT_EQ(deep["id"], 1) << deep;
  EXPECT_EQ(deep["error"]["code"], -32600) << deep;
  EXPECT_NE(deep["error"].value("message", "").find("nested deeper than 64 levels"), std::string::npos) << deep;
  if (http) {
    EXPECT_EQ(client.last_status(), 400);
  }

  // A number no double can hold.
  const json huge = client.Send(ToolCall(2, R"({"query":"orders","limit":1e400})"));
  EXPECT_EQ(huge["id"], 2) << huge;
  EXPECT_EQ(huge["error"]["code"], -32600) << huge;
  EXPECT_NE(huge["error"].value("message", "").find("out of range"), std::string::npos) << huge;

  // Not JSON: ill-formed UTF-8, and a lone surrogate.
  const json utf8 = client.Send(ToolCall(3, "{\"query\":\"\xc3\x28\"}"));
  EXPECT_EQ(utf8["error"]["code"], -32700) << utf8;
  const json surrogate = client.Send(ToolCall(4, R"({"query":"\ud800"})"));
  EXPECT_EQ(surrogate["error"]["code"], -32700) << surrogate;

  // Still serving.
  const json ok = client.Send(ToolCall(5, R"({"query":"orders"})"));
  EXPECT_TRUE(ok.contains("result")) << ok << client.Stderr();
  EXPECT_EQ(client.Stop(), 0) << client.Stderr();

  // Every refusal is in the journal, with the caller and why.
  std::map<std::string, int> reasons;
  for (const auto& event : Records(client.audit(), true)) {
    if (event.outcome != Outcome::kDenied || !event.error) continue;
    EXPECT_EQ(event.user.id, "mallory");
    ++reasons[event.error->reason];
    if (event.error->reason == "too_deep") {
      EXPECT_EQ(event.event_type, "tool_call");
      EXPECT_EQ(event.tool, "catalog_search");
      EXPECT_EQ(event.request.id, "1");
    }
  }
  EXPECT_EQ(reasons["too_deep"], 1);
  EXPECT_EQ(reasons["number_out_of_range"], 1);
  EXPECT_EQ(reasons["parse_error"], 2);

  // The journal verifies, and the readers read it.
  const auto [verify_status, verify_out] = RunCommand("verify --audit-dir " + client.audit().string());
  EXPECT_EQ(verify_status, 0) << verify_out;
  const auto [query_status, query_out] = RunCommand("query --format json --audit-dir " + client.audit().string());
  EXPECT_EQ(query_status, 0) << query_out;
  EXPECT_NE(query_out.find("too_deep"), std::string::npos);
  const auto [tail_status, tail_out] = RunCommand("tail --audit-dir " + client.audit().string());
  EXPECT_EQ(tail_status, 0) << tail_out;
}

TEST_P(HostileCallerTest, MembersOfTheWrongTypeAreRefusedAndTheSessionGoesOn) {
  testing::TempDir dir;
  Client client(GetParam(), dir.path());
  for (const char* message :
       {R"({"jsonrpc":"2.0","id":11,"method":5})", R"({"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":5}})",
        R"({"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"catalog_search","arguments":{"query":"x"},"_meta":{"access_reason":7,"progressToken":[]}}})",
        R"({"jsonrpc":"2.0","id":14,"method":"resources/read","params":{"uri":[]}})",
        R"({"jsonrpc":"2.0","id":15,"method":"completion/complete","params":{"ref":{},"argument":{"name":5,"value":[]}}})",
        R"({"jsonrpc":"2.0","id":16,"method":"tools/call","params":[]})"}) {
    const json answer = client.Send(message);
    ASSERT_TRUE(answer.is_object()) << message << "\n" << client.Stderr();
    EXPECT_EQ(answer["id"], json::parse(message)["id"]) << answer;
    // An access reason of the wrong type is no reason: that call runs (the catalog needs none).
    const bool runs = answer["id"] == 13;
    EXPECT_EQ(answer.contains("error"), !runs) << answer;
  }
  // The same session serves on, the same ids too.
  const json ok = client.Send(ToolCall(12, R"({"query":"orders"})"));
  EXPECT_TRUE(ok.contains("result")) << ok;
  EXPECT_EQ(client.Stop(), 0) << client.Stderr();
  const auto [status, out] = RunCommand("verify --audit-dir " + client.audit().string());
  EXPECT_EQ(status, 0) << out;
}

TEST_P(HostileCallerTest, MemoryTakenByHugeMessagesIsGivenBack) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer keeps freed memory in quarantine by design";
#endif
  testing::TempDir dir;
  Client client(GetParam(), dir.path());
  // 200,000 keys in 3 MB: some 400 MB of JSON nodes while it is read.
  std::string arguments = "{";
  for (int i = 0; i < 200000; ++i) arguments += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":1";
  arguments += "}";
  for (int i = 0; i < 3; ++i) (void)client.Send(ToolCall(100 + i, arguments));
  // Recorded and shipped meanwhile, by other threads: each gives back what it took.
  long rss = client.ResidentKiB();
  for (int i = 0; i < 50 && rss > 150 * 1024; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    rss = client.ResidentKiB();
  }
  std::cerr << Name(GetParam()) << ": " << rss << " KiB resident after three huge messages\n";
  // Kept: 350 MB and more, for good.
  EXPECT_LT(rss, 150 * 1024) << "KiB resident after three huge messages";
  EXPECT_EQ(client.Stop(), 0) << client.Stderr();
}

INSTANTIATE_TEST_SUITE_P(EveryFrontEnd, HostileCallerTest,
                         ::testing::Values(Front::kServeStdio, Front::kServeHttp, Front::kProxyStdio,
                                           Front::kProxyHttp),
                         [](const auto& info) { return Name(info.param); });

}  // namespace
}  // namespace mcpaudit

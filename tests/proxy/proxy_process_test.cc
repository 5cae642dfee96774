// Drives the real `mcp-audit proxy` in front of MCP servers it did not write
// (the conformance fixtures served by `mcp-audit serve --stdio` as a separate
// process with its own journal, or a few lines of shell), over stdio and over
// Streamable HTTP, and reads the records it leaves.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "mcpaudit/rate_limit.h"
#include "support/cli_process.h"
#include "support/free_port.h"
#include "support/http_client.h"
#include "support/http_receiver.h"
#include "support/shell.h"
#include "support/small_filesystem.h"
#include "support/temp_dir.h"
#include "support/tls_proxy.h"

namespace mcpaudit {
namespace {

using nlohmann::json;
using testing::AllBytes;
using testing::ReadFile;
using testing::Records;
using testing::RunCommand;
using testing::ServerProcess;

// mcp-audit proxy in front of an MCP server it did not write: here the
// conformance fixtures served by `mcp-audit serve --stdio`, a separate process
// with its own journal, so that the two can be compared.
std::vector<std::string> ProxyArgs(const std::filesystem::path& dir,
                                   std::vector<std::string> upstream,
                                   std::vector<std::string> proxy_options = {}) {
  std::vector<std::string> args = {"proxy", "--audit-dir", (dir / "audit").string(), "--user",
                                   "dana"};
  args.insert(args.end(), proxy_options.begin(), proxy_options.end());
  args.push_back("--");
  args.insert(args.end(), upstream.begin(), upstream.end());
  return args;
}

// The conformance fixtures over stdio, with a journal of their own in <dir>/upstream.
std::vector<std::string> FixtureUpstream(const std::filesystem::path& dir) {
  return {MCP_AUDIT_BINARY,           "serve", "--toolkit", "conformance", "--stdio", "--audit-dir",
          (dir / "upstream").string()};
}

std::string ErrorText(const json& answer) { return answer["error"].value("message", ""); }

// A stand-in MCP server's answer to initialize request `id`.
std::string StandInInitialized(const json& id) {
  return json{{"jsonrpc", "2.0"},
              {"id", id},
              {"result",
               {{"protocolVersion", "2025-06-18"},
                {"capabilities", json::object()},
                {"serverInfo", {{"name", "stand-in"}, {"version", "0"}}}}}}
      .dump();
}

TEST(ProxyTest, RelaysEveryMessageUnchangedAndRecordsEachCallWithItsOutcome) {
  testing::TempDir dir;
  const std::vector<std::string> upstream = FixtureUpstream(dir.path());
  // The same server called directly (its own journal: one server per journal).
  ServerProcess direct({"serve", "--toolkit", "conformance", "--stdio", "--audit-dir",
                        (dir.path() / "direct").string()},
                       dir.path() / "direct.txt");
  ServerProcess proxy(ProxyArgs(dir.path(), upstream), dir.path() / "proxy.txt");
  direct.Initialize();
  proxy.Initialize();
  EXPECT_EQ(proxy.Request(1, "tools/list")["result"], direct.Request(1, "tools/list")["result"]);
  const json text = {{"name", "test_simple_text"}, {"arguments", {{"password", "hunter2"}}}};
  EXPECT_EQ(proxy.Request(2, "tools/call", text), direct.Request(2, "tools/call", text));
  const json failing = {{"name", "test_error_handling"}, {"arguments", json::object()}};
  EXPECT_EQ(proxy.Request(3, "tools/call", failing)["result"]["isError"], true);
  EXPECT_EQ(
      proxy.Request(4, "tools/call",
                    {{"name", "no_such_tool"}, {"arguments", json::object()}})["error"]["code"],
      -32602);
  const json resource = {{"uri", "test://static-text"}};
  EXPECT_EQ(proxy.Request(5, "resources/read", resource),
            direct.Request(5, "resources/read", resource));
  const json prompt = {{"name", "test_simple_prompt"}};
  EXPECT_EQ(proxy.Request(6, "prompts/get", prompt), direct.Request(6, "prompts/get", prompt));
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  EXPECT_EQ(direct.CloseAndWait(), 0);

  std::vector<AuditEvent> calls, reads;
  for (const auto& e : Records(dir.path() / "audit", /*all=*/true)) {
    if (e.event_type == "tool_call") calls.push_back(e);
    if (e.event_type == "resource_read" || e.event_type == "prompt_get") reads.push_back(e);
  }
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].tool, "test_simple_text");
  EXPECT_EQ(calls[0].outcome, Outcome::kSuccess);
  EXPECT_EQ(calls[0].user.id, "dana");
  EXPECT_EQ(calls[0].request.id, "2");
  EXPECT_EQ(calls[0].request.client.name, "pipe-test");
  EXPECT_NE(calls[0].params.dump().find("password"), std::string::npos);
  EXPECT_EQ(calls[0].params.dump().find("hunter2"), std::string::npos)
      << "secrets redacted before the record is written";
  EXPECT_EQ(calls[1].outcome, Outcome::kFailure);
  EXPECT_EQ(calls[1].error->reason, "tool_error");
  EXPECT_EQ(calls[2].outcome, Outcome::kDenied);
  EXPECT_EQ(calls[2].error->code, -32602);
  EXPECT_EQ(calls[2].error->reason, "unknown_tool");
  ASSERT_EQ(reads.size(), 2u);
  EXPECT_EQ(reads[0].event_type, "resource_read");
  // The session's records name the server behind the proxy.
  std::vector<AuditEvent> sessions;
  for (const auto& e : Records(dir.path() / "audit", /*all=*/true))
    if (e.event_type.starts_with("session_")) sessions.push_back(e);
  ASSERT_EQ(sessions.size(), 2u);
  EXPECT_EQ(sessions[0].event_type, "session_start");
  EXPECT_EQ(sessions[0].user.id, "dana");
  EXPECT_EQ(sessions[0].details["upstream"]["address"], MCP_AUDIT_BINARY);
  EXPECT_EQ(sessions[0].details["upstream"]["server"]["name"], "mcp-audit") << sessions[0].details;
  EXPECT_EQ(sessions[0].details["protocol_version"], "2025-06-18");
  EXPECT_EQ(sessions[1].event_type, "session_end");
  EXPECT_EQ(sessions[1].details["reason"], "closed");
  EXPECT_EQ(reads[0].resources, std::vector<std::string>{"test://static-text"});
  EXPECT_EQ(reads[1].event_type, "prompt_get");
  EXPECT_EQ(reads[1].tool, "test_simple_prompt");
  EXPECT_EQ(AllBytes(dir.path() / "audit").find("hunter2"), std::string::npos);
  auto [verify_code, verify_out] =
      RunCommand("verify --audit-dir " + (dir.path() / "audit").string());
  EXPECT_EQ(verify_code, 0) << verify_out;
}

TEST(ProxyTest, AnUpstreamThatDiesFailsItsPendingCallAndIsRecorded) {
  testing::TempDir dir;
  // An "MCP server" that reads one message and dies without answering.
  ServerProcess proxy(ProxyArgs(dir.path(), {"/bin/sh", "-c", "head -n 1 >/dev/null; exit 3"}),
                      dir.path() / "proxy.txt");
  const json answer =
      proxy.Request(7, "tools/call", {{"name", "anything"}, {"arguments", json::object()}});
  EXPECT_EQ(answer["id"], 7);
  EXPECT_EQ(answer["error"]["code"], -32603) << answer;
  EXPECT_NE(answer["error"]["message"].get<std::string>().find("ended"), std::string::npos)
      << answer;
  EXPECT_EQ(proxy.CloseAndWait(), 1);
  EXPECT_NE(proxy.Stderr().find("exit code 3"), std::string::npos) << proxy.Stderr();
  const std::vector<AuditEvent> events = Records(dir.path() / "audit", /*all=*/true);
  auto find = [&](const std::string& type) {
    return std::find_if(events.begin(), events.end(),
                        [&](const auto& e) { return e.event_type == type; });
  };
  ASSERT_NE(find("tool_call"), events.end());
  EXPECT_EQ(find("tool_call")->outcome, Outcome::kFailure);
  ASSERT_NE(find("upstream_exited"), events.end());
  EXPECT_EQ(find("upstream_exited")->details["exit_code"], 3);
}

// Durable mode: the proxy answers a call only once its record is on disk
// (the answer waits for the sync while the proxy goes on reading); when the
// record cannot be written (a full disk) the client gets an error in place of
// the result, and calls go on once there is room again.
TEST(ProxyTest, InDurableModeAnAnswerWhoseRecordCannotBeWrittenIsWithheld) {
  testing::SmallFilesystem disk(4 << 20);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << disk.error();
  testing::TempDir dir;
  const std::filesystem::path config = dir.path() / "proxy.toml";
  std::ofstream(config) << "[audit.disk]\nspace_left_mb = 0\nadmin_space_left_mb = 0\n";
  // The proxy's journal on the small disk; the upstream's elsewhere.
  ServerProcess proxy(ProxyArgs(disk.path(), FixtureUpstream(dir.path()),
                                {"--mode", "durable", "--config", config.string()}),
                      dir.path() / "proxy.txt");
  proxy.Initialize();
  const json call = {{"name", "test_simple_text"}, {"arguments", json::object()}};
  EXPECT_TRUE(proxy.Request(2, "tools/call", call).contains("result"));
  disk.Fill();
  // A record bigger than what the journal's last page may still hold.
  const json big = {{"name", "test_simple_text"},
                    {"arguments", {{"note", std::string(64 * 1024, 'n')}}}};
  const json withheld = proxy.Request(3, "tools/call", big);
  EXPECT_FALSE(withheld.contains("result")) << withheld;
  EXPECT_EQ(withheld["error"]["code"], -32603) << withheld;
  EXPECT_NE(ErrorText(withheld).find("its result is withheld"), std::string::npos) << withheld;
  disk.Free();
  EXPECT_TRUE(proxy.Request(4, "tools/call", call).contains("result"));
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  std::vector<std::string> recorded;
  for (const auto& e : Records(disk.path() / "audit", /*all=*/true))
    if (e.event_type == "tool_call") recorded.push_back(e.request.id);
  EXPECT_EQ(recorded, (std::vector<std::string>{"2", "4"}));  // the withheld call left nothing
}

TEST(ProxyTest, OversizedMessagesEitherWayAreRefusedWithoutHoldingThem) {
  testing::TempDir dir;
  // An "MCP server" that answers its first message with a 17 MB line, then with a real answer.
  const std::string server =
      "read line; head -c 17000000 /dev/zero | tr '\\0' a; echo; "
      "echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"ok\":true}}'; cat > /dev/null";
  ServerProcess proxy(
      ProxyArgs(dir.path(), {"/bin/sh", "-c", server}, {"--max-message-bytes", "1000"}),
      dir.path() / "proxy.txt");
  proxy.Write(std::string(5000, ' ') + "\n");  // longer than the client's limit
  const json refused = proxy.Read();
  EXPECT_EQ(refused["error"]["code"], -32600) << refused;
  EXPECT_NE(ErrorText(refused).find("larger than 1000 bytes"), std::string::npos) << refused;
  const json answer = proxy.Request(1, "ping");
  EXPECT_EQ(answer["result"]["ok"], true)
      << "the oversized answer was dropped, the next one relayed: " << answer;
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  EXPECT_NE(proxy.Stderr().find("sent a message larger than 16777216 bytes; dropped"),
            std::string::npos)
      << proxy.Stderr();
}

TEST(ProxyTest, TheConfigsListenAddressServesHttpWithoutTheFlag) {
  testing::TempDir dir;
  const auto config = dir.path() / "mcp-audit.toml";
  std::ofstream(config) << "[http]\nlisten = \"127.0.0.1:0\"\n";
  ServerProcess proxy(
      ProxyArgs(dir.path(), FixtureUpstream(dir.path()), {"--config", config.string()}),
      dir.path() / "proxy.txt");
  EXPECT_NE(testing::WaitForEndpoint(proxy).port, 0) << proxy.Stderr();
  EXPECT_EQ(proxy.Signal(SIGTERM), 0) << proxy.Stderr();
}

TEST(ProxyTest, ARateLimitedCallIsRefusedByTheProxyAndNeverReachesTheUpstream) {
  testing::TempDir dir;
  const auto config = dir.path() / "mcp-audit.toml";
  std::ofstream(config) << "[[rate_limits]]\ntools = [\"*\"]\nper_minute = 1\nburst = 1\n";
  const auto args =
      ProxyArgs(dir.path(), FixtureUpstream(dir.path()), {"--config", config.string()});
  ServerProcess proxy(args, dir.path() / "proxy.txt");
  proxy.Initialize();
  const json call = {{"name", "test_simple_text"}, {"arguments", json::object()}};
  EXPECT_TRUE(proxy.Request(1, "tools/call", call).contains("result"));
  const json refused = proxy.Request(2, "tools/call", call);
  EXPECT_EQ(refused["error"]["code"], kRateLimitedCode) << refused;
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  const auto recorded = Records(dir.path() / "audit");
  ASSERT_EQ(recorded.size(), 2u);
  EXPECT_EQ(recorded[1].outcome, Outcome::kDenied);
  EXPECT_EQ(recorded[1].error->reason, "rate_limited");
  EXPECT_EQ(Records(dir.path() / "upstream").size(), 1u)
      << "the refused call never reached the server";
}

// A new API key from `mcp-audit apikey OPTIONS`, and its [[auth.api_keys]] entry.
std::pair<std::string, std::string> NewApiKey(const std::string& options) {
  auto [code, out] = RunCommand("apikey " + options);
  EXPECT_EQ(code, 0) << out;
  std::string key, entry;  // the key (stdout's first line) and its entry
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("mcpa_", 0) == 0) key = line;
    for (const char* start : {"[[auth.api_keys]]", "sha256 = ", "user_id = ", "roles = "})
      if (line.rfind(start, 0) == 0) entry += line + "\n";
  }
  return {key, entry};
}

// The child processes of `pid` (the upstreams of a proxy's sessions).
std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> children;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream in(task.path() / "children");
    for (pid_t child; in >> child;) children.push_back(child);
  }
  return children;
}

// `mcp-audit proxy --http` for clients with API keys (roles from the config),
// each session with its own upstream process and journal.
TEST(ProxyHttpTest, EachSessionHasItsOwnUpstreamAndTheRolesDecideWhichToolsReachIt) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  const auto [key, entry] = NewApiKey("--user ann --role analyst");
  const auto config = dir.path() / "mcp-audit.toml";
  std::ofstream(config)
      << entry << "[[policy.access]]\nroles = [\"analyst\"]\nallow = [\"test_simple_text\"]\n";
  ServerProcess proxy({"proxy", "--http", "127.0.0.1:0", "--config", config.string(), "--audit-dir",
                       audit.string(), "--", "/bin/sh", "-c",
                       "exec \"$0\" serve --toolkit conformance --stdio --mode durable --audit-dir "
                       "\"$(mktemp -d \"$1/upstream-XXXXXX\")\"",
                       MCP_AUDIT_BINARY, dir.path().string()},
                      dir.path() / "proxy.txt");
  const unsigned short port = testing::WaitForEndpoint(proxy).port;
  ASSERT_NE(port, 0) << proxy.Stderr();
  const testing::HttpClient http("127.0.0.1", port);
  auto post = [&](const std::string& session, const json& message) {
    testing::Headers headers = testing::McpPostHeaders(session);
    headers.emplace_back("X-API-Key", key);
    headers.emplace_back("MCP-Protocol-Version", "2025-06-18");
    return http.Post(message.dump(), headers);
  };
  auto body_of = [](const testing::HttpReply& reply) {  // JSON, or the last SSE data line
    const auto data = reply.body.rfind("data: ");
    return json::parse(data == std::string::npos ? reply.body : reply.body.substr(data + 6),
                       nullptr, false);
  };
  std::vector<std::string> sessions;
  for (int s = 0; s < 2; ++s) {
    const auto init =
        post("", {{"jsonrpc", "2.0"},
                  {"id", 0},
                  {"method", "initialize"},
                  {"params",
                   {{"protocolVersion", "2025-06-18"},
                    {"capabilities", json::object()},
                    {"clientInfo", {{"name", "http-proxy-test"}, {"version", "1"}}}}}});
    ASSERT_EQ(init.status, 200) << init.body;
    sessions.push_back(init.header("mcp-session-id"));
    EXPECT_EQ(
        post(sessions.back(), {{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}).status,
        202);
  }
  // The upstream's tools/list, as the caller's roles see it.
  const json listed =
      body_of(post(sessions[0], {{"jsonrpc", "2.0"}, {"id", 9}, {"method", "tools/list"}}));
  ASSERT_EQ(listed["result"]["tools"].size(), 1u) << listed;
  EXPECT_EQ(listed["result"]["tools"][0]["name"], "test_simple_text");
  for (const auto& session : sessions) {
    const json allowed = body_of(
        post(session, {{"jsonrpc", "2.0"},
                       {"id", 1},
                       {"method", "tools/call"},
                       {"params", {{"name", "test_simple_text"}, {"arguments", json::object()}}}}));
    EXPECT_TRUE(allowed.contains("result")) << allowed;
    const json refused = body_of(post(
        session, {{"jsonrpc", "2.0"},
                  {"id", 2},
                  {"method", "tools/call"},
                  {"params", {{"name", "test_error_handling"}, {"arguments", json::object()}}}}));
    EXPECT_EQ(refused["error"]["code"], -32001) << refused;
  }
  // Without a key: 401, and a record of the refusal.
  EXPECT_EQ(http.Post("{}", testing::McpPostHeaders()).status, 401);

  // One session's upstream dies: its next request starts it again.
  const std::vector<pid_t> upstreams = ChildrenOf(proxy.pid());
  ASSERT_EQ(upstreams.size(), 2u) << "one upstream process per session";
  ::kill(upstreams[0], SIGKILL);
  // The proxy has seen it go once it records its exit.
  auto exited = [&] {
    for (const auto& e : Records(audit, /*all=*/true))
      if (e.event_type == "upstream_exited") return true;
    return false;
  };
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
       !exited() && std::chrono::steady_clock::now() < deadline;)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(exited()) << proxy.Stderr();
  size_t answered = 0;
  for (const auto& session : sessions) {
    const json again = body_of(
        post(session, {{"jsonrpc", "2.0"},
                       {"id", 3},
                       {"method", "tools/call"},
                       {"params", {{"name", "test_simple_text"}, {"arguments", json::object()}}}}));
    answered += again.contains("result");
  }
  EXPECT_EQ(answered, 2u) << proxy.Stderr();
  // The auditor's console is on the proxy's listener too: its pages for anyone, the log for
  // auditors only.
  EXPECT_EQ(http.Send("GET", "/console/", "", {}).status, 200);
  EXPECT_EQ(http.Send("GET", "/api/v1/events", "", {{"X-API-Key", key}}).status, 403)
      << "an analyst reads nothing";
  EXPECT_NE(proxy.Stderr().find("/console/"), std::string::npos)
      << "the banner says where the console is";
  EXPECT_EQ(proxy.Signal(SIGTERM), 0) << proxy.Stderr();

  std::map<std::string, int> kinds;
  std::set<std::string> record_sessions;
  for (const auto& e : Records(audit, /*all=*/true)) {
    ++kinds[e.event_type + "/" + std::string(ToString(e.outcome))];
    if (e.event_type == "tool_call") {
      EXPECT_EQ(e.user.id, "ann");
      EXPECT_EQ(e.request.transport, "http");
      EXPECT_EQ(e.request.client_ip, "127.0.0.1");
      record_sessions.insert(e.request.session_id);
    }
  }
  EXPECT_EQ(kinds["tool_call/success"], 4);
  EXPECT_EQ(kinds["tool_call/denied"], 2);
  EXPECT_EQ(kinds["auth_failure/denied"], 1);
  EXPECT_EQ(kinds["upstream_exited/failure"], 1);
  EXPECT_EQ(kinds["upstream_restarted/success"], 1);
  EXPECT_EQ(record_sessions, std::set<std::string>(sessions.begin(), sessions.end()));
  // The refused calls never reached an upstream: each journal there holds only allowed calls.
  size_t upstream_calls = 0, upstream_journals = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (entry.path().filename().string().rfind("upstream-", 0) != 0) continue;
    ++upstream_journals;
    for (const auto& e : Records(entry.path())) {
      EXPECT_EQ(e.tool, "test_simple_text");
      ++upstream_calls;
    }
  }
  EXPECT_EQ(upstream_journals, 3u) << "two sessions, and the upstream started again";
  EXPECT_EQ(upstream_calls, 4u);
  auto [verify_code, verify_out] = RunCommand("verify --audit-dir " + audit.string());
  EXPECT_EQ(verify_code, 0) << verify_out;
}

// An upstream in a few lines of shell: one tool, `probe`, whose input schema
// marks `pin` writeOnly (a secret, as a tool author declares it). With
// `list_late`, its tools/list is answered only after the call that follows it.
std::filesystem::path WriteProbeServer(const std::filesystem::path& dir, bool list_late = false) {
  return testing::WriteScript(dir / "probe-server.sh", std::string("#!/bin/sh\nlist_late=") +
                                                           (list_late ? "1" : "") +
                                                           R"SH(
list() {
  echo "{\"jsonrpc\":\"2.0\",\"id\":$1,\"result\":{\"tools\":[{\"name\":\"probe\",\"inputSchema\":{\"type\":\"object\",\"properties\":{\"user\":{\"type\":\"string\"},\"pin\":{\"type\":\"string\",\"writeOnly\":true}}}}]}}"
}
held=
while IFS= read -r line; do
  id=$(printf '%s' "$line" | sed -n 's/^{"id":\([^,}]*\).*/\1/p')
  case "$line" in
    *'"method":"initialize"'*)
      echo "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":\"probe\",\"version\":\"1\"}}}" ;;
    *'"method":"tools/list"'*)
      if [ -n "$list_late" ]; then held=$id; else list "$id"; fi ;;
    *'"method":"tools/call"'*)
      echo "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"probed\"}]}}"
      if [ -n "$held" ]; then list "$held"; held=; fi ;;
  esac
done
)SH");
}

// An upstream that keeps every line it receives in <dir>/received.txt, never
// answers a call of the tool `hang`, and answers `odd` with members of the
// wrong type.
std::filesystem::path WriteRecordingServer(const std::filesystem::path& dir) {
  return testing::WriteScript(dir / "recording-server.sh",
                              "#!/bin/sh\nreceived='" + (dir / "received.txt").string() + "'\n" +
                                  R"SH(
while IFS= read -r line; do
  printf '%s\n' "$line" >> "$received"
  id=$(printf '%s' "$line" | sed -n 's/^{"id":\([^,}]*\).*/\1/p')
  case "$line" in
    *'"method":"initialize"'*)
      echo "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":\"rec\",\"version\":\"1\"}}}" ;;
    *'"name":"hang"'*) ;;
    *'"name":"odd"'*)
      echo "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"isError\":\"yes\",\"content\":[{\"type\":5,\"uri\":[]}]}}" ;;
    *'"method":"tools/call"'*)
      echo "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"done\"}]}}" ;;
  esac
done
)SH");
}

TEST(ProxyTest, ASecondRequestWithTheIdOfOneInFlightIsRefusedAndRecorded) {
  testing::TempDir dir;
  ServerProcess proxy(ProxyArgs(dir.path(), {WriteRecordingServer(dir.path()).string()}),
                      dir.path() / "proxy.txt");
  proxy.Initialize();
  proxy.Send(
      {{"jsonrpc", "2.0"}, {"id", 5}, {"method", "tools/call"}, {"params", {{"name", "hang"}}}});
  // Answered and recorded as the first call otherwise: a tool run without its own record.
  const json second =
      proxy.Request(5, "tools/call", {{"name", "read_records"}, {"arguments", json::object()}});
  EXPECT_EQ(second["error"]["code"], -32600) << second;
  EXPECT_NE(ErrorText(second).find("already in use"), std::string::npos) << second;
  EXPECT_EQ(proxy.Request(6, "tools/call", {{"name", "other"}})["result"]["content"][0]["text"],
            "done");
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  const std::string received = ReadFile(dir.path() / "received.txt");
  EXPECT_EQ(received.find("read_records"), std::string::npos) << "never reached the upstream";
  bool refused = false;
  for (const auto& e : Records(dir.path() / "audit"))
    refused = refused || (e.tool == "read_records" && e.outcome == Outcome::kDenied &&
                          e.error->reason == "duplicate_id");
  EXPECT_TRUE(refused);
}

TEST(ProxyTest, TheUpstreamGetsTheMessageAsThePolicyReadItAndOddAnswersDoNotStopTheProxy) {
  testing::TempDir dir;
  ServerProcess proxy(ProxyArgs(dir.path(), {WriteRecordingServer(dir.path()).string()}),
                      dir.path() / "proxy.txt");
  proxy.Initialize();
  // Two "name" keys: a parser that keeps the first would run another tool than the one recorded.
  proxy.Write(
      R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_secret","name":"harmless"}})"
      "\n");
  EXPECT_EQ(proxy.Read()["result"]["content"][0]["text"], "done");
  // Members of types the proxy does not expect, in the answer.
  EXPECT_TRUE(proxy.Request(8, "tools/call", {{"name", "odd"}}).contains("result"));
  EXPECT_EQ(proxy.Request(9, "tools/call", {{"name", "other"}})["result"]["content"][0]["text"],
            "done");
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  const std::string received = ReadFile(dir.path() / "received.txt");
  EXPECT_EQ(received.find("read_secret"), std::string::npos) << received;
  EXPECT_NE(received.find(R"("name":"harmless")"), std::string::npos) << received;
  std::vector<std::string> tools;
  for (const auto& e : Records(dir.path() / "audit")) tools.push_back(e.tool);
  EXPECT_EQ(tools, (std::vector<std::string>{"harmless", "odd", "other"}));
}

TEST(ProxyTest,
     ParametersTheUpstreamsSchemaMarksSensitiveAreRedactedAndSamplingCountsWhatItLeavesOut) {
  testing::TempDir dir;
  const auto config = dir.path() / "mcp-audit.toml";
  std::ofstream(config) << "[[policy.sampling]]\ntools = [\"probe\"]\nkeep_one_in = 3\n";
  const auto args =
      ProxyArgs(dir.path(), {WriteProbeServer(dir.path()).string()}, {"--config", config.string()});
  ServerProcess proxy(args, dir.path() / "proxy.txt");
  proxy.Initialize();
  for (int i = 1; i <= 7; ++i) {
    const json answer = proxy.Request(
        i, "tools/call",
        {{"name", "probe"}, {"arguments", {{"user", "ann"}, {"pin", "4711-secret"}}}});
    EXPECT_EQ(answer["result"]["content"][0]["text"], "probed") << answer;
  }
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  std::vector<AuditEvent> calls, summaries;
  for (const auto& e : Records(dir.path() / "audit", /*all=*/true)) {
    if (e.event_type == "tool_call") calls.push_back(e);
    if (e.event_type == "sample_summary") summaries.push_back(e);
  }
  ASSERT_EQ(calls.size(), 3u) << "1 in 3 successful calls is kept";
  ASSERT_EQ(summaries.size(), 2u);
  EXPECT_EQ(summaries[0].details["skipped"], 2);
  EXPECT_EQ(summaries[1].details["skipped"], 2);
  for (const auto& call : calls) {
    EXPECT_EQ(call.params["user"], "ann");
    EXPECT_EQ(call.params["pin"], "[REDACTED]") << "the upstream's schema marks it writeOnly";
  }
  EXPECT_EQ(AllBytes(dir.path() / "audit").find("4711-secret"), std::string::npos);
}

TEST(ProxyTest, ACallAnsweredBeforeTheUpstreamsSchemasAreKnownKeepsNoArgumentInItsRecord) {
  testing::TempDir dir;
  ServerProcess proxy(ProxyArgs(dir.path(), {WriteProbeServer(dir.path(), /*list_late=*/true).string()}),
                      dir.path() / "proxy.txt");
  // No notifications/initialized: the proxy asks for the schemas before the first call.
  ASSERT_TRUE(proxy
                  .Request(0, "initialize",
                           {{"protocolVersion", "2025-06-18"},
                            {"capabilities", json::object()},
                            {"clientInfo", {{"name", "eager"}, {"version", "1"}}}})
                  .contains("result"));
  for (int i = 1; i <= 2; ++i) {
    const json answer = proxy.Request(
        i, "tools/call",
        {{"name", "probe"}, {"arguments", {{"user", "ann"}, {"pin", "4711-secret"}}}});
    EXPECT_EQ(answer["result"]["content"][0]["text"], "probed") << answer;
  }
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  std::vector<AuditEvent> calls;
  for (const auto& e : Records(dir.path() / "audit"))
    if (e.event_type == "tool_call") calls.push_back(e);
  ASSERT_EQ(calls.size(), 2u);
  // The first answer came before the tools/list's: its schema, and so what is secret, unknown.
  EXPECT_EQ(calls[0].params, (json{{"user", "[REDACTED]"}, {"pin", "[REDACTED]"}}));
  EXPECT_EQ(calls[1].params, (json{{"user", "ann"}, {"pin", "[REDACTED]"}}));
  EXPECT_EQ(AllBytes(dir.path() / "audit").find("4711-secret"), std::string::npos);
}

TEST(ProxyTest, ThePolicysLevelsDecideHowMuchOfEachCallTheRecordKeeps) {
  testing::TempDir dir;
  const auto config = dir.path() / "mcp-audit.toml";
  std::ofstream(config)
      << "[[policy.levels]]\ntools = [\"test_simple_text\"]\nlevel = \"full\"\n"
         "[[policy.levels]]\ntools = [\"test_tool_with_logging\"]\nlevel = \"none\"\n"
         "[[policy.levels]]\ntools = [\"test_error_handling\"]\nlevel = \"metadata\"\n";
  const auto args =
      ProxyArgs(dir.path(), FixtureUpstream(dir.path()), {"--config", config.string()});
  ServerProcess proxy(args, dir.path() / "proxy.txt");
  proxy.Initialize();
  for (const char* tool : {"test_simple_text", "test_tool_with_logging", "test_error_handling"})
    proxy.Request(1, "tools/call", {{"name", tool}, {"arguments", {{"note", "kept?"}}}});
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  std::map<std::string, AuditEvent> recorded;
  for (const auto& e : Records(dir.path() / "audit")) recorded[e.tool] = e;
  ASSERT_TRUE(recorded.contains("test_simple_text"));
  EXPECT_EQ(recorded["test_simple_text"].params["note"], "kept?");
  EXPECT_NE(
      recorded["test_simple_text"].details["result"]["text"].get<std::string>().find("simple text"),
      std::string::npos);
  EXPECT_FALSE(recorded.contains("test_tool_with_logging"))
      << "level none: a success leaves no record";
  ASSERT_TRUE(recorded.contains("test_error_handling"))
      << "level none or metadata: failures are always recorded";
  EXPECT_TRUE(recorded["test_error_handling"].params.is_null()) << "metadata: no parameters";
}

TEST(ProxyTest, APhiToolCalledWithoutAnAccessReasonIsRefusedBeforeItIsForwarded) {
  testing::TempDir dir;
  const auto config = dir.path() / "mcp-audit.toml";
  std::ofstream(config)
      << "[[policy.classify]]\ntools = [\"test_simple_text\"]\nsensitivity = \"restricted\"\n"
         "phi = true\nrequire_access_reason = true\n";
  const auto args =
      ProxyArgs(dir.path(), FixtureUpstream(dir.path()), {"--config", config.string()});
  ServerProcess proxy(args, dir.path() / "proxy.txt");
  proxy.Initialize();
  const json refused =
      proxy.Request(1, "tools/call", {{"name", "test_simple_text"}, {"arguments", json::object()}});
  EXPECT_EQ(refused["error"]["code"], rpc::kAccessDenied) << refused;
  const json allowed = proxy.Request(2, "tools/call",
                                     {{"name", "test_simple_text"},
                                      {"arguments", json::object()},
                                      {"_meta", {{"access_reason", "treatment"}}}});
  EXPECT_TRUE(allowed.contains("result")) << allowed;
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  const std::vector<AuditEvent> calls = Records(dir.path() / "audit");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].outcome, Outcome::kDenied);
  EXPECT_EQ(calls[0].error->reason, "access_reason_required");
  EXPECT_TRUE(calls[0].compliance.phi);
  EXPECT_EQ(calls[1].outcome, Outcome::kSuccess);
  EXPECT_EQ(calls[1].compliance.access_reason, "treatment");
  EXPECT_EQ(calls[1].compliance.sensitivity, "restricted");
}

TEST(ProxyTest, AHungUpstreamGivesTheCallerATimeoutErrorAndAFailureRecord) {
  testing::TempDir dir;
  // An "MCP server" that takes every message and never answers.
  const auto args =
      ProxyArgs(dir.path(), {"/bin/sh", "-c", "cat > /dev/null"}, {"--call-timeout-seconds", "1"});
  ServerProcess proxy(args, dir.path() / "proxy.txt");
  const auto started = std::chrono::steady_clock::now();
  const json answer =
      proxy.Request(9, "tools/call", {{"name", "slow_tool"}, {"arguments", json::object()}});
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(900));
  EXPECT_EQ(answer["id"], 9);
  EXPECT_EQ(answer["error"]["code"], -32603) << answer;
  EXPECT_NE(answer["error"]["message"].get<std::string>().find("did not answer within"),
            std::string::npos)
      << answer;
  proxy.CloseAndWait();
  const auto calls = Records(dir.path() / "audit");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].tool, "slow_tool");
  EXPECT_EQ(calls[0].outcome, Outcome::kFailure);
}

TEST(ProxyTest, AnUpstreamThatTakesNoInputCannotKeepTheProxyFromStopping) {
  testing::TempDir dir;
  // An "MCP server" that never reads its input.
  ServerProcess proxy(ProxyArgs(dir.path(), {"/bin/sh", "-c", "exec sleep 600"}),
                      dir.path() / "proxy.txt");
  // Notifications for it until everything between the proxy and it is full,
  // and the proxy stops reading its client too.
  std::string notes;
  for (int i = 0; i < 20000; ++i)
    notes += json{{"jsonrpc", "2.0"}, {"method", "notifications/roots/list_changed"}}.dump() + "\n";
  ASSERT_LT(proxy.WriteWhileTaken(notes, std::chrono::seconds(2)), notes.size())
      << "the proxy should have stopped reading";

  ASSERT_EQ(::kill(proxy.pid(), SIGTERM), 0);
  const std::optional<int> status = proxy.WaitFor(std::chrono::seconds(40));
  ASSERT_TRUE(status.has_value()) << "still running 40 s after SIGTERM\n" << proxy.Stderr();
  EXPECT_EQ(*status, 0) << "stopped by the proxy, the upstream did not fail\n" << proxy.Stderr();
  EXPECT_NE(proxy.Stderr().find("proxy: cannot write to the upstream /bin/sh: it took nothing for "
                                "5 s while stopping; what is left is dropped"),
            std::string::npos)
      << proxy.Stderr();
  auto [verified, report] = RunCommand("verify --audit-dir " + (dir.path() / "audit").string());
  EXPECT_EQ(verified, 0) << report;
}

// Whether process `pid` runs (a zombie no longer does).
bool Runs(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const size_t name_end = line.rfind(')');
  return name_end != std::string::npos && line.compare(name_end, 4, ") Z ") != 0;
}

// The child leads a process group of its own: stopping it stops what it
// started too, and what left the group (setsid) and keeps the child's output
// or stderr open cannot keep the proxy from stopping.
TEST(ProxyTest, WhatTheUpstreamStartedCannotKeepTheProxyFromStopping) {
  testing::TempDir dir;
  const auto pid_file = [&](const std::string& name) { return (dir.path() / name).string(); };
  // A wrapper that reads nothing, with a server of its own in the background
  // and two processes that leave its group, one holding its output, the other
  // its stderr.
  const std::string wrapper =
      "sleep 60 & echo $! > " + pid_file("started") + "; setsid sh -c 'echo $$ > " +
      pid_file("output") + "; exec sleep 60' 2>/dev/null &" + " setsid sh -c 'echo $$ > " +
      pid_file("stderr") + "; exec sleep 60' >/dev/null &" + " exec sleep 60";
  ServerProcess proxy(ProxyArgs(dir.path(), {"/bin/sh", "-c", wrapper}), dir.path() / "proxy.txt");
  auto pid_in = [&](const std::string& name) {
    for (int i = 0; i < 100; ++i, std::this_thread::sleep_for(std::chrono::milliseconds(100))) {
      std::ifstream in(pid_file(name));
      pid_t pid = 0;
      if (in >> pid && pid > 0) return pid;
    }
    return pid_t{0};
  };
  const pid_t in_group = pid_in("started"), holds_output = pid_in("output"),
              holds_stderr = pid_in("stderr");
  struct Reaper {  // whatever the outcome, nothing is left running (nor another process signalled)
    pid_t group;
    std::vector<pid_t> pids;
    ~Reaper() {
      if (group > 0 && Runs(group)) ::kill(-group, SIGKILL);
      for (pid_t pid : pids)
        if (pid > 0 && Runs(pid)) ::kill(pid, SIGKILL);
    }
  } reaper{in_group > 0 ? ::getpgid(in_group) : 0, {in_group, holds_output, holds_stderr}};
  ASSERT_GT(in_group, 0);
  ASSERT_GT(holds_output, 0);
  ASSERT_GT(holds_stderr, 0);

  ASSERT_EQ(::kill(proxy.pid(), SIGTERM), 0);
  const std::optional<int> status = proxy.WaitFor(std::chrono::seconds(40));
  ASSERT_TRUE(status.has_value()) << "still running 40 s after SIGTERM\n" << proxy.Stderr();
  EXPECT_EQ(*status, 0) << proxy.Stderr();
  EXPECT_FALSE(Runs(in_group)) << "the server the wrapper started is stopped with it";
  EXPECT_TRUE(Runs(holds_output) && Runs(holds_stderr))
      << "what left the group is not the proxy's to stop";
  for (const std::string what : {"output", "stderr"})
    EXPECT_NE(proxy.Stderr().find(
                  "proxy: the upstream /bin/sh was stopped, but a process it started still holds "
                  "its " +
                  what + " open; no longer read"),
              std::string::npos)
        << proxy.Stderr();
  auto [verified, report] = RunCommand("verify --audit-dir " + (dir.path() / "audit").string());
  EXPECT_EQ(verified, 0) << report;
}

// The upstream's input is written on a thread of its own: all that the
// client sent reaches an upstream that reads, before its input ends.
TEST(ProxyTest, AnUpstreamThatReadsGetsEveryMessageBeforeItsInputEnds) {
  testing::TempDir dir;
  const auto count = dir.path() / "count";
  ServerProcess proxy(
      ProxyArgs(dir.path(), {"/bin/sh", "-c", "grep -c roots/list_changed > " + count.string()}),
      dir.path() / "proxy.txt");
  std::string notes;
  for (int i = 0; i < 20000; ++i)
    notes += json{{"jsonrpc", "2.0"}, {"method", "notifications/roots/list_changed"}}.dump() + "\n";
  proxy.Write(notes);
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  EXPECT_EQ(testing::ReadFile(count), "20000\n");
}

TEST(ProxyTest, ACallTheClientCancelsIsRecordedAsCancelled) {
  testing::TempDir dir;
  ServerProcess proxy(ProxyArgs(dir.path(), {"/bin/sh", "-c", "cat > /dev/null"}),
                      dir.path() / "proxy.txt");
  proxy.Send({{"jsonrpc", "2.0"},
              {"id", 3},
              {"method", "tools/call"},
              {"params", {{"name", "long_report"}, {"arguments", json::object()}}}});
  proxy.Send(
      {{"jsonrpc", "2.0"}, {"method", "notifications/cancelled"}, {"params", {{"requestId", 3}}}});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  EXPECT_EQ(proxy.RemainingStdout(), "") << "a cancelled call gets no answer";
  const std::vector<AuditEvent> calls = Records(dir.path() / "audit");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].tool, "long_report");
  EXPECT_EQ(calls[0].outcome, Outcome::kFailure);
  EXPECT_EQ(calls[0].error->reason, "cancelled");
}

// `mcp-audit serve --toolkit conformance --http 127.0.0.1:PORT` with the API
// key of the service account "proxy-svc": an MCP server that speaks Streamable
// HTTP, with a journal of its own in <dir>/upstream.
class HttpFixtureUpstream {
 public:
  explicit HttpFixtureUpstream(const std::filesystem::path& dir,
                               unsigned short port = testing::FreePort())
      : dir_(dir), port_(port) {
    std::tie(key_, entry_) = NewApiKey("--user proxy-svc --role service");
    Start();
  }
  void Start() {
    const auto config = dir_ / "upstream.toml";
    std::ofstream(config) << entry_;
    server_.emplace(
        std::vector<std::string>{"serve", "--toolkit", "conformance", "--http",
                                 "127.0.0.1:" + std::to_string(port_), "--config", config.string(),
                                 "--audit-dir", (dir_ / "upstream").string()},
        dir_ / ("upstream-" + std::to_string(++starts_) + ".txt"));
    for (int i = 0; i < 1200 && server_->Stderr().find("stop:") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));  // up to 30 s
    ASSERT_NE(server_->Stderr().find("stop:"), std::string::npos) << server_->Stderr();
  }
  int Stop() { return server_->Signal(SIGTERM); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }
  unsigned short port() const { return port_; }
  const std::string& key() const { return key_; }

 private:
  std::filesystem::path dir_;
  unsigned short port_;
  std::string key_, entry_;
  int starts_ = 0;
  std::optional<ServerProcess> server_;
};

// `mcp-audit proxy` over stdio in front of `url`, with `token` for it in $MCP_AUDIT_UPSTREAM_TOKEN.
ServerProcess ProxyToUrl(const std::filesystem::path& dir, const std::string& url,
                         const std::string& token, std::vector<std::string> options = {}) {
  std::vector<std::string> args = {
      "proxy", "--audit-dir", (dir / "audit").string(), "--user", "dana", "--upstream-url", url};
  args.insert(args.end(), options.begin(), options.end());
  return ServerProcess(args, dir / "proxy.txt", {"MCP_AUDIT_UPSTREAM_TOKEN=" + token});
}

TEST(ProxyToHttpTest, CallsReachTheServerWithTheProxysTokenAndAreRecordedOnBothSides) {
  testing::TempDir dir;
  HttpFixtureUpstream upstream(dir.path());
  ServerProcess direct({"serve", "--toolkit", "conformance", "--stdio", "--audit-dir",
                        (dir.path() / "direct").string()},
                       dir.path() / "direct.txt");
  ServerProcess proxy = ProxyToUrl(dir.path(), upstream.url(), upstream.key());
  direct.Initialize();
  proxy.Initialize();
  EXPECT_EQ(proxy.Request(1, "tools/list")["result"], direct.Request(1, "tools/list")["result"]);
  const json text = {{"name", "test_simple_text"}, {"arguments", {{"password", "hunter2"}}}};
  EXPECT_EQ(proxy.Request(2, "tools/call", text), direct.Request(2, "tools/call", text));
  // Progress travels on the call's SSE stream, ahead of its answer.
  proxy.Send({{"jsonrpc", "2.0"},
              {"id", 3},
              {"method", "tools/call"},
              {"params",
               {{"name", "test_tool_with_progress"},
                {"arguments", json::object()},
                {"_meta", {{"progressToken", "p-3"}}}}}});
  json message = proxy.Read();
  EXPECT_EQ(message["method"], "notifications/progress") << message;
  EXPECT_EQ(message["params"]["progressToken"], "p-3");
  while (message.contains("method")) message = proxy.Read();
  EXPECT_EQ(message["id"], 3);
  EXPECT_EQ(message["result"]["content"][0]["text"], "Tool with progress executed successfully");
  EXPECT_EQ(proxy.Request(4, "tools/call",
                          {{"name", "test_error_handling"},
                           {"arguments", json::object()}})["result"]["isError"],
            true);
  const json resource = {{"uri", "test://static-text"}};
  EXPECT_EQ(proxy.Request(5, "resources/read", resource),
            direct.Request(5, "resources/read", resource));
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  EXPECT_EQ(direct.CloseAndWait(), 0);
  EXPECT_EQ(upstream.Stop(), 0);

  std::vector<AuditEvent> calls;
  for (const auto& e : Records(dir.path() / "audit", /*all=*/true))
    if (e.event_type == "tool_call" || e.event_type == "resource_read") calls.push_back(e);
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0].tool, "test_simple_text");
  EXPECT_EQ(calls[0].user.id, "dana") << "the proxy's record names its own caller";
  EXPECT_EQ(calls[0].outcome, Outcome::kSuccess);
  EXPECT_EQ(calls[0].params.dump().find("hunter2"), std::string::npos);
  EXPECT_EQ(calls[1].tool, "test_tool_with_progress");
  EXPECT_EQ(calls[1].outcome, Outcome::kSuccess);
  EXPECT_EQ(calls[2].outcome, Outcome::kFailure);
  EXPECT_EQ(calls[3].event_type, "resource_read");
  for (const auto& e : Records(dir.path() / "audit", /*all=*/true)) {
    if (e.event_type == "session_start") {
      EXPECT_EQ(e.details["upstream"]["address"], upstream.url());
    }
  }
  const auto served = Records(dir.path() / "upstream");
  ASSERT_EQ(served.size(), 3u) << "the server saw the calls, from the proxy's service account";
  EXPECT_EQ(served[0].user.id, "proxy-svc");
  EXPECT_EQ(served[0].user.auth_method, "api_key");
  for (const auto& where : {dir.path() / "audit", dir.path() / "upstream"})
    EXPECT_EQ(AllBytes(where).find(upstream.key()), std::string::npos)
        << "the token is written nowhere";
  EXPECT_EQ(proxy.Stderr().find(upstream.key()), std::string::npos);
}

TEST(ProxyToHttpTest, ASamplingRequestFromTheServerReachesTheClientAndItsAnswerGoesBack) {
  testing::TempDir dir;
  HttpFixtureUpstream upstream(dir.path());
  ServerProcess proxy = ProxyToUrl(dir.path(), upstream.url(), upstream.key());
  const json init = proxy.Request(0, "initialize",
                                  {{"protocolVersion", "2025-06-18"},
                                   {"capabilities", {{"sampling", json::object()}}},
                                   {"clientInfo", {{"name", "pipe-test"}, {"version", "1"}}}});
  ASSERT_TRUE(init.contains("result")) << init;
  proxy.Send({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  proxy.Send({{"jsonrpc", "2.0"},
              {"id", 1},
              {"method", "tools/call"},
              {"params", {{"name", "test_sampling"}, {"arguments", {{"prompt", "Say hi"}}}}}});
  const json asked = proxy.Read();
  ASSERT_EQ(asked["method"], "sampling/createMessage") << asked;
  proxy.Send({{"jsonrpc", "2.0"},
              {"id", asked["id"]},
              {"result",
               {{"role", "assistant"},
                {"model", "test"},
                {"content", {{"type", "text"}, {"text", "hi"}}}}}});
  const json answer = proxy.Read();
  EXPECT_EQ(answer["id"], 1);
  EXPECT_EQ(answer["result"]["content"][0]["text"], "LLM response: hi") << answer;
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
}

TEST(ProxyToHttpTest, AStreamTheServerClosesMidCallIsResumedWithLastEventId) {
  testing::TempDir dir;
  HttpFixtureUpstream upstream(dir.path());
  ServerProcess proxy = ProxyToUrl(dir.path(), upstream.url(), upstream.key());
  const json init = proxy.Request(0, "initialize",
                                  {{"protocolVersion", "2025-11-25"},
                                   {"capabilities", json::object()},
                                   {"clientInfo", {{"name", "pipe-test"}, {"version", "1"}}}});
  ASSERT_EQ(init["result"]["protocolVersion"], "2025-11-25") << init;
  proxy.Send({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  // The tool closes its SSE stream after the server's priming event, and answers later.
  const json answer = proxy.Request(1, "tools/call",
                                    {{"name", "test_reconnection"}, {"arguments", json::object()}});
  ASSERT_TRUE(answer.is_object() && answer.contains("result")) << answer;
  EXPECT_EQ(answer["result"]["content"][0]["text"], "Reconnection test completed") << answer;
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  const auto calls = Records(dir.path() / "audit");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].outcome, Outcome::kSuccess);
}

TEST(ProxyToHttpTest, RefusedCredentialsAndAnUnreachableServerAreClearErrorsAndFailureRecords) {
  testing::TempDir dir;
  HttpFixtureUpstream upstream(dir.path());
  {
    ServerProcess proxy = ProxyToUrl(dir.path() / "wrong", upstream.url(), "mcpa_1_not-a-key");
    const json init = proxy.Request(0, "initialize",
                                    {{"protocolVersion", "2025-06-18"},
                                     {"capabilities", json::object()},
                                     {"clientInfo", {{"name", "pipe-test"}, {"version", "1"}}}});
    EXPECT_NE(ErrorText(init).find("refused the proxy's credentials (HTTP 401)"), std::string::npos)
        << init;
    const json call = proxy.Request(1, "tools/call",
                                    {{"name", "test_simple_text"}, {"arguments", json::object()}});
    EXPECT_NE(ErrorText(call).find("HTTP 401"), std::string::npos) << call;
    proxy.CloseAndWait();
    const auto calls = Records(dir.path() / "wrong" / "audit");
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].outcome, Outcome::kFailure);
    EXPECT_EQ(calls[0].error->reason, "upstream_error");
    std::vector<std::string> refusals;
    for (const auto& e : Records(dir.path() / "upstream", /*all=*/true))
      if (e.event_type == "auth_failure") refusals.push_back(e.error->reason);
    // initialize, the proxy's own tools/list (asked before the first call) and the call.
    EXPECT_EQ(refusals.size(), 3u) << "the server recorded each refusal";
  }
  {
    const std::string nowhere = "http://127.0.0.1:" + std::to_string(testing::FreePort()) + "/mcp";
    ServerProcess proxy = ProxyToUrl(dir.path() / "down", nowhere, "");
    const json call = proxy.Request(1, "tools/call",
                                    {{"name", "test_simple_text"}, {"arguments", json::object()}});
    EXPECT_NE(ErrorText(call).find("could not be reached"), std::string::npos) << call;
    EXPECT_NE(ErrorText(call).find(nowhere), std::string::npos)
        << "the message names the server: " << call;
    proxy.CloseAndWait();
    const auto calls = Records(dir.path() / "down" / "audit");
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].outcome, Outcome::kFailure);
  }
}

// A stand-in for a server that misbehaves in the ways HTTP allows (the real
// servers above never do): each call gets an error that says what went wrong.
TEST(ProxyToHttpTest, EachWayAServerCanAnswerBadlyIsAClearErrorForThatCallAlone) {
  testing::TempDir dir;
  testing::HttpReceiver server;
  server.SetHandler([](const testing::ReceivedRequest& request) {
    testing::ReceiverReply reply;
    if (request.method != "POST") return reply;  // GET stream, DELETE: 200, nothing more
    const json message = json::parse(request.body);
    const std::string method = message.value("method", "");
    const std::string tool = method == "tools/call" ? message["params"].value("name", "") : "";
    if (method == "initialize") {
      reply.body = StandInInitialized(message["id"]);
      reply.headers = {{"Mcp-Session-Id", "s-42"}};
    } else if (!message.contains("id") || tool == "silent") {
      reply.status = 202;
      reply.body.clear();
    } else if (tool == "broken") {
      reply.status = 500;
      reply.body =
          R"({"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"database offline"}})";
    } else if (tool == "confused") {
      reply.body = "<html>oops</html>";
      reply.headers = {{"Content-Type", "text/html"}};
    } else {
      reply.body =
          json{{"jsonrpc", "2.0"}, {"id", message["id"]}, {"result", {{"content", json::array()}}}}
              .dump();
    }
    return reply;
  });
  ServerProcess proxy = ProxyToUrl(dir.path(), server.url() + "/mcp", "t0ken");
  proxy.Initialize();
  auto call = [&](int id, const std::string& tool) {
    return proxy.Request(id, "tools/call", {{"name", tool}, {"arguments", json::object()}});
  };
  EXPECT_TRUE(call(1, "fine").contains("result"));
  EXPECT_NE(ErrorText(call(2, "broken")).find("answered HTTP 500: database offline"),
            std::string::npos);
  EXPECT_NE(ErrorText(call(3, "confused")).find("not its JSON-RPC response"), std::string::npos);
  EXPECT_NE(ErrorText(call(4, "silent")).find("accepted the request but sent no answer"),
            std::string::npos);
  EXPECT_TRUE(call(5, "fine").contains("result")) << "the session goes on";
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();

  std::vector<std::string> outcomes;
  for (const auto& e : Records(dir.path() / "audit"))
    outcomes.push_back(e.tool + ":" + std::string(ToString(e.outcome)));
  EXPECT_EQ(outcomes,
            (std::vector<std::string>{"fine:success", "broken:failure", "confused:failure",
                                      "silent:failure", "fine:success"}));
  // What the proxy sent: its credentials, the session and version once known, and the session's
  // end.
  const auto requests = server.requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests[0].header("authorization"), "Bearer t0ken");
  EXPECT_EQ(requests[0].header("mcp-session-id"), "") << "initialize opens the session";
  EXPECT_EQ(requests[0].header("accept"), "application/json, text/event-stream");
  bool deleted = false;
  for (const auto& request :
       std::vector<testing::ReceivedRequest>(requests.begin() + 1, requests.end())) {
    EXPECT_EQ(request.header("mcp-session-id"), "s-42") << request.method << " " << request.body;
    EXPECT_EQ(request.header("mcp-protocol-version"), "2025-06-18") << request.method;
    deleted = deleted || request.method == "DELETE";
  }
  EXPECT_TRUE(deleted) << "the session is ended at the server too";
}

TEST(ProxyToHttpTest, TheClientsCredentialsAreNeverPassedOnOnlyTheProxysOwn) {
  testing::TempDir dir;
  testing::HttpReceiver server;
  server.SetHandler([](const testing::ReceivedRequest& request) {
    testing::ReceiverReply reply;
    const json message = json::parse(request.body, nullptr, false);
    if (!message.is_object() || !message.contains("id")) {
      reply.status = request.method == "POST" ? 202 : 405;
      reply.body.clear();
      return reply;
    }
    reply.body = StandInInitialized(message["id"]);
    reply.headers = {{"Mcp-Session-Id", "s-7"}};
    return reply;
  });
  ServerProcess proxy({"proxy", "--http", "127.0.0.1:0", "--dev-api-key", "--audit-dir",
                       (dir.path() / "audit").string(), "--upstream-url", server.url() + "/mcp"},
                      dir.path() / "proxy.txt", {"MCP_AUDIT_UPSTREAM_TOKEN=proxy-token"});
  const auto [port, key] = testing::WaitForEndpoint(proxy);
  ASSERT_TRUE(port != 0 && !key.empty()) << proxy.Stderr();
  const testing::HttpClient http("127.0.0.1", port);
  testing::Headers headers = testing::McpPostHeaders();
  headers.emplace_back("X-API-Key", key);
  const auto init = http.Post(json{{"jsonrpc", "2.0"},
                                   {"id", 0},
                                   {"method", "initialize"},
                                   {"params",
                                    {{"protocolVersion", "2025-06-18"},
                                     {"capabilities", json::object()},
                                     {"clientInfo", {{"name", "t"}, {"version", "1"}}}}}}
                                  .dump(),
                              headers);
  EXPECT_EQ(init.status, 200) << init.body;
  EXPECT_EQ(proxy.Signal(SIGTERM), 0) << proxy.Stderr();
  const auto requests = server.requests();
  ASSERT_FALSE(requests.empty());
  for (const auto& request : requests) {
    EXPECT_EQ(request.header("x-api-key"), "") << "no token passthrough";
    EXPECT_EQ(request.header("authorization"), "Bearer proxy-token");
  }
}

TEST(ProxyToHttpTest, AServerThatForgetsTheSessionIsJoinedAgainAndBothEventsAreRecorded) {
  testing::TempDir dir;
  HttpFixtureUpstream upstream(dir.path());
  ServerProcess proxy = ProxyToUrl(dir.path(), upstream.url(), upstream.key());
  proxy.Initialize();
  const json call = {{"name", "test_simple_text"}, {"arguments", json::object()}};
  EXPECT_TRUE(proxy.Request(1, "tools/call", call).contains("result"));
  ASSERT_EQ(upstream.Stop(), 0);
  upstream.Start();  // the same address, no memory of the session
  // The proxy learns it from the next call's answer (HTTP 404), which fails, or
  // first from its GET stream reopened; either way the next call opens a new session.
  json answer = proxy.Request(2, "tools/call", call);
  if (answer.contains("error")) {
    EXPECT_NE(ErrorText(answer).find("ended the session (HTTP 404)"), std::string::npos) << answer;
    answer = proxy.Request(3, "tools/call", call);
  }
  EXPECT_TRUE(answer.contains("result")) << answer;
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  std::vector<std::string> ends;
  for (const auto& e : Records(dir.path() / "audit", /*all=*/true)) {
    if (!e.event_type.starts_with("upstream_")) continue;
    ends.push_back(e.event_type + ":" + std::string(ToString(e.outcome)));
    if (e.event_type == "upstream_exited") {
      EXPECT_EQ(e.details["http_status"], 404) << e.details;
      EXPECT_EQ(e.details["url"], upstream.url());
    }
  }
  EXPECT_EQ(ends,
            (std::vector<std::string>{"upstream_exited:failure", "upstream_restarted:success"}));
  const auto calls = Records(dir.path() / "audit");
  EXPECT_EQ(calls.back().outcome, Outcome::kSuccess);
  EXPECT_EQ(Records(dir.path() / "upstream").size(), 2u)
      << "one call before the restart, one after";
}

TEST(ProxyToHttpTest, AnHttpsServerIsReachedOnlyWhenItsCertificateIsTrusted) {
  testing::TempDir dir;
  HttpFixtureUpstream upstream(dir.path());
  testing::TlsProxy tls(upstream.port());
  {
    ServerProcess proxy = ProxyToUrl(dir.path() / "untrusted", tls.url() + "/mcp", upstream.key());
    const json call = proxy.Request(1, "tools/call",
                                    {{"name", "test_simple_text"}, {"arguments", json::object()}});
    EXPECT_NE(ErrorText(call).find("certificate"), std::string::npos) << call;
    proxy.CloseAndWait();
  }
  const auto config = dir.path() / "proxy.toml";
  std::ofstream(config) << "[upstream]\nurl = \"" << tls.url() << "/mcp\"\nca_file = \""
                        << tls.ca_file() << "\"\n"
                        << "bearer_token_env = \"UPSTREAM_KEY\"\n";
  ServerProcess proxy(
      {"proxy", "--audit-dir", (dir.path() / "audit").string(), "--config", config.string()},
      dir.path() / "proxy.txt", {"UPSTREAM_KEY=" + upstream.key()});
  proxy.Initialize();
  const json answer =
      proxy.Request(1, "tools/call", {{"name", "test_simple_text"}, {"arguments", json::object()}});
  EXPECT_TRUE(answer.contains("result")) << answer;
  EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
}

TEST(ProxyToHttpTest, AnUpstreamThatCannotBeReachedSafelyIsRefusedBeforeAnythingStarts) {
  testing::TempDir dir;
  const std::string audit = (dir.path() / "audit").string();
  const auto config = dir.path() / "proxy.toml";
  std::ofstream(config) << "[upstream]\nbearer_token_env = \"MCPAUDIT_TEST_NO_SUCH_TOKEN\"\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--upstream-url http://mcp.example.com/mcp", "use https://"},
      {"--upstream-url ftp://127.0.0.1/mcp", "is not an http:// or https:// URL"},
      {"--upstream-url https://user:secret@mcp.example.com/mcp", "holds a password"},
      {"--upstream-url http://127.0.0.1:1/mcp -- /bin/cat", "not both"},
      {"", "name the MCP server to audit"},
      {"--config " + config.string() + " --upstream-url http://127.0.0.1:1/mcp",
       "MCPAUDIT_TEST_NO_SUCH_TOKEN is not set"},
  };
  for (const auto& [options, expected] : cases) {
    auto [code, out] = RunCommand("proxy --audit-dir " + audit + " " + options + " </dev/null");
    EXPECT_EQ(code, 2) << options << ": " << out;
    EXPECT_NE(out.find(expected), std::string::npos) << options << ": " << out;
    EXPECT_EQ(out.find("secret"), std::string::npos)
        << "a password in the URL is not repeated: " << out;
  }
  EXPECT_FALSE(std::filesystem::exists(audit)) << "nothing was started";
}

}  // namespace
}  // namespace mcpaudit

// Drives the real `mcp-audit serve --stdio` over pipes, as an MCP client does,
// and reads the audit records it leaves.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <algorithm>
#include <sstream>
#include <set>
#include <thread>

#include "audit/journal_format.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/pipeline.h"
#include "store/audit_reads.h"
#include "store/journal_reader.h"
#include "mcpaudit/verifier.h"
#include "support/child_process.h"
#include "support/cli_process.h"
#include "support/http_client.h"
#include "support/free_port.h"
#include "support/database_server.h"
#include "support/journal_files.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

using nlohmann::json;

using testing::AllBytes;
using testing::ReadFile;
using testing::Records;
using testing::RunCommand;
using testing::ServerProcess;

// A server run in which `user` makes one catalog search.
void OneSearchBy(const std::filesystem::path& audit, const std::string& user) {
  ServerProcess server(audit, {"--user", user});
  server.Initialize();
  server.Request(1, "tools/call", {{"name", "catalog_search"}, {"arguments", {{"query", "orders"}}}});
  EXPECT_EQ(server.CloseAndWait(), 0);
}

TEST(StdioServerTest, ServesACallAndLeavesItsRecordAfterEof) {
  testing::TempDir dir;
  ServerProcess server(dir.path() / "audit", {"--user", "alice"});
  server.Initialize();
  json list = server.Request(1, "tools/list");
  EXPECT_EQ(list["result"]["tools"].size(), 5u);
  json call = server.Request(2, "tools/call", {{"name", "catalog_list_tags"}, {"arguments", {{"filter", "pii"}}}});
  EXPECT_EQ(call["result"]["structuredContent"]["tags"][0]["tag"], "pii");
  EXPECT_EQ(server.CloseAndWait(), 0) << server.Stderr();
  EXPECT_EQ(server.RemainingStdout(), "");
  auto events = Records(dir.path() / "audit");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].tool, "catalog_list_tags");
  EXPECT_EQ(events[0].user.id, "alice");
  EXPECT_EQ(events[0].user.auth_method, "cli_flag");
  EXPECT_EQ(events[0].request.client.name, "pipe-test");
  EXPECT_EQ(events[0].params, json({{"filter", "pii"}}));
  // The operational log went to stderr and says where the records are.
  EXPECT_NE(server.Stderr().find("audit journal: " + (dir.path() / "audit").string()), std::string::npos);
}

TEST(StdioServerTest, TheCallerComesFromTheEnvironmentWithoutUserFlag) {
  testing::TempDir dir;
  ServerProcess server(dir.path() / "audit", {}, {"MCP_AUDIT_USER=svc-reporting"});
  server.Initialize();
  server.Request(1, "tools/call", {{"name", "catalog_list_tags"}, {"arguments", json::object()}});
  EXPECT_EQ(server.CloseAndWait(), 0);
  auto events = Records(dir.path() / "audit");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].user.id, "svc-reporting");
  EXPECT_EQ(events[0].user.auth_method, "env");
}

TEST(StdioServerTest, ASecretArgumentNeverReachesTheDisk) {
  testing::TempDir dir;
  ServerProcess server(dir.path() / "audit");
  server.Initialize();
  json reply = server.Request(1, "tools/call",
                              {{"name", "catalog_search"},
                               {"arguments", {{"query", "orders"}, {"api_key", "sk-live-4242"}, {"password", "hunter2"}}}});
  EXPECT_TRUE(reply.contains("result")) << reply;
  EXPECT_EQ(server.CloseAndWait(), 0);
  auto events = Records(dir.path() / "audit");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].params["api_key"], "[REDACTED]");
  EXPECT_EQ(events[0].params["query"], "orders");
  // Every file: the journal, the SQLite store it is shipped to, the cursors.
  const std::string bytes = AllBytes(dir.path() / "audit");
  EXPECT_EQ(bytes.find("sk-live-4242"), std::string::npos);
  EXPECT_EQ(bytes.find("hunter2"), std::string::npos);
}

TEST(StdioServerTest, MalformedInputGetsJsonRpcErrorsAndTheServerKeepsServing) {
  testing::TempDir dir;
  ServerProcess server(dir.path() / "audit");
  server.Initialize();

  server.Write("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \n");  // broken JSON
  json broken = server.Read();
  EXPECT_EQ(broken["error"]["code"], -32700);
  EXPECT_EQ(broken["id"], nullptr);

  server.Write("[1, \"two\", {\"three\": 3}, null]\n");  // a batch of garbage
  EXPECT_EQ(server.Read()["error"]["code"], -32600);

  server.Write("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"params\":{\"x\":\"\xc3\x28\"}}\n");  // invalid UTF-8
  EXPECT_EQ(server.Read()["error"]["code"], -32700);

  std::string huge = "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{\"name\":\"catalog_search\","
                     "\"arguments\":{\"query\":\"" + std::string(10 << 20, 'a') + "\"}}}\n";  // a 10 MiB line
  server.Write(huge);
  json too_big = server.Read();
  EXPECT_EQ(too_big["error"]["code"], -32600);
  EXPECT_NE(too_big["error"]["message"].get<std::string>().find("larger than"), std::string::npos);

  server.Write("\n   \n");  // blank lines are not messages
  json wrong_type = server.Request(7, "tools/call", {{"name", 42}});
  EXPECT_EQ(wrong_type["error"]["code"], -32602);

  // Still serving, and the calls that did reach tools/call were audited.
  EXPECT_EQ(server.Request(8, "ping")["result"], json::object());
  json ok = server.Request(9, "tools/call", {{"name", "catalog_search"}, {"arguments", {{"query", "orders"}}}});
  EXPECT_GE(ok["result"]["structuredContent"]["total"], 1);
  EXPECT_EQ(server.CloseAndWait(), 0);
  // A refusal is written by the refusal recorder's own thread, so its place
  // among the records of later calls varies; its timestamp is when it arrived.
  auto events = Records(dir.path() / "audit");
  ASSERT_EQ(events.size(), 2u);
  std::ranges::sort(events, {}, [](const AuditEvent& e) { return e.outcome != Outcome::kDenied; });
  EXPECT_EQ(events[0].outcome, Outcome::kDenied);
  ASSERT_TRUE(events[0].error.has_value());
  EXPECT_EQ(events[0].error->reason, "invalid_request");
  EXPECT_EQ(events[1].outcome, Outcome::kSuccess);
  EXPECT_EQ(events[1].tool, "catalog_search");
  EXPECT_LE(events[0].timestamp, events[1].timestamp);
}

TEST(StdioServerTest, SigtermStopsCleanlyWithRecordsWritten) {
  testing::TempDir dir;
  ServerProcess server(dir.path() / "audit");
  server.Initialize();
  for (int i = 0; i < 20; ++i)
    server.Request(10 + i, "tools/call", {{"name", "catalog_get_entity"}, {"arguments", {{"urn", "urn:x:" + std::to_string(i)}}}});
  EXPECT_EQ(server.Signal(SIGTERM), 0) << server.Stderr();
  auto events = Records(dir.path() / "audit");
  ASSERT_EQ(events.size(), 20u);
  for (const auto& e : events) EXPECT_EQ(e.outcome, Outcome::kFailure);  // no such URNs
}

TEST(StdioServerTest, TheJournalRecordsStartStopAndAFinalCheckpointAroundTheCalls) {
  testing::TempDir dir;
  ServerProcess server(dir.path() / "audit", {"--mode", "durable", "--user", "ann"});
  server.Initialize();
  server.Request(1, "tools/call", {{"name", "catalog_list_tags"}, {"arguments", json::object()}});
  EXPECT_EQ(server.CloseAndWait(), 0) << server.Stderr();
  std::vector<std::string> types;
  uint64_t expected_seq = 1;
  const auto events = Records(dir.path() / "audit", /*all=*/true);
  for (const auto& e : events) {
    types.push_back(e.event_type);
    ASSERT_TRUE(e.integrity.has_value());
    EXPECT_EQ(e.integrity->seq, expected_seq++);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"audit_started", "session_start", "tool_call", "session_end",
                                             "audit_stopped", "checkpoint"}));
  // The session's start and end: who, with which client, how it ended.
  const AuditEvent& start = events[1];
  EXPECT_EQ(start.user.id, "ann");
  EXPECT_EQ(start.request.client.name, "pipe-test");
  EXPECT_EQ(start.request.session_id, events[2].request.session_id);
  EXPECT_EQ(start.details["protocol_version"], "2025-06-18");
  const AuditEvent& end = events[3];
  EXPECT_EQ(end.details["reason"], "closed") << "the client closed its input";
  EXPECT_EQ(end.request.session_id, start.request.session_id);
}

TEST(StdioServerTest, ASessionEndedByTheServersStopSaysSo) {
  testing::TempDir dir;
  ServerProcess server(dir.path() / "audit");
  server.Initialize();
  EXPECT_EQ(server.Signal(SIGTERM), 0) << server.Stderr();
  std::vector<std::string> reasons;
  for (const auto& e : Records(dir.path() / "audit", /*all=*/true))
    if (e.event_type == "session_end") reasons.push_back(e.details.value("reason", ""));
  EXPECT_EQ(reasons, std::vector<std::string>{"shutdown"});
}

TEST(StdioServerTest, AClientThatStopsReadingCannotKeepTheServerFromStopping) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  const auto config = dir.path() / "mcp-audit.toml";
  std::ofstream(config) << "[[policy.access]]\nroles = [\"*\"]\nallow = [\"*\"]\n";
  ServerProcess server(audit, {"--config", config.string()});
  server.Initialize();
  // Pings until the answers, which this client never reads, fill everything
  // between the server and it, and the server stops reading too.
  std::string pings;
  for (int i = 0; i < 20000; ++i)
    pings += json{{"jsonrpc", "2.0"}, {"id", i}, {"method", "ping"}}.dump() + "\n";
  const size_t taken = server.WriteWhileTaken(pings, std::chrono::seconds(2));
  ASSERT_LT(taken, pings.size()) << "the server should have stopped reading";
  // A reload of another policy tells the session that its tools changed, and
  // waits for room as well.
  std::ofstream(config) << "[[policy.access]]\nroles = [\"*\"]\nallow = [\"*\"]\n"
                        << "deny = [\"catalog_search\"]\n";
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
  const std::optional<int> status = server.WaitFor(std::chrono::seconds(30));
  ASSERT_TRUE(status.has_value()) << "still running 30 s after SIGTERM\n" << server.Stderr();
  EXPECT_EQ(*status, 0) << server.Stderr();
  EXPECT_NE(server.Stderr().find("stdio: cannot write to the client: it took nothing for 5 s "
                                 "while stopping; what is left is dropped"),
            std::string::npos)
      << server.Stderr();
  std::map<std::string, std::string> seen;  // event type: outcome or reason
  for (const auto& e : Records(audit, /*all=*/true)) {
    if (e.event_type == "config_reload")
      seen[e.event_type] = e.outcome == Outcome::kSuccess ? "success" : "failure";
    if (e.event_type == "session_end") seen[e.event_type] = e.details.value("reason", "");
  }
  EXPECT_EQ(seen, (std::map<std::string, std::string>{{"config_reload", "success"},
                                                      {"session_end", "shutdown"}}));
  auto [verified, report] = RunCommand("verify --audit-dir " + audit.string());
  EXPECT_EQ(verified, 0) << report;
}

TEST(StdioServerTest, ASecondServerOnTheSameJournalIsRefused) {
  testing::TempDir dir;
  ServerProcess first(dir.path() / "audit");
  first.Initialize();  // the first server holds the journal
  ServerProcess second(dir.path() / "audit");
  EXPECT_EQ(second.CloseAndWait(), 2);
  EXPECT_NE(second.Stderr().find("another mcp-audit process is writing to"), std::string::npos) << second.Stderr();
  EXPECT_EQ(first.CloseAndWait(), 0);
}

TEST(StdioServerTest, AnUnusableAuditDirectoryStopsTheServerWithAClearError) {
  testing::TempDir dir;
  std::ofstream(dir.path() / "file") << "x";
  ServerProcess server(dir.path() / "file" / "audit");
  EXPECT_EQ(server.CloseAndWait(), 2);
  EXPECT_NE(server.Stderr().find("cannot create audit directory"), std::string::npos) << server.Stderr();
}

TEST(AuditorCommandsTest, KeygenServeVerifyTamperAndTail) {
  testing::TempDir dir;
  const auto keys = dir.path() / "keys";
  const auto audit = dir.path() / "audit";
  auto [keygen_code, keygen_out] = RunCommand("keygen --out " + keys.string());
  ASSERT_EQ(keygen_code, 0) << keygen_out;
  EXPECT_EQ(std::filesystem::status(keys / "audit-signing.key").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  {
    ServerProcess server(audit, {"--mode", "durable", "--signing-key", (keys / "audit-signing.key").string()});
    server.Initialize();
    for (int i = 0; i < 3; ++i)
      server.Request(i + 1, "tools/call", {{"name", "catalog_list_tags"}, {"arguments", {{"filter", "p"}}}});
    EXPECT_EQ(server.CloseAndWait(), 0);
    EXPECT_EQ(server.Stderr().find("BEGIN PRIVATE KEY"), std::string::npos);  // the key is never logged
  }
  const std::string pubkey = " --pubkey " + (keys / "audit-signing.pub").string();
  auto [valid_code, valid_out] = RunCommand("verify --audit-dir " + audit.string() + pubkey);
  EXPECT_EQ(valid_code, 0) << valid_out;
  EXPECT_NE(valid_out.find("valid: 8 records in 1 stream(s), 1 checkpoints (1 signed by key"), std::string::npos)
      << valid_out;

  auto [tail_code, tail_out] = RunCommand("tail -n 2 --audit-dir " + audit.string());
  EXPECT_EQ(tail_code, 0);
  std::istringstream tail_lines(tail_out);
  std::vector<std::string> types;
  for (std::string line; std::getline(tail_lines, line);) types.push_back(json::parse(line)["event_type"]);
  EXPECT_EQ(types, (std::vector<std::string>{"audit_stopped", "checkpoint"}));

  // Someone edits the second call's parameters in place.
  const auto segment = audit / "segment-00000000000000000001.jsonl";
  std::ifstream in(segment);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  in.close();
  const size_t line_start = content.rfind('\n', content.find("\"id\":\"2\"")) + 1;
  const size_t at = content.find("\"filter\":\"p\"", line_start);
  ASSERT_NE(at, std::string::npos);
  content.replace(at, 12, "\"filter\":\"q\"");
  std::ofstream(segment, std::ios::trunc) << content;
  auto [tampered_code, tampered_out] = RunCommand("verify --audit-dir " + audit.string() + pubkey);
  EXPECT_EQ(tampered_code, 1) << tampered_out;
  EXPECT_NE(tampered_out.find("seq 4: modified"), std::string::npos) << tampered_out;
  EXPECT_NE(tampered_out.find("TAMPERED: 1 problem(s)"), std::string::npos) << tampered_out;

  auto [missing_code, missing_out] = RunCommand("verify --audit-dir " + (dir.path() / "nowhere").string());
  EXPECT_EQ(missing_code, 2);
  EXPECT_NE(missing_out.find("no audit directory"), std::string::npos) << missing_out;
  auto [usage_code, usage_out] = RunCommand("verify --no-such-flag");
  EXPECT_EQ(usage_code, 2);
}

TEST(ServeConfigTest, TheConfigFileSetsTheJournalAndFlagsOverrideIt) {
  testing::TempDir dir;
  const auto config = dir.path() / "mcp-audit.toml";
  std::ofstream(config) << "[server]\nuser = \"from-config\"\n[audit]\nmode = \"durable\"\nstream = \"stream-x\"\n";
  {
    ServerProcess server(dir.path() / "audit", {"--config", config.string()});
    server.Initialize();
    server.Request(1, "tools/call", {{"name", "catalog_list_tags"}, {"arguments", json::object()}});
    EXPECT_EQ(server.CloseAndWait(), 0) << server.Stderr();
  }
  {
    ServerProcess server(dir.path() / "audit", {"--config", config.string(), "--mode", "async", "--user", "flag"});
    server.Initialize();
    server.Request(1, "tools/call", {{"name", "catalog_list_tags"}, {"arguments", json::object()}});
    EXPECT_EQ(server.CloseAndWait(), 0) << server.Stderr();
  }
  std::vector<std::string> modes, users;
  for (const auto& e : Records(dir.path() / "audit", /*all=*/true)) {
    EXPECT_EQ(e.integrity->stream, "stream-x");
    if (e.event_type == "audit_started") modes.push_back(e.details["mode"]);
    if (e.event_type == "tool_call") users.push_back(e.user.id);
  }
  EXPECT_EQ(modes, (std::vector<std::string>{"durable", "async"}));
  EXPECT_EQ(users, (std::vector<std::string>{"from-config", "flag"}));
}

TEST(ServeConfigTest, PhiDataNeedsAnAccessReasonInMeta) {
  testing::TempDir dir;
  const auto config = dir.path() / "hipaa.toml";
  std::ofstream(config) << "[[policy.classify]]\n"
                           "resources = [\"urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.*\"]\n"
                           "sensitivity = \"restricted\"\nphi = true\nrequire_access_reason = true\n";
  const std::string patients = "urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.public.patients,PROD)";
  ServerProcess server(dir.path() / "audit", {"--config", config.string()});
  server.Initialize();
  json refused = server.Request(1, "tools/call", {{"name", "catalog_get_entity"}, {"arguments", {{"urn", patients}}}});
  EXPECT_EQ(refused["error"]["code"], -32001) << refused;
  json allowed = server.Request(2, "tools/call", {{"name", "catalog_get_entity"},
                                                  {"arguments", {{"urn", patients}}},
                                                  {"_meta", {{"access_reason", "treatment"}}}});
  EXPECT_EQ(allowed["result"]["structuredContent"]["name"], "patients") << allowed;
  EXPECT_EQ(server.CloseAndWait(), 0);
  auto events = Records(dir.path() / "audit");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].outcome, Outcome::kDenied);
  EXPECT_EQ(events[0].error->reason, "access_reason_required");
  EXPECT_EQ(events[1].outcome, Outcome::kSuccess);
  EXPECT_EQ(events[1].compliance.access_reason, "treatment");
  EXPECT_TRUE(events[1].compliance.phi);
}

TEST(ServeConfigTest, RedactionFromTheConfigShapesWhatTheJournalKeeps) {
  testing::TempDir dir;
  const auto key = dir.path() / "hmac.key";
  std::ofstream(key) << "an HMAC key of this deployment, 32 bytes or more";
  std::filesystem::permissions(key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::replace);
  const auto config = dir.path() / "pci.toml";
  std::ofstream(config) << "[policy.redaction]\nmode = \"hmac\"\nhmac_key_file = \"" << key.string()
                        << "\"\nmax_value_bytes = 16\n"
                           "[[policy.redaction.pointers]]\npointer = \"/card/number\"\nmode = \"drop\"\n";
  ServerProcess server(dir.path() / "audit", {"--config", config.string()});
  server.Initialize();
  // The tool takes the query (extra arguments pass through its schema); the record keeps them redacted.
  const json arguments = {{"query", "a query longer than sixteen bytes"},
                          {"api_token", "tok-123"},
                          {"card", {{"number", "4111111111111111"}, {"brand", "visa"}}}};
  json answered = server.Request(1, "tools/call", {{"name", "catalog_search"}, {"arguments", arguments}});
  ASSERT_TRUE(answered.contains("result")) << answered;
  EXPECT_EQ(server.CloseAndWait(), 0);
  auto events = Records(dir.path() / "audit");
  ASSERT_EQ(events.size(), 1u);
  const json& params = events[0].params;
  EXPECT_EQ(params["query"], (json{{"truncated_from", 33}, {"value", "a query longer t"}}));
  EXPECT_TRUE(params["api_token"].get<std::string>().starts_with("hmac-sha256:"));
  EXPECT_EQ(params["card"], (json{{"brand", "visa"}}));
  const std::string bytes = AllBytes(dir.path() / "audit");
  EXPECT_EQ(bytes.find("tok-123"), std::string::npos);
  EXPECT_EQ(bytes.find("4111111111111111"), std::string::npos);
  EXPECT_EQ(bytes.find("an HMAC key"), std::string::npos);
}

TEST(ServeConfigTest, ABrokenConfigStopsTheServerWithThePlaceOfTheError) {
  testing::TempDir dir;
  const auto config = dir.path() / "mcp-audit.toml";
  std::ofstream(config) << "[audit]\nmode = \"fast\"\n";
  ServerProcess server(dir.path() / "audit", {"--config", config.string()});
  EXPECT_EQ(server.CloseAndWait(), 2);
  EXPECT_NE(server.Stderr().find("mcp-audit.toml:2:8: audit.mode: unknown value 'fast'"), std::string::npos)
      << server.Stderr();
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "audit"));  // nothing started
}

// A policy that cannot be applied as written: `config check` names the place,
// and the server does not start rather than log less than asked.
TEST(ServeConfigTest, ABrokenPolicyIsNamedByConfigCheckAndStopsTheServer) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[[policy.levels]]\ntools = [\"catalog_*\"]\nlevel = \"verbose\"\n",
       "mcp-audit.toml:3:9: policy.levels[0].level: unknown value 'verbose' (expected none, metadata, request, full)"},
      {"[[policy.redaction.pointers]]\npointer = \"patient/ssn\"\n",
       "mcp-audit.toml:2:11: policy.redaction.pointers[0].pointer: 'patient/ssn' is not a JSON pointer"},
      {"[policy.redaction]\nmode = \"hmac\"\n",
       "mcp-audit.toml: policy.redaction: hmac needs a key: set hmac_key_file (32 bytes or more, mode 0600)"},
      {"[policy.redaction]\nmode = \"hmac\"\nhmac_key_file = \"/nonexistent/hmac.key\"\n",
       "mcp-audit.toml: policy.redaction.hmac_key_file: cannot read the HMAC key /nonexistent/hmac.key"},
  };
  for (const auto& [text, error] : cases) {
    testing::TempDir dir;
    const auto config = dir.path() / "mcp-audit.toml";
    std::ofstream(config) << text;
    auto [check, check_out] = RunCommand("config check " + config.string());
    EXPECT_EQ(check, 1) << text;
    EXPECT_NE(check_out.find(error), std::string::npos) << text << " gave: " << check_out;
    ServerProcess server(dir.path() / "audit", {"--config", config.string()});
    EXPECT_EQ(server.CloseAndWait(), 2) << text;
    EXPECT_NE(server.Stderr().find(error), std::string::npos) << server.Stderr();
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "audit")) << "nothing started for: " << text;
  }
}

TEST(ServeConfigTest, HttpOnAPublicAddressWithoutAuthenticationDoesNotStart) {
  testing::TempDir dir;
  auto [code, output] = RunCommand("serve --http 0.0.0.0:0 --audit-dir " + (dir.path() / "audit").string());
  EXPECT_EQ(code, 2);
  EXPECT_NE(output.find("refusing to serve 0.0.0.0:0 without authentication"), std::string::npos) << output;
  EXPECT_NE(output.find("Configure [auth]"), std::string::npos) << output;
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "audit"));  // nothing started
}

TEST(AuditorCommandsTest, TailFollowPrintsNewRecordsAsTheyAreWritten) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  ServerProcess server(audit);
  server.Initialize();  // the journal exists now
  // -n 2: the tail's own audit_read record may be the newest when it starts.
  ServerProcess tail({"tail", "-f", "-n", "2", "--audit-dir", audit.string()}, dir.path() / "tail-stderr.txt");
  auto read_until = [&](const std::string& text) {
    std::string line;
    for (int i = 0; i < 5 && line.find(text) == std::string::npos; ++i) line = tail.ReadLine();
    return line;
  };
  // The first record reaches tail either in its initial lines or by following;
  // the second is written after tail printed the first: only following shows it.
  server.Request(1, "tools/call", {{"name", "catalog_list_tags"}, {"arguments", {{"filter", "first"}}}});
  EXPECT_NE(read_until("first").find("\"filter\":\"first\""), std::string::npos);
  server.Request(2, "tools/call", {{"name", "catalog_list_tags"}, {"arguments", {{"filter", "second"}}}});
  const std::string line = read_until("second");
  EXPECT_NE(line.find("\"filter\":\"second\""), std::string::npos) << line;
  EXPECT_EQ(json::parse(line)["event_type"], "tool_call");
  EXPECT_EQ(server.CloseAndWait(), 0);
  tail.Signal(SIGTERM);
}

// GET /metrics of `mcp-audit serve --http`: a sink that is down shows as down,
// with its backlog, while the other goes on; only callers with a key see it.
TEST(MetricsTest, ASinkThatIsDownShowsItsBacklogInMetrics) {
  testing::TempDir dir;
  const auto config = dir.path() / "mcp-audit.toml";
  std::ofstream(config) << "[[sinks]]\nname = \"local\"\nurl = \"sqlite://" << (dir.path() / "local.db").string()
                        << "\"\n[[sinks]]\nname = \"warehouse\"\nurl = \"postgres://audit@127.0.0.1:"
                        << testing::FreePort() << "/audit\"\n";
  ServerProcess server({"serve", "--http", "127.0.0.1:0", "--dev-api-key", "--config", config.string(),
                        "--audit-dir", (dir.path() / "audit").string()},
                       dir.path() / "serve.txt");
  const auto [port, key] = testing::WaitForEndpoint(server);
  ASSERT_TRUE(port != 0 && !key.empty()) << server.Stderr();
  const testing::HttpClient http("127.0.0.1", port);
  EXPECT_EQ(http.Send("GET", "/metrics", "", {}).status, 401) << "not without a key";
  auto metric = [](const std::string& text, const std::string& line_start) -> long long {
    const auto at = text.find("\n" + line_start + " ");
    return at == std::string::npos ? -1 : std::stoll(text.substr(at + line_start.size() + 2));
  };
  std::string text;
  for (int i = 0; i < 100; ++i) {  // until each shipper has tried once
    text = http.Send("GET", "/metrics", "", {{"X-API-Key", key}}).body;
    if (metric(text, "mcpaudit_sink_failures_total{sink=\"warehouse\"}") > 0 &&
        metric(text, "mcpaudit_sink_backlog_bytes{sink=\"local\"}") == 0)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(metric(text, "mcpaudit_sink_up{sink=\"local\"}"), 1) << text;
  EXPECT_EQ(metric(text, "mcpaudit_sink_backlog_bytes{sink=\"local\"}"), 0) << text;
  EXPECT_EQ(metric(text, "mcpaudit_sink_up{sink=\"warehouse\"}"), 0) << text;
  EXPECT_GE(metric(text, "mcpaudit_sink_failures_total{sink=\"warehouse\"}"), 1) << text;
  EXPECT_GT(metric(text, "mcpaudit_records_written_total"), 0) << text;
  // The warehouse never got the journal's first record; its backlog is at least that.
  EXPECT_GT(metric(text, "mcpaudit_sink_backlog_bytes{sink=\"warehouse\"}"), 0) << text;
  EXPECT_EQ(server.Signal(SIGTERM), 0) << server.Stderr();
}

TEST(StoreTest, ServeShipsTheJournalToSqliteWhereQueryVerifyAndStatusReadIt) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  OneSearchBy(audit, "carol");
  const std::string store = "sqlite://" + (audit / "audit.db").string();
  auto [query_code, query_out] = RunCommand("query --format json --tool catalog_search --store " + store);
  ASSERT_EQ(query_code, 0) << query_out;
  EXPECT_NE(query_out.find("\"orders\""), std::string::npos) << query_out;
  EXPECT_NE(query_out.find("\"carol\""), std::string::npos) << query_out;
  auto [verify_code, verify_out] = RunCommand("verify --store " + store);
  EXPECT_EQ(verify_code, 0) << verify_out;
  // started, session start, call, session end, stopped, checkpoint
  EXPECT_NE(verify_out.find("valid: 6 records"), std::string::npos) << verify_out;
  auto [status_code, status_out] = RunCommand("status --audit-dir " + audit.string());
  EXPECT_EQ(status_code, 0) << status_out;
  EXPECT_NE(status_out.find("sink sqlite: 0 records to ship"), std::string::npos) << status_out;
  auto [bad_code, bad_out] = RunCommand("query --store ftp://nowhere");
  EXPECT_EQ(bad_code, 2) << bad_out;
  EXPECT_NE(bad_out.find("not a store URL"), std::string::npos) << bad_out;
}

TEST(ExportTest, ExportWritesTheSelectedRecordsAsStoredOrAsCsvIntoANewPrivateFile) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  {
    ServerProcess server(audit, {"--user", "carol"});
    server.Initialize();
    server.Request(1, "tools/call", {{"name", "catalog_search"}, {"arguments", {{"query", "orders"}}}});
    server.Request(2, "tools/call", {{"name", "no_such_tool"}, {"arguments", json::object()}});
    EXPECT_EQ(server.CloseAndWait(), 0);
  }
  const auto all = dir.path() / "all.jsonl";
  auto [code, out] = RunCommand("export --audit-dir " + audit.string() + " -o " + all.string());
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("exported 7 records"), std::string::npos) << out;
  std::string journal;
  const auto files = ListAuditFiles(audit);
  ASSERT_TRUE(files.has_value());
  for (const auto& file : *files) journal += ReadFile(file);
  EXPECT_EQ(ReadFile(all), journal) << "the records as the journal holds them, hashes included";
  EXPECT_EQ(std::filesystem::status(all).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  auto [again, again_out] = RunCommand("export --audit-dir " + audit.string() + " -o " + all.string());
  EXPECT_EQ(again, 2) << again_out;
  EXPECT_NE(again_out.find("File exists"), std::string::npos) << again_out;
  EXPECT_EQ(ReadFile(all), journal) << "an earlier export is never overwritten";

  const auto denied = dir.path() / "denied.csv";
  auto [csv, csv_out] =
      RunCommand("export --format csv --outcome denied --audit-dir " + audit.string() + " -o " + denied.string());
  ASSERT_EQ(csv, 0) << csv_out;
  const std::string table = ReadFile(denied);
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 2) << table;  // the header and the one denied call
  EXPECT_NE(table.find("no_such_tool"), std::string::npos) << table;
}

// serve ships to PostgreSQL and MariaDB (real servers on loopback, passwords
// from files); query, export, tail, verify and erase work against each store.
TEST(StoreTest, ServeShipsToPostgresqlAndMariadbWhereEveryReadCommandAndEraseWork) {
  using testing::DatabaseServer;
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  DatabaseServer& postgres = DatabaseServer::Get(DatabaseServer::Kind::kPostgres);
  DatabaseServer& mariadb = DatabaseServer::Get(DatabaseServer::Kind::kMariadb);
  const auto config = dir.path() / "mcp-audit.toml";
  {
    std::ofstream out(config);
    for (const SinkConfig& sink : {postgres.Config("pg"), mariadb.Config("maria")})
      out << "[[sinks]]\nname = \"" << sink.name << "\"\nurl = \"" << sink.url << "\"\npassword_file = \""
          << sink.password_file << "\"\n";
  }
  {
    ServerProcess server(audit, {"--config", config.string(), "--user", "dana"});
    server.Initialize();
    server.Request(1, "tools/call", {{"name", "catalog_search"}, {"arguments", {{"query", "dana's payroll"}}}});
    EXPECT_EQ(server.CloseAndWait(), 0);
  }
  for (const DatabaseServer* db : {&postgres, &mariadb}) {
    const SinkConfig sink = db->Config();
    const std::string store = "--store " + sink.url + " --store-password-file " + sink.password_file;
    auto [query_code, query_out] = RunCommand("query --format json --tool catalog_search " + store);
    ASSERT_EQ(query_code, 0) << query_out;
    EXPECT_NE(query_out.find("dana's payroll"), std::string::npos) << query_out;
    auto [tail_code, tail_out] = RunCommand("tail -n 1 " + store);
    EXPECT_EQ(tail_code, 0) << tail_out;
    EXPECT_NE(tail_out.find("\"checkpoint\""), std::string::npos) << tail_out;
    const auto exported = dir.path() / ("export-" + std::to_string(db == &postgres) + ".jsonl");
    auto [export_code, export_out] = RunCommand("export -o " + exported.string() + " " + store);
    EXPECT_EQ(export_code, 0) << export_out;
    EXPECT_NE(export_out.find("exported 6 records"), std::string::npos) << export_out;
    auto [verify_code, verify_out] = RunCommand("verify " + store);
    EXPECT_EQ(verify_code, 0) << verify_out;
    EXPECT_NE(verify_out.find("valid: 6 records"), std::string::npos) << verify_out;
    auto [no_password, no_password_out] = RunCommand("query --store " + sink.url);
    EXPECT_EQ(no_password, 2) << no_password_out;
    EXPECT_NE(no_password_out.find("cannot connect"), std::string::npos) << no_password_out;
  }

  auto [erase_code, erase_out] =
      RunCommand("erase --user dana --reason ticket-9 --audit-dir " + audit.string() + " --config " + config.string());
  ASSERT_EQ(erase_code, 0) << erase_out;
  EXPECT_NE(erase_out.find("erased 1 records in the store postgres://"), std::string::npos) << erase_out;
  EXPECT_NE(erase_out.find("erased 1 records in the store mysql://"), std::string::npos) << erase_out;
  EXPECT_EQ(postgres.Sql("SELECT count(*) FROM audit_events WHERE record LIKE '%payroll%'"), "0");
  EXPECT_EQ(mariadb.Sql("SELECT count(*) FROM audit_log WHERE record LIKE '%payroll%' OR params LIKE '%payroll%'"), "0");
  for (const DatabaseServer* db : {&postgres, &mariadb}) {
    const SinkConfig sink = db->Config();
    auto [verify_code, verify_out] =
        RunCommand("verify --store " + sink.url + " --store-password-file " + sink.password_file);
    EXPECT_EQ(verify_code, 0) << verify_out;
  }
}

TEST(EraseTest, ThePersonsDataIsGoneFromEveryByteAndTheJournalStillVerifies) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  for (const char* user : {"alice", "bob"}) {
    ServerProcess server(audit, {"--user", user});
    server.Initialize();
    server.Request(1, "tools/call",
                   {{"name", "catalog_search"}, {"arguments", {{"query", std::string(user) + "-private-query"}}}});
    EXPECT_EQ(server.CloseAndWait(), 0);
  }
  {
    ServerProcess running(audit);
    running.Initialize();
    auto [code, out] = RunCommand("erase --user alice --reason ticket-7 --audit-dir " + audit.string());
    EXPECT_EQ(code, 2);
    EXPECT_NE(out.find("stop it before erasing"), std::string::npos) << out;
    EXPECT_EQ(running.CloseAndWait(), 0);
  }
  ASSERT_NE(AllBytes(audit).find("alice-private-query"), std::string::npos);

  auto [code, out] = RunCommand("erase --user alice --reason ticket-7 --audit-dir " + audit.string());
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("erased 1 fields in 1 of"), std::string::npos) << out;
  EXPECT_NE(out.find("erased 1 records in the store sqlite://"), std::string::npos) << out;
  const std::string bytes = AllBytes(audit);  // the journal and the SQLite store it was shipped to
  EXPECT_EQ(bytes.find("alice-private-query"), std::string::npos);  // gone from the disk
  EXPECT_NE(bytes.find("bob-private-query"), std::string::npos);     // nobody else's
  // The rewritten line keeps the writer's layout (integrity last), which verify hashes as it is.
  for (const auto& entry : std::filesystem::directory_iterator(audit)) {
    if (!journal::IsSegmentFile(entry)) continue;
    std::ifstream segment(entry.path());
    for (std::string line; std::getline(segment, line);)
      EXPECT_EQ(line.find("\"integrity\":"), line.rfind(",\"integrity\":{") + 1) << line;
  }
  auto [verify_code, verify_out] = RunCommand("verify --audit-dir " + audit.string());
  EXPECT_EQ(verify_code, 0) << verify_out;
  auto [store_code, store_out] = RunCommand("verify --store sqlite://" + (audit / "audit.db").string());
  EXPECT_EQ(store_code, 0) << store_out;  // the store's copy still verifies after the erasure

  auto [by_value, by_value_out] = RunCommand("erase --field-value bob-private-query --reason ticket-8 --audit-dir " +
                                             audit.string());
  ASSERT_EQ(by_value, 0) << by_value_out;
  EXPECT_EQ(AllBytes(audit).find("bob-private-query"), std::string::npos);
  auto [verify_again, verify_again_out] = RunCommand("verify --audit-dir " + audit.string());
  EXPECT_EQ(verify_again, 0) << verify_again_out;

  std::vector<AuditEvent> erasures;
  for (const auto& e : Records(audit, /*all=*/true))
    if (e.event_type == "erasure") erasures.push_back(e);
  ASSERT_EQ(erasures.size(), 2u);
  EXPECT_EQ(erasures[0].details["reason"], "ticket-7");
  EXPECT_EQ(erasures[0].details["records"], 1);
  EXPECT_EQ(erasures[0].details["selector"], "user");
  EXPECT_EQ(erasures[1].details["selector"], "field_value");
}

TEST(EraseTest, AValueInsideALongerStringIsShownByADryRunThenErasedWhereverItCanBe) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  {
    ServerProcess server(audit, {"--user", "nurse-Zebulon-desk"});  // the name is also in a user id
    server.Initialize();
    server.Request(1, "tools/call", {{"name", "catalog_search"}, {"arguments", {{"query", "patient Zebulon-Okafor"}}}});
    server.Request(2, "tools/call", {{"name", "catalog_search"}, {"arguments", {{"query", "orders"}}}});
    EXPECT_EQ(server.CloseAndWait(), 0);
  }
  const auto calls = Records(audit);
  ASSERT_EQ(calls.size(), 2u);

  auto [no_reason, no_reason_out] = RunCommand("erase --field-value Zebulon --reason ' ' --audit-dir " + audit.string());
  EXPECT_EQ(no_reason, 2);
  EXPECT_NE(no_reason_out.find("--reason: say why"), std::string::npos) << no_reason_out;
  auto [too_short, too_short_out] = RunCommand("erase --field-value Ze --reason t-1 --audit-dir " + audit.string());
  EXPECT_EQ(too_short, 2) << too_short_out;

  auto [dry, dry_out] = RunCommand("erase --field-value Zebulon --dry-run --reason t-1 --audit-dir " + audit.string());
  ASSERT_EQ(dry, 0) << dry_out;
  EXPECT_NE(dry_out.find("would erase /params of record " + calls[0].id), std::string::npos) << dry_out;
  EXPECT_EQ(dry_out.find("would erase /params of record " + calls[1].id), std::string::npos)
      << "only the field that holds it";
  EXPECT_NE(dry_out.find("/user/id of record " + calls[0].id), std::string::npos) << dry_out;
  EXPECT_NE(AllBytes(audit).find("patient Zebulon-Okafor"), std::string::npos) << "a dry run changes nothing";

  auto [code, out] = RunCommand("erase --field-value Zebulon --reason t-1 --audit-dir " + audit.string());
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("erased 1 fields in 1 of"), std::string::npos) << out;
  EXPECT_NE(out.find("where it cannot be erased"), std::string::npos) << out;
  EXPECT_EQ(AllBytes(audit).find("patient Zebulon-Okafor"), std::string::npos);
  EXPECT_EQ(Records(audit)[1].params, json({{"query", "orders"}}));  // another record's parameters stay
  auto [verify, verify_out] = RunCommand("verify --audit-dir " + audit.string());
  EXPECT_EQ(verify, 0) << verify_out;
}

// With no --store, a read uses <audit-dir>/audit.db when the server's SQLite
// sink has shipped it every record (its indexes answer), and the journal when
// the store is behind; the audit_read record names which one answered.
TEST(QueryTest, ACaughtUpLocalStoreAnswersTheFiltersAndOneBehindLeavesItToTheJournal) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  OneSearchBy(audit, "carol");
  OneSearchBy(audit, "dave");
  std::string dave_session;
  for (const auto& e : Records(audit))
    if (e.user.id == "dave") dave_session = e.request.session_id;
  ASSERT_FALSE(dave_session.empty());
  const std::string at = " --audit-dir " + audit.string();
  auto read_source = [&] {
    const auto lines = testing::ReadLines(audit / "pending-reads.jsonl");
    return json::parse(lines.back())["details"]["source"].get<std::string>();
  };
  for (bool caught_up : {true, false}) {
    if (!caught_up) std::filesystem::remove_all(audit / "shippers");  // as if the sink had shipped nothing yet
    auto [code, out] = RunCommand("query --format json --session " + dave_session + at);
    ASSERT_EQ(code, 0) << out;
    std::vector<std::string> lines;
    std::istringstream stream(out);
    for (std::string line; std::getline(stream, line);) lines.push_back(line);
    ASSERT_GE(lines.size(), 1u) << out;
    for (const auto& line : lines) EXPECT_EQ(json::parse(line)["request"]["session_id"], dave_session) << line;
    EXPECT_EQ(read_source().rfind(caught_up ? "sqlite://" : "journal ", 0), 0u) << read_source();
    auto [text_code, text_out] = RunCommand("query --format json -q SEARCH --user carol" + at);
    ASSERT_EQ(text_code, 0) << text_out;
    ASSERT_EQ(std::count(text_out.begin(), text_out.end(), '\n'), 1) << text_out;
    EXPECT_EQ(json::parse(text_out)["user"]["id"], "carol");
  }
}

// Every read of the audit log by a command is an audit_read record: logged by
// the server that holds the journal, or, when none runs, kept (synced, 0600)
// until the next server starts and logs it first.
TEST(AuditReadTest, EveryReadOfTheAuditLogIsItselfRecorded) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  OneSearchBy(audit, "carol");
  ::setenv("MCP_AUDIT_USER", "auditor-ann", 1);
  const std::string at = " --audit-dir " + audit.string();
  for (const std::string& command : std::vector<std::string>{"query --tool catalog_search", "tail -n 1", "report --kind failures",
                                    "export -o " + (dir.path() / "x.jsonl").string(), "verify"}) {
    auto [code, out] = RunCommand(command + at);
    EXPECT_EQ(code, 0) << command << ": " << out;
    EXPECT_EQ(out.find("not recorded"), std::string::npos) << out;
  }
  const auto pending = audit / "pending-reads.jsonl";
  ASSERT_TRUE(std::filesystem::exists(pending));
  EXPECT_EQ(std::filesystem::status(pending).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_TRUE(Records(audit, /*all=*/true).back().event_type != "audit_read") << "not in the chain yet";
  {
    ServerProcess running(audit);
    running.Initialize();
    EXPECT_FALSE(std::filesystem::exists(pending)) << "logged at the start";
    auto [code, out] = RunCommand("query --user carol" + at);
    EXPECT_EQ(code, 0) << out;
    EXPECT_EQ(out.find("not recorded"), std::string::npos) << out;
    auto [store_code, store_out] = RunCommand("query --store sqlite://" + (audit / "audit.db").string() + at);
    EXPECT_EQ(store_code, 0) << store_out;
    EXPECT_EQ(running.CloseAndWait(), 0);
  }
  auto [nowhere_code, nowhere_out] =
      RunCommand("query --store sqlite://" + (audit / "audit.db").string() + " --audit-dir " + dir.path().string());
  EXPECT_EQ(nowhere_code, 0) << nowhere_out;
  EXPECT_NE(nowhere_out.find("warning: this read of the audit log is not recorded: there is no audit journal in"),
            std::string::npos)
      << nowhere_out;
  ::unsetenv("MCP_AUDIT_USER");

  std::vector<AuditEvent> reads;
  for (const auto& e : Records(audit, /*all=*/true))
    if (e.event_type == "audit_read") reads.push_back(e);
  ASSERT_EQ(reads.size(), 7u);
  const std::vector<std::string> commands = {"query", "tail", "report", "export", "verify", "query", "query"};
  for (size_t i = 0; i < reads.size(); ++i) {
    EXPECT_EQ(reads[i].details["command"], commands[i]);
    EXPECT_EQ(reads[i].user.id, "auditor-ann");
    EXPECT_EQ(reads[i].request.transport, "cli");
  }
  EXPECT_EQ(reads[0].details["request"]["filters"]["tool"], "catalog_search");
  EXPECT_EQ(reads[4].details["request"]["valid"], true);  // verify records its verdict
  // Through the running server, which names the reading process as the kernel knows it.
  EXPECT_EQ(reads[5].server.name, "mcp-audit");
  EXPECT_EQ(reads[5].details["request"]["filters"]["user"], "carol");
  EXPECT_EQ(reads[5].details["peer"]["uid"], ::geteuid());
  EXPECT_EQ(reads[6].details["source"].get<std::string>().rfind("sqlite://", 0), 0u);
  auto [verify_code, verify_out] = RunCommand("verify" + at);
  EXPECT_EQ(verify_code, 0) << verify_out;
}

TEST(AuditReadTest, AClientThatHangsUpOnTheControlSocketDoesNotStopTheServer) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  ServerProcess running(audit);
  running.Initialize();
  const std::string path = (audit / "control.sock").string();
  for (int i = 0; i < 20; ++i) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0) << i;
    // A request, then gone before the answer (the server's write meets a closed socket: SIGPIPE).
    const std::string line = std::string(100000, ' ') + "\n";
    (void)::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
    ::close(fd);
  }
  // And one that connects and says nothing: it does not hold the socket for good.
  const int silent = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  ASSERT_EQ(::connect(silent, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_TRUE(running.Request(1, "tools/call", {{"name", "catalog_list_tags"}, {"arguments", json::object()}})
                  .contains("result"));
  AuditEvent read;
  read.event_type = "audit_read";
  EXPECT_TRUE(RecordAuditRead(audit, read).has_value()) << "the socket serves the next reader";
  ::close(silent);
  EXPECT_EQ(running.CloseAndWait(), 0) << running.Stderr();
}

TEST(AuditReadTest, TheServerAcceptsOnlyReadsOnItsSocket) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  ServerProcess running(audit);
  running.Initialize();
  const auto socket_path = audit / "control.sock";
  EXPECT_EQ(std::filesystem::status(socket_path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  AuditEvent forged;
  forged.event_type = "tool_call";
  forged.tool = "catalog_search";
  forged.user.id = "someone-else";
  auto recorded = RecordAuditRead(audit, forged);
  ASSERT_FALSE(recorded.has_value());
  EXPECT_NE(recorded.error().message.find("only audit_read events are accepted"), std::string::npos)
      << recorded.error().message;
  EXPECT_EQ(running.CloseAndWait(), 0);
  EXPECT_FALSE(std::filesystem::exists(socket_path)) << "removed when the server stops";
  for (const auto& e : Records(audit, /*all=*/true)) EXPECT_NE(e.user.id, "someone-else");
}

// A journal with 30 calls of tenant shop from 400 days ago and 5 from today,
// in small segments with signed checkpoints (keys made with keygen in `keys`),
// shipped to the default store by a server run.
void WriteAgedJournal(const std::filesystem::path& audit, const std::filesystem::path& keys) {
  auto [keygen_code, keygen_out] = RunCommand("keygen --out " + keys.string());
  ASSERT_EQ(keygen_code, 0) << keygen_out;
  PipelineOptions options;
  options.directory = audit;
  options.max_segment_bytes = 4096;
  options.signing_key = keys / "audit-signing.key";
  options.admin_space_left_bytes = options.space_left_bytes = 0;
  {
    auto pipeline = Pipeline::Open(options);
    ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
    const auto now = std::chrono::system_clock::now();
    for (int i = 0; i < 35; ++i) {
      AuditEvent e;
      e.timestamp = i < 30 ? now - std::chrono::days(400) : now;
      e.id = NewUuidV7(e.timestamp, SecureRandom());
      e.tool = "catalog_search";
      e.user = {.id = "buyer" + std::to_string(i), .email = "buyer" + std::to_string(i) + "@shop.example",
                .tenant_id = "shop"};
      e.params = {{"query", "order " + std::to_string(i)}};
      ASSERT_TRUE((*pipeline)->Log(e).has_value());
      ASSERT_TRUE((*pipeline)->Flush().has_value());
    }
  }
  ServerProcess ship(audit);  // its shipper fills <audit>/audit.db
  ship.Initialize();
  ASSERT_EQ(ship.CloseAndWait(), 0) << ship.Stderr();
}

std::filesystem::path RetentionConfig(const std::filesystem::path& dir, const std::filesystem::path& audit,
                                      const std::filesystem::path& keys) {
  const auto config = dir / "retention.toml";
  std::ofstream(config) << "[audit]\ndir = \"" << audit.string() << "\"\nsigning_key = \""
                        << (keys / "audit-signing.key").string() << "\"\n"
                        << "[retention]\nrun_every_hours = 24\n"
                        << "[[retention.tenants]]\ntenant = \"shop\"\nkeep_days = 365\n";
  return config;
}

// How many records of the store are older than `age`.
size_t StoredOlderThan(const std::filesystem::path& audit, std::chrono::days age) {
  size_t old = 0;
  SinkConfig store{.name = "store", .url = "sqlite://" + (audit / "audit.db").string()};
  EXPECT_TRUE(ForEachRecordIn({}, store, [&](const AuditEvent& e) {
                old += e.timestamp < std::chrono::system_clock::now() - age;
                return true;
              }, [](const BadLine&) {}).has_value());
  return old;
}

TEST(RetentionCommandTest, DeletesExpiredRecordsFromTheJournalAndTheStoreAndBothStillVerify) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit", keys = dir.path() / "keys";
  WriteAgedJournal(audit, keys);
  const auto config = RetentionConfig(dir.path(), audit, keys);
  ASSERT_GT(StoredOlderThan(audit, std::chrono::days(365)), 0u);
  const std::string journal_before = AllBytes(audit);

  auto [dry_code, dry_out] = RunCommand("retention --dry-run --config " + config.string());
  ASSERT_EQ(dry_code, 0) << dry_out;
  EXPECT_NE(dry_out.find("would delete "), std::string::npos) << dry_out;
  EXPECT_EQ(AllBytes(audit), journal_before) << "a dry run changes nothing";

  {
    ServerProcess running(audit);
    running.Initialize();
    auto [busy_code, busy_out] = RunCommand("retention --config " + config.string());
    EXPECT_EQ(busy_code, 2) << busy_out;
    EXPECT_NE(busy_out.find("a running server applies it itself"), std::string::npos) << busy_out;
    EXPECT_EQ(running.CloseAndWait(), 0);
  }

  auto [code, out] = RunCommand("retention --config " + config.string());
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("deleted "), std::string::npos) << out;
  EXPECT_NE(out.find("now begins after seq"), std::string::npos) << out;
  // Expired calls that share a segment with today's stay (a chain loses only its beginning); the
  // store keeps exactly what the journal keeps.
  size_t kept_old = 0, retention_runs = 0;
  for (const auto& e : Records(audit, /*all=*/true)) {
    kept_old += e.timestamp < std::chrono::system_clock::now() - std::chrono::days(365);
    retention_runs += e.event_type == "retention";
  }
  EXPECT_EQ(retention_runs, 1u);
  EXPECT_LT(kept_old, 30u);
  EXPECT_EQ(StoredOlderThan(audit, std::chrono::days(365)), kept_old);

  const std::string pubkey = " --pubkey " + (keys / "audit-signing.pub").string();
  auto [verify_code, verify_out] = RunCommand("verify --audit-dir " + audit.string() + pubkey);
  EXPECT_EQ(verify_code, 0) << verify_out;
  EXPECT_NE(verify_out.find("were deleted by retention"), std::string::npos) << verify_out;
  auto [store_code, store_out] = RunCommand("verify --store sqlite://" + (audit / "audit.db").string() + pubkey);
  EXPECT_EQ(store_code, 0) << store_out;
  EXPECT_NE(store_out.find("were deleted by retention"), std::string::npos) << store_out;
}

TEST(RetentionCommandTest, TheServerAppliesTheRetentionPolicyItself) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit", keys = dir.path() / "keys";
  WriteAgedJournal(audit, keys);
  const auto config = RetentionConfig(dir.path(), audit, keys);
  ServerProcess server(audit, {"--config", config.string()});
  server.Initialize();
  bool ran = false;
  for (int i = 0; i < 100 && !ran; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (const auto& e : Records(audit, /*all=*/true)) ran |= e.event_type == "retention";
  }
  EXPECT_TRUE(ran) << server.Stderr();
  EXPECT_EQ(server.CloseAndWait(), 0) << server.Stderr();
  EXPECT_NE(server.Stderr().find("retention: deleted"), std::string::npos) << server.Stderr();
  auto [verify_code, verify_out] =
      RunCommand("verify --audit-dir " + audit.string() + " --pubkey " + (keys / "audit-signing.pub").string());
  EXPECT_EQ(verify_code, 0) << verify_out;
  EXPECT_LT(StoredOlderThan(audit, std::chrono::days(365)), 30u);
}

// A sink that stays down while the journal outgrows its disk budget: the
// server gives up the oldest segments, says what the sink lost, and the chain
// still verifies.
TEST(RetentionCommandTest, OverItsDiskBudgetTheServerGivesUpWhatADownSinkDidNotGet) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  const auto config = dir.path() / "budget.toml";
  ::setenv("MCPAUDIT_TEST_WEBHOOK_SECRET", "a-shared-secret", 1);
  std::ofstream(config) << "[audit.segments]\nmax_bytes = 65536\n"
                        << "[[sinks]]\nname = \"down\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:1/audit\"\n"
                        << "password_env = \"MCPAUDIT_TEST_WEBHOOK_SECRET\"\n"
                        << "[retention]\nmax_journal_mb = 1\nrun_every_hours = 0\n";
  {
    ServerProcess server(audit, {"--config", config.string(), "--user", "loader"});
    server.Initialize();
    for (int batch = 0; batch < 40; ++batch) {  // 50 calls in flight at a time: the pipes stay unfilled
      for (int i = 1; i <= 50; ++i)
        server.Send({{"jsonrpc", "2.0"}, {"id", batch * 50 + i}, {"method", "tools/call"},
                     {"params", {{"name", "catalog_search"}, {"arguments", {{"query", "q" + std::to_string(i)}}}}}});
      for (int i = 1; i <= 50; ++i) server.ReadLine();
    }
    EXPECT_EQ(server.CloseAndWait(), 0) << server.Stderr();
  }
  size_t bytes = 0;
  for (const auto& file : testing::SegmentPaths(audit)) bytes += std::filesystem::file_size(file);
  ASSERT_GT(bytes, 1u << 20) << "the journal must be over its budget for this test";
  ::unsetenv("MCPAUDIT_TEST_WEBHOOK_SECRET");
  {
    ::setenv("MCPAUDIT_TEST_WEBHOOK_SECRET", "a-shared-secret", 1);
    ServerProcess server(audit, {"--config", config.string()});  // retention runs at the start
    server.Initialize();
    EXPECT_EQ(server.CloseAndWait(), 0);
    ::unsetenv("MCPAUDIT_TEST_WEBHOOK_SECRET");
    EXPECT_NE(server.Stderr().find("sink down will never receive"), std::string::npos) << server.Stderr();
  }
  bytes = 0;
  for (const auto& file : testing::SegmentPaths(audit)) bytes += std::filesystem::file_size(file);
  EXPECT_LE(bytes, (1u << 20) + 65536 * 2);
  const std::vector<AuditEvent> all = Records(audit, /*all=*/true);
  auto run = std::find_if(all.begin(), all.end(), [](const AuditEvent& e) { return e.event_type == "retention"; });
  ASSERT_NE(run, all.end());
  EXPECT_GT(run->details["disk_budget"]["records_given_up"]["down"].get<uint64_t>(), 0u);
  auto [verify_code, verify_out] = RunCommand("verify --audit-dir " + audit.string());
  EXPECT_EQ(verify_code, 0) << verify_out;
}

TEST(RetentionCommandTest, WithoutAPolicyItSaysWhatToConfigure) {
  testing::TempDir dir;
  const auto config = dir.path() / "empty.toml";
  std::ofstream(config) << "[audit]\ndir = \"" << (dir.path() / "audit").string() << "\"\n";
  auto [code, out] = RunCommand("retention --config " + config.string());
  EXPECT_EQ(code, 2);
  EXPECT_NE(out.find("has no retention policy"), std::string::npos) << out;
}

// The crash test: durable mode under concurrent calls, killed with SIGKILL at
// random moments and restarted, many times. Every call that got a response
// must have its record; the chain must verify.
TEST(CrashTest, KillNineInDurableModeLosesNoAcknowledgedCall) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::set<std::string> acknowledged;
  for (int run = 0; run < 15; ++run) {
    ServerProcess server(audit, {"--mode", "durable"});
    server.Initialize();
    const int kill_after = std::uniform_int_distribution<int>(1, 150)(rng);
    int sent = 0, received = 0;
    while (received < kill_after) {
      for (; sent - received < 16; ++sent) {  // 16 calls in flight
        server.Send({{"jsonrpc", "2.0"}, {"id", "r" + std::to_string(run) + "-" + std::to_string(sent)},
                     {"method", "tools/call"},
                     {"params", {{"name", "catalog_search"}, {"arguments", {{"query", "customer"}, {"limit", 2}}}}}});
      }
      json reply = server.Read();
      ASSERT_TRUE(reply.contains("result")) << reply;
      acknowledged.insert(reply["id"].get<std::string>());
      ++received;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(rng)));
    EXPECT_EQ(server.Signal(SIGKILL), 128 + SIGKILL);
  }
  {
    ServerProcess last(audit);  // recovers, then stops cleanly
    last.Initialize();
    EXPECT_EQ(last.CloseAndWait(), 0) << last.Stderr();
  }
  std::set<std::string> recorded;
  int unclean_restarts = 0;
  for (const auto& e : Records(audit, /*all=*/true)) {
    if (e.event_type == "tool_call") recorded.insert(e.request.id);
    if (e.event_type == "audit_started" && e.details.value("previous_stop", "") == "unclean") ++unclean_restarts;
  }
  size_t missing = 0;
  for (const auto& id : acknowledged) missing += recorded.contains(id) ? 0 : 1;
  EXPECT_EQ(missing, 0u) << "of " << acknowledged.size() << " acknowledged calls";
  EXPECT_GE(recorded.size(), acknowledged.size());
  EXPECT_EQ(unclean_restarts, 15);
  auto report = VerifyJournal(audit, nullptr);
  ASSERT_TRUE(report.has_value());
  for (const auto& p : report->problems) ADD_FAILURE() << "seq " << p.seq << ": " << p.verdict << ": " << p.detail;
  std::cout << "crash test: " << acknowledged.size() << " calls acknowledged, all " << recorded.size()
            << " recorded; 15 SIGKILLs; chain valid\n";
}

}  // namespace
}  // namespace mcpaudit

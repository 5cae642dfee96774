// MCP 2026-07-28, the stateless revision, as its clients meet `mcp-audit
// serve`: over stdio and Streamable HTTP, next to the 2025 revisions on the
// same process and endpoint. Every message the server sends is checked
// against the revision's JSON Schema, and every record field by field.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/cli_process.h"
#include "support/modern_client.h"
#include "support/shell.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

using nlohmann::json;
using testing::AnswerOf;
using testing::HttpClient;
using testing::HttpReply;
using testing::ModernHeaders;
using testing::ModernMeta;
using testing::ModernRequest;
using testing::ServerProcess;

constexpr char kTraceparent[] = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";

// All records of `dir` but the pipeline's own (start, stop, checkpoints).
std::vector<AuditEvent> CallRecords(const std::filesystem::path& dir) {
  std::vector<AuditEvent> calls;
  for (AuditEvent& event : testing::Records(dir, true)) {
    if (event.event_type != "audit_started" && event.event_type != "audit_stopped" &&
        event.event_type != "checkpoint")
      calls.push_back(std::move(event));
  }
  return calls;
}

const AuditEvent* FindRecord(const std::vector<AuditEvent>& records, std::string_view request_id) {
  for (const AuditEvent& event : records)
    if (event.request.id == request_id) return &event;
  return nullptr;
}

void ExpectVerifies(const std::filesystem::path& dir) {
  auto [code, output] = testing::RunCommand("verify --audit-dir " + dir.string());
  EXPECT_EQ(code, 0) << output;
  EXPECT_NE(output.find("valid:"), std::string::npos) << output;
}

// Tools listed by role change with a reload of the policy: whoever asked to be
// told is, on its own stream, and no one else.
TEST(ModernProtocolTest, AReloadedPolicyTellsTheSubscriptionsAndSessionsThatAskedOfIt) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  const auto config = dir.path() / "mcp-audit.toml";
  const std::string allow_all = "[[policy.access]]\nroles = [\"*\"]\nallow = [\"*\"]\n";
  std::ofstream(config) << allow_all;
  ServerProcess server(audit, {"--toolkit", "conformance", "--config", config.string()});
  auto reload = [&](const std::string& policy) {
    std::ofstream(config) << policy;
    auto [code, said] = testing::RunCommand("reload --audit-dir " + audit.string());
    EXPECT_EQ(code, 0) << said;
  };
  auto listed = [&](const json& id) {
    server.Send(ModernRequest(id, "tools/list"));
    const json answer = server.Read();
    std::set<std::string> names;
    for (const auto& tool : answer["result"]["tools"]) names.insert(tool["name"]);
    return names;
  };

  server.Send(ModernRequest("watch", "subscriptions/listen",
                            {{"notifications", {{"toolsListChanged", true}}}}));
  json ack = server.Read();
  EXPECT_VALID(ack, "SubscriptionsAcknowledgedNotification");
  EXPECT_EQ(ack["params"]["notifications"], (json{{"toolsListChanged", true}}));
  server.Send(ModernRequest("quiet", "subscriptions/listen", {{"notifications", json::object()}}));
  EXPECT_EQ(server.Read()["params"]["notifications"], json::object());
  EXPECT_TRUE(listed(1).contains("test_simple_text"));

  reload(allow_all + "deny = [\"test_simple_text\"]\n");
  const json changed = server.Read();
  EXPECT_VALID(changed, "ToolListChangedNotification");
  EXPECT_EQ(changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "watch");
  EXPECT_FALSE(listed(2).contains("test_simple_text"));

  // A 2025 session on the same process is told too, on its own stream (no subscription).
  server.Initialize();
  reload(allow_all);
  std::vector<json> told = {server.Read(), server.Read()};
  EXPECT_EQ(told[0], (json{{"jsonrpc", "2.0"},
                           {"method", "notifications/tools/list_changed"},
                           {"params", json::object()}}));
  EXPECT_EQ(told[1]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "watch");
  EXPECT_TRUE(listed(3).contains("test_simple_text"));

  EXPECT_EQ(server.CloseAndWait(), 0);
  // The rest is the subscriptions' graceful ends; "quiet" was told nothing.
  std::vector<json> rest;
  std::istringstream lines(server.RemainingStdout());
  for (std::string line; std::getline(lines, line);) rest.push_back(json::parse(line));
  ASSERT_EQ(rest.size(), 2u) << server.RemainingStdout();
  for (const json& end : rest) EXPECT_VALID(end, "SubscriptionsListenResultResponse");
  ExpectVerifies(audit);
}

TEST(ModernProtocolTest, StdioServesTheStatelessRevisionBesideAnInitializedSession) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  {
    ServerProcess server(audit, {"--toolkit", "conformance"});
    auto ask = [&](const json& request) {
      server.Send(request);
      return server.Read();
    };

    // No initialize: the first request is served.
    json discover = ask(ModernRequest("d", "server/discover"));
    EXPECT_VALID(discover, "DiscoverResultResponse");
    EXPECT_EQ(discover["result"]["resultType"], "complete");
    const json versions = discover["result"]["supportedVersions"];
    EXPECT_EQ(versions[0], "2026-07-28") << versions;
    EXPECT_NE(std::ranges::find(versions, json("2025-11-25")), versions.end()) << versions;
    EXPECT_EQ(discover["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
              "mcp-audit");
    EXPECT_EQ(discover["result"]["capabilities"]["resources"]["subscribe"], false);

    json tools = ask(ModernRequest(1, "tools/list"));
    EXPECT_VALID(tools, "ListToolsResultResponse");
    EXPECT_EQ(tools["result"]["cacheScope"], "private") << "tools are listed by the caller's roles";
    EXPECT_EQ(tools["result"]["ttlMs"], 60000);
    EXPECT_EQ(discover["result"]["cacheScope"], "public");

    const json traced =
        ModernMeta({{"sampling", json::object()}, {"roots", json::object()}},
                   {{"traceparent", kTraceparent}, {"tracestate", "vendor=opaque"}});
    json call = ask(ModernRequest(2, "tools/call", {{"name", "test_simple_text"}}, traced));
    EXPECT_VALID(call, "CallToolResultResponse");
    EXPECT_EQ(call["result"]["content"][0]["text"], "This is a simple text response for testing.");
    EXPECT_EQ(call["result"]["resultType"], "complete");

    // Log messages only for a request that names a log level.
    json quiet = ask(ModernRequest(3, "tools/call", {{"name", "test_tool_with_logging"}}));
    EXPECT_EQ(quiet["id"], 3) << "a notification came first: " << quiet;
    EXPECT_VALID(quiet, "CallToolResultResponse");
    server.Send(ModernRequest(4, "tools/call", {{"name", "test_tool_with_logging"}},
                              ModernMeta({}, {{"io.modelcontextprotocol/logLevel", "info"}})));
    for (int i = 0; i < 3; ++i) {
      json message = server.Read();
      EXPECT_EQ(message["method"], "notifications/message") << message;
      EXPECT_VALID(message, "LoggingMessageNotification");
    }
    EXPECT_VALID(server.Read(), "CallToolResultResponse");

    json unknown_version =
        ask(ModernRequest(5, "tools/list", json::object(),
                          {{"io.modelcontextprotocol/protocolVersion", "2099-01-01"},
                           {"io.modelcontextprotocol/clientCapabilities", json::object()}}));
    EXPECT_VALID(unknown_version, "UnsupportedProtocolVersionError");
    EXPECT_EQ(unknown_version["error"]["data"]["requested"], "2099-01-01");
    EXPECT_EQ(unknown_version["error"]["data"]["supported"], versions);

    json no_capabilities =
        ask(ModernRequest(6, "tools/list", json::object(),
                          {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"}}));
    EXPECT_VALID_ERROR(no_capabilities, "InvalidParamsError");

    // What 2026-07-28 removed is not served to its requests.
    EXPECT_VALID_ERROR(ask(ModernRequest(7, "ping")), "MethodNotFoundError");
    EXPECT_VALID_ERROR(ask(ModernRequest(8, "initialize")), "MethodNotFoundError");
    json missing = ask(ModernRequest(9, "resources/read", {{"uri", "test://nowhere"}}));
    EXPECT_VALID_ERROR(missing, "InvalidParamsError");

    // subscriptions/listen: acknowledged at once; cancelled without an answer;
    // one still open when the connection ends is answered then (a graceful end).
    server.Send(ModernRequest("listen-1", "subscriptions/listen",
                              {{"notifications", {{"toolsListChanged", true}}}}));
    json ack = server.Read();
    EXPECT_VALID(ack, "SubscriptionsAcknowledgedNotification");
    EXPECT_EQ(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "listen-1");
    EXPECT_EQ(ack["params"]["notifications"], (json{{"toolsListChanged", true}}));
    server.Send({{"jsonrpc", "2.0"},
                 {"method", "notifications/cancelled"},
                 {"params", {{"requestId", "listen-1"}}}});
    server.Send(ModernRequest("listen-2", "subscriptions/listen", json::object()));
    EXPECT_VALID(server.Read(), "SubscriptionsAcknowledgedNotification");
    EXPECT_VALID(ask(ModernRequest(11, "tools/list")), "ListToolsResultResponse");

    // A 2025 client on the same process still initializes and gets 2025 answers.
    server.Initialize();
    json legacy = server.Request(10, "tools/list");
    EXPECT_TRUE(legacy["result"].contains("tools")) << legacy;
    EXPECT_FALSE(legacy["result"].contains("resultType")) << legacy;
    EXPECT_EQ(server.CloseAndWait(), 0);
    const std::string rest = server.RemainingStdout();
    const json closed = json::parse(rest.substr(0, rest.find('\n')), nullptr, false);
    EXPECT_VALID(closed, "SubscriptionsListenResultResponse");
    EXPECT_EQ(closed["id"], "listen-2");
    EXPECT_EQ(rest.find("listen-1"), std::string::npos)
        << "a cancelled subscription is not answered";
  }

  const std::vector<AuditEvent> records = CallRecords(audit);
  const AuditEvent* call = FindRecord(records, "2");
  ASSERT_NE(call, nullptr);
  EXPECT_EQ(call->event_type, "tool_call");
  EXPECT_EQ(call->tool, "test_simple_text");
  EXPECT_EQ(call->outcome, Outcome::kSuccess);
  EXPECT_EQ(call->request.protocol_version, "2026-07-28");
  EXPECT_EQ(call->request.client.name, "modern-test-client");
  EXPECT_EQ(call->request.client.version, "2.6");
  EXPECT_EQ(call->request.client.capabilities, (std::vector<std::string>{"roots", "sampling"}));
  EXPECT_EQ(call->request.traceparent, kTraceparent);
  EXPECT_EQ(call->request.tracestate, "vendor=opaque");
  EXPECT_EQ(call->request.transport, "stdio");

  const AuditEvent* unsupported = FindRecord(records, "5");
  ASSERT_NE(unsupported, nullptr);
  EXPECT_EQ(unsupported->event_type, "request_refused");
  EXPECT_EQ(unsupported->outcome, Outcome::kDenied);
  ASSERT_TRUE(unsupported->error);
  EXPECT_EQ(unsupported->error->code, -32022);
  EXPECT_EQ(unsupported->error->reason, "unsupported_protocol_version");
  const AuditEvent* malformed = FindRecord(records, "6");
  ASSERT_NE(malformed, nullptr);
  EXPECT_EQ(malformed->error->reason, "invalid_meta");
  const AuditEvent* unread = FindRecord(records, "9");
  ASSERT_NE(unread, nullptr);
  EXPECT_EQ(unread->event_type, "resource_read");
  EXPECT_EQ(unread->error->code, -32602)
      << "2026-07-28 answers an unknown resource with Invalid params";

  // The session of the 2025 client is recorded as before; the stateless requests open none.
  const auto starts = std::ranges::count_if(
      records, [](const AuditEvent& e) { return e.event_type == "session_start"; });
  EXPECT_EQ(starts, 1);
  const AuditEvent* legacy = FindRecord(records, "10");
  EXPECT_EQ(legacy, nullptr) << "tools/list is not recorded";
  ExpectVerifies(audit);
}

// A tool that asks the user (elicitation) answers a 2026-07-28 request with
// an InputRequiredResult; the retry with the user's answer completes it. The
// call is recorded once, in its last round, linked to the round that asked by
// the digest of the state; the state itself is never recorded.
TEST(ModernProtocolTest, AToolAsksForInputAcrossRoundsAndTheCallIsRecordedOnce) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  std::string state;
  {
    ServerProcess server(audit, {"--toolkit", "conformance"});
    auto ask = [&](const json& request) {
      server.Send(request);
      return server.Read();
    };
    const json meta = ModernMeta({{"elicitation", json::object()}});
    const json arguments = {{"message", "Who are you?"}};
    json first = ask(ModernRequest(1, "tools/call",
                                   {{"name", "test_elicitation"}, {"arguments", arguments}}, meta));
    EXPECT_VALID(first, "JSONRPCResultResponse");
    EXPECT_VALID(first["result"], "InputRequiredResult");
    ASSERT_EQ(first["result"]["resultType"], "input_required") << first;
    const json requests = first["result"]["inputRequests"];
    ASSERT_EQ(requests.size(), 1u) << first;
    const std::string key = requests.begin().key();
    EXPECT_EQ(requests[key]["method"], "elicitation/create");
    EXPECT_EQ(requests[key]["params"]["message"], "Who are you?");
    state = first["result"]["requestState"];

    const json answer = {
        {key,
         {{"action", "accept"}, {"content", {{"username", "ada"}, {"email", "ada@example.com"}}}}}};
    json retry = ask(ModernRequest(2, "tools/call",
                                   {{"name", "test_elicitation"},
                                    {"arguments", arguments},
                                    {"inputResponses", answer},
                                    {"requestState", state}},
                                   meta));
    EXPECT_VALID(retry, "CallToolResultResponse");
    EXPECT_EQ(retry["result"]["resultType"], "complete");
    EXPECT_NE(retry["result"]["content"][0]["text"].get<std::string>().find("ada@example.com"),
              std::string::npos)
        << retry;

    // A state the server did not seal, or sealed for other arguments, is refused.
    std::string forged = state;
    forged[forged.size() / 3] = forged[forged.size() / 3] == 'A' ? 'B' : 'A';
    json tampered = ask(ModernRequest(3, "tools/call",
                                      {{"name", "test_elicitation"},
                                       {"arguments", arguments},
                                       {"inputResponses", answer},
                                       {"requestState", forged}},
                                      meta));
    EXPECT_VALID_ERROR(tampered, "InvalidParamsError");
    json elsewhere = ask(ModernRequest(4, "tools/call",
                                       {{"name", "test_elicitation"},
                                        {"arguments", {{"message", "other"}}},
                                        {"inputResponses", answer},
                                        {"requestState", state}},
                                       meta));
    EXPECT_VALID_ERROR(elsewhere, "InvalidParamsError");
    EXPECT_NE(elsewhere["error"]["message"].get<std::string>().find("another request"),
              std::string::npos);

    // A client that cannot answer an elicitation is not asked one.
    json unable = ask(
        ModernRequest(5, "tools/call", {{"name", "test_elicitation"}, {"arguments", arguments}}));
    EXPECT_VALID(unable, "CallToolResultResponse");
    EXPECT_EQ(unable["result"]["isError"], true);
    EXPECT_EQ(server.CloseAndWait(), 0);
  }
  const std::vector<AuditEvent> records = CallRecords(audit);
  const AuditEvent* asked = FindRecord(records, "1");
  ASSERT_NE(asked, nullptr);
  EXPECT_EQ(asked->event_type, "input_requested");
  EXPECT_EQ(asked->tool, "test_elicitation");
  EXPECT_EQ(asked->request.round, 1u);
  EXPECT_EQ(asked->params, json({{"message", "Who are you?"}}));
  ASSERT_TRUE(asked->details.is_object());
  EXPECT_EQ(asked->details["input_requests"][0]["method"], "elicitation/create");
  const std::string issued = asked->details["issued_request_state_digest"];
  EXPECT_EQ(issued, Sha256Hex({state}));

  const AuditEvent* done = FindRecord(records, "2");
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->event_type, "tool_call");
  EXPECT_EQ(done->outcome, Outcome::kSuccess);
  EXPECT_EQ(done->request.round, 2u);
  EXPECT_EQ(done->request.request_state_digest, issued);
  const auto calls = std::ranges::count_if(records, [](const AuditEvent& e) {
    return e.event_type == "tool_call" && e.outcome == Outcome::kSuccess &&
           e.tool == "test_elicitation";
  });
  EXPECT_EQ(calls, 1) << "the logical call is recorded once";

  for (const char* id : {"3", "4"}) {
    const AuditEvent* refused = FindRecord(records, id);
    ASSERT_NE(refused, nullptr) << id;
    EXPECT_EQ(refused->event_type, "tool_call");
    EXPECT_EQ(refused->outcome, Outcome::kDenied);
    EXPECT_EQ(refused->error->reason, "invalid_request_state");
  }
  EXPECT_EQ(testing::AllBytes(audit).find(state.substr(0, 40)), std::string::npos)
      << "the requestState itself is never recorded";
  ExpectVerifies(audit);
}

// Behind a load balancer the retry of a multi round-trip call may reach
// another instance: instances that share [server] request_state_key_file
// accept each other's requestState; one with another key refuses it.
TEST(ModernProtocolTest, InstancesThatShareTheStateKeyCompleteEachOthersRounds) {
  testing::TempDir dir;
  const auto key_file = dir.path() / "request-state.key";
  std::ofstream(key_file) << "a shared secret of the instances, 32 bytes or more\n";
  std::filesystem::permissions(
      key_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const auto config = dir.path() / "serve.toml";
  std::ofstream(config) << "[server]\nrequest_state_key_file = \"" << key_file.string() << "\"\n";
  auto instance = [&](const std::string& name, bool shared) {
    std::vector<std::string> args = {"--toolkit", "conformance"};
    if (shared) args.insert(args.end(), {"--config", config.string()});
    return std::make_unique<ServerProcess>(dir.path() / name, args);
  };
  auto first = instance("a", true), second = instance("b", true), stranger = instance("c", false);
  const json meta = ModernMeta({{"elicitation", json::object()}});
  const json call = {{"name", "test_elicitation"}, {"arguments", {{"message", "Who?"}}}};
  first->Send(ModernRequest(1, "tools/call", call, meta));
  const json input = first->Read();
  ASSERT_EQ(input["result"]["resultType"], "input_required") << input;
  json retry = call;
  retry["inputResponses"] = {
      {input["result"]["inputRequests"].begin().key(),
       {{"action", "accept"}, {"content", {{"username", "ada"}, {"email", "a@b.c"}}}}}};
  retry["requestState"] = input["result"]["requestState"];
  stranger->Send(ModernRequest(2, "tools/call", retry, meta));
  EXPECT_VALID_ERROR(stranger->Read(), "InvalidParamsError");
  second->Send(ModernRequest(3, "tools/call", retry, meta));
  const json done = second->Read();
  EXPECT_VALID(done, "CallToolResultResponse");
  EXPECT_NE(done["result"]["content"][0]["text"].get<std::string>().find("ada"), std::string::npos)
      << done;
  for (auto* server : {first.get(), second.get(), stranger.get()})
    EXPECT_EQ(server->CloseAndWait(), 0);
  const std::vector<AuditEvent> on_first = CallRecords(dir.path() / "a"),
                                on_second = CallRecords(dir.path() / "b");
  const AuditEvent* asked = FindRecord(on_first, "1");
  const AuditEvent* completed = FindRecord(on_second, "3");
  ASSERT_NE(asked, nullptr);
  ASSERT_NE(completed, nullptr);
  EXPECT_EQ(asked->event_type, "input_requested");
  EXPECT_EQ(completed->request.round, 2u);
  EXPECT_EQ(completed->request.request_state_digest, asked->details["issued_request_state_digest"])
      << "the two instances' records are linked";
}

// A 2026-07-28 client's exchanges through `mcp-audit proxy` over stdio: a
// discover, a call, a call of two rounds (elicitation), a request the
// upstream refuses and one the proxy refuses. Returns the requestState.
// `ask` sends one request and returns its answer.
std::string ExchangeThroughProxy(const std::function<json(const json&)>& ask) {
  EXPECT_VALID(ask(ModernRequest("probe", "server/discover")), "DiscoverResultResponse");
  const json meta = ModernMeta({{"elicitation", json::object()}}, {{"traceparent", kTraceparent}});
  EXPECT_VALID(ask(ModernRequest(1, "tools/call", {{"name", "test_simple_text"}}, meta)),
               "CallToolResultResponse");
  const json call = {{"name", "test_elicitation"}, {"arguments", {{"message", "Who?"}}}};
  const json input = ask(ModernRequest(2, "tools/call", call, meta));
  EXPECT_VALID(input["result"], "InputRequiredResult");
  if (input["result"]["resultType"] != "input_required") {
    ADD_FAILURE() << input;
    return {};
  }
  json retry = call;
  retry["inputResponses"] = {
      {input["result"]["inputRequests"].begin().key(),
       {{"action", "accept"}, {"content", {{"username", "ada"}, {"email", "a@b.c"}}}}}};
  retry["requestState"] = input["result"]["requestState"];
  EXPECT_VALID(ask(ModernRequest(3, "tools/call", retry, meta)), "CallToolResultResponse");
  EXPECT_VALID(ask(ModernRequest(4, "tools/list", json::object(),
                                 {{"io.modelcontextprotocol/protocolVersion", "2099-01-01"},
                                  {"io.modelcontextprotocol/clientCapabilities", json::object()}})),
               "UnsupportedProtocolVersionError");
  EXPECT_VALID_ERROR(ask(ModernRequest(5, "tools/frobnicate")), "MethodNotFoundError");
  return input["result"]["requestState"];
}

// Asks over HTTP: one POST per request, its answer (JSON or the stream's last message).
std::function<json(const json&)> AskOver(const HttpClient& http, const std::string& key) {
  return [&http, key](const json& request) {
    return AnswerOf(http.Post(request.dump(), ModernHeaders(request, key)));
  };
}

std::string ExchangeThroughProxy(ServerProcess& proxy) {
  return ExchangeThroughProxy([&](const json& request) {
    proxy.Send(request);
    return proxy.Read();
  });
}

// What the proxy's journal says of ExchangeThroughProxy, and that both journals verify.
void ExpectProxyRecords(const std::filesystem::path& dir, const std::string& state,
                        const std::string& user = "dana") {
  const std::vector<AuditEvent> records = CallRecords(dir / "audit");
  const AuditEvent* simple = FindRecord(records, "1");
  ASSERT_NE(simple, nullptr);
  EXPECT_EQ(simple->event_type, "tool_call");
  EXPECT_EQ(simple->user.id, user);
  EXPECT_EQ(simple->request.protocol_version, "2026-07-28");
  EXPECT_EQ(simple->request.client.name, "modern-test-client");
  EXPECT_EQ(simple->request.client.capabilities, std::vector<std::string>{"elicitation"});
  EXPECT_EQ(simple->request.traceparent, kTraceparent);
  const AuditEvent* asked = FindRecord(records, "2");
  const AuditEvent* done = FindRecord(records, "3");
  ASSERT_NE(asked, nullptr);
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(asked->event_type, "input_requested");
  EXPECT_EQ(asked->request.round, 1u);
  EXPECT_EQ(asked->details["input_requests"][0]["method"], "elicitation/create");
  EXPECT_EQ(asked->details["issued_request_state_digest"], Sha256Hex({state}));
  EXPECT_EQ(done->event_type, "tool_call");
  EXPECT_EQ(done->outcome, Outcome::kSuccess);
  EXPECT_EQ(done->request.round, 2u);
  EXPECT_EQ(done->request.request_state_digest, Sha256Hex({state}));
  const AuditEvent* refused = FindRecord(records, "4");
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->error->reason, "unsupported_protocol_version");
  // The upstream recorded the same call in its own journal (a child shared by
  // requests over HTTP knows it as "mcp-audit:<n>/3").
  const std::vector<AuditEvent> upstream = CallRecords(dir / "upstream");
  const AuditEvent* upstream_done = nullptr;
  for (const AuditEvent& e : upstream)
    if (e.request.id == "3" ||
        (e.request.id.starts_with("mcp-audit:") && e.request.id.ends_with("/3")))
      upstream_done = &e;
  ASSERT_NE(upstream_done, nullptr);
  EXPECT_EQ(upstream_done->request.request_state_digest, done->request.request_state_digest);
  ExpectVerifies(dir / "audit");
  ExpectVerifies(dir / "upstream");
}

// The stdio proxy relays 2026-07-28 to an upstream that speaks it and audits
// it as serve does: each record says the request's revision, client and
// trace; a call of two rounds is recorded once, linked to the round that asked.
// No public MCP server speaks the tasks extension yet: a stand-in upstream in
// shell makes each call of `probe` a task, which asks for input once and then
// completes.
std::filesystem::path WriteTaskServer(const std::filesystem::path& dir) {
  return testing::WriteScript(dir / "task-server.sh", R"SH(#!/bin/sh
polls=0
answer() { echo "{\"jsonrpc\":\"2.0\",\"id\":$1,\"result\":$2}"; }
task() {
  echo "{\"resultType\":\"complete\",\"taskId\":\"$1\",\"status\":\"$2\",\"createdAt\":\"2026-07-28T10:00:00Z\",\"lastUpdatedAt\":\"2026-07-28T10:00:01Z\",\"pollIntervalMs\":10$3}"
}
while IFS= read -r line; do
  id=$(printf '%s' "$line" | sed -n 's/^{"id":\([^,}]*\).*/\1/p')
  case "$line" in
    *'"method":"tools/list"'*)
      answer "$id" '{"resultType":"complete","tools":[{"name":"probe","inputSchema":{"type":"object","properties":{"user":{"type":"string"},"pin":{"type":"string","writeOnly":true}}}}]}' ;;
    *'"method":"tools/call"'*)
      answer "$id" '{"resultType":"task","taskId":"t-1","status":"working","createdAt":"2026-07-28T10:00:00Z","lastUpdatedAt":"2026-07-28T10:00:00Z","pollIntervalMs":10}' ;;
    *'"method":"tasks/update"'*)
      answer "$id" '{"resultType":"complete"}' ;;
    *'"taskId":"t-other"'*)
      answer "$id" "$(task t-other completed ',"result":{"content":[]}')" ;;
    *'"method":"tasks/get"'*)
      polls=$((polls + 1))
      case $polls in
        1) answer "$id" "$(task t-1 working)" ;;
        2|3) answer "$id" "$(task t-1 input_required ',"inputRequests":{"input-1":{"method":"elicitation/create","params":{"message":"Which account?","requestedSchema":{"type":"object","properties":{}}}}}')" ;;
        *) answer "$id" "$(task t-1 completed ',"result":{"content":[{"type":"text","text":"probed"}]}')" ;;
      esac ;;
  esac
done
)SH");
}

TEST(ModernProtocolTest, TheProxyRecordsAStandInUpstreamsTaskFromCreationToResult) {
  testing::TempDir dir;
  const auto audit = dir.path() / "audit";
  {
    ServerProcess proxy({"proxy", "--audit-dir", audit.string(), "--user", "dana", "--",
                         WriteTaskServer(dir.path()).string()},
                        dir.path() / "proxy.txt");
    const json tasks_capable =
        ModernMeta({{"elicitation", json::object()},
                    {"extensions", {{"io.modelcontextprotocol/tasks", json::object()}}}});
    auto ask = [&](const json& id, const std::string& method, const json& params) {
      proxy.Send(ModernRequest(id, method, params, tasks_capable));
      return proxy.Read();
    };
    const json created = ask(
        "c1", "tools/call", {{"name", "probe"}, {"arguments", {{"user", "ann"}, {"pin", "4711"}}}});
    EXPECT_EQ(created["result"]["resultType"], "task") << created;
    EXPECT_EQ(created["result"]["taskId"], "t-1");
    // Polled until it ends; the question it asks twice is recorded once.
    std::vector<std::string> statuses;
    for (int poll = 1; poll <= 4; ++poll) {
      const json state = ask("g" + std::to_string(poll), "tasks/get", {{"taskId", "t-1"}});
      statuses.push_back(state["result"]["status"]);
      if (poll == 2) {
        const json updated =
            ask("u1", "tasks/update",
                {{"taskId", "t-1"}, {"inputResponses", {{"input-1", {{"action", "decline"}}}}}});
        EXPECT_TRUE(updated.contains("result")) << updated;
      }
    }
    EXPECT_EQ(statuses, (std::vector<std::string>{"working", "input_required", "input_required",
                                                  "completed"}));
    // A task this proxy did not see created is relayed, not recorded.
    EXPECT_EQ(ask("g9", "tasks/get", {{"taskId", "t-other"}})["result"]["status"], "completed");
    EXPECT_EQ(proxy.CloseAndWait(), 0) << proxy.Stderr();
  }
  std::vector<AuditEvent> records;
  for (AuditEvent& e : CallRecords(audit))
    if (e.event_type != "session_end") records.push_back(std::move(e));
  ASSERT_EQ(records.size(), 3u);
  const json params = {{"user", "ann"}, {"pin", "[REDACTED]"}};
  EXPECT_EQ(records[0].event_type, "task_created");
  EXPECT_EQ(records[0].details["task_id"], "t-1");
  EXPECT_EQ(records[0].details["status"], "working");
  EXPECT_EQ(records[1].event_type, "input_requested");
  EXPECT_EQ(records[1].details["task_id"], "t-1");
  EXPECT_EQ(records[1].details["input_requests"],
            (json::array({{{"key", "input-1"}, {"method", "elicitation/create"}}})));
  EXPECT_EQ(records[2].event_type, "tool_call");
  EXPECT_EQ(records[2].outcome, Outcome::kSuccess);
  EXPECT_EQ(records[2].details["task_id"], "t-1");
  ASSERT_TRUE(records[2].response.has_value());
  EXPECT_EQ(records[2].response->result_count, 1);
  for (const AuditEvent& e : records) {
    EXPECT_EQ(e.request.id, "c1") << "each record is of the call that made the task";
    EXPECT_EQ(e.tool, "probe");
    EXPECT_EQ(e.params, params);
    EXPECT_EQ(e.request.protocol_version, "2026-07-28");
  }
  ExpectVerifies(audit);
}

TEST(ModernProtocolTest, TheStdioProxyRelaysAndAuditsTheStatelessRevision) {
  testing::TempDir dir;
  std::string state;
  {
    ServerProcess proxy({"proxy", "--audit-dir", (dir.path() / "audit").string(), "--user", "dana",
                         "--", MCP_AUDIT_BINARY, "serve", "--toolkit", "conformance", "--stdio",
                         "--audit-dir", (dir.path() / "upstream").string()},
                        dir.path() / "proxy.txt");
    state = ExchangeThroughProxy(proxy);
    EXPECT_EQ(proxy.CloseAndWait(), 0);
  }
  ExpectProxyRecords(dir.path(), state);
}

// The same to an upstream over Streamable HTTP: each request its own POST,
// its headers mirroring its body, no session; the upstream's refusals (a 4xx
// with a JSON-RPC error) reach the client as they are.
TEST(ModernProtocolTest, TheProxyRelaysTheStatelessRevisionToAnHttpUpstream) {
  testing::TempDir dir;
  ServerProcess upstream({"serve", "--toolkit", "conformance", "--http", "127.0.0.1:0",
                          "--dev-api-key", "--audit-dir", (dir.path() / "upstream").string()},
                         dir.path() / "upstream.txt");
  const auto [port, key] = testing::WaitForEndpoint(upstream);
  ASSERT_NE(port, 0) << upstream.Stderr();
  std::string state;
  {
    ServerProcess proxy({"proxy", "--audit-dir", (dir.path() / "audit").string(), "--user", "dana",
                         "--upstream-url", "http://127.0.0.1:" + std::to_string(port) + "/mcp"},
                        dir.path() / "proxy.txt", {"MCP_AUDIT_UPSTREAM_TOKEN=" + key});
    state = ExchangeThroughProxy(proxy);
    EXPECT_EQ(proxy.CloseAndWait(), 0);
  }
  EXPECT_EQ(upstream.Signal(SIGTERM), 0);
  ExpectProxyRecords(dir.path(), state);
}

// The HTTP proxy serves sessions only, for now: a 2026-07-28 request is
// refused with the revisions it serves (and recorded), so that a client of
// both falls back to initialize, which works.
// Over HTTP each request of the stateless revision is a session of its own:
// they share one child upstream, each with its own ids (a second request
// with the id of one still open elsewhere is answered as itself).
TEST(ModernProtocolTest, TheHttpProxyRelaysTheStatelessRevisionToOneChildForAllItsRequests) {
  testing::TempDir dir;
  ServerProcess proxy(
      {"proxy", "--http", "127.0.0.1:0", "--dev-api-key", "--audit-dir",
       (dir.path() / "audit").string(), "--", MCP_AUDIT_BINARY, "serve", "--toolkit", "conformance",
       "--stdio", "--audit-dir", (dir.path() / "upstream").string()},
      dir.path() / "proxy.txt");
  const auto [port, key] = testing::WaitForEndpoint(proxy);
  ASSERT_NE(port, 0) << proxy.Stderr();
  const HttpClient http("127.0.0.1", port);
  auto ask = AskOver(http, key);
  const std::string state = ExchangeThroughProxy(ask);

  // A subscription held open under the id "same" while a call uses it too.
  json listen_ack;
  std::thread listening([&] {
    const json listen = ModernRequest("same", "subscriptions/listen",
                                      {{"notifications", {{"toolsListChanged", true}}}});
    const HttpReply reply = http.Send("POST", "/mcp", listen.dump(), ModernHeaders(listen, key),
                                      std::chrono::milliseconds(1500));
    listen_ack = AnswerOf(reply);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const json same = ask(ModernRequest("same", "tools/call", {{"name", "test_simple_text"}}));
  EXPECT_VALID(same, "CallToolResultResponse");
  EXPECT_EQ(same["id"], "same");
  listening.join();
  EXPECT_VALID(listen_ack, "SubscriptionsAcknowledgedNotification");
  EXPECT_EQ(listen_ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], "same");

  EXPECT_EQ(proxy.Signal(SIGTERM), 0) << proxy.Stderr();

  size_t children = 0;
  for (const AuditEvent& e : testing::Records(dir.path() / "upstream", true))
    children += e.event_type == "audit_started" ? 1 : 0;
  EXPECT_EQ(children, 1u) << "one child for every stateless request";
  const std::vector<AuditEvent> records = CallRecords(dir.path() / "audit");
  size_t same_calls = 0;
  for (const AuditEvent& e : records)
    same_calls += e.request.id == "same" && e.event_type == "tool_call" ? 1 : 0;
  EXPECT_EQ(same_calls, 1u);
  // The upstream saw the call's id tagged: its subscription held "same" then.
  bool tagged = false;
  for (const AuditEvent& e : CallRecords(dir.path() / "upstream"))
    tagged = tagged || (e.tool == "test_simple_text" && e.request.id.starts_with("mcp-audit:") &&
                        e.request.id.ends_with("/\"same\""));
  EXPECT_TRUE(tagged);
  ExpectProxyRecords(dir.path(), state, records.front().user.id);
}

// A stand-in child upstream in shell: each tool answers with its own name,
// `slow` two seconds later (on its own, whatever happens meanwhile), anything
// else at once; a subscription is acknowledged and stays open.
std::filesystem::path WriteSlowServer(const std::filesystem::path& dir) {
  return testing::WriteScript(dir / "slow-server.sh", R"SH(#!/bin/sh
while IFS= read -r line; do
  id=$(printf '%s' "$line" | sed -n 's/^{"id":\([^,}]*\).*/\1/p')
  name=$(printf '%s' "$line" | sed -n 's/.*"name":"\([a-z]*\)".*/\1/p')
  case "$line" in
    *'"method":"tools/list"'*)
      echo "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"resultType\":\"complete\",\"tools\":[{\"name\":\"slow\",\"inputSchema\":{\"type\":\"object\"}},{\"name\":\"fast\",\"inputSchema\":{\"type\":\"object\"}},{\"name\":\"asks\",\"inputSchema\":{\"type\":\"object\"}}]}}" ;;
    *'"method":"tools/call"'*'"name":"asks"'*)
      asking=$id
      echo '{"jsonrpc":"2.0","id":"roots-1","method":"roots/list"}' ;;
    *'"id":"roots-1"'*)
      code=$(printf '%s' "$line" | sed -n 's/.*"code":\(-[0-9]*\).*/\1/p')
      echo "{\"jsonrpc\":\"2.0\",\"id\":$asking,\"result\":{\"resultType\":\"complete\",\"content\":[{\"type\":\"text\",\"text\":\"roots/list: $code\"}]}}" ;;
    *'"method":"tools/call"'*)
      answer="{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"resultType\":\"complete\",\"content\":[{\"type\":\"text\",\"text\":\"$name\"}]}}"
      if [ "$name" = slow ]; then (sleep 2; echo "$answer") & else echo "$answer"; fi ;;
    *'"method":"subscriptions/listen"'*)
      echo "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/subscriptions/acknowledged\",\"params\":{\"_meta\":{\"io.modelcontextprotocol/subscriptionId\":$id},\"notifications\":{}}}" ;;
  esac
done
)SH");
}

// Clients of the shared child never get each other's answers: a late answer
// to a request whose client has gone reaches no one, even when another
// client's request uses the same id by then; the proxy's own ids are its own.
// A request of the child's own, which no 2026 client could answer, is refused
// by the proxy rather than left waiting.
TEST(ModernProtocolTest, TheHttpProxyGivesEachClientOnlyItsOwnAnswersFromAStandInChild) {
  testing::TempDir dir;
  ServerProcess proxy({"proxy", "--http", "127.0.0.1:0", "--dev-api-key", "--audit-dir",
                       (dir.path() / "audit").string(), "--call-timeout-seconds", "1", "--",
                       WriteSlowServer(dir.path()).string()},
                      dir.path() / "proxy.txt");
  const auto [port, key] = testing::WaitForEndpoint(proxy);
  ASSERT_NE(port, 0) << proxy.Stderr();
  const HttpClient http("127.0.0.1", port);
  const json gave_up = AskOver(http, key)(ModernRequest(1, "tools/call", {{"name", "slow"}}));
  EXPECT_NE(gave_up.dump().find("did not answer within 1 s"), std::string::npos) << gave_up;
  // Open, under the same id, when the slow answer comes.
  const json listen = ModernRequest(1, "subscriptions/listen", {{"notifications", json::object()}});
  const HttpReply listened = http.Send("POST", "/mcp", listen.dump(), ModernHeaders(listen, key),
                                       std::chrono::milliseconds(2500));
  EXPECT_NE(listened.body.find("notifications/subscriptions/acknowledged"), std::string::npos)
      << listened.body;
  EXPECT_EQ(listened.body.find("slow"), std::string::npos) << listened.body;
  const json fast = AskOver(http, key)(ModernRequest(1, "tools/call", {{"name", "fast"}}));
  EXPECT_EQ(fast["result"]["content"][0]["text"], "fast") << fast;
  const json asks = AskOver(http, key)(ModernRequest(2, "tools/call", {{"name", "asks"}}));
  EXPECT_EQ(asks["result"]["content"][0]["text"], "roots/list: -32601") << asks;
  const json reserved = AskOver(http, key)(ModernRequest("mcp-audit-tools", "tools/list"));
  EXPECT_VALID_ERROR(reserved, "InvalidRequestError");
  EXPECT_EQ(proxy.Signal(SIGTERM), 0) << proxy.Stderr();
  bool refused = false;
  for (const AuditEvent& e : CallRecords(dir.path() / "audit"))
    refused = refused || (e.outcome == Outcome::kDenied && e.error->reason == "reserved_id");
  EXPECT_TRUE(refused);
  ExpectVerifies(dir.path() / "audit");
}

// `serve --toolkit <toolkit>` over HTTP (its journal in <dir>/upstream), and
// the HTTP proxy in front of it (<dir>/audit), each with a key of its own.
struct ProxiedHttpServe {
  ProxiedHttpServe(const std::filesystem::path& dir, const std::string& toolkit)
      : upstream({"serve", "--toolkit", toolkit, "--http", "127.0.0.1:0", "--dev-api-key",
                  "--audit-dir", (dir / "upstream").string()},
                 dir / "upstream.txt"),
        upstream_at(testing::WaitForEndpoint(upstream)),
        proxy({"proxy", "--http", "127.0.0.1:0", "--dev-api-key", "--audit-dir",
               (dir / "audit").string(), "--upstream-url",
               "http://127.0.0.1:" + std::to_string(upstream_at.port) + "/mcp"},
              dir / "proxy.txt", {"MCP_AUDIT_UPSTREAM_TOKEN=" + upstream_at.dev_key}),
        proxy_at(testing::WaitForEndpoint(proxy)) {}
  void Stop() {
    EXPECT_EQ(proxy.Signal(SIGTERM), 0) << proxy.Stderr();
    EXPECT_EQ(upstream.Signal(SIGTERM), 0) << upstream.Stderr();
  }
  ServerProcess upstream;
  const testing::PrintedEndpoint upstream_at;
  ServerProcess proxy;
  const testing::PrintedEndpoint proxy_at;
};

TEST(ModernProtocolTest, TheHttpProxyRelaysTheStatelessRevisionToAnHttpUpstream) {
  testing::TempDir dir;
  ProxiedHttpServe servers(dir.path(), "conformance");
  ASSERT_NE(servers.proxy_at.port, 0) << servers.proxy.Stderr() << servers.upstream.Stderr();
  const HttpClient http("127.0.0.1", servers.proxy_at.port);
  const std::string state = ExchangeThroughProxy(AskOver(http, servers.proxy_at.dev_key));
  servers.Stop();
  const std::vector<AuditEvent> records = CallRecords(dir.path() / "audit");
  ASSERT_FALSE(records.empty());
  ExpectProxyRecords(dir.path(), state, records.front().user.id);
}

// x-mcp-header: the catalog mirrors catalog_search's entity_type into
// Mcp-Param-Entity-Type, so that a gateway may route on it; a header that
// does not say what the body says is refused before the tool runs, by serve
// and by the proxy in front of it, which mirrors the header itself upstream.
TEST(ModernProtocolTest, ParametersMirroredIntoHeadersMustSayWhatTheBodySays) {
  testing::TempDir dir;
  ProxiedHttpServe servers(dir.path(), "catalog");
  ASSERT_NE(servers.proxy_at.port, 0) << servers.proxy.Stderr() << servers.upstream.Stderr();
  const std::string &upstream_key = servers.upstream_at.dev_key,
                    &proxy_key = servers.proxy_at.dev_key;
  const HttpClient direct("127.0.0.1", servers.upstream_at.port),
      through("127.0.0.1", servers.proxy_at.port);

  const json search = ModernRequest("s", "tools/call",
                                    {{"name", "catalog_search"},
                                     {"arguments",
                                      {{
                                           "query",
                                           "",
                                       },
                                       {"entity_type", "DATASET"}}}});
  auto post = [&](const HttpClient& http, const std::string& key, const json& body,
                  const std::vector<std::string>& param_headers) {
    testing::Headers headers = ModernHeaders(body, key);
    for (const std::string& value : param_headers)
      headers.emplace_back("Mcp-Param-Entity-Type", value);
    return http.Post(body.dump(), headers);
  };

  const json listed =
      AnswerOf(direct.Post(ModernRequest("l", "tools/list").dump(),
                           ModernHeaders(ModernRequest("l", "tools/list"), upstream_key)));
  EXPECT_VALID(listed, "ListToolsResultResponse");
  bool annotated = false;
  for (const json& tool : listed["result"]["tools"])
    annotated = annotated || tool["inputSchema"]["properties"]
                                     .value("entity_type", json::object())
                                     .value("x-mcp-header", "") == "Entity-Type";
  EXPECT_TRUE(annotated) << listed;

  // The proxy's first call waits for the upstream's tools/list, and is checked then.
  const HttpReply first = post(through, proxy_key, search, {"GLOSSARY_TERM"});
  EXPECT_EQ(first.status, 400) << first.body;
  EXPECT_VALID(AnswerOf(first), "HeaderMismatchError");
  for (const HttpClient* http : {&direct, &through}) {
    const std::string& key = http == &direct ? upstream_key : proxy_key;
    SCOPED_TRACE(http == &direct ? "serve" : "proxy");
    // Through the proxy the header goes on to serve as the proxy mirrors it itself.
    const HttpReply plain = post(*http, key, search, {"DATASET"});
    EXPECT_EQ(plain.status, 200) << plain.body;
    EXPECT_VALID(AnswerOf(plain), "CallToolResultResponse");
    const HttpReply encoded = post(*http, key, search, {"=?base64?REFUQVNFVA==?="});
    EXPECT_EQ(encoded.status, 200) << encoded.body;
    for (const auto& headers : {std::vector<std::string>{"DASHBOARD"}, std::vector<std::string>{},
                                std::vector<std::string>{"DATASET", "DATASET"}}) {
      const HttpReply refused = post(*http, key, search, headers);
      EXPECT_EQ(refused.status, 400) << refused.body;
      EXPECT_VALID(AnswerOf(refused), "HeaderMismatchError");
    }
    json without = search;
    without["params"]["arguments"].erase("entity_type");
    EXPECT_EQ(post(*http, key, without, {"DATASET"}).status, 400);
  }
  servers.Stop();
  for (const char* journal : {"upstream", "audit"}) {
    SCOPED_TRACE(journal);
    size_t mismatches = 0, searches = 0;
    for (const AuditEvent& e : CallRecords(dir.path() / journal)) {
      if (e.tool != "catalog_search") continue;
      if (e.outcome == Outcome::kSuccess) ++searches;
      if (e.outcome == Outcome::kDenied && e.error->reason == "header_mismatch") ++mismatches;
    }
    // serve: its own four refusals; the proxy: its own five, none relayed.
    EXPECT_EQ(mismatches, std::string(journal) == "upstream" ? 4u : 5u);
    EXPECT_EQ(searches, std::string(journal) == "upstream" ? 4u : 2u);
    ExpectVerifies(dir.path() / journal);
  }
}

class ModernHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.emplace(
        std::vector<std::string>{"serve", "--toolkit", "conformance", "--http", "127.0.0.1:0",
                                 "--dev-api-key", "--audit-dir", audit().string()},
        dir_.path() / "serve.txt");
    const testing::PrintedEndpoint endpoint = testing::WaitForEndpoint(*server_);
    ASSERT_NE(endpoint.port, 0) << server_->Stderr();
    key_ = endpoint.dev_key;
    http_.emplace("127.0.0.1", endpoint.port);
  }
  std::filesystem::path audit() const { return dir_.path() / "audit"; }
  HttpReply Post(const json& body) const {
    return http_->Post(body.dump(), ModernHeaders(body, key_));
  }
  HttpReply Post(const json& body, const testing::Headers& headers) const {
    testing::Headers all = headers;
    all.emplace_back("X-API-Key", key_);
    return http_->Post(body.dump(), all);
  }
  void Stop() { EXPECT_EQ(server_->Signal(SIGTERM), 0); }

  testing::TempDir dir_;
  std::optional<ServerProcess> server_;
  std::optional<HttpClient> http_;
  std::string key_;
};

testing::Headers Without(testing::Headers headers, const std::string& name) {
  std::erase_if(headers, [&](const auto& header) { return header.first == name; });
  return headers;
}
testing::Headers With(testing::Headers headers, const std::string& name, const std::string& value) {
  headers = Without(std::move(headers), name);
  headers.emplace_back(name, value);
  return headers;
}

TEST_F(ModernHttpTest, ServesStatelessRequestsBesideSessionsAndRefusesHeadersThatDisagree) {
  HttpReply discover = Post(ModernRequest("d", "server/discover"));
  EXPECT_EQ(discover.status, 200) << discover.body;
  EXPECT_EQ(discover.header("mcp-session-id"), "") << "the revision has no sessions";
  EXPECT_VALID(AnswerOf(discover), "DiscoverResultResponse");

  const json call = ModernRequest(1, "tools/call", {{"name", "test_simple_text"}},
                                  ModernMeta({}, {{"traceparent", kTraceparent}}));
  HttpReply called = Post(call);
  EXPECT_EQ(called.status, 200) << called.body;
  EXPECT_VALID(AnswerOf(called), "CallToolResultResponse");

  // Mcp-Name in Base64 when the client chooses so.
  HttpReply encoded = Post(call, With(ModernHeaders(call), "Mcp-Name",
                                      "=?base64?" + Base64Encode("test_simple_text") + "?="));
  EXPECT_EQ(encoded.status, 200) << encoded.body;

  // Headers that say something else than the body: refused, the tool not run.
  const json disguised = ModernRequest(2, "tools/call", {{"name", "test_error_handling"}});
  HttpReply mismatch =
      Post(disguised, With(ModernHeaders(disguised), "Mcp-Name", "test_simple_text"));
  EXPECT_EQ(mismatch.status, 400);
  EXPECT_VALID(AnswerOf(mismatch), "HeaderMismatchError");
  const json unnamed = ModernRequest(3, "tools/call", {{"name", "test_simple_text"}});
  HttpReply no_method = Post(unnamed, Without(ModernHeaders(unnamed), "Mcp-Method"));
  EXPECT_EQ(no_method.status, 400);
  EXPECT_VALID(AnswerOf(no_method), "HeaderMismatchError");
  testing::Headers twice = ModernHeaders(unnamed);
  twice.emplace_back("Mcp-Name", "test_error_handling");
  HttpReply repeated = Post(unnamed, twice);
  EXPECT_EQ(repeated.status, 400) << "a header sent twice has no one value";
  EXPECT_VALID(AnswerOf(repeated), "HeaderMismatchError");
  const json listing = ModernRequest(4, "tools/list");
  HttpReply other_version =
      Post(listing, With(ModernHeaders(listing), "MCP-Protocol-Version", "2025-11-25"));
  EXPECT_EQ(other_version.status, 400);
  EXPECT_VALID(AnswerOf(other_version), "HeaderMismatchError");

  const json future =
      ModernRequest(5, "tools/list", json::object(),
                    {{"io.modelcontextprotocol/protocolVersion", "2099-01-01"},
                     {"io.modelcontextprotocol/clientCapabilities", json::object()}});
  HttpReply unsupported = Post(future);
  EXPECT_EQ(unsupported.status, 400);
  EXPECT_VALID(AnswerOf(unsupported), "UnsupportedProtocolVersionError");

  HttpReply unknown = Post(ModernRequest(6, "tools/frobnicate"));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_VALID_ERROR(AnswerOf(unknown), "MethodNotFoundError");

  const json bare = ModernRequest(7, "tools/list", json::object(),
                                  {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"}});
  HttpReply malformed = Post(bare);
  EXPECT_EQ(malformed.status, 400);
  EXPECT_VALID_ERROR(AnswerOf(malformed), "InvalidParamsError");

  // Multi round-trip over HTTP: every round is a request of its own.
  const json meta = ModernMeta({{"sampling", json::object()}});
  HttpReply first = Post(ModernRequest(
      8, "tools/call",
      {{"name", "test_sampling"}, {"arguments", {{"prompt", "Capital of France?"}}}}, meta));
  const json input = AnswerOf(first);
  EXPECT_VALID(input["result"], "InputRequiredResult");
  ASSERT_EQ(input["result"]["resultType"], "input_required") << first.body;
  const std::string key = input["result"]["inputRequests"].begin().key();
  const json sampled = {{key,
                         {{"role", "assistant"},
                          {"content", {{"type", "text"}, {"text", "Paris"}}},
                          {"model", "test-model"}}}};
  HttpReply second = Post(ModernRequest(9, "tools/call",
                                        {{"name", "test_sampling"},
                                         {"arguments", {{"prompt", "Capital of France?"}}},
                                         {"inputResponses", sampled},
                                         {"requestState", input["result"]["requestState"]}},
                                        meta));
  const json completed = AnswerOf(second);
  EXPECT_VALID(completed, "CallToolResultResponse");
  EXPECT_EQ(completed["result"]["content"][0]["text"], "LLM response: Paris");

  // A 2025 session on the same endpoint.
  const json initialize = {{"jsonrpc", "2.0"},
                           {"id", 0},
                           {"method", "initialize"},
                           {"params",
                            {{"protocolVersion", "2025-11-25"},
                             {"capabilities", json::object()},
                             {"clientInfo",
                              {{
                                   "name",
                                   "legacy",
                               },
                               {"version", "1"}}}}}};
  HttpReply opened = Post(initialize, testing::McpPostHeaders());
  ASSERT_EQ(opened.status, 200) << opened.body;
  const std::string session = opened.header("mcp-session-id");
  EXPECT_FALSE(session.empty());
  testing::Headers legacy = testing::McpPostHeaders(session);
  legacy.emplace_back("MCP-Protocol-Version", "2025-11-25");
  HttpReply tools = Post({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/list"}}, legacy);
  EXPECT_EQ(tools.status, 200) << tools.body;
  EXPECT_FALSE(AnswerOf(tools)["result"].contains("resultType"));
  Stop();

  const std::vector<AuditEvent> records = CallRecords(audit());
  const auto denied = std::ranges::find_if(records, [](const AuditEvent& e) {
    return e.error && e.error->reason == "header_mismatch" && e.request.id == "2";
  });
  ASSERT_NE(denied, records.end());
  EXPECT_EQ(denied->event_type, "tool_call");
  EXPECT_EQ(denied->tool, "test_error_handling") << "the record names the body's tool";
  EXPECT_EQ(denied->outcome, Outcome::kDenied);
  EXPECT_EQ(denied->error->code, -32020);
  EXPECT_EQ(denied->details["http_status"], 400);
  EXPECT_EQ(denied->request.protocol_version, "2026-07-28");
  EXPECT_EQ(denied->request.client.name, "modern-test-client");
  EXPECT_TRUE(denied->request.session_id.empty());
  EXPECT_EQ(std::ranges::count_if(
                records, [](const AuditEvent& e) { return e.tool == "test_error_handling"; }),
            1)
      << "the disguised tool never ran";

  const AuditEvent* traced = FindRecord(records, "1");
  ASSERT_NE(traced, nullptr);
  EXPECT_EQ(traced->request.traceparent, kTraceparent);
  EXPECT_EQ(traced->request.transport, "http");
  EXPECT_TRUE(traced->request.session_id.empty());
  const auto sampling = std::ranges::find_if(records, [](const AuditEvent& e) {
    return e.tool == "test_sampling" && e.event_type == "tool_call";
  });
  ASSERT_NE(sampling, records.end());
  EXPECT_EQ(sampling->request.round, 2u);
  EXPECT_EQ(std::ranges::count_if(
                records, [](const AuditEvent& e) { return e.event_type == "session_start"; }),
            1);
  ExpectVerifies(audit());
}

// Every example request of the specification that a server answers gets a
// response of its type (or, for a name this server does not have, an error).
TEST_F(ModernHttpTest, AnswersEveryExampleRequestOfTheSpecification) {
  const std::vector<std::string> served = {"DiscoverRequest",
                                           "ListToolsRequest",
                                           "CallToolRequest",
                                           "ListPromptsRequest",
                                           "GetPromptRequest",
                                           "ListResourcesRequest",
                                           "ListResourceTemplatesRequest",
                                           "ReadResourceRequest",
                                           "CompleteRequest"};
  size_t answered = 0;
  for (const std::string& type : served) {
    const auto folder = testing::SpecDir() / "examples" / type;
    ASSERT_TRUE(std::filesystem::is_directory(folder)) << folder;
    for (const auto& file : std::filesystem::directory_iterator(folder)) {
      std::ifstream in(file.path());
      const json request = json::parse(in);
      const HttpReply reply = Post(request);
      const json answer = AnswerOf(reply);
      SCOPED_TRACE(file.path().string() + ": " + reply.body);
      EXPECT_EQ(answer["id"], request["id"]);
      if (answer.contains("result")) {
        EXPECT_EQ(reply.status, 200);
        const std::string response_type =
            type.substr(0, type.size() - std::string("Request").size()) + "ResultResponse";
        EXPECT_VALID(answer, response_type);
      } else {
        // The examples name tools, prompts and resources of their own.
        EXPECT_VALID_ERROR(answer, "InvalidParamsError");
      }
      ++answered;
    }
  }
  EXPECT_GE(answered, served.size());

  // subscriptions/listen stays open: its stream starts with the acknowledgement.
  for (const auto& file : std::filesystem::directory_iterator(testing::SpecDir() / "examples" /
                                                              "SubscriptionsListenRequest")) {
    std::ifstream in(file.path());
    const json request = json::parse(in);
    const HttpReply reply =
        http_->Send("POST", "/mcp", request.dump(), ModernHeaders(request, key_),
                    std::chrono::milliseconds(1500));
    EXPECT_EQ(reply.status, 200);
    EXPECT_EQ(reply.header("content-type"), "text/event-stream");
    std::vector<json> before;
    const json ack = AnswerOf(reply, &before);
    EXPECT_TRUE(before.empty()) << reply.body;
    EXPECT_VALID(ack, "SubscriptionsAcknowledgedNotification");
    EXPECT_EQ(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], request["id"]);
  }
  Stop();
  ExpectVerifies(audit());
}

}  // namespace
}  // namespace mcpaudit

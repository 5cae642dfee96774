// Streamable HTTP as a client meets it: what each request gets back (status,
// headers, body), and what each call leaves in the audit log.
#include "mcpaudit/http_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "mcpaudit/rate_limit.h"
#include "support/http_client.h"
#include "support/test_support.h"

namespace mcpaudit {
namespace {

using nlohmann::json;
using testing::HttpClient;
using testing::HttpReply;
using testing::McpPostHeaders;

std::string InitializeBody(const std::string& version = "2025-11-25") {
  return json{{"jsonrpc", "2.0"},
              {"id", 1},
              {"method", "initialize"},
              {"params",
               {{"protocolVersion", version},
                {"capabilities", json::object()},
                {"clientInfo", {{"name", "http-test"}, {"version", "1.0"}}}}}}
      .dump();
}

std::string CallBody(int id, const std::string& tool, const json& arguments = json::object()) {
  return json{{"jsonrpc", "2.0"},
              {"id", id},
              {"method", "tools/call"},
              {"params", {{"name", tool}, {"arguments", arguments}}}}
      .dump();
}

// An authenticator for the transport's side of authentication: one valid key
// (carol's), and another user's.
class OneKeyAuthenticator final : public Authenticator {
 public:
  std::expected<Identity, AuthFailure> Authenticate(const Credentials& credentials) const override {
    if (credentials.api_key.empty() && credentials.authorization.empty()) {
      return std::unexpected(
          AuthFailure{"invalid_request", "no credentials: send an API key or a bearer token"});
    }
    if (credentials.api_key == "mallory-key") return Identity{"mallory", "", "evil", {}, "api_key"};
    if (credentials.api_key != "good-key")
      return std::unexpected(AuthFailure{"invalid_token", "unknown API key"});
    return Identity{"carol", "carol@example.com", "acme", {"analyst"}, "api_key"};
  }
};

testing::Headers WithKey(testing::Headers headers, const std::string& key) {
  headers.emplace_back("X-API-Key", key);
  return headers;
}

class HttpTransportTest : public ::testing::Test {
 protected:
  HttpTransportTest() : toolkit_(logger_) {
    testing::RegisterEchoTool(toolkit_);
    ToolDefinition slow;
    slow.name = "slow";
    EXPECT_TRUE(toolkit_
                    .Register(slow,
                              [this](const RequestContext&, const json&) -> Result<ToolResult> {
                                slow_started_.set_value();
                                std::this_thread::sleep_for(std::chrono::milliseconds(300));
                                return ToolResult::Text("done");
                              })
                    .has_value());
    ToolDefinition progress;
    progress.name = "progress";
    EXPECT_TRUE(toolkit_
                    .Register(progress,
                              [](const RequestContext& ctx, const json&) -> Result<ToolResult> {
                                ctx.channel->Progress(50, 100);
                                return ToolResult::Text("done with progress");
                              })
                    .has_value());
    ToolDefinition reason;
    reason.name = "reason";
    EXPECT_TRUE(toolkit_
                    .Register(reason,
                              [](const RequestContext& ctx, const json&) -> Result<ToolResult> {
                                return ToolResult::Text("reason: " + ctx.access_reason);
                              })
                    .has_value());
    ToolDefinition limited;
    limited.name = "limited";
    EXPECT_TRUE(toolkit_
                    .Register(limited,
                              [](const RequestContext&, const json&) -> Result<ToolResult> {
                                return ToolResult::Text("within the limit");
                              })
                    .has_value());
    toolkit_.Use(std::make_shared<RateLimiter>(std::vector<RateLimitRule>{
        {.tools = {"limited"}, .per = RateLimitRule::Per::kUser, .per_second = 0.01, .burst = 1}}));
    ToolDefinition reconnect;
    reconnect.name = "reconnect";
    EXPECT_TRUE(toolkit_
                    .Register(reconnect,
                              [](const RequestContext& ctx, const json&) -> Result<ToolResult> {
                                ctx.channel->CloseStream();
                                std::this_thread::sleep_for(std::chrono::milliseconds(200));
                                return ToolResult::Text("answered after the stream closed");
                              })
                    .has_value());
  }
  ~HttpTransportTest() override { Stop(); }

  void Start(HttpOptions options = {}, ServerOptions server = {.name = "test", .version = "1.0"}) {
    options.port = 0;
    std::promise<std::string> url;
    options.on_listening = [&](const std::string& u) { url.set_value(u); };
    server_ = std::make_unique<Server>(std::move(server), toolkit_);
    thread_ = std::jthread(
        [this, options] { served_ = ServeHttp(*server_, options, stop_.get_token()); });
    const std::string endpoint = url.get_future().get();
    port_ = static_cast<unsigned short>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1)));
    client_ = std::make_unique<HttpClient>("127.0.0.1", port_);
  }
  void Stop() {
    stop_.request_stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
    stop_ = std::stop_source();  // Start may serve again
  }

  // Opens a session and returns its id.
  std::string OpenSession() {
    HttpReply reply = client_->Post(InitializeBody(), McpPostHeaders());
    EXPECT_EQ(reply.status, 200) << reply.body;
    const std::string session = reply.header("mcp-session-id");
    EXPECT_EQ(client_
                  ->Post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})",
                         McpPostHeaders(session))
                  .status,
              202);
    return session;
  }

  std::vector<AuditEvent> Events(const std::string& type) const {
    std::vector<AuditEvent> out;
    for (auto& event : logger_.events())
      if (event.event_type == type) out.push_back(event);
    return out;
  }

  testing::RecordingLogger logger_;
  Toolkit toolkit_;
  std::promise<void> slow_started_;
  std::unique_ptr<Server> server_;
  std::stop_source stop_;
  std::jthread thread_;
  Status served_;
  unsigned short port_ = 0;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(HttpTransportTest, ASessionCallsAToolAndTheRecordSaysWhoWhereAndHow) {
  Start();
  HttpReply init = client_->Post(InitializeBody(), McpPostHeaders());
  ASSERT_EQ(init.status, 200);
  EXPECT_EQ(init.header("content-type"), "application/json");
  const std::string session = init.header("mcp-session-id");
  // 128 random bits, as visible ASCII (hex).
  EXPECT_EQ(session.size(), 32u);
  EXPECT_EQ(session.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(json::parse(init.body)["result"]["protocolVersion"], "2025-11-25");

  HttpReply call = client_->Post(CallBody(2, "echo", {{"text", "hi"}}), McpPostHeaders(session));
  ASSERT_EQ(call.status, 200) << call.body;
  EXPECT_EQ(json::parse(call.body)["result"]["content"][0]["text"], "hi from anonymous");

  auto calls = Events("tool_call");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].request.transport, "http");
  EXPECT_EQ(calls[0].request.session_id, session);
  EXPECT_EQ(calls[0].request.client_ip, "127.0.0.1");
  EXPECT_EQ(calls[0].request.id, "2");
  EXPECT_EQ(calls[0].request.client.name, "http-test");
  EXPECT_EQ(calls[0].user.id, "anonymous");
}

TEST_F(HttpTransportTest, RequestsOutsideASessionAreRefusedWithTheStatusTheSpecificationNames) {
  Start();
  HttpReply missing = client_->Post(CallBody(2, "echo"), McpPostHeaders());
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.body.find("Mcp-Session-Id header is required"), std::string::npos);
  HttpReply unknown =
      client_->Post(CallBody(2, "echo"), McpPostHeaders("0123456789abcdef0123456789abcdef"));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.find("unknown or ended session"), std::string::npos);
  EXPECT_TRUE(Events("tool_call").empty());  // never reached a tool
}

TEST_F(HttpTransportTest, DeleteEndsTheSession) {
  Start();
  const std::string session = OpenSession();
  EXPECT_EQ(client_->Send("DELETE", "/mcp", "", {{"Mcp-Session-Id", session}}).status, 200);
  EXPECT_EQ(client_->Post(CallBody(2, "echo"), McpPostHeaders(session)).status, 404);
  EXPECT_EQ(client_->Send("DELETE", "/mcp", "", {{"Mcp-Session-Id", session}}).status, 404);
}

TEST_F(HttpTransportTest, EachSessionsEndIsRecordedWithWhyItEnded) {
  HttpOptions options;
  options.session_timeout = std::chrono::seconds(3);  // a loaded machine's pauses stay shorter
  Start(options);
  const std::string deleted = OpenSession(), idle = OpenSession(), open = OpenSession();
  ASSERT_EQ(client_->Send("DELETE", "/mcp", "", {{"Mcp-Session-Id", deleted}}).status, 200);
  for (int i = 0; i < 100; ++i) {  // the idle one expires; the open one is kept busy meanwhile
    EXPECT_EQ(client_->Post(CallBody(10 + i, "echo", {{"text", "x"}}), McpPostHeaders(open)).status,
              200);
    if (Events("session_end").size() == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Stop();
  std::map<std::string, std::string> reasons;  // session id → reason
  for (const auto& end : Events("session_end"))
    reasons[end.request.session_id] = end.details.value("reason", "");
  EXPECT_EQ(reasons, (std::map<std::string, std::string>{
                         {deleted, "closed"}, {idle, "expired"}, {open, "shutdown"}}));
  const auto starts = Events("session_start");
  ASSERT_EQ(starts.size(), 3u);
  EXPECT_EQ(starts[0].request.transport, "http");
  EXPECT_EQ(starts[0].request.client_ip, "127.0.0.1");
  EXPECT_EQ(starts[0].request.client.name, "http-test");
}

TEST_F(HttpTransportTest, ForeignHostOrOriginIsRefusedAgainstDnsRebinding) {
  Start();
  auto headers = McpPostHeaders();
  headers.emplace_back("Host", "evil.example.com");
  HttpReply host = client_->Post(InitializeBody(), headers);
  EXPECT_EQ(host.status, 403);
  EXPECT_NE(host.body.find("Host header not allowed"), std::string::npos);

  headers = McpPostHeaders();
  headers.emplace_back("Origin", "http://evil.example.com");
  HttpReply origin = client_->Post(InitializeBody(), headers);
  EXPECT_EQ(origin.status, 403);
  EXPECT_NE(origin.body.find("Origin not allowed"), std::string::npos);

  headers = McpPostHeaders();
  headers.emplace_back("Host", "localhost:" + std::to_string(port_));
  headers.emplace_back("Origin", "http://localhost:6274");
  HttpReply local = client_->Post(InitializeBody(), headers);
  EXPECT_EQ(local.status, 200) << local.body;
  EXPECT_EQ(local.header("access-control-allow-origin"), "http://localhost:6274");
}

TEST_F(HttpTransportTest, BadRequestsGetAClearStatusAndJsonRpcError) {
  HttpOptions options;
  options.max_body_bytes = 1024;
  Start(options);
  HttpReply big =
      client_->Post(CallBody(2, "echo", {{"text", std::string(4096, 'x')}}), McpPostHeaders());
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(big.body.find("larger than 1024 bytes"), std::string::npos);

  HttpReply accept = client_->Post(
      InitializeBody(), {{"Content-Type", "application/json"}, {"Accept", "application/json"}});
  EXPECT_EQ(accept.status, 406);
  HttpReply type = client_->Post(
      InitializeBody(),
      {{"Content-Type", "text/plain"}, {"Accept", "application/json, text/event-stream"}});
  EXPECT_EQ(type.status, 415);

  auto versioned = McpPostHeaders();
  versioned.emplace_back("MCP-Protocol-Version", "1999-01-01");
  HttpReply version = client_->Post(InitializeBody(), versioned);
  EXPECT_EQ(version.status, 400);
  EXPECT_NE(version.body.find("unsupported MCP-Protocol-Version '1999-01-01'"), std::string::npos);

  HttpReply malformed = client_->Post("{not json", McpPostHeaders());
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(json::parse(malformed.body)["error"]["code"], -32700);

  EXPECT_EQ(client_->Send("PUT", "/mcp", "", {}).status, 405);
  EXPECT_EQ(client_->Send("GET", "/elsewhere", "", {}).status, 404);

  // The server still serves after all of that.
  EXPECT_EQ(client_->Post(InitializeBody(), McpPostHeaders()).status, 200);
}

TEST_F(HttpTransportTest, GetOpensOneServerStreamPerSessionThatStartsWithAPrimingEvent) {
  Start();
  const std::string session = OpenSession();
  // Two at once: whichever comes first gets the stream, the other a conflict.
  auto open = [&] {
    return client_->Send("GET", "/mcp", "",
                         {{"Accept", "text/event-stream"}, {"Mcp-Session-Id", session}},
                         std::chrono::milliseconds(1500));
  };
  std::future<HttpReply> first = std::async(std::launch::async, open);
  HttpReply second = open();
  HttpReply other = first.get();
  if (second.status == 200) std::swap(second, other);
  EXPECT_EQ(second.status, 409);
  const HttpReply& stream = other;
  EXPECT_EQ(stream.status, 200);
  EXPECT_EQ(stream.header("content-type"), "text/event-stream");
  EXPECT_NE(stream.body.find("id: "), std::string::npos);
  EXPECT_NE(stream.body.find("retry: 1000"), std::string::npos);
}

TEST_F(HttpTransportTest, NotificationsDuringACallTurnTheReplyIntoAnSseStream) {
  Start();
  const std::string session = OpenSession();
  HttpReply reply = client_->Post(
      R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"progress","_meta":{"progressToken":"t"}}})",
      McpPostHeaders(session));
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.header("content-type"), "text/event-stream");
  auto messages = testing::SseData(reply.body);
  ASSERT_EQ(messages.size(), 2u) << reply.body;
  EXPECT_EQ(json::parse(messages[0])["method"], "notifications/progress");
  EXPECT_EQ(json::parse(messages[1])["result"]["content"][0]["text"], "done with progress");
}

TEST_F(HttpTransportTest, AStreamClosedByTheServerIsResumedWithLastEventId) {
  Start();
  const std::string session = OpenSession();
  HttpReply closed = client_->Post(
      R"({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"reconnect"}})",
      McpPostHeaders(session));
  ASSERT_EQ(closed.status, 200);
  EXPECT_TRUE(testing::SseData(closed.body).empty()) << closed.body;  // only the priming event
  const size_t id_at = closed.body.find("id: ");
  ASSERT_NE(id_at, std::string::npos);
  const std::string last_event =
      closed.body.substr(id_at + 4, closed.body.find('\n', id_at) - id_at - 4);
  HttpReply resumed = client_->Send("GET", "/mcp", "",
                                    {{"Accept", "text/event-stream"},
                                     {"Mcp-Session-Id", session},
                                     {"Last-Event-ID", last_event}});
  ASSERT_EQ(resumed.status, 200);
  auto messages = testing::SseData(resumed.body);
  ASSERT_EQ(messages.size(), 1u) << resumed.body;
  EXPECT_EQ(json::parse(messages[0])["result"]["content"][0]["text"],
            "answered after the stream closed");
  EXPECT_EQ(client_
                ->Send("GET", "/mcp", "",
                       {{"Accept", "text/event-stream"},
                        {"Mcp-Session-Id", session},
                        {"Last-Event-ID", "999_1"}})
                .status,
            404);
}

TEST_F(HttpTransportTest, TheClientAddressComesFromXForwardedForOnlyThroughATrustedProxy) {
  HttpOptions options;
  options.trusted_proxies = {"127.0.0.1"};
  Start(options);
  auto headers = McpPostHeaders();
  headers.emplace_back("X-Forwarded-For", "203.0.113.7, 198.51.100.2, 127.0.0.1");
  HttpReply init = client_->Post(InitializeBody(), headers);
  auto call_headers = McpPostHeaders(init.header("mcp-session-id"));
  call_headers.emplace_back("X-Forwarded-For", "203.0.113.7, 198.51.100.2");
  client_->Post(CallBody(2, "echo"), call_headers);
  Stop();
  // The nearest address that is not a trusted proxy; the one before it could be forged.
  ASSERT_EQ(Events("tool_call").size(), 1u);
  EXPECT_EQ(Events("tool_call")[0].request.client_ip, "198.51.100.2");
}

TEST_F(HttpTransportTest, AnUntrustedPeerCannotClaimAnotherAddress) {
  Start();
  auto headers = McpPostHeaders();
  headers.emplace_back("X-Forwarded-For", "203.0.113.7");
  HttpReply init = client_->Post(InitializeBody(), headers);
  client_->Post(CallBody(2, "echo"), McpPostHeaders(init.header("mcp-session-id")));
  ASSERT_EQ(Events("tool_call").size(), 1u);
  EXPECT_EQ(Events("tool_call")[0].request.client_ip, "127.0.0.1");
}

TEST_F(HttpTransportTest, AConnectionThatSendsNothingIsClosedAfterTheRequestTimeout) {
  HttpOptions options;
  options.request_timeout = std::chrono::seconds(1);
  Start(options);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port_);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::send(fd, "POST /mcp HTTP/1.1\r\nHost: 127", 29, 0), 29);  // and then nothing
  const auto started = std::chrono::steady_clock::now();
  char buffer[64];
  const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);  // the server closes: 0
  const auto waited = std::chrono::steady_clock::now() - started;
  ::close(fd);
  EXPECT_EQ(n, 0);
  EXPECT_GE(waited, std::chrono::milliseconds(800));
  EXPECT_LT(waited, std::chrono::seconds(5));
}

// Threads of this process, from /proc.
int ThreadCount() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("Threads:")) return std::stoi(line.substr(8));
  return -1;
}

TEST_F(HttpTransportTest, ThousandsOfIdleSseStreamsNeedNoThreadOfTheirOwn) {
  // Each stream holds two descriptors in this process (client and server side).
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &files);
  const int streams = static_cast<int>(std::min<rlim_t>(2000, (files.rlim_cur - 200) / 2));
  ASSERT_GE(streams, 400) << "too few file descriptors allowed here";
  HttpOptions options;
  options.max_sessions_per_user = streams;  // one caller holds them all
  Start(options);
  const int threads_before = ThreadCount();
  std::vector<int> sockets;
  for (int i = 0; i < streams; ++i) {
    const std::string session =
        client_->Post(InitializeBody(), McpPostHeaders()).header("mcp-session-id");
    ASSERT_FALSE(session.empty()) << i;
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port_);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0) << i;
    const std::string request =
        "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        "Mcp-Session-Id: " +
        session + "\r\n\r\n";
    ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
    sockets.push_back(fd);
  }
  // Every stream is open: each has its response head.
  char buffer[512];
  const ssize_t n = ::recv(sockets.back(), buffer, sizeof buffer, 0);
  ASSERT_GT(n, 0);
  EXPECT_TRUE(std::string_view(buffer, static_cast<size_t>(n)).starts_with("HTTP/1.1 200"));
  // The same threads serve them all (a sanitizer runtime may add a helper thread of its own;
  // a thread per stream would be thousands).
  EXPECT_LE(ThreadCount(), threads_before + 2);
  for (int fd : sockets) ::close(fd);
}

TEST_F(HttpTransportTest, TheAccessReasonMayComeFromAHeader) {
  Start();
  const std::string session = OpenSession();
  auto headers = McpPostHeaders(session);
  headers.emplace_back("X-Access-Reason", "treatment");
  HttpReply from_header = client_->Post(CallBody(2, "reason"), headers);
  EXPECT_EQ(json::parse(from_header.body)["result"]["content"][0]["text"], "reason: treatment");
  HttpReply from_meta = client_->Post(
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"reason","_meta":{"access_reason":"billing"}}})",
      headers);
  EXPECT_EQ(json::parse(from_meta.body)["result"]["content"][0]["text"],
            "reason: billing");  // _meta wins
  auto calls = Events("tool_call");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].compliance.access_reason, "treatment");
}

TEST_F(HttpTransportTest, ACallOverTheRateLimitGetsAnErrorThatSaysWhenToRetry) {
  Start();
  const std::string session = OpenSession();
  HttpReply first = client_->Post(CallBody(2, "limited"), McpPostHeaders(session));
  EXPECT_EQ(json::parse(first.body)["result"]["content"][0]["text"], "within the limit");
  HttpReply second = client_->Post(CallBody(3, "limited"), McpPostHeaders(session));
  EXPECT_EQ(second.status, 200);  // a JSON-RPC error, not an HTTP one: the session goes on
  json error = json::parse(second.body)["error"];
  EXPECT_EQ(error["code"], kRateLimitedCode);
  EXPECT_TRUE(error["message"].get<std::string>().starts_with(
      "Rate limit exceeded for user 'anonymous' on 'limited': retry in "))
      << error;
  auto calls = Events("tool_call");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].outcome, Outcome::kDenied);
  EXPECT_EQ(calls[1].error->reason, "rate_limited");
}

TEST_F(HttpTransportTest, StatelessModeAnswersEachPostOnItsOwn) {
  HttpOptions options;
  options.stateless = true;
  Start(options);
  HttpReply call = client_->Post(CallBody(5, "echo", {{"text", "solo"}}), McpPostHeaders());
  ASSERT_EQ(call.status, 200) << call.body;
  EXPECT_EQ(call.header("mcp-session-id"), "");
  EXPECT_EQ(json::parse(call.body)["result"]["content"][0]["text"], "solo from anonymous");
  EXPECT_EQ(client_->Send("GET", "/mcp", "", {{"Accept", "text/event-stream"}}).status, 405);
  ASSERT_EQ(Events("tool_call").size(), 1u);
  EXPECT_EQ(Events("tool_call")[0].request.session_id, "");
}

TEST_F(HttpTransportTest, ShutdownAnswersTheCallsInFlightFirst) {
  Start();
  const std::string session = OpenSession();
  std::future<HttpReply> call = std::async(std::launch::async, [&] {
    return client_->Post(CallBody(9, "slow"), McpPostHeaders(session));
  });
  slow_started_.get_future().wait();
  Stop();  // while the call runs
  HttpReply reply = call.get();
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(json::parse(reply.body)["result"]["content"][0]["text"], "done");
  EXPECT_EQ(Events("tool_call").size(), 1u);
  EXPECT_TRUE(served_.has_value());
}

TEST_F(HttpTransportTest, WithEveryWorkerBusyACallIs503AtOnceAndOtherClientsAreNotHeldUp) {
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> first{true};
  ToolDefinition gated;
  gated.name = "gated";
  ASSERT_TRUE(toolkit_
                  .Register(gated,
                            [&](const RequestContext&, const json&) -> Result<ToolResult> {
                              if (first.exchange(false)) started.set_value();
                              released.wait();
                              return ToolResult::Text("released");
                            })
                  .has_value());
  Start({}, {.name = "test", .version = "1.0", .workers = 1, .max_queued_calls = 1});
  const std::string session = OpenSession();
  auto call = [&](int id) {
    return std::async(std::launch::async, [this, session, id] {
      return client_->Post(CallBody(id, "gated"), McpPostHeaders(session));
    });
  };
  auto running = call(1);
  started.get_future().wait();
  // The one worker runs call 1; of calls 2 and 3, one takes the queue's one place.
  std::vector<std::future<HttpReply>> calls;
  calls.push_back(call(2));
  calls.push_back(call(3));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int answered = -1;
  while (answered < 0 && std::chrono::steady_clock::now() < deadline)
    for (int i = 0; i < 2 && answered < 0; ++i)
      if (calls[i].wait_for(std::chrono::milliseconds(10)) == std::future_status::ready)
        answered = i;
  ASSERT_GE(answered, 0) << "no call was answered while every worker was busy";
  const HttpReply busy = calls[answered].get();
  EXPECT_EQ(busy.status, 503) << busy.body;
  EXPECT_EQ(busy.header("retry-after"), "1");
  EXPECT_EQ(json::parse(busy.body)["error"]["code"], rpc::kServerBusy);
  EXPECT_EQ(json::parse(busy.body)["id"], answered + 2);
  // What needs no worker is answered meanwhile, in this session and others.
  const HttpReply ping =
      client_->Post(R"({"jsonrpc":"2.0","id":7,"method":"ping"})", McpPostHeaders(session));
  EXPECT_EQ(ping.status, 200) << ping.body;
  EXPECT_EQ(
      client_->Post(R"({"jsonrpc":"2.0","id":8,"method":"tools/list"})", McpPostHeaders(session))
          .status,
      200);
  EXPECT_EQ(
      client_->Send("GET", "/mcp", "", {{"Accept", "text/event-stream"}}, std::chrono::seconds(2))
          .status,
      400);
  // A call in a session that does not exist is still 404, not "busy".
  EXPECT_EQ(client_->Post(CallBody(9, "gated"), McpPostHeaders("feedc0de")).status, 404);

  release.set_value();
  EXPECT_EQ(json::parse(running.get().body)["result"]["content"][0]["text"], "released");
  const HttpReply queued = calls[1 - answered].get();
  EXPECT_EQ(queued.status, 200);
  EXPECT_EQ(json::parse(queued.body)["result"]["content"][0]["text"], "released");
  Stop();
  std::vector<AuditEvent> refused;
  for (const auto& event : Events("tool_call"))
    if (event.error && event.error->reason == "server_busy") refused.push_back(event);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].tool, "gated");
  EXPECT_EQ(refused[0].request.id, std::to_string(answered + 2));
  EXPECT_EQ(refused[0].details["http_status"], 503);
}

TEST_F(HttpTransportTest, RefusedAuthenticationIs401WithTheMetadataUrlAndAnAuditEvent) {
  HttpOptions options;
  options.authenticator = std::make_shared<OneKeyAuthenticator>();
  options.authorization_servers = {"https://auth.example.com"};
  Start(options);
  HttpReply none = client_->Post(InitializeBody(), McpPostHeaders());
  EXPECT_EQ(none.status, 401);
  const std::string challenge = none.header("www-authenticate");
  EXPECT_NE(challenge.find("Bearer error=\"invalid_request\""), std::string::npos) << challenge;
  const std::string metadata_url =
      "http://127.0.0.1:" + std::to_string(port_) + "/.well-known/oauth-protected-resource/mcp";
  EXPECT_NE(challenge.find("resource_metadata=\"" + metadata_url + "\""), std::string::npos)
      << challenge;

  auto headers = McpPostHeaders();
  headers.emplace_back("X-API-Key", "wrong-key-123");
  HttpReply wrong = client_->Post(InitializeBody(), headers);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_NE(wrong.body.find("unknown API key"), std::string::npos);

  // RFC 9728 metadata for clients to find the authorization server.
  HttpReply metadata = client_->Send("GET", "/.well-known/oauth-protected-resource/mcp", "", {});
  ASSERT_EQ(metadata.status, 200);
  json document = json::parse(metadata.body);
  EXPECT_EQ(document["resource"], "http://127.0.0.1:" + std::to_string(port_) + "/mcp");
  EXPECT_EQ(document["authorization_servers"][0], "https://auth.example.com");

  // The right key: the identity reaches the record.
  headers = McpPostHeaders();
  headers.emplace_back("X-API-Key", "good-key");
  HttpReply init = client_->Post(InitializeBody(), headers);
  ASSERT_EQ(init.status, 200);
  auto session_headers = McpPostHeaders(init.header("mcp-session-id"));
  session_headers.emplace_back("X-API-Key", "good-key");
  HttpReply call = client_->Post(CallBody(3, "echo", {{"text", "hello"}}), session_headers);
  EXPECT_EQ(json::parse(call.body)["result"]["content"][0]["text"], "hello from carol");
  auto calls = Events("tool_call");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].user.id, "carol");
  EXPECT_EQ(calls[0].user.tenant_id, "acme");
  EXPECT_EQ(calls[0].user.auth_method, "api_key");

  Stop();  // refused authentications are recorded off the I/O thread: all of them by now
  auto failures = Events("auth_failure");
  ASSERT_EQ(failures.size(), 2u);
  std::set<std::string> reasons;
  for (const auto& failure : failures) {
    reasons.insert(failure.error->reason);
    EXPECT_EQ(failure.outcome, Outcome::kDenied);
    EXPECT_EQ(failure.request.client_ip, "127.0.0.1");
    EXPECT_EQ(ToJsonLine(failure).find("wrong-key-123"),
              std::string::npos);  // never the credential
  }
  EXPECT_EQ(reasons, (std::set<std::string>{"invalid_request", "invalid_token"}));
}

TEST_F(HttpTransportTest, EveryRefusalOfAnIdentifiableCallerIsRecorded) {
  HttpOptions options;
  options.authenticator = std::make_shared<OneKeyAuthenticator>();
  options.max_body_bytes = 2000;
  Start(options);
  const HttpReply init = client_->Post(InitializeBody(), WithKey(McpPostHeaders(), "good-key"));
  ASSERT_EQ(init.status, 200);
  const std::string carols = init.header("mcp-session-id");

  // Another user who learnt carol's session id: to them it does not exist, and the attempt is on
  // record.
  const HttpReply stolen = client_->Post(CallBody(2, "echo", {{"text", "x"}}),
                                         WithKey(McpPostHeaders(carols), "mallory-key"));
  EXPECT_EQ(stolen.status, 404);
  EXPECT_EQ(
      client_->Post(CallBody(3, "echo"), WithKey(McpPostHeaders("feedc0de"), "mallory-key")).status,
      404);
  // A body over the limit (refused before authentication: the record has the address).
  EXPECT_EQ(client_
                ->Post(CallBody(4, "echo", {{"text", std::string(5000, 'a')}}),
                       WithKey(McpPostHeaders(carols), "good-key"))
                .status,
            413);
  // Not JSON, and JSON over the budget: 400 with the JSON-RPC error, and a record of the caller.
  const HttpReply garbled =
      client_->Post("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"x\":\"\xff\"}",
                    WithKey(McpPostHeaders(carols), "mallory-key"));
  EXPECT_EQ(garbled.status, 400);
  EXPECT_EQ(json::parse(garbled.body)["error"]["code"], -32700);
  const HttpReply deep =
      client_->Post(CallBody(6, "echo", json::parse(std::string(100, '[') + std::string(100, ']'))),
                    WithKey(McpPostHeaders(carols), "good-key"));
  EXPECT_EQ(deep.status, 400);
  EXPECT_EQ(json::parse(deep.body)["id"], 6);
  // A browser page from another site.
  auto foreign = WithKey(McpPostHeaders(carols), "good-key");
  foreign.emplace_back("Origin", "https://evil.example");
  EXPECT_EQ(client_->Post(CallBody(7, "echo"), foreign).status, 403);

  Stop();  // refusals are recorded off the I/O thread: all of them by now
  std::map<std::string, AuditEvent> by_reason;
  for (const auto& event : logger_.events())
    if (event.outcome == Outcome::kDenied && event.error)
      by_reason.emplace(event.error->reason, event);
  ASSERT_TRUE(by_reason.contains("session_of_another_user"));
  EXPECT_EQ(by_reason["session_of_another_user"].user.id, "mallory");
  EXPECT_EQ(by_reason["session_of_another_user"].request.session_id,
            carols);  // whose session was tried
  EXPECT_EQ(by_reason["session_of_another_user"].details["http_status"], 404);
  ASSERT_TRUE(by_reason.contains("unknown_session"));
  ASSERT_TRUE(by_reason.contains("payload_too_large"));
  EXPECT_EQ(by_reason["payload_too_large"].request.client_ip, "127.0.0.1");
  ASSERT_TRUE(by_reason.contains("parse_error"));
  EXPECT_EQ(by_reason["parse_error"].user.id, "mallory");
  ASSERT_TRUE(by_reason.contains("too_deep"));
  EXPECT_EQ(by_reason["too_deep"].event_type, "tool_call");
  EXPECT_EQ(by_reason["too_deep"].tool, "echo");
  EXPECT_TRUE(by_reason.contains("origin_not_allowed"));
}

TEST_F(HttpTransportTest, AFloodOfRefusalsIsSummarisedNotWrittenOneByOne) {
  Start();
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(client_->Post("not json", McpPostHeaders()).status, 400) << i;
  Stop();
  size_t one_by_one = 0;
  uint64_t summarised = 0;
  for (const auto& event : logger_.events()) {
    if (event.event_type == "request_refused") ++one_by_one;
    if (event.event_type == "refusal_summary")
      summarised += event.details["not_recorded"].get<uint64_t>();
  }
  EXPECT_EQ(one_by_one, 20u);
  EXPECT_EQ(summarised, 80u);
}

TEST_F(HttpTransportTest, ACallerWithTooManySessionsLosesItsLeastRecentlyUsedIdleOne) {
  HttpOptions options;
  options.max_sessions_per_user = 3;
  options.max_sessions = 5;
  Start(options);
  std::vector<std::string> sessions;
  for (int i = 0; i < 4; ++i) sessions.push_back(OpenSession());
  // The first session ended to make room: its id is unknown now; the others serve.
  EXPECT_EQ(client_->Post(CallBody(2, "echo", {{"text", "a"}}), McpPostHeaders(sessions[0])).status,
            404);
  EXPECT_EQ(client_->Post(CallBody(2, "echo", {{"text", "b"}}), McpPostHeaders(sessions[3])).status,
            200);
  // Past max_sessions in all (other addresses would count each on their own): 503 with a time to
  // retry.
  HttpOptions few;
  few.max_sessions = 1;
  Stop();
  Start(few);
  (void)OpenSession();
  const HttpReply full = client_->Post(InitializeBody(), McpPostHeaders());
  EXPECT_EQ(full.status, 503);
  EXPECT_EQ(full.header("retry-after"), "60");
  Stop();
  bool evicted = false;
  for (const auto& event : logger_.events())
    evicted = evicted ||
              (event.event_type == "session_end" && event.details.value("reason", "") == "evicted");
  EXPECT_TRUE(evicted);
}

TEST_F(HttpTransportTest, OutOfFileDescriptorsTheServerWaitsInsteadOfSpinningAndRecovers) {
  Start();
  rlimit saved{};
  ::getrlimit(RLIMIT_NOFILE, &saved);
  // Leave the process a few descriptors more than it holds now, then take them all with
  // connections.
  int open_now = 0;
  for (int fd = 0; fd < 4096; ++fd) open_now += ::fcntl(fd, F_GETFD) != -1;
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(open_now + 40);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> sockets;
  for (;;) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) break;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port_);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    sockets.push_back(fd);
  }
  // Connections wait in the backlog that accept cannot take: the server must not spin on them.
  rusage before{}, after{};
  ::getrusage(RUSAGE_SELF, &before);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ::getrusage(RUSAGE_SELF, &after);
  auto cpu = [](const rusage& r) {
    return std::chrono::seconds(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           std::chrono::microseconds(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
  };
  for (int fd : sockets) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_LT(cpu(after) - cpu(before), std::chrono::milliseconds(300)) << "the accept loop spun";
  // Descriptors are back: so is the service.
  EXPECT_FALSE(OpenSession().empty());
}

}  // namespace
}  // namespace mcpaudit

// Lines from a hostile client to the MCP server over one session: decoding,
// the lifecycle, dispatch, schema validation, redaction and the record of each
// call. Each input is one session; its lines are its messages.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.h"
#include "mcpaudit/server.h"
#include "mcpaudit/toolkit.h"

namespace {

mcpaudit::Toolkit& FuzzToolkit() {
  using namespace mcpaudit;
  static fuzz::SerialisingLogger* logger = new fuzz::SerialisingLogger();
  static Toolkit* toolkit = [] {
    auto* t = new Toolkit(*logger);
    ToolDefinition echo;
    echo.name = "echo";
    echo.input_schema = nlohmann::json::parse(R"({"type":"object","properties":{"text":{"type":"string"},
      "password":{"type":"string","writeOnly":true},"n":{"type":"integer","maximum":100}},"required":["text"]})");
    (void)t->Register(echo, [](const RequestContext&, const nlohmann::json& arguments) -> Result<ToolResult> {
      return ToolResult::Text(arguments.value("text", ""));
    });
    // Asks the client (2025: a request it answers; 2026-07-28: a round of a multi round-trip
    // request).
    ToolDefinition ask;
    ask.name = "ask";
    ask.input_schema = nlohmann::json{{"type", "object"}};
    (void)t->Register(
        ask, [](const RequestContext& ctx, const nlohmann::json&) -> Result<ToolResult> {
          auto first = ctx.channel->Request("elicitation/create", {{"message", "who?"}},
                                            std::chrono::milliseconds(1));
          if (!first) return std::unexpected(first.error());
          auto second = ctx.channel->Request("sampling/createMessage", {{"maxTokens", 1}},
                                             std::chrono::milliseconds(1));
          if (!second) return std::unexpected(second.error());
          return ToolResult::Text(first->dump() + second->dump());
        });
    return t;
  }();
  return *toolkit;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mcpaudit;
  static Server* server = new Server(ServerOptions{.name = "fuzz", .version = "1", .workers = 1}, FuzzToolkit());
  ConnectionInfo info;
  info.transport = "stdio";
  info.identity.user_id = "fuzz";
  auto connection = server->Connect(info, [](OutgoingMessage) {});
  connection->Receive(
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"f","version":"1"}}})");
  std::string_view input(reinterpret_cast<const char*>(data), size);
  while (!input.empty()) {
    const size_t end = input.find('\n');
    connection->Receive(input.substr(0, end));
    if (end == std::string_view::npos) break;
    input.remove_prefix(end + 1);
  }
  connection->Drain();
  return 0;
}

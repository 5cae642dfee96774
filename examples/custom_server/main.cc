// An MCP server with one tool of its own, every call audited in durable mode
// into a hash-chained journal with signed checkpoints: no call is answered
// before its record is on disk, and `mcp-audit verify --pubkey` proves the
// journal whole.
//   custom_server AUDIT_DIR SIGNING_KEY      then speak MCP on stdin/stdout
//   (`mcp-audit keygen --out KEYS` makes KEYS/audit-signing.key and .pub)
#include <mcpaudit/pipeline.h>
#include <mcpaudit/server.h>
#include <mcpaudit/stdio_transport.h>
#include <mcpaudit/toolkit.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: custom_server AUDIT_DIR SIGNING_KEY\n";
    return 2;
  }
  const mcpaudit::AuditServer me{"custom-server", "1.0", "example"};
  auto journal = mcpaudit::Pipeline::Open({.directory = argv[1],
                                           .mode = mcpaudit::DeliveryMode::kDurable,
                                           .signing_key = argv[2],
                                           .server = me});
  if (!journal) {
    std::cerr << journal.error().message << "\n";
    return 1;
  }
  mcpaudit::Toolkit toolkit(**journal, {.server = me, .fail_closed = true});
  mcpaudit::ToolDefinition greet{.name = "greet",
                                 .description = "Greets someone by name",
                                 .input_schema = {{"type", "object"},
                                                  {"properties", {{"name", {{"type", "string"}}}}},
                                                  {"required", {"name"}}}};
  auto registered = toolkit.Register(
      greet,
      [](const mcpaudit::RequestContext& ctx,
         const nlohmann::json& args) -> mcpaudit::Result<mcpaudit::ToolResult> {
        auto result = mcpaudit::ToolResult::Text("Hello, " + args["name"].get<std::string>() +
                                                 ", from " + ctx.identity.user_id);
        result.resources = {"urn:example:person:" + args["name"].get<std::string>()};
        return result;
      });
  if (!registered) {
    std::cerr << registered.error().message << "\n";
    return 1;
  }
  mcpaudit::Server server({.name = "custom-server", .version = "1.0"}, toolkit);
  auto served =
      mcpaudit::ServeStdio(server, {.connection = {.identity = {.user_id = "example-user"}}});
  return served ? 0 : 1;
}

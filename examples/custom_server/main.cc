// An MCP server with one tool of its own, every call audited to a JSONL file.
//   custom_server AUDIT_DIR      then speak MCP on stdin/stdout
#include <mcpaudit/file_sink.h>
#include <mcpaudit/server.h>
#include <mcpaudit/stdio_transport.h>
#include <mcpaudit/toolkit.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: custom_server AUDIT_DIR\n";
    return 2;
  }
  auto sink = mcpaudit::FileSink::Open({.directory = argv[1]});
  if (!sink) {
    std::cerr << sink.error().message << "\n";
    return 1;
  }
  mcpaudit::Toolkit toolkit(**sink, {.server = {"custom-server", "1.0", "example"}});
  mcpaudit::ToolDefinition greet{
      .name = "greet",
      .description = "Greets someone by name",
      .input_schema = {{"type", "object"},
                       {"properties", {{"name", {{"type", "string"}}}}},
                       {"required", {"name"}}}};
  auto registered = toolkit.Register(greet, [](const mcpaudit::RequestContext& ctx, const nlohmann::json& args)
                                                -> mcpaudit::Result<mcpaudit::ToolResult> {
    auto result = mcpaudit::ToolResult::Text("Hello, " + args["name"].get<std::string>() + ", from " +
                                             ctx.identity.user_id);
    result.resources = {"urn:example:person:" + args["name"].get<std::string>()};
    return result;
  });
  if (!registered) {
    std::cerr << registered.error().message << "\n";
    return 1;
  }
  mcpaudit::Server server({.name = "custom-server", .version = "1.0"}, toolkit);
  auto served = mcpaudit::ServeStdio(server, {.connection = {.identity = {.user_id = "example-user"}}});
  return served ? 0 : 1;
}

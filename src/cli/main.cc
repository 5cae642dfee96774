// mcp-audit: an audited MCP server and the tools to read its audit log.
#include <csignal>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  // A peer that went away (a client, a control socket, an upstream) shows as a
  // failed write, never as a dead process.
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"mcp-audit: compliance-grade audit logging for MCP servers"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("mcp-audit ") + MCPAUDIT_VERSION);
  int exit_code = 0;
  mcpaudit::cli::AddServeCommand(app, exit_code);
  mcpaudit::cli::AddQueryCommand(app, exit_code);
  mcpaudit::cli::AddTailCommand(app, exit_code);
  mcpaudit::cli::AddVerifyCommand(app, exit_code);
  mcpaudit::cli::AddKeygenCommand(app, exit_code);
  mcpaudit::cli::AddConfigCommand(app, exit_code);
  mcpaudit::cli::AddEraseCommand(app, exit_code);
  mcpaudit::cli::AddApiKeyCommand(app, exit_code);
  mcpaudit::cli::AddStatusCommand(app, exit_code);
  mcpaudit::cli::AddExportCommand(app, exit_code);
  mcpaudit::cli::AddProxyCommand(app, exit_code);
  mcpaudit::cli::AddConsoleCommand(app, exit_code);
  mcpaudit::cli::AddRetentionCommand(app, exit_code);
  mcpaudit::cli::AddReportCommand(app, exit_code);
  mcpaudit::cli::AddReloadCommand(app, exit_code);
  mcpaudit::cli::AddCheckpointCommand(app, exit_code);
  mcpaudit::cli::AddProveCommand(app, exit_code);
  mcpaudit::cli::AddEvidenceCommand(app, exit_code);
  mcpaudit::cli::AddWitnessCommand(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit 2, as every mcp-audit command does.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}

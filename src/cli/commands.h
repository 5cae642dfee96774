// The subcommands of `mcp-audit`. Each adds itself to the app; its callback
// stores the process exit code in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace mcpaudit::cli {

void AddServeCommand(CLI::App& app, int& exit_code);
void AddQueryCommand(CLI::App& app, int& exit_code);
void AddTailCommand(CLI::App& app, int& exit_code);
void AddVerifyCommand(CLI::App& app, int& exit_code);
void AddKeygenCommand(CLI::App& app, int& exit_code);
void AddConfigCommand(CLI::App& app, int& exit_code);
void AddEraseCommand(CLI::App& app, int& exit_code);
void AddApiKeyCommand(CLI::App& app, int& exit_code);
void AddStatusCommand(CLI::App& app, int& exit_code);

// Where records go when no --audit-dir is given.
inline constexpr const char* kDefaultAuditDir = "./var/audit";

}  // namespace mcpaudit::cli

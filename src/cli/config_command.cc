// mcp-audit config example | check FILE
#include <iostream>

#include "cli/commands.h"
#include "cli/config.h"

namespace mcpaudit::cli {

void AddConfigCommand(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("config", "Print an example configuration, or check a configuration file");
  cmd->require_subcommand(1);
  CLI::App* example = cmd->add_subcommand("example", "Print a complete configuration with every default, commented");
  example->callback([&exit_code] {
    std::cout << ExampleConfig();
    exit_code = 0;
  });
  auto file = std::make_shared<std::string>();
  CLI::App* check = cmd->add_subcommand("check", "Check FILE: exit 0 when it is valid, 1 with what is wrong and where, 2 when it cannot be read");
  check->add_option("FILE", *file, "The configuration file")->required();
  check->callback([file, &exit_code] {
    auto config = LoadConfig(*file);
    if (!config) {
      std::cerr << config.error().message << "\n";
      exit_code = config.error().code == ErrorCode::kIo ? 2 : 1;
      return;
    }
    std::cout << *file << ": valid (" << (config->audit.mode == DeliveryMode::kDurable ? "durable" : "async")
              << " mode, journal in " << config->audit.directory.string() << ")\n";
    exit_code = 0;
  });
}

}  // namespace mcpaudit::cli

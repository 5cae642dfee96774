// mcp-audit apikey: makes an API key and prints the config entry that admits
// it. The key itself is shown once and never stored.
#include <iostream>

#include "cli/commands.h"
#include "mcpaudit/authenticators.h"

namespace mcpaudit::cli {

void AddApiKeyCommand(CLI::App& app, int& exit_code) {
  struct Flags {
    std::string user, email, tenant;
    std::vector<std::string> roles;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("apikey", "Make an API key for a caller and print its [[auth.api_keys]] entry");
  cmd->add_option("--user", flags->user, "The caller's user id, as records will name it")->required();
  cmd->add_option("--email", flags->email, "The caller's email");
  cmd->add_option("--tenant", flags->tenant, "The caller's tenant");
  cmd->add_option("--role", flags->roles, "A role of the caller (repeatable)");
  cmd->callback([flags, &exit_code] {
    const NewApiKey key = GenerateApiKey();
    auto quoted = [](const std::string& text) {
      std::string out = "\"";
      for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      return out + "\"";
    };
    std::cerr << "The API key for " << flags->user
              << " (shown once: hand it over as a secret; the config keeps only its SHA-256):\n";
    std::cout << key.key << "\n";
    std::cerr << "\nAdd this to the config file:\n\n";
    std::cout << "[[auth.api_keys]]\n"
              << "sha256 = \"" << key.sha256 << "\"\n"
              << "user_id = " << quoted(flags->user) << "\n";
    if (!flags->email.empty()) std::cout << "email = " << quoted(flags->email) << "\n";
    if (!flags->tenant.empty()) std::cout << "tenant_id = " << quoted(flags->tenant) << "\n";
    if (!flags->roles.empty()) {
      std::cout << "roles = [";
      for (size_t i = 0; i < flags->roles.size(); ++i) std::cout << (i ? ", " : "") << quoted(flags->roles[i]);
      std::cout << "]\n";
    }
    exit_code = 0;
  });
}

}  // namespace mcpaudit::cli

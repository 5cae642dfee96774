// mcp-audit keygen: the Ed25519 key pair that signs the journal's checkpoints.
#include <filesystem>
#include <iostream>

#include "base/crypto.h"
#include "cli/commands.h"

namespace mcpaudit::cli {

void AddKeygenCommand(CLI::App& app, int& exit_code) {
  auto out_dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "keygen", "Write DIR/audit-signing.key (0600, for serve --signing-key) and DIR/audit-signing.pub (for verify)");
  cmd->add_option("--out", *out_dir, "Directory for the key pair")->required();
  cmd->callback([out_dir, &exit_code] {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(*out_dir, ec);
    const std::string private_path = (fs::path(*out_dir) / "audit-signing.key").string();
    const std::string public_path = (fs::path(*out_dir) / "audit-signing.pub").string();
    auto key = SigningKey::Generate();
    Status saved = key ? key->Save(private_path, public_path) : Status(std::unexpected(key.error()));
    if (!saved) {
      std::cerr << "mcp-audit keygen: " << saved.error().message << "\n";
      exit_code = 2;
      return;
    }
    std::cout << "private key: " << private_path << " (mode 0600; give it to serve --signing-key)\n"
              << "public key:  " << public_path << " (give it to verify --pubkey)\n"
              << "key id:      " << key->KeyId() << "\n";
    exit_code = 0;
  });
}

}  // namespace mcpaudit::cli

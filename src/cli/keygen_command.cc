// mcp-audit keygen: the Ed25519 key pair that signs the journal's checkpoints.
#include <filesystem>
#include <iostream>

#include "audit/signed_note.h"
#include "base/audit_files.h"
#include "base/crypto.h"
#include "cli/commands.h"

namespace mcpaudit::cli {

void AddKeygenCommand(CLI::App& app, int& exit_code) {
  auto out_dir = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "keygen",
      "Write DIR/audit-signing.key (0600, for serve --signing-key), DIR/audit-signing.pub (for verify --pubkey) "
      "and DIR/audit-signing.vkey (the C2SP verifier key of the checkpoints' notes, for verify --vkey)");
  cmd->add_option("--out", *out_dir, "Directory for the key pair")->required();
  cmd->add_option("--name", *name, "The key's name in the checkpoints' signature lines (default: <host>/mcp-audit)");
  cmd->callback([out_dir, name, &exit_code] {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(*out_dir, ec);
    const std::string private_path = (fs::path(*out_dir) / "audit-signing.key").string();
    const std::string public_path = (fs::path(*out_dir) / "audit-signing.pub").string();
    const fs::path vkey_path = fs::path(*out_dir) / "audit-signing.vkey";
    if (name->empty()) *name = note::DefaultKeyName();
    if (!note::IsKeyName(*name)) {
      std::cerr << "mcp-audit keygen: --name '" << *name << "': a key name has no spaces and no '+'\n";
      exit_code = 2;
      return;
    }
    auto key = SigningKey::Generate();
    Status saved = key ? key->Save(private_path, public_path) : Status(std::unexpected(key.error()));
    if (saved) saved = ReplaceFileDurably(vkey_path, note::VerifierKey(*name, *key) + "\n");
    if (!saved) {
      std::cerr << "mcp-audit keygen: " << saved.error().message << "\n";
      exit_code = 2;
      return;
    }
    std::cout << "private key: " << private_path << " (mode 0600; give it to serve --signing-key)\n"
              << "public key:  " << public_path << " (give it to verify --pubkey)\n"
              << "verifier key: " << vkey_path.string() << " (" << note::VerifierKey(*name, *key) << ")\n"
              << "key id:      " << key->KeyId() << "\n";
    exit_code = 0;
  });
}

}  // namespace mcpaudit::cli

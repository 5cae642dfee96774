// mcp-audit verify: exit 0 when the journal is intact, 1 when tampered, 2 on
// usage or I/O errors; one line per problem.
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "store/query.h"
#include "store/record_store.h"
#include "mcpaudit/verifier.h"

namespace mcpaudit::cli {

void AddVerifyCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::string audit_dir = kDefaultAuditDir;
    StoreFlags store;
    std::string pubkey;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("verify", "Prove that the audit journal was not changed, or say where it was");
  cmd->add_option("--audit-dir", options->audit_dir, "Directory of the journal (with --store: the journal that records this read)")->capture_default_str();
  AddStoreFlags(cmd, options->store, "Verify the copy in a database a sink fills");
  cmd->add_option("--pubkey", options->pubkey, "Ed25519 public key (PEM) that must have signed the checkpoints");
  cmd->callback([options, &exit_code] {
    std::optional<SigningKey> key;
    if (!options->pubkey.empty()) {
      auto loaded = SigningKey::LoadPublic(options->pubkey);
      if (!loaded) {
        std::cerr << "mcp-audit verify: " << loaded.error().message << "\n";
        exit_code = 2;
        return;
      }
      key.emplace(std::move(*loaded));
    }
    // A journal is never trusted alone: it must reach what its store and its shippers have seen.
    auto report = options->store.url.empty() ? VerifyLocalJournal(options->audit_dir, key ? &*key : nullptr)
                                             : VerifyStore(options->store.Config(), key ? &*key : nullptr);
    if (!report) {
      std::cerr << "mcp-audit verify: " << report.error().message << "\n";
      exit_code = 2;
      return;
    }
    // Recorded after the verdict: the record must not change what is verified.
    RecordRead("verify", options->audit_dir, options->store,
               {{"pubkey", options->pubkey.empty() ? nlohmann::json(nullptr) : nlohmann::json(options->pubkey)},
                {"valid", report->valid()}, {"problems", report->problems.size()}});
    for (const auto& p : report->problems) {
      std::cout << "stream " << Printable(p.stream) << " seq " << p.seq << ": " << p.verdict << ": "
                << Printable(p.detail);
      if (!p.file.empty()) std::cout << " (" << p.file.filename().string() << ":" << p.line << ")";
      std::cout << "\n";
    }
    for (const auto& note : report->notes) std::cout << "note: " << note << "\n";
    if (report->valid()) {
      std::cout << "valid: " << report->records << " records in " << report->streams << " stream(s), "
                << report->checkpoints << " checkpoints";
      if (key) std::cout << " (" << report->signed_checkpoints << " signed by key " << key->KeyId() << ")";
      std::cout << "\n";
      exit_code = 0;
    } else {
      std::cout << "TAMPERED: " << report->problems.size() << " problem(s) in " << report->records << " records\n";
      exit_code = 1;
    }
  });
}

}  // namespace mcpaudit::cli

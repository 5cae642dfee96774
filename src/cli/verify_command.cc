// mcp-audit verify: exit 0 when the journal is intact, 1 when tampered, 2 on
// usage or I/O errors; one line per problem.
#include <algorithm>
#include <iostream>
#include <optional>

#include "base/audit_files.h"
#include "cli/commands.h"
#include "store/evidence.h"
#include "store/tlog.h"
#include "store/query.h"
#include "store/record_store.h"
#include "mcpaudit/verifier.h"

namespace mcpaudit::cli {

namespace {

constexpr uintmax_t kMaxProofFileBytes = 16u << 20;

// verify --proof FILE --vkey FILE… [--old-checkpoint FILE]: 0 valid, 1 invalid, 2 unreadable.
int VerifyProof(const std::string& proof_file, const std::vector<std::string>& vkey_files,
                const std::string& old_checkpoint_file, const std::string& origin) {
  if (proof_file.empty() || vkey_files.empty()) {
    std::cerr << "mcp-audit verify: --proof FILE needs --vkey FILE (the key that signs the checkpoints)\n";
    return 2;
  }
  auto verifiers = ReadVerifierKeys(vkey_files);
  if (!verifiers) {
    std::cerr << "mcp-audit verify: " << verifiers.error().message << "\n";
    return 2;
  }
  std::vector<const note::Verifier*> keys;
  for (const auto& verifier : *verifiers) keys.push_back(&verifier);
  auto text = ReadSmallFile(proof_file, kMaxProofFileBytes, "a proof");
  if (!text) {
    std::cerr << "mcp-audit verify: " << text.error().message << "\n";
    return 2;
  }
  std::string kept;
  if (!old_checkpoint_file.empty()) {
    auto read = ReadSmallFile(old_checkpoint_file, 1 << 20, "a checkpoint");
    if (!read) {
      std::cerr << "mcp-audit verify: " << read.error().message << "\n";
      return 2;
    }
    kept = std::move(*read);
  }
  auto checked = tlog::CheckProof(*text, keys, kept, origin);
  if (!checked) {
    std::cerr << "mcp-audit verify: " << proof_file << ": " << checked.error().message << "\n";
    return 2;
  }
  std::cout << Printable(checked->summary) << "\n";
  return checked->valid ? 0 : 1;
}

// verify --bundle FILE [--vkey FILE…]: 0 valid, 1 invalid, 2 unreadable.
int VerifyBundle(const std::string& bundle, const std::vector<std::string>& vkey_files, const std::string& origin) {
  if (vkey_files.empty()) {
    std::cerr << "mcp-audit verify: --bundle FILE needs --vkey FILE: the verifier key the log's operator published "
                 "to you (a bundle's own keys/ are copies, never trusted)\n";
    return 2;
  }
  auto keys = ReadVerifierKeys(vkey_files);
  if (!keys) {
    std::cerr << "mcp-audit verify: " << keys.error().message << "\n";
    return 2;
  }
  auto report = evidence::CheckBundle(bundle, *keys, origin);
  if (!report) {
    std::cerr << "mcp-audit verify: " << report.error().message << "\n";
    return 2;
  }
  for (const auto& problem : report->problems) std::cout << Printable(problem) << "\n";
  if (!report->valid()) {
    const size_t problems = report->problems.size() + report->unlisted - (report->unlisted > 0 ? 1 : 0);
    std::cout << "INVALID: " << problems << " problem(s) in the bundle " << Printable(bundle) << "\n";
    return 1;
  }
  std::cout << Printable(report->summary) << "\n";
  return 0;
}

}  // namespace

void AddVerifyCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::string audit_dir = kDefaultAuditDir;
    StoreFlags store;
    std::string pubkey;
    std::string proof;
    std::string bundle;
    std::vector<std::string> vkeys;
    std::vector<std::string> witness_vkeys;
    std::string old_checkpoint;
    std::string origin;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("verify", "Prove that the audit journal was not changed, or say where it was");
  cmd->add_option("--audit-dir", options->audit_dir, "Directory of the journal (with --store: the journal that records this read)")->capture_default_str();
  auto* store = AddStoreFlags(cmd, options->store, "Verify the copy in a database a sink fills");
  auto* pubkey =
      cmd->add_option("--pubkey", options->pubkey, "Ed25519 public key (PEM) that must have signed the checkpoints");
  auto* proof = cmd->add_option("--proof", options->proof,
                  "Check a proof from mcp-audit prove (JSON, or a .tlog-proof file) instead of a journal");
  auto* bundle = cmd->add_option("--bundle", options->bundle,
                                 "Check an evidence bundle from mcp-audit evidence (FILE.tar.gz) instead of a journal");
  cmd->add_option("--vkey", options->vkeys,
                  "With --proof or --bundle: a file holding the C2SP verifier key that must have signed the "
                  "checkpoint (audit-signing.vkey; repeat for more keys)");
  cmd->add_option("--witness-vkey", options->witness_vkeys,
                  "With --proof or --bundle: a file holding a witness's cosigner key (type 0x04): the "
                  "checkpoint must carry its cosignature (c2sp.org/tlog-cosignature; repeat for more witnesses)");
  auto* old_checkpoint = cmd->add_option("--old-checkpoint", options->old_checkpoint,
                  "With a consistency proof: the checkpoint you kept (as mcp-audit checkpoint printed it), "
                  "whose tree the log must have grown from");
  cmd->add_option("--origin", options->origin,
                  "With --proof or --bundle: the log the checkpoint must be of (its first line, e.g. "
                  "host/mcp-audit/stream)");
  // A bundle is checked with its verifier key alone: nothing else applies.
  bundle->excludes(store)->excludes(pubkey)->excludes(proof)->excludes(old_checkpoint);
  cmd->callback([options, &exit_code] {
    if (!options->witness_vkeys.empty()) {
      auto witnesses = ReadVerifierKeys(options->witness_vkeys);
      if (!witnesses || !std::ranges::all_of(*witnesses, [](const note::Verifier& key) { return key.cosigner; })) {
        std::cerr << "mcp-audit verify: "
                  << (witnesses ? "--witness-vkey takes cosigner keys (type 0x04)" : witnesses.error().message)
                  << "\n";
        exit_code = 2;
        return;
      }
      options->vkeys.insert(options->vkeys.end(), options->witness_vkeys.begin(), options->witness_vkeys.end());
    }
    if (!options->bundle.empty()) {
      exit_code = VerifyBundle(options->bundle, options->vkeys, options->origin);
      return;
    }
    if (!options->proof.empty() || !options->vkeys.empty()) {
      exit_code = VerifyProof(options->proof, options->vkeys, options->old_checkpoint, options->origin);
      return;
    }
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

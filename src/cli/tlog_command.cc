// mcp-audit checkpoint and prove: the journal's signed checkpoints, and proofs
// against them that an auditor checks without the rest of the log
// (`mcp-audit verify --proof`, or any RFC 6962 and signed-note implementation).
#include <iostream>

#include "cli/commands.h"
#include "mcpaudit/pipeline.h"
#include "store/tlog.h"

namespace mcpaudit::cli {

void AddCheckpointCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::string audit_dir = kDefaultAuditDir;
    std::string stream;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "checkpoint", "Print the newest checkpoint of a stream as signed: a C2SP signed note of its Merkle tree's root");
  cmd->add_option("--audit-dir", options->audit_dir, "Directory of the journal")->capture_default_str();
  cmd->add_option("--stream", options->stream, "The stream (default: the journal's own)");
  cmd->callback([options, &exit_code] {
    const std::string stream = options->stream.empty() ? KnownJournalStream(options->audit_dir) : options->stream;
    auto checkpoint = tlog::LatestCheckpoint(options->audit_dir, stream);
    if (!checkpoint) {
      std::cerr << "mcp-audit checkpoint: " << checkpoint.error().message << "\n";
      exit_code = 2;
      return;
    }
    if (checkpoint->note.find("\n\n") == std::string::npos)
      std::cerr << "mcp-audit checkpoint: warning: unsigned (the journal has no signing key)\n";
    std::cout << checkpoint->note;
    exit_code = 0;
  });
}

void AddProveCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::string audit_dir = kDefaultAuditDir;
    std::string id;
    std::optional<uint64_t> old_size;
    std::string stream;
    std::string format = "json";
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "prove", "Prove a record is in the log (--id), or that the log only grew since a size (--old-size), "
               "against its newest signed checkpoint");
  cmd->add_option("--audit-dir", options->audit_dir, "Directory of the journal")->capture_default_str();
  auto* id = cmd->add_option("--id", options->id, "The record to prove (an RFC 6962 inclusion proof)");
  auto* old_size = cmd->add_option("--old-size", options->old_size,
                                   "A tree size an auditor saw before (an RFC 6962 consistency proof)");
  id->excludes(old_size);
  cmd->add_option("--stream", options->stream, "With --old-size: the stream (default: the journal's own)");
  cmd->add_option("--format", options->format, "json, or tlog-proof (a c2sp.org/tlog-proof@v1 file; with --id)")
      ->check(CLI::IsMember({"json", "tlog-proof"}))
      ->capture_default_str();
  cmd->callback([options, &exit_code] {
    if (options->id.empty() == !options->old_size) {
      std::cerr << "mcp-audit prove: give --id RECORD_ID or --old-size M\n";
      exit_code = 2;
      return;
    }
    if (options->format == "tlog-proof" && options->id.empty()) {
      std::cerr << "mcp-audit prove: --format tlog-proof is for inclusion proofs (--id)\n";
      exit_code = 2;
      return;
    }
    const std::string stream = options->stream.empty() ? KnownJournalStream(options->audit_dir) : options->stream;
    auto proof = options->id.empty() ? tlog::ProveConsistency(options->audit_dir, stream, *options->old_size)
                                     : tlog::ProveRecord(options->audit_dir, options->id);
    if (!proof) {
      std::cerr << "mcp-audit prove: " << proof.error().message << "\n";
      exit_code = 2;
      return;
    }
    // An inclusion proof carries the record: a read of the audit log.
    if (!options->id.empty()) RecordRead("prove", options->audit_dir, {}, {{"id", options->id}});
    std::cout << (options->format == "tlog-proof" ? tlog::TlogProofFile(*proof) : proof->dump(2) + "\n");
    exit_code = 0;
  });
}

}  // namespace mcpaudit::cli

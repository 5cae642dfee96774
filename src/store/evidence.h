// Evidence bundles: a slice of the audit log (one user's month, one incident)
// that an auditor checks without the rest of it, with mcp-audit or with any
// RFC 6962 and signed-note implementation. FILE.tar.gz holds
//   proofs/<id>.tlog-proof  each record's inclusion proof (c2sp.org/tlog-proof@v1)
//   records.jsonl           the selected records as stored (erased values stay erased)
//   checkpoints/<stream>    the signed checkpoint all proofs of that stream are against
//   keys/<key id>.vkey      the verifier keys that sign them
//   manifest.json           what was selected and what the bundle holds
//   README.md               how to check it
// A bundle proves that each record it holds is in the log the checkpoint
// signs; not that it holds every record the selection matches.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/signed_note.h"
#include "mcpaudit/result.h"

namespace mcpaudit::evidence {

class BundleWriter {
 public:
  // Starts the bundle `out` (created 0600, never over an existing file) of
  // records of the journal `journal_dir`, whose checkpoints the verifier
  // keys `vkeys` sign.
  [[nodiscard]] static Result<std::unique_ptr<BundleWriter>> Create(const std::filesystem::path& out,
                                                                    std::filesystem::path journal_dir,
                                                                    std::vector<std::string> vkeys);
  ~BundleWriter();  // a bundle not finished is removed
  BundleWriter(const BundleWriter&) = delete;
  BundleWriter& operator=(const BundleWriter&) = delete;

  // Adds a record (its line as stored) and its inclusion proof against its
  // stream's newest checkpoint; false: it is newer than that checkpoint, not added.
  [[nodiscard]] Result<bool> Add(const std::string& line);
  // Completes the bundle; `selection` (what was asked for) goes into its manifest.
  [[nodiscard]] Status Finish(const nlohmann::json& selection);
  size_t records() const;

 private:
  struct State;
  explicit BundleWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// What checking a bundle found.
struct BundleReport {
  size_t records = 0;
  std::vector<std::string> problems;  // each names the record or file and what failed
  size_t unlisted = 0;                // problems past the listed ones (counted only)
  std::string summary;                // what a valid bundle proves
  bool valid() const { return problems.empty(); }
};

// Checks every record of a bundle against its proof, and every proof against
// its checkpoint signed by one of `keys` (the bundle's own keys/ are copies,
// never trusted) and cosigned by each witness key among them. With `origin`,
// the checkpoints must be of that log. Fails when no key is given, or when
// the file is no tar.gz archive.
[[nodiscard]] Result<BundleReport> CheckBundle(const std::filesystem::path& file,
                                               const std::vector<note::Verifier>& keys, const std::string& origin);
// The same for a bundle held in memory.
[[nodiscard]] Result<BundleReport> CheckBundleBytes(std::string_view bytes, const std::vector<note::Verifier>& keys,
                                                    const std::string& origin);

}  // namespace mcpaudit::evidence

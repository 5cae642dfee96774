// mcp-audit verify: proves that a journal is as its writer left it, or says
// precisely which record is not. Verdicts (one per problem, naming stream and seq):
//   modified        a record's content does not match its hash, or a checkpoint
//                   does not match the record it covers
//   missing         a seq never appears (a record was deleted)
//   reordered       a record appears after records that follow it in the chain
//   inserted        a record does not link to its predecessor, or a seq appears twice
//   truncated       the stream ends after its last checkpoint without the final
//                   audit_stopped + checkpoint, and no writer holds the journal
//   bad signature   a checkpoint's Ed25519 signature does not verify
//   unknown key     a checkpoint was signed by another key than the one given
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "mcpaudit/pipeline.h"
#include "mcpaudit/result.h"
#include "mcpaudit/signing_key.h"
#include "mcpaudit/sink.h"

namespace mcpaudit {

struct VerifyProblem {
  std::string stream;
  uint64_t seq = 0;
  std::string verdict;
  std::string detail;
  std::filesystem::path file;
  size_t line = 0;
};

struct VerifyReport {
  struct Head {
    uint64_t seq = 0;
    std::string hash;
  };
  std::map<std::string, Head> heads;  // where each stream ends
  std::string newest_stream;          // the stream of the last record read
  std::vector<VerifyProblem> problems;
  std::vector<std::string> notes;  // facts worth knowing that are not tampering
  uint64_t records = 0;
  uint64_t checkpoints = 0;
  uint64_t signed_checkpoints = 0;  // whose signature was checked and is valid
  size_t streams = 0;
  bool valid() const { return problems.empty(); }
};

// Told how many records have been read so far, every 10,000 records; its
// false stops the reading (the verify then fails: it saw only a part).
using VerifyProgress = std::function<bool(uint64_t records)>;

// Reads every segment of the journal in `dir`. `public_key` may be null: then
// signatures are not checked (and a note says so). Fails only on I/O errors.
[[nodiscard]] Result<VerifyReport> VerifyJournal(const std::filesystem::path& dir, const SigningKey* public_key,
                                                 const VerifyProgress& progress = {});

// VerifyJournal, then the journal held against what its own directory keeps
// outside it (the default store <dir>/audit.db and the shippers' cursors): a
// journal is never trusted alone.
[[nodiscard]] Result<VerifyReport> VerifyLocalJournal(const std::filesystem::path& dir, const SigningKey* public_key,
                                                      const VerifyProgress& progress = {});

// The same for the copy a sink keeps in a database (`--store URL`). Its newest
// records may still be on their way from the journal, so an end after the last
// checkpoint is a note there, not a verdict.
[[nodiscard]] Result<VerifyReport> VerifyStore(const SinkConfig& store, const SigningKey* public_key,
                                               const VerifyProgress& progress = {});

// Adds a problem for each anchor the journal of `report` is behind: a stream
// that ends before the anchor's seq (its newest records are gone), or has
// another record at that seq (it was rewritten).
void CompareWithAnchors(VerifyReport& report, const std::vector<JournalAnchor>& anchors);

}  // namespace mcpaudit

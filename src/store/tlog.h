// The journal as a transparency log: its signed checkpoints, and proofs
// against them that anyone can check without the rest of the log (RFC 6962
// inclusion and consistency proofs; C2SP signed notes and tlog-proof files).
//
// An inclusion proof (`mcp-audit prove --id`):
//   {"stream", "index": seq - 1, "tree_size", "leaf": base64 C(N), "leaf_hash": base64 L(N),
//    "proof": [base64 …], "checkpoint": "<signed note>"[, "key_rotations": [notes]]}
// "key_rotations" (when the signing key changed since the first) lead from the
// first key to the one that signed the checkpoint (key_rotation.h).
// A consistency proof (`mcp-audit prove --old-size M`):
//   {"stream", "old_size", "old_root", "tree_size", "root", "proof": [base64 …], "checkpoint",
//    "old_checkpoint": the note that signed old_root, when the journal still has it}
// A tlog-proof file (c2sp.org/tlog-proof@v1) carries C(N) in its `extra` line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/signed_note.h"
#include "mcpaudit/result.h"

namespace mcpaudit::tlog {

// The newest checkpoint of `stream` in the journal that carries a note.
struct CheckpointNote {
  uint64_t size = 0;  // the tree size it signs (the seq it covers)
  std::string note;   // exactly as written (signed when the journal has a key)
  std::string record_id;
  // The notes of the key rotations up to it (a Prover's; key_rotation.h):
  // how the first key hands on to the key that signs it.
  std::vector<std::string> key_rotations;
};
[[nodiscard]] Result<CheckpointNote> LatestCheckpoint(const std::filesystem::path& journal_dir,
                                                      const std::string& stream);

// Where `mcp-audit witness` keeps the newest checkpoint of `stream` with the
// cosignatures witnesses gave it; LatestCheckpoint gives that note while it
// is of the newest checkpoint.
std::filesystem::path CosignedCheckpointPath(const std::filesystem::path& journal_dir, const std::string& stream);

// The notes of `stream`'s key rotations up to seq `size`, oldest first: of
// its key_rotation records, and those retention records carry for the ones
// they deleted (the whole journal is read the first time a size is asked for).
[[nodiscard]] Result<std::vector<std::string>> KeyRotationNotes(const std::filesystem::path& journal_dir,
                                                                const std::string& stream, uint64_t size);

// The newest record of `stream` in the journal whose event_type is `event_type`.
[[nodiscard]] Result<std::optional<nlohmann::json>> NewestRecord(const std::filesystem::path& journal_dir,
                                                                 const std::string& stream,
                                                                 const std::string& event_type);

// The inclusion proof of the record `id` against the newest checkpoint of its
// stream (the journal is searched for it: a store finds it faster, see ProveLine).
[[nodiscard]] Result<nlohmann::json> ProveRecord(const std::filesystem::path& journal_dir, const std::string& id);
// The same for a record given as its line (from the journal or a store that
// the journal fills); the tree and checkpoint are the journal's.
[[nodiscard]] Result<nlohmann::json> ProveLine(const std::filesystem::path& journal_dir, const std::string& line);
// The consistency proof from `old_size` leaves to the newest checkpoint of `stream`.
[[nodiscard]] Result<nlohmann::json> ProveConsistency(const std::filesystem::path& journal_dir,
                                                      const std::string& stream, uint64_t old_size);
// Proves many records: each stream's newest checkpoint and tree are read once.
class Prover {
 public:
  explicit Prover(std::filesystem::path journal_dir);
  ~Prover();
  // As ProveLine.
  [[nodiscard]] Result<nlohmann::json> Prove(const std::string& line);
  // The newest checkpoint of `stream`: what every proof of its records is against.
  [[nodiscard]] Result<const CheckpointNote*> Checkpoint(const std::string& stream);

 private:
  struct Stream;
  Result<Stream*> Open(const std::string& stream);
  std::filesystem::path dir_;
  std::map<std::string, std::unique_ptr<Stream>> streams_;
};

// An inclusion proof (as ProveRecord makes it) as a c2sp.org/tlog-proof@v1 file.
std::string TlogProofFile(const nlohmann::json& inclusion);
// A c2sp.org/tlog-proof@v1 file as the JSON of an inclusion proof ("leaf"
// when it has an extra line, "index", "proof", "checkpoint"; nullopt: not one).
std::optional<nlohmann::json> ParseTlogProofFile(std::string_view text);

// Whether `id` is a record id as the journal writes them (letters, digits, '-', '_').
bool IsRecordId(std::string_view id);

// What checking a proof found.
struct Checked {
  bool valid = false;
  std::string summary;  // what it proves, or why it does not
};
// Checks a proof of either kind, or a tlog-proof file, with the checkpoint's
// signature by one of `keys`. A consistency proof's old root must be signed:
// by `kept_checkpoint` (the note an auditor kept) if given, else by the old
// checkpoint the proof brings. Fails only when `text` is no proof at all.
// With `origin`, the checkpoint must be of that log (a key may sign several).
[[nodiscard]] Result<Checked> CheckProof(const std::string& text, const std::vector<const note::Verifier*>& keys,
                                         const std::string& kept_checkpoint = "", const std::string& origin = "");

// Who signed an opened checkpoint, and which witnesses cosigned it.
std::string SignedBy(const note::Opened& opened);

// The witnesses among `keys` (cosigner keys) must each have cosigned `note`,
// a checkpoint one of the log keys among `keys` signed; the first that did
// not is named.
[[nodiscard]] Status CheckWitnessed(const std::string& note, const std::vector<const note::Verifier*>& keys);

// An inclusion proof (ParseTlogProofFile's form) against a checkpoint already
// opened with the keys of its epoch: a bundle opens each of its checkpoints once.
Checked CheckInclusion(const nlohmann::json& proof, const note::Opened& opened, const note::Checkpoint& checkpoint);

}  // namespace mcpaudit::tlog

// The hash chain of one stream as its one writer extends it (the format is in
// journal_format.h): the seq and hash of its head, the right edge of its
// Merkle tree (merkle_tree.h), the records since the last checkpoint, and what
// a checkpoint of the head says and signs. Owned by the
// pipeline's writer thread (not thread-safe); key() may be read elsewhere only
// before the writer starts (a key rotation changes it).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "audit/merkle_tree.h"
#include "base/crypto.h"

namespace mcpaudit {

// What a checkpoint's signed note names (signed_note.h).
struct NoteNames {
  std::string origin;    // the log's: first line of the note
  std::string key_name;  // the signing key's, in its signature line
};

class Chain {
 public:
  // Goes on after (`seq`, `head`), signing its checkpoints with `key` if given.
  Chain(std::string stream, uint64_t seq, std::string head, std::optional<SigningKey> key,
        NoteNames names = {});

  // Goes on with the Merkle tree whose right edge is `edge`. Its checkpoints
  // carry a note of the tree's root only while the tree ends at seq(): leaf
  // i is the record with seq i + 1. False (and no notes) when it does not.
  bool SetTree(merkle::Frontier edge);

  // Appends to `out` the journal line of a record, with the next seq: its
  // canonical JSON with the values in plain but without the closing brace
  // (`record`), its leaf hash L(N) and the salts of its erasable fields as a
  // JSON object (or empty).
  void Append(std::string_view record, const Sha256Digest& leaf, std::string_view salts_json, std::string& out);

  // What a checkpoint of the head declares: what it covers, the C2SP note of
  // the tree's root at its seq, and, with a key, the key id and signature
  // (the note is then signed too).
  nlohmann::json CheckpointDetails() const;
  // A checkpoint was appended: the count of records since starts again.
  void Checkpointed();

  // Where the chain stands, to go back to when a write fails.
  struct Mark {
    uint64_t seq, since_checkpoint;
    std::string head;
    std::chrono::steady_clock::time_point last_checkpoint;
    std::optional<merkle::Frontier> tree;
  };
  Mark Where() const { return {seq_, since_checkpoint_, head_, last_checkpoint_, tree_}; }
  // Back to `mark`: what was appended since is not in the journal.
  void Restore(const Mark& mark);

  // Numbers the next record after `seq`, never lower than the head's (the
  // journal lost records an anchor outside it still knows: their seqs are not
  // used again).
  // The Merkle tree then has no leaves for the seqs skipped: no more notes.
  void SkipTo(uint64_t seq) {
    if (seq > seq_) tree_.reset();
    seq_ = std::max(seq_, seq);
  }

  uint64_t seq() const { return seq_; }
  const std::string& head() const { return head_; }
  uint64_t since_checkpoint() const { return since_checkpoint_; }
  std::chrono::steady_clock::time_point last_checkpoint() const { return last_checkpoint_; }
  const SigningKey* key() const { return key_ ? &*key_ : nullptr; }
  // Signs the checkpoints from now on with `key` (a key rotation).
  void SetKey(SigningKey key) { key_ = std::move(key); }
  const NoteNames& names() const { return names_; }

 private:
  std::string stream_;
  std::string stream_json_;  // the stream name as a JSON string
  uint64_t seq_;
  std::string head_;
  std::optional<SigningKey> key_;
  NoteNames names_;
  std::optional<merkle::Frontier> tree_;  // none: no notes
  uint64_t since_checkpoint_ = 0;
  std::chrono::steady_clock::time_point last_checkpoint_ = std::chrono::steady_clock::now();
};

}  // namespace mcpaudit

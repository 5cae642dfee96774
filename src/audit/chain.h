// The hash chain of one stream as its one writer extends it (the format is in
// journal_format.h): the seq and hash of its head, the records since the last
// checkpoint, and what a checkpoint of the head says and signs. Owned by the
// pipeline's writer thread (not thread-safe); only key(), which never changes,
// may be read elsewhere.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/crypto.h"

namespace mcpaudit {

class Chain {
 public:
  // Goes on after (`seq`, `head`), signing its checkpoints with `key` if given.
  Chain(std::string stream, uint64_t seq, std::string head, std::optional<SigningKey> key);

  // Appends to `out` the journal line of a record, with the next seq: its
  // canonical JSON with the values in plain but without the closing brace
  // (`record`), its leaf hash L(N) and the salts of its erasable fields as a
  // JSON object (or empty).
  void Append(std::string_view record, const Sha256Digest& leaf, std::string_view salts_json, std::string& out);

  // What a checkpoint of the head declares: what it covers and, with a key,
  // the key id and signature.
  nlohmann::json CheckpointDetails() const;
  // A checkpoint was appended: the count of records since starts again.
  void Checkpointed();

  // Where the chain stands, to go back to when a write fails.
  struct Mark {
    uint64_t seq, since_checkpoint;
    std::string head;
    std::chrono::steady_clock::time_point last_checkpoint;
  };
  Mark Where() const { return {seq_, since_checkpoint_, head_, last_checkpoint_}; }
  // Back to `mark`: what was appended since is not in the journal.
  void Restore(const Mark& mark);

  // Numbers the next record after `seq`, never lower than the head's (the
  // journal lost records an anchor outside it still knows: their seqs are not
  // used again).
  void SkipTo(uint64_t seq) { seq_ = std::max(seq_, seq); }

  uint64_t seq() const { return seq_; }
  const std::string& head() const { return head_; }
  uint64_t since_checkpoint() const { return since_checkpoint_; }
  std::chrono::steady_clock::time_point last_checkpoint() const { return last_checkpoint_; }
  const SigningKey* key() const { return key_ ? &*key_ : nullptr; }

 private:
  std::string stream_;
  std::string stream_json_;  // the stream name as a JSON string
  uint64_t seq_;
  std::string head_;
  std::optional<SigningKey> key_;
  uint64_t since_checkpoint_ = 0;
  std::chrono::steady_clock::time_point last_checkpoint_ = std::chrono::steady_clock::now();
};

}  // namespace mcpaudit

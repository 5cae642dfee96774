#include "audit/chain.h"

#include "audit/canonical_json.h"
#include "audit/journal_format.h"
#include "audit/signed_note.h"
#include "base/ops_log.h"

namespace mcpaudit {

Chain::Chain(std::string stream, uint64_t seq, std::string head, std::optional<SigningKey> key,
             NoteNames names)
    : stream_(std::move(stream)),
      seq_(seq),
      head_(std::move(head)),
      key_(std::move(key)),
      names_(std::move(names)) {
  AppendJsonString(stream_json_, stream_);
}

bool Chain::SetTree(merkle::Frontier edge) {
  if (edge.size() != seq_) {
    tree_.reset();
    return false;
  }
  tree_ = std::move(edge);
  return true;
}

void Chain::Append(std::string_view record, const Sha256Digest& leaf, std::string_view salts_json,
                   std::string& out) {
  ++seq_;
  std::string hash = journal::ChainHash(head_, leaf);
  out += record;
  out += ",\"integrity\":";
  journal::AppendIntegrity(out, stream_json_, seq_, head_, hash, salts_json);
  out += "}\n";
  head_ = std::move(hash);
  if (tree_) tree_->Append(leaf);
  ++since_checkpoint_;
}

nlohmann::json Chain::CheckpointDetails() const {
  nlohmann::json details = {{"covers", {{"seq", seq_}, {"hash", head_}}}};
  std::string text;
  if (tree_ && tree_->size() == seq_) text = note::CheckpointText({names_.origin, seq_, tree_->Root()});
  if (!key_) {
    if (!text.empty()) details["note"] = text;
    return details;
  }
  if (!text.empty()) {
    auto signed_note = note::Sign(text, names_.key_name, *key_);
    if (signed_note)
      details["note"] = *signed_note;
    else
      OpsLog().error("checkpoint note not signed: {}", signed_note.error().message);
  }
  auto signature = key_->Sign(journal::CheckpointMessage(stream_, seq_, head_));
  if (!signature) {
    OpsLog().error("checkpoint not signed: {}", signature.error().message);
    return details;
  }
  details["key_id"] = key_->KeyId();
  details["signature"] = *signature;
  return details;
}

void Chain::Checkpointed() {
  since_checkpoint_ = 0;
  last_checkpoint_ = std::chrono::steady_clock::now();
}

void Chain::Restore(const Mark& mark) {
  seq_ = mark.seq;
  since_checkpoint_ = mark.since_checkpoint;
  head_ = mark.head;
  last_checkpoint_ = mark.last_checkpoint;
  tree_ = mark.tree;
}

}  // namespace mcpaudit

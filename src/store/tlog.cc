#include "store/tlog.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "audit/journal_format.h"
#include "audit/key_rotation.h"
#include "audit/merkle_tree.h"
#include "base/audit_files.h"
#include "base/bounded_json.h"
#include "store/journal_reader.h"

namespace mcpaudit::tlog {
namespace {

using nlohmann::json;

constexpr std::string_view kTlogProofHeader = "c2sp.org/tlog-proof@v1";
constexpr size_t kMaxProofHashes = 64;  // a path in a tree of 2^64 leaves
constexpr size_t kMaxKeyRotations = 1 << 20;  // a key an hour for a century

std::string Base64Of(const Sha256Digest& digest) {
  return Base64Encode({reinterpret_cast<const char*>(digest.data()), digest.size()});
}

std::optional<Sha256Digest> DigestOf(const json& value) {
  if (!value.is_string()) return std::nullopt;
  auto bytes = Base64Decode(value.get_ref<const std::string&>());
  if (!bytes || bytes->size() != 32) return std::nullopt;
  Sha256Digest digest;
  std::copy(bytes->begin(), bytes->end(), reinterpret_cast<char*>(digest.data()));
  return digest;
}

json Base64List(const std::vector<Sha256Digest>& hashes) {
  json list = json::array();
  for (const auto& hash : hashes) list.push_back(Base64Of(hash));
  return list;
}

std::optional<std::vector<Sha256Digest>> DigestList(const json& list) {
  if (!list.is_array() || list.size() > kMaxProofHashes) return std::nullopt;
  std::vector<Sha256Digest> hashes;
  for (const json& item : list) {
    auto digest = DigestOf(item);
    if (!digest) return std::nullopt;
    hashes.push_back(*digest);
  }
  return hashes;
}

// A record as a leaf of its stream's tree.
struct Leaf {
  std::string id;
  std::string stream;
  uint64_t seq = 0;
  std::string canonical;  // C(N)
};

Result<Leaf> LeafOf(const std::string& line) {
  const json record = ParseWithin(line, kMaxRecordDepth);
  const json integrity = ObjectMember(record, "integrity");
  const std::string id = StringMember(record, "id");
  auto canonical = journal::CanonicalForHash(record, ObjectMember(integrity, "salts"));
  if (!canonical || !integrity.contains("seq") || !integrity["seq"].is_number_unsigned() ||
      integrity["seq"].get<uint64_t>() == 0)
    return Fail(ErrorCode::kInvalidArgument, "record " + id + " is not a record of the journal (run verify)");
  return Leaf{id, StringMember(integrity, "stream"), integrity["seq"].get<uint64_t>(), std::move(*canonical)};
}

// The line of the record `id` in the journal.
Result<std::string> FindLine(const std::filesystem::path& dir, const std::string& id) {
  if (!IsRecordId(id)) return Fail(ErrorCode::kInvalidArgument, "a record id is letters, digits, '-' and '_'");
  auto files = ListAuditFiles(dir);
  if (!files) return std::unexpected(files.error());
  const std::string needle = "\"id\":\"" + id + "\"";
  std::optional<std::string> found;
  Status read = ForEachLine(*files, [&](const std::filesystem::path&, size_t, const std::string& line) {
    if (line.find(needle) == std::string::npos || StringMember(ParseWithin(line, kMaxRecordDepth), "id") != id)
      return true;
    found = line;
    return false;
  });
  if (!read) return std::unexpected(read.error());
  if (!found) return Fail(ErrorCode::kNotFound, "no record " + id + " in the journal in " + dir.string());
  return *found;
}

// The stream's tree, holding at least `size` leaves. A running writer appends
// a batch's leaves just after the batch, its checkpoint included: a moment's wait.
Result<merkle::StoredTree> TreeOfSize(const std::filesystem::path& dir, const std::string& stream, uint64_t size) {
  for (int attempt = 0;; ++attempt) {
    auto tree = merkle::StoredTree::Open(merkle::TreeDirectory(dir, stream), false);
    if (!tree) return tree;
    if (tree->size() >= size) return tree;
    if (attempt == 20)
      return Fail(ErrorCode::kUnavailable,
                  "the Merkle tree of stream " + stream + " holds " + std::to_string(tree->size()) +
                      " leaves, fewer than its checkpoint signs (" + std::to_string(size) +
                      "); the server completes it from the journal when it starts");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// The checkpoint of `stream` with a note that `line` holds, if it holds one.
std::optional<CheckpointNote> CheckpointIn(std::string_view line, const std::string& stream) {
  if (line.find("\"event_type\":\"checkpoint\"") == std::string_view::npos) return std::nullopt;
  const json record = ParseWithin(line, kMaxRecordDepth);
  const std::string note = StringMember(ObjectMember(record, "details"), "note");
  if (StringMember(record, "event_type") != "checkpoint" ||
      StringMember(ObjectMember(record, "integrity"), "stream") != stream || note.empty())
    return std::nullopt;
  auto checkpoint = note::ParseCheckpoint(note::TextOf(note));
  if (!checkpoint) return std::nullopt;
  return CheckpointNote{checkpoint->size, note, StringMember(record, "id"), {}};
}

// The newest line of `file` that `match` takes, read from its end (what is
// looked for is never far from it): a window that grows until one is found.
Result<std::optional<std::string>> NewestLineIn(const std::filesystem::path& file,
                                                const std::function<bool(std::string_view)>& match) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail(ErrorCode::kIo, "cannot read " + file.string());
  in.seekg(0, std::ios::end);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  for (uint64_t window = 256 << 10;; window *= 4) {
    const uint64_t from = size > window ? size - window : 0;
    std::string text(size - from, '\0');
    in.seekg(static_cast<std::streamoff>(from));
    if (!in.read(text.data(), static_cast<std::streamsize>(text.size())))
      return Fail(ErrorCode::kIo, "cannot read " + file.string());
    // Lines from the last; the first is whole only when the window starts the file.
    std::string_view rest(text);
    if (rest.ends_with('\n')) rest.remove_suffix(1);
    for (;;) {
      const size_t newline = rest.rfind('\n');
      if (newline == std::string_view::npos) {
        if (from == 0 && !rest.empty() && match(rest)) return std::string(rest);
        break;
      }
      if (match(rest.substr(newline + 1))) return std::string(rest.substr(newline + 1));
      rest = rest.substr(0, newline);
    }
    if (from == 0) return std::nullopt;
  }
}

// The same in the journal in `dir`, its newest segment first.
Result<std::optional<std::string>> NewestLine(const std::filesystem::path& dir,
                                              const std::function<bool(std::string_view)>& match) {
  auto files = ListAuditFiles(dir);
  if (!files) return std::unexpected(files.error());
  for (auto file = files->rbegin(); file != files->rend(); ++file) {
    auto newest = NewestLineIn(*file, match);
    if (!newest || *newest) return newest;
  }
  return std::nullopt;
}

}  // namespace

bool IsRecordId(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::ranges::all_of(id, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

std::filesystem::path CosignedCheckpointPath(const std::filesystem::path& dir, const std::string& stream) {
  return dir / "witness" / (merkle::FileNameOf(stream) + ".checkpoint");
}

Result<CheckpointNote> LatestCheckpoint(const std::filesystem::path& dir, const std::string& stream) {
  auto newest = NewestLine(dir, [&](std::string_view line) { return CheckpointIn(line, stream).has_value(); });
  if (!newest) return std::unexpected(newest.error());
  if (*newest) {
    CheckpointNote checkpoint = *CheckpointIn(**newest, stream);
    // The same checkpoint with the witnesses' cosignatures, when they gave them.
    const std::filesystem::path cosigned = CosignedCheckpointPath(dir, stream);
    std::error_code error;
    if (std::filesystem::is_regular_file(cosigned, error) && std::filesystem::file_size(cosigned, error) < (64 << 10))
      if (auto text = ReadWholeFile(cosigned); text && text->size() > checkpoint.note.size() &&
                                                text->starts_with(checkpoint.note))
        checkpoint.note = std::move(*text);
    return checkpoint;
  }
  return Fail(ErrorCode::kNotFound, "no checkpoint of stream " + stream + " in " + dir.string() +
                                        " carries a note yet (one is written every checkpoint_every)");
}

Result<std::optional<json>> NewestRecord(const std::filesystem::path& dir, const std::string& stream,
                                         const std::string& event_type) {
  const std::string type = "\"event_type\":\"" + event_type + "\"";
  auto newest = NewestLine(dir, [&](std::string_view line) {
    if (line.find(type) == std::string_view::npos) return false;
    const json record = ParseWithin(line, kMaxRecordDepth);
    return StringMember(record, "event_type") == event_type &&
           StringMember(ObjectMember(record, "integrity"), "stream") == stream;
  });
  if (!newest) return std::unexpected(newest.error());
  if (!*newest) return std::nullopt;
  return ParseWithin(**newest, kMaxRecordDepth);
}

Result<json> ProveRecord(const std::filesystem::path& dir, const std::string& id) {
  auto line = FindLine(dir, id);
  if (!line) return std::unexpected(line.error());
  return ProveLine(dir, *line);
}

Result<json> ProveLine(const std::filesystem::path& dir, const std::string& line) {
  return Prover(dir).Prove(line);
}

namespace {

// The key rotations of a stream read so far: those up to seq `through`. A
// journal only grows, so each is read once per process, not once per proof
// (the read API proves on every request).
struct KnownRotations {
  uint64_t through = 0;
  key_rotation::History history;
};
std::mutex known_rotations_mutex;
std::map<std::pair<std::string, std::string>, KnownRotations> known_rotations;

}  // namespace

Result<std::vector<std::string>> KeyRotationNotes(const std::filesystem::path& dir, const std::string& stream,
                                                  uint64_t size) {
  std::lock_guard lock(known_rotations_mutex);
  KnownRotations& known = known_rotations[{dir.string(), stream}];
  if (known.through < size) {
    auto files = ListAuditFiles(dir);
    if (!files) return std::unexpected(files.error());
    // Read to the end: a retention record after later rotations may carry
    // the ones it deleted.
    KnownRotations read_now{size, {}};
    Status read = ForEachLine(*files, [&](const std::filesystem::path&, size_t, const std::string& line) {
      if (key_rotation::History::MayTell(line)) read_now.history.Add(ParseWithin(line, kMaxRecordDepth));
      return true;
    });
    if (!read) return std::unexpected(read.error());
    known = std::move(read_now);
  }
  return known.history.Notes(stream, size);
}

struct Prover::Stream {
  Stream(CheckpointNote c, merkle::StoredTree t) : checkpoint(std::move(c)), tree(std::move(t)) {}
  CheckpointNote checkpoint;
  merkle::StoredTree tree;
};

Prover::Prover(std::filesystem::path journal_dir) : dir_(std::move(journal_dir)) {}
Prover::~Prover() = default;

Result<Prover::Stream*> Prover::Open(const std::string& stream) {
  auto known = streams_.find(stream);
  if (known == streams_.end()) {
    auto newest = LatestCheckpoint(dir_, stream);
    if (!newest) return std::unexpected(newest.error());
    auto opened = TreeOfSize(dir_, stream, newest->size);
    if (!opened) return std::unexpected(opened.error());
    // The tree must be the one the checkpoint signs, or every proof from it is false.
    auto root = opened->Root(newest->size);
    if (!root) return std::unexpected(root.error());
    auto signed_tree = note::ParseCheckpoint(note::TextOf(newest->note));
    if (!signed_tree || signed_tree->root != *root)
      return Fail(ErrorCode::kInternal, "the Merkle tree of stream " + stream + " does not give the root its "
                                        "newest checkpoint signs: it was changed (the server sets it aside and "
                                        "builds it again from the journal when it starts)");
    auto rotations = KeyRotationNotes(dir_, stream, newest->size);
    if (!rotations) return std::unexpected(rotations.error());
    newest->key_rotations = std::move(*rotations);
    known = streams_.emplace(stream, std::make_unique<Stream>(std::move(*newest), std::move(*opened))).first;
  }
  return known->second.get();
}

Result<const CheckpointNote*> Prover::Checkpoint(const std::string& stream) {
  auto opened = Open(stream);
  if (!opened) return std::unexpected(opened.error());
  return &(*opened)->checkpoint;
}

Result<json> Prover::Prove(const std::string& line) {
  auto record = LeafOf(line);
  if (!record) return std::unexpected(record.error());
  const std::string& id = record->id;
  auto stream = Open(record->stream);
  if (!stream) return std::unexpected(stream.error());
  const CheckpointNote* checkpoint = &(*stream)->checkpoint;
  const merkle::StoredTree* tree = &(*stream)->tree;
  if (checkpoint->size < record->seq)
    return Fail(ErrorCode::kUnavailable, "record " + id + " (seq " + std::to_string(record->seq) +
                                             ") is not signed by a checkpoint yet: the newest signs " +
                                             std::to_string(checkpoint->size) + " records; ask again after the next");
  const uint64_t index = record->seq - 1;
  const Sha256Digest leaf = journal::LeafHash(record->canonical);
  auto stored = tree->Leaf(index);
  if (!stored) return std::unexpected(stored.error());
  if (*stored != leaf)
    return Fail(ErrorCode::kInternal, "record " + id + " is not the record the tree holds at seq " +
                                                 std::to_string(record->seq) + ": it was changed (run mcp-audit verify)");
  auto proof = tree->InclusionProof(index, checkpoint->size);
  if (!proof) return std::unexpected(proof.error());
  json answer{{"stream", record->stream},
              {"index", index},
              {"tree_size", checkpoint->size},
              {"leaf", Base64Encode(record->canonical)},
              {"leaf_hash", Base64Of(leaf)},
              {"proof", Base64List(*proof)},
              {"checkpoint", checkpoint->note}};
  if (!checkpoint->key_rotations.empty()) answer["key_rotations"] = checkpoint->key_rotations;
  return answer;
}

namespace {

// The checkpoint note of `stream` that signs a tree of `size` records, if the journal still has one.
Result<std::optional<std::string>> NoteOfSize(const std::filesystem::path& dir, const std::string& stream,
                                              uint64_t size) {
  auto files = ListAuditFiles(dir);
  if (!files) return std::unexpected(files.error());
  std::optional<std::string> found;
  Status read = ForEachLine(*files, [&](const std::filesystem::path&, size_t, const std::string& line) {
    auto checkpoint = CheckpointIn(line, stream);
    if (checkpoint && checkpoint->size == size) found = checkpoint->note;
    return !found;
  });
  if (!read) return std::unexpected(read.error());
  return found;
}

}  // namespace

Result<json> ProveConsistency(const std::filesystem::path& dir, const std::string& stream, uint64_t old_size) {
  auto checkpoint = LatestCheckpoint(dir, stream);
  if (!checkpoint) return std::unexpected(checkpoint.error());
  if (old_size > checkpoint->size)
    return Fail(ErrorCode::kInvalidArgument, "--old-size " + std::to_string(old_size) +
                                                 " is larger than the newest checkpoint's tree (" +
                                                 std::to_string(checkpoint->size) + " records)");
  auto tree = TreeOfSize(dir, stream, checkpoint->size);
  if (!tree) return std::unexpected(tree.error());
  auto proof = tree->ConsistencyProof(old_size, checkpoint->size);
  auto old_root = tree->Root(old_size);
  auto root = tree->Root(checkpoint->size);
  if (!proof) return std::unexpected(proof.error());
  if (!old_root) return std::unexpected(old_root.error());
  if (!root) return std::unexpected(root.error());
  auto rotations = KeyRotationNotes(dir, stream, checkpoint->size);
  if (!rotations) return std::unexpected(rotations.error());
  json answer{{"stream", stream},
              {"old_size", old_size},
              {"old_root", Base64Of(*old_root)},
              {"tree_size", checkpoint->size},
              {"root", Base64Of(*root)},
              {"proof", Base64List(*proof)},
              {"checkpoint", checkpoint->note}};
  // The old checkpoint, as the journal has it: what signs old_root (an
  // auditor compares it with the one they kept).
  auto old_note = NoteOfSize(dir, stream, old_size);
  if (!old_note) return std::unexpected(old_note.error());
  if (*old_note) answer["old_checkpoint"] = **old_note;
  if (!rotations->empty()) answer["key_rotations"] = *rotations;
  return answer;
}

std::string TlogProofFile(const json& inclusion) {
  std::string file = std::string(kTlogProofHeader) + "\n";
  file += "extra " + inclusion["leaf"].get<std::string>() + "\n";
  file += "index " + std::to_string(inclusion["index"].get<uint64_t>()) + "\n";
  for (const json& hash : inclusion["proof"]) file += hash.get<std::string>() + "\n";
  file += "\n" + inclusion["checkpoint"].get<std::string>();
  return file;
}

std::optional<json> ParseTlogProofFile(std::string_view text) {
  if (!text.starts_with(std::string(kTlogProofHeader) + "\n")) return std::nullopt;
  std::vector<std::string_view> lines;
  const size_t blank = text.find("\n\n");
  if (blank == std::string_view::npos) return std::nullopt;
  std::string_view head = text.substr(0, blank + 1);
  while (!head.empty()) {
    const size_t end = head.find('\n');
    lines.push_back(head.substr(0, end));
    head.remove_prefix(end + 1);
  }
  size_t at = 1;
  json proof = {{"checkpoint", std::string(text.substr(blank + 2))}, {"proof", json::array()}};
  if (at < lines.size() && lines[at].starts_with("extra ")) proof["leaf"] = std::string(lines[at++].substr(6));
  if (at >= lines.size() || !lines[at].starts_with("index ")) return std::nullopt;
  uint64_t index = 0;
  const std::string_view digits = lines[at++].substr(6);
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (error != std::errc() || end != digits.data() + digits.size() || digits.empty() ||
      (digits.size() > 1 && digits[0] == '0'))
    return std::nullopt;
  proof["index"] = index;
  for (; at < lines.size(); ++at) proof["proof"].push_back(std::string(lines[at]));
  return proof;
}

namespace {

// A member of a proof, or null.
const json& Get(const json& proof, const char* key) {
  static const json kNull;
  const auto found = proof.find(key);
  return found == proof.end() ? kNull : *found;
}

std::string Listed(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}


// What the leaf says of itself, for the auditor: its id, type and time.
std::string Described(const std::string& leaf) {
  const json record = ParseWithin(leaf, kMaxRecordDepth);
  if (!record.is_object()) return "";
  return "; the record: id " + StringMember(record, "id") + ", " + StringMember(record, "event_type") + " at " +
         StringMember(record, "timestamp");
}

}  // namespace

std::string SignedBy(const note::Opened& opened) {
  return Listed(opened.signed_by) + (opened.cosigned_by.empty() ? "" : ", cosigned by " + Listed(opened.cosigned_by));
}

Checked CheckInclusion(const json& proof, const note::Opened& opened, const note::Checkpoint& checkpoint) {
  if (!proof.contains("leaf") || !Get(proof, "leaf").is_string())
    return {false, "invalid: the proof does not hold the record (no leaf, no extra line)"};
  auto leaf = Base64Decode(Get(proof, "leaf").get_ref<const std::string&>());
  if (!leaf) return {false, "invalid: the leaf is not base64"};
  const Sha256Digest leaf_hash = journal::LeafHash(*leaf);
  if (proof.contains("leaf_hash") && DigestOf(Get(proof, "leaf_hash")) != leaf_hash)
    return {false, "invalid: leaf_hash is not the hash of the leaf"};
  if (!proof.contains("index") || !Get(proof, "index").is_number_unsigned())
    return {false, "invalid: the proof has no index"};
  if (proof.contains("tree_size") && Get(proof, "tree_size") != checkpoint.size)
    return {false, "invalid: tree_size is not the size the checkpoint signs"};
  const auto path = DigestList(Get(proof, "proof"));
  if (!path) return {false, "invalid: the proof's hashes are not 32 bytes each in base64"};
  const uint64_t index = Get(proof, "index").get<uint64_t>();
  if (!merkle::VerifyInclusion(index, checkpoint.size, leaf_hash, *path, checkpoint.root))
    return {false, "invalid: the record is not leaf " + std::to_string(index) + " of the tree the checkpoint signs"};
  return {true, "valid: leaf " + std::to_string(index) + " (seq " + std::to_string(index + 1) + ") of " +
                    checkpoint.origin + ", in its tree of " + std::to_string(checkpoint.size) +
                    " records signed by " + SignedBy(opened) + Described(*leaf)};
}

Status CheckWitnessed(const std::string& note, const std::vector<const note::Verifier*>& keys) {
  std::vector<const note::Verifier*> log_keys;
  for (const note::Verifier* key : keys)
    if (!key->cosigner) log_keys.push_back(key);
  // Each witness on its own (two witnesses may share a name).
  for (const note::Verifier* key : keys) {
    if (!key->cosigner) continue;
    std::vector<const note::Verifier*> alone = log_keys;
    alone.push_back(key);
    auto cosigned = note::Open(note, alone);
    if (!cosigned || cosigned->cosigned_by.empty())
      return Fail(ErrorCode::kNotFound, "not witnessed: witness " + key->name + " did not cosign the checkpoint");
  }
  return {};
}

namespace {

// The keys that sign a checkpoint of `size` records: the log keys given,
// handed on by the proof's key rotations, and the witnesses' as given.
struct EpochKeys {
  std::vector<note::Verifier> owned;
  std::vector<const note::Verifier*> keys;
};
Result<EpochKeys> KeysAt(const std::vector<const note::Verifier*>& given, const std::vector<std::string>& rotations,
                         uint64_t size) {
  std::vector<const note::Verifier*> first;
  EpochKeys epoch;
  for (const note::Verifier* key : given) (key->cosigner ? epoch.keys : first).push_back(key);
  auto handed_on = key_rotation::EpochKeys(first, rotations, size);
  if (!handed_on) return std::unexpected(handed_on.error());
  epoch.owned = std::move(*handed_on);
  for (const auto& key : epoch.owned) epoch.keys.push_back(&key);
  return epoch;
}

Checked CheckConsistency(const json& proof, const note::Opened& opened, const note::Checkpoint& checkpoint,
                         const std::vector<const note::Verifier*>& given, const std::vector<std::string>& rotations,
                         const std::string& kept_checkpoint) {
  const auto old_root = DigestOf(Get(proof, "old_root"));
  const auto path = DigestList(Get(proof, "proof"));
  if (!Get(proof, "old_size").is_number_unsigned() || !old_root || !path)
    return {false, "invalid: old_size, old_root or proof is missing or malformed"};
  if (proof.contains("tree_size") && Get(proof, "tree_size") != checkpoint.size)
    return {false, "invalid: tree_size is not the size the checkpoint signs"};
  if (proof.contains("root") && DigestOf(Get(proof, "root")) != checkpoint.root)
    return {false, "invalid: root is not the root the checkpoint signs"};
  const uint64_t old_size = Get(proof, "old_size").get<uint64_t>();
  // old_root must be what a checkpoint signed: the one the auditor kept, or
  // the one the proof brings; a root the proof merely states proves nothing.
  const std::string old_note = !kept_checkpoint.empty() ? kept_checkpoint
                               : Get(proof, "old_checkpoint").is_string()
                                   ? Get(proof, "old_checkpoint").get<std::string>()
                                   : std::string();
  if (old_size > 0) {
    if (old_note.empty())
      return {false, "not proved: nothing signed says what the tree of " + std::to_string(old_size) +
                         " records was; give the checkpoint you kept (--old-checkpoint FILE)"};
    auto old_keys = KeysAt(given, rotations, old_size);
    if (!old_keys) return {false, "invalid: " + old_keys.error().message};
    auto old_opened = note::Open(old_note, old_keys->keys);
    if (!old_opened) return {false, "invalid: the old checkpoint: " + old_opened.error().message};
    auto old_checkpoint = note::ParseCheckpoint(old_opened->text);
    if (!old_checkpoint) return {false, "invalid: the old checkpoint: " + old_checkpoint.error().message};
    if (old_checkpoint->origin != checkpoint.origin)
      return {false, "invalid: the old checkpoint is of another log (" + old_checkpoint->origin + ")"};
    if (old_checkpoint->size != old_size || old_checkpoint->root != *old_root)
      return {false, "invalid: the old checkpoint signs a tree of " + std::to_string(old_checkpoint->size) +
                         " records with another root than the proof's old_root"};
  }
  if (!merkle::VerifyConsistency(old_size, checkpoint.size, *old_root, checkpoint.root, *path))
    return {false, "invalid: the tree of " + std::to_string(old_size) + " records with root " +
                       Get(proof, "old_root").get<std::string>() + " is not the start of the tree the checkpoint signs"};
  return {true, "valid: the tree of " + std::to_string(old_size) + " records with root " +
                    Get(proof, "old_root").get<std::string>() + " is the start of " + checkpoint.origin +
                    "'s tree of " + std::to_string(checkpoint.size) + " records signed by " +
                    SignedBy(opened)};
}

}  // namespace

Result<Checked> CheckProof(const std::string& text, const std::vector<const note::Verifier*>& keys,
                           const std::string& kept_checkpoint, const std::string& origin) {
  json proof;
  if (text.starts_with(std::string(kTlogProofHeader) + "\n")) {
    auto parsed = ParseTlogProofFile(text);
    if (!parsed) return Fail(ErrorCode::kInvalidArgument, "not a c2sp.org/tlog-proof@v1 file");
    proof = std::move(*parsed);
  } else {
    proof = ParseWithin(text, 8);
    if (!proof.is_object() || !proof.contains("checkpoint") || !proof["checkpoint"].is_string() ||
        !proof.contains("proof") || (!proof.contains("leaf") && !proof.contains("old_size")))
      return Fail(ErrorCode::kInvalidArgument,
                  "not a proof: neither the JSON of mcp-audit prove nor a c2sp.org/tlog-proof@v1 file");
  }
  std::vector<std::string> rotations;
  if (proof.contains("key_rotations")) {
    const json& list = proof["key_rotations"];
    if (!list.is_array() || list.size() > kMaxKeyRotations ||
        !std::ranges::all_of(list, [](const json& note) { return note.is_string(); }))
      return Fail(ErrorCode::kInvalidArgument, "not a proof: key_rotations is not a list of signed notes");
    for (const json& note : list) rotations.push_back(note.get<std::string>());
  }
  const std::string& note = proof["checkpoint"].get_ref<const std::string&>();
  auto stated = note::ParseCheckpoint(note::TextOf(note));
  if (!stated) return Checked{false, "invalid: the checkpoint: " + stated.error().message};
  auto epoch = KeysAt(keys, rotations, stated->size);
  if (!epoch) return Checked{false, "invalid: " + epoch.error().message};
  auto opened = note::Open(note, epoch->keys);
  if (!opened) return Checked{false, "invalid: the checkpoint: " + opened.error().message};
  auto checkpoint = note::ParseCheckpoint(opened->text);
  if (!checkpoint) return Checked{false, "invalid: the checkpoint: " + checkpoint.error().message};
  if (!origin.empty() && checkpoint->origin != origin)
    return Checked{false, "invalid: the checkpoint is of the log " + checkpoint->origin + ", not of " + origin};
  // A witness whose key is given must have cosigned it (c2sp.org/tlog-cosignature).
  if (Status witnessed = CheckWitnessed(note, epoch->keys); !witnessed) return Checked{false, witnessed.error().message};
  return proof.contains("old_size") ? CheckConsistency(proof, *opened, *checkpoint, keys, rotations, kept_checkpoint)
                                    : CheckInclusion(proof, *opened, *checkpoint);
}

}  // namespace mcpaudit::tlog

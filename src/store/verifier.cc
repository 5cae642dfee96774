#include "mcpaudit/verifier.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include "audit/journal_format.h"
#include "audit/key_rotation.h"
#include "audit/merkle_tree.h"
#include "audit/signed_note.h"
#include "base/bounded_json.h"
#include "base/json_text.h"
#include "store/journal_reader.h"
#include "store/record_store.h"
#include "store/store_query.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Seqs not seen (yet), as ranges: a jump of any size costs one entry.
class Gaps {
 public:
  // first..last are missing; the gap was seen at `file`:`line`.
  void Add(uint64_t first, uint64_t last, const fs::path& file, size_t line) {
    ranges_[first] = {last, file, line};
  }
  bool Contains(uint64_t seq) { return Find(seq) != ranges_.end(); }
  // Takes `seq` out of the gaps (it turned up late); false when it was not missing.
  bool Take(uint64_t seq) {
    auto it = Find(seq);
    if (it == ranges_.end()) return false;
    const uint64_t first = it->first;
    const Range range = it->second;
    ranges_.erase(it);
    if (first < seq) ranges_[first] = {seq - 1, range.file, range.line};
    if (seq < range.last) ranges_[seq + 1] = {range.last, range.file, range.line};
    return true;
  }
  // Calls `visit(first, last, file, line)` for each gap, lowest first.
  template <typename Visit>
  void ForEach(Visit&& visit) const {
    for (const auto& [first, range] : ranges_) visit(first, range.last, range.file, range.line);
  }

 private:
  struct Range {
    uint64_t last;
    fs::path file;
    size_t line;
  };
  std::map<uint64_t, Range>::iterator Find(uint64_t seq) {
    auto it = ranges_.upper_bound(seq);
    if (it == ranges_.begin()) return ranges_.end();
    --it;
    return seq <= it->second.last ? it : ranges_.end();
  }
  std::map<uint64_t, Range> ranges_;  // first seq → the rest
};

struct StreamState {
  uint64_t last_seq = 0;  // the highest seq seen
  std::string last_hash = std::string(journal::kGenesisHash);
  Gaps absent;                  // seqs skipped so far, with where each gap was seen
  std::set<uint64_t> late;      // absent seqs that turned up later
  std::string last_type;        // event_type of the newest record
  bool closed_by_stop = false;  // the newest checkpoint follows audit_stopped (a clean stop)
  uint64_t last_checkpoint_seq = 0;
  uint64_t unsigned_checkpoints = 0;
  bool seen = false;
  // The stream's Merkle tree from its first leaf, while every record so far
  // was read in order (none: its beginning is gone, or a record was missing).
  std::optional<merkle::Frontier> tree = merkle::Frontier();
  // The stream begins after seq `begins_after` (retention deleted its start),
  // whose hash the first record names as prev; a retention record must declare it.
  uint64_t begins_after = 0;
  std::string begins_after_hash;
  fs::path first_file;
  size_t first_line = 0;
  // The key that signs this epoch: the given key until a key_rotation record
  // it signed names the next (none: signatures are not checked).
  const SigningKey* key = nullptr;
  uint64_t key_rotations = 0;
  uint64_t carried_rotations = 0;  // of those, the ones a retention record carried
};

// A retention record's declaration that a stream begins after (seq, hash).
struct Declaration {
  bool signed_by_key = false;  // with the given key, and the signature verifies
  bool signature_bad = false;  // signed, but not verifiable with the given key
  uint64_t at_seq = 0;         // where the declaration is
  std::string at_stream;
};

// True when a writer holds the journal's lock (a server is running on it).
bool WriterRunning(const fs::path& dir) {
  int fd = ::open((dir / journal::kLockFile).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0;
  ::close(fd);
  return held;
}

// What one line says, worked out on any thread: the checks that need the
// records before it (Verifier::Apply) take only this.
struct Examined {
  std::string unreadable;  // why the line is not a record of the journal, or empty
  std::string stream, prev, hash, type;
  uint64_t seq = 0;
  bool content_ok = false;  // the record's content matches its hash
  std::optional<Sha256Digest> leaf;  // L(N), when C(N) could be worked out
  std::optional<std::chrono::system_clock::time_point> timestamp;
  std::optional<json> record;  // checkpoints and retention records: their details are checked
};

// The record of `text` when it is one whose details verify checks.
std::optional<json> KeptRecord(const std::string& type, std::string_view text) {
  if (type != "checkpoint" && type != "retention" && type != "key_rotation") return std::nullopt;
  return ParseWithin(text, kMaxRecordDepth);
}

// A line as the writer writes it (journal_format.h): the record's canonical
// JSON, then "integrity" last. Its hash is checked on the bytes as they are,
// without parsing the record; false when the line is not such a line or does
// not match (then ExamineParsed decides).
// The value of the member `key` at `index` of `members`, when it is there.
std::optional<std::string_view> MemberAt(const json_text::Object& object, size_t index,
                                         std::string_view key) {
  const auto& members = object.members();
  if (index >= members.size() || members[index].first != key) return std::nullopt;
  return members[index].second;
}

// More salts than a record is configured with is a line for ExamineParsed.
constexpr size_t kMaxSalts = 64;

bool ExamineWritten(std::string_view text, Examined& out) {
  // Integrity exactly as the writer lays it out (journal::AppendIntegrity),
  // and nothing after it: no hash covers integrity, so anything a parser
  // could read otherwise (an escaped or repeated key, a member after it)
  // is left to ExamineParsed, which reads it as every other reader does.
  constexpr std::string_view kIntegrity = ",\"integrity\":{";
  const size_t at = text.rfind(kIntegrity);
  if (at == std::string_view::npos || !text.ends_with("}}")) return false;
  const std::string_view integrity_text =
      text.substr(at + kIntegrity.size() - 1, text.size() - at - kIntegrity.size());
  const json_text::Object integrity(integrity_text);
  if (!integrity.valid() || integrity.end() != integrity_text.size()) return false;
  const size_t members = integrity.members().size();
  const auto v = MemberAt(integrity, 0, "v"), stream = MemberAt(integrity, 1, "stream"),
             seq = MemberAt(integrity, 2, "seq"), prev = MemberAt(integrity, 3, "prev"),
             hash = MemberAt(integrity, 4, "hash"), salts_text = MemberAt(integrity, 5, "salts");
  if (members != (salts_text ? 6u : 5u) || v != std::to_string(journal::kFormat) || !stream ||
      !seq || !prev || !hash)
    return false;
  const auto plain_stream = json_text::PlainString(*stream),
             plain_prev = json_text::PlainString(*prev), plain_hash = json_text::PlainString(*hash);
  uint64_t seq_number = 0;
  const auto [seq_end, seq_error] =
      std::from_chars(seq->data(), seq->data() + seq->size(), seq_number);
  if (!plain_stream || !plain_prev || !plain_hash || !IsLowerHex(*plain_prev, 64) ||
      !IsLowerHex(*plain_hash, 64) || seq_error != std::errc() ||
      seq_end != seq->data() + seq->size() || (seq->size() > 1 && (*seq)[0] == '0') ||
      std::any_of(plain_stream->begin(), plain_stream->end(), [](char c) { return c & 0x80; }))
    return false;

  thread_local std::string record;
  record.assign(text.substr(0, at));
  record.push_back('}');
  const json_text::Object fields(record);
  if (!fields.valid()) return false;
  thread_local std::vector<journal::SaltedValue> salted;
  salted.clear();
  if (salts_text) {
    const json_text::Object salts(*salts_text);
    if (!salts.valid() || salts.end() != salts_text->size() || salts.members().size() > kMaxSalts)
      return false;
    for (size_t i = 0; i < salts.members().size(); ++i) {
      const auto& [pointer, salt] = salts.members()[i];
      const auto plain_salt = json_text::PlainString(salt);
      if (!plain_salt || !journal::IsSalt(*plain_salt) ||
          pointer.find('\\') != std::string_view::npos)
        return false;
      for (size_t j = 0; j < i; ++j)
        if (salts.members()[j].first == pointer) return false;
      // A pointer to nothing (or to the root) commits nothing, in CanonicalForHash too.
      if (const auto value = pointer.empty() ? std::nullopt : fields.ValueAt(pointer))
        salted.push_back({*value, *plain_salt});
    }
  }
  const auto type = fields.Get("event_type"), stamp = fields.Get("timestamp");
  const auto plain_type = type ? json_text::PlainString(*type) : std::nullopt;
  const auto plain_stamp = stamp ? json_text::PlainString(*stamp) : std::nullopt;
  if (!plain_type || !plain_stamp) return false;
  const Sha256Digest leaf = journal::LeafWithCommitments(record, salted);
  if (journal::ChainHash(*plain_prev, leaf) != *plain_hash) return false;
  out.leaf = leaf;
  out.stream = *plain_stream;
  out.seq = seq_number;
  out.prev = *plain_prev;
  out.hash = *plain_hash;
  out.content_ok = true;
  out.type = *plain_type;
  if (auto time = ParseTimestamp(*plain_stamp)) out.timestamp = *time;
  out.record = KeptRecord(out.type, text);
  return true;
}

// Any line: parsed, then C(N) computed from the parsed record.
void ExamineParsed(std::string_view text, Examined& out) {
  json record = ParseWithin(text, kMaxRecordDepth);
  if (record.is_discarded() || !record.is_object() || !record.contains("integrity") ||
      !record["integrity"].is_object()) {
    out.unreadable = "not an audit record of the journal (unreadable JSON or no integrity)";
    return;
  }
  const json& integrity = record["integrity"];
  if (const auto seq = integrity.find("seq");
      seq != integrity.end() && !seq->is_number_unsigned()) {
    out.unreadable = "its seq is not a whole number";
    return;
  }
  out.stream = integrity.value("stream", "");
  out.seq = UnsignedMember(integrity, "seq");
  out.prev = integrity.value("prev", "");
  out.hash = integrity.value("hash", "");
  auto canonical = journal::CanonicalForHash(record, integrity.value("salts", json::object()));
  const auto v = integrity.find("v");  // absent: the first format
  if (canonical) out.leaf = journal::LeafHash(*canonical);
  if (canonical && v == integrity.end()) {
    out.content_ok = journal::ChainHashV1(out.prev, *canonical) == out.hash;
  } else if (canonical && *v == journal::kFormat) {
    out.content_ok = journal::ChainHash(out.prev, *out.leaf) == out.hash;
  }
  out.type = record.value("event_type", "");
  if (auto stamp = record.find("timestamp"); stamp != record.end() && stamp->is_string())
    if (auto time = ParseTimestamp(stamp->get_ref<const std::string&>())) out.timestamp = *time;
  if (out.type == "checkpoint" || out.type == "retention" || out.type == "key_rotation")
    out.record = std::move(record);
}

Examined Examine(std::string_view text) {
  Examined out;
  try {
    if (!ExamineWritten(text, out)) {
      out = Examined();
      ExamineParsed(text, out);
    }
  } catch (const json::exception& e) {
    // A member of a type the writer never writes: the line was edited.
    out = Examined();
    out.unreadable = std::string("a member has the wrong type (") + e.what() + ")";
  } catch (const std::exception& e) {  // e.g. no memory for a huge line
    out = Examined();
    out.unreadable = std::string("the line cannot be read (") + e.what() + ")";
  }
  return out;
}

// A line longer than any record the writer writes (its bytes were not kept).
Examined TooLong() {
  Examined out;
  out.unreadable =
      "a line longer than any record (over " + std::to_string(journal::kMaxLineBytes) + " bytes)";
  return out;
}

class Verifier {
 public:
  // `segments`: the records come from journal segments, one file each, whose
  // checkpoints' time bounds are checked (a store's rows have no segments).
  // `rotations`: what the retention records tell of the key rotations they
  // deleted, read before (a stream's first remaining records come before them).
  Verifier(const SigningKey* key, key_rotation::History rotations, VerifyReport& report, bool segments)
      : key_(key), rotations_(std::move(rotations)), report_(report), segments_(segments) {}

  void Apply(const Examined& line, const fs::path& file, size_t number) {
    try {
      Read(line, file, number);
    } catch (const json::exception& e) {
      Problem(line.stream.empty() ? "?" : line.stream, line.seq, "modified",
              std::string("a member has the wrong type (") + e.what() + ")", file, number);
    }
  }

 private:
  void Read(const Examined& line, const fs::path& file, size_t number) {
    if (!line.unreadable.empty()) {
      Problem("?", 0, "modified", line.unreadable, file, number);
      return;
    }
    ++report_.records;
    const std::string& stream = line.stream;
    const uint64_t seq = line.seq;
    if (segments_) CheckSegmentBounds(line, file, number);
    report_.newest_stream = stream;
    StreamState& state = streams_[stream];
    if (!state.seen) {
      state.seen = true;
      state.key = key_;
      if (seq > 1) {  // the beginning is gone: retention must have declared it
        state.begins_after = state.last_seq = seq - 1;
        state.begins_after_hash = state.last_hash = line.prev;
        state.first_file = file;
        state.first_line = number;
        if (key_) StartAfterCut(stream, state, seq - 1, file, number);
      }
    }
    if (!line.content_ok)
      Problem(stream, seq, "modified", "its content does not match its hash", file, number);

    // A record that is not part of the chain (bad link, or a seq seen before)
    // is reported and then passed over: the chain goes on from the last record
    // that belongs to it, so one forgery gives one verdict.
    if (seq == state.last_seq + 1) {
      if (line.prev != state.last_hash) {
        Problem(stream, seq, "inserted",
                "it does not link to seq " + std::to_string(state.last_seq) +
                    " (prev is not that record's hash)",
                file, number);
        return;
      }
    } else if (seq > state.last_seq + 1) {
      state.absent.Add(state.last_seq + 1, seq - 1, file, number);
    } else if (state.absent.Take(seq)) {
      Problem(stream, seq, "reordered", "it appears after seq " + std::to_string(state.last_seq),
              file, number);
      return;  // the chain continues from the highest seq
    } else {
      Problem(stream, seq, "inserted", "seq " + std::to_string(seq) + " appears more than once",
              file, number);
      return;
    }
    if (line.type == "checkpoint" && line.record)
      Checkpoint(stream, state, *line.record, file, number);
    if (line.type == "retention" && line.record) Retention(stream, state, seq, *line.record);
    if (line.type == "key_rotation" && line.record)
      KeyRotation(stream, state, seq, line.prev, *line.record, file, number);
    // A modified record gives its own verdict: the notes after it are not held to its leaf.
    if (state.tree && line.leaf && line.content_ok && seq == state.tree->size() + 1)
      state.tree->Append(*line.leaf);
    else
      state.tree.reset();
    state.last_seq = std::max(state.last_seq, seq);
    state.last_hash = line.hash;
    state.last_type = line.type;
  }

 public:
  void Finish(bool writer_running) {
    report_.streams = streams_.size();
    for (auto& [stream, state] : streams_) {
      report_.heads[stream] = {state.last_seq, state.last_hash};
      if (state.begins_after > 0) BeginsAfter(stream, state);
      state.absent.ForEach([&](uint64_t first, uint64_t last, const fs::path& file, size_t line) {
        Problem(stream, first, "missing",
                first == last ? "no record with this seq (deleted?)"
                              : "seq " + std::to_string(first) + "-" + std::to_string(last) +
                                    ": no records with these seqs (deleted?)",
                file, line);
      });
      const bool clean_end = state.last_type == "checkpoint" && state.closed_by_stop;
      if (!clean_end && !writer_running) {
        Problem(stream, state.last_seq, "truncated",
                "the stream ends after its last checkpoint (seq " +
                    std::to_string(state.last_checkpoint_seq) +
                    ") without audit_stopped and a final checkpoint: records may have been cut "
                    "off, or the "
                    "writer crashed and has not restarted",
                {}, 0);
      }
      if (state.key_rotations > 0 && state.key)
        report_.notes.push_back("stream " + stream + ": " + std::to_string(state.key_rotations) +
                                " key rotations followed from the given key" +
                                (state.carried_rotations > 0 ? " (" + std::to_string(state.carried_rotations) +
                                                                   " carried by retention records)"
                                                             : "") +
                                "; key " + state.key->KeyId() + " signs its newest epoch");
      if (state.unsigned_checkpoints > 0)
        report_.notes.push_back("stream " + stream + ": " +
                                std::to_string(state.unsigned_checkpoints) +
                                " checkpoints are unsigned (serve --signing-key signs them)");
    }
    if (!key_ && report_.checkpoints > 0)
      report_.notes.push_back("signatures were not checked: give --pubkey to check them");
  }

 private:
  // Keeps the time bounds of the segment's records so far, and holds a
  // checkpoint's declared bounds against them: a reader skips the segment on
  // the word of its last checkpoint.
  void CheckSegmentBounds(const Examined& line, const fs::path& file, size_t number) {
    if (file != span_file_) {
      span_file_ = file;
      file_span_.reset();
    }
    if (line.timestamp) journal::Widen(file_span_, *line.timestamp);
    if (line.type != "checkpoint" || !line.record) return;
    auto details = line.record->find("details");
    if (details == line.record->end() || !details->is_object() || !details->contains("segment"))
      return;
    auto declared = journal::DeclaredSpan(*line.record);
    if (!declared) {
      Problem(line.stream, line.seq, "modified",
              "its segment's time bounds are not two timestamps in order", file, number);
    } else if (file_span_ && !(declared->earliest <= file_span_->earliest &&
                               file_span_->latest <= declared->latest)) {
      Problem(line.stream, line.seq, "modified",
              "it says the records of its segment were stamped from " +
                  FormatTimestamp(declared->earliest) + " to " + FormatTimestamp(declared->latest) +
                  ", but they span " + FormatTimestamp(file_span_->earliest) + " to " +
                  FormatTimestamp(file_span_->latest) + ": a query by time would pass over some",
              file, number);
    }
  }

  // Collects the cuts a retention record declares; checked at the end, since
  // the record comes after the stream's first remaining records.
  void Retention(const std::string& stream, const StreamState& state, uint64_t seq, const json& record) {
    const SigningKey* key = state.key;
    const json details = record.value("details", json::object());
    const json cuts = details.value("cuts", json::array());
    const json signatures = details.value("signatures", json::array());
    for (size_t i = 0; i < cuts.size(); ++i) {
      const json& cut = cuts[i];
      if (!cut.is_object()) continue;
      Declaration declaration{false, false, seq, stream};
      const std::string cut_stream = cut.value("stream", ""), hash = cut.value("hash", "");
      const uint64_t cut_seq = UnsignedMember(cut, "seq");
      if (key && i < signatures.size() && signatures[i].is_string()) {
        const bool ours = details.value("key_id", "") == key->KeyId();
        declaration.signed_by_key =
            ours && key->Verify(journal::RetentionMessage(cut_stream, cut_seq, hash),
                                 signatures[i].get<std::string>());
        declaration.signature_bad = !declaration.signed_by_key;
      }
      declarations_[{cut_stream, cut_seq, hash}] = declaration;
    }
  }

  void BeginsAfter(const std::string& stream, const StreamState& state) {
    const std::string range =
        state.begins_after == 1 ? "seq 1" : "seq 1-" + std::to_string(state.begins_after);
    auto it = declarations_.find({stream, state.begins_after, state.begins_after_hash});
    if (it == declarations_.end()) {
      Problem(stream, 1, "missing",
              range + " are gone and no retention record declares it (the stream begins at seq " +
                  std::to_string(state.begins_after + 1) + ")",
              state.first_file, state.first_line);
      return;
    }
    const Declaration& d = it->second;
    if (key_ && !d.signed_by_key) {
      Problem(stream, 1, d.signature_bad ? "bad signature" : "missing",
              range + " are gone; the retention record (" + d.at_stream + " seq " +
                  std::to_string(d.at_seq) + ") that declares it is " +
                  (d.signature_bad ? "not signed by the given key" : "unsigned"),
              state.first_file, state.first_line);
      return;
    }
    report_.notes.push_back("stream " + stream + ": " + range +
                            " were deleted by retention (declared by " + d.at_stream + " seq " +
                            std::to_string(d.at_seq) + (d.signed_by_key ? ", signed)" : ")"));
  }

  void Checkpoint(const std::string& stream, StreamState& state, const json& record,
                  const fs::path& file, size_t line) {
    ++report_.checkpoints;
    const uint64_t seq = UnsignedMember(record["integrity"], "seq");
    state.last_checkpoint_seq = seq;
    const json details = record.value("details", json::object());
    const json covers = details.value("covers", json::object());
    const uint64_t covered_seq = UnsignedMember(covers, "seq");
    const std::string covered_hash = covers.value("hash", "");
    // A checkpoint whose covered record is missing is explained by that verdict.
    const bool covered_missing = state.absent.Contains(covered_seq);
    state.closed_by_stop =
        covered_missing || (covered_seq == state.last_seq && state.last_type == "audit_stopped");
    if (!covered_missing && (covered_seq != state.last_seq || covered_hash != state.last_hash)) {
      Problem(stream, seq, "modified",
              "the checkpoint covers seq " + std::to_string(covered_seq) +
                  " with another hash than the chain has",
              file, line);
    }
    const bool has_note = details.contains("note");
    if (has_note) CheckNote(stream, state, details, covered_seq, seq, file, line);
    if (!details.contains("signature")) {
      // A note is then its only signature.
      if (has_note) CheckNoteSignature(stream, state, details, seq, file, line, false);
      ++state.unsigned_checkpoints;
      return;
    }
    const SigningKey* key = state.key;
    if (!key) return;
    if (details.value("key_id", "") != key->KeyId()) {
      Problem(stream, seq, "unknown key",
              "signed by key " + details.value("key_id", std::string("?")) + ", not by the key of its epoch " +
                  key->KeyId() + (state.key_rotations > 0 ? " (named by the last key_rotation)" : " (the given key)"),
              file, line);
      return;
    }
    if (!key->Verify(journal::CheckpointMessage(stream, covered_seq, covered_hash),
                      details.value("signature", ""))) {
      Problem(stream, seq, "bad signature", "the Ed25519 signature does not verify", file, line);
      return;
    }
    // Signed by the key: so must its note be (one verdict per checkpoint).
    if (has_note) CheckNoteSignature(stream, state, details, seq, file, line, true);
    ++report_.signed_checkpoints;
  }

  // A checkpoint's C2SP note must sign the Merkle root of every record before
  // it (when verify has read them all) and, with a key, be signed by it.
  void CheckNote(const std::string& stream, StreamState& state, const json& details, uint64_t covered_seq,
                 uint64_t seq, const fs::path& file, size_t line) {
    const std::string note = details["note"].is_string() ? details["note"].get<std::string>() : "";
    auto signed_tree = note::ParseCheckpoint(note::TextOf(note));
    if (!signed_tree || signed_tree->size != covered_seq) {
      Problem(stream, seq, "modified", "its note is not a checkpoint of the " + std::to_string(covered_seq) +
                                           " records it covers", file, line);
      return;
    }
    if (state.tree && state.tree->size() == covered_seq && state.tree->Root() != signed_tree->root) {
      // Once: every later note disagrees with the same changed record.
      Problem(stream, seq, "modified",
              "its note signs a Merkle root that is not the tree of the records before it: a record up to seq " +
                  std::to_string(covered_seq) + " is not the one that was signed",
              file, line);
      state.tree.reset();
    }
  }

  // With a key, a checkpoint's note signed by another is `unknown key`, one
  // whose signature fails `bad signature`; an unsigned note is one only when
  // `signed_checkpoint` (the rest of the checkpoint is signed).
  void CheckNoteSignature(const std::string& stream, const StreamState& state, const json& details, uint64_t seq,
                          const fs::path& file, size_t line, bool signed_checkpoint) {
    const std::string note = details["note"].is_string() ? details["note"].get<std::string>() : "";
    const SigningKey* key = state.key;
    if (!key) return;
    if (note.rfind("\n\n") == std::string::npos) {
      if (signed_checkpoint) Problem(stream, seq, "bad signature", "its note is not signed", file, line);
      return;
    }
    auto name = note::SignerName(note, *key);
    if (!name) {
      Problem(stream, seq, "unknown key", "its note is not signed by the key of its epoch " + key->KeyId(), file, line);
      return;
    }
    const note::Verifier signer = note::VerifierOf(std::move(*name), *key);
    if (auto opened = note::Open(note, {&signer}); !opened)
      Problem(stream, seq, "bad signature", "the Ed25519 signature of its note does not verify (" +
                                                opened.error().message + ")", file, line);
  }

  // A stream whose beginning retention deleted: the key of its first
  // remaining epoch is the given key handed on by the rotations it deleted,
  // which the retention record carries (key_rotation.h).
  void StartAfterCut(const std::string& stream, StreamState& state, uint64_t cut, const fs::path& file,
                     size_t line) {
    const std::vector<std::string> notes = rotations_.Notes(stream, cut);
    if (notes.empty()) return;
    auto key = key_rotation::FollowNotes(*key_, notes, stream, cut);
    if (!key) {
      Problem(stream, cut + 1, key.error().code == ErrorCode::kNotFound ? "unknown key" : "bad signature",
              "the key rotations of the deleted seq 1-" + std::to_string(cut) +
                  " that a retention record carries do not hold: " + key.error().message,
              file, line);
      state.key = nullptr;  // one verdict: what the epochs after sign cannot be told
      return;
    }
    rotated_keys_.push_back(std::move(*key));
    state.key = &rotated_keys_.back();
    state.key_rotations = state.carried_rotations = rotations_.Rotations(stream, cut);
  }

  // A key_rotation record hands the signing over to the key it names, when
  // the key of the epoch it ends signed it (key_rotation.h). One that key did
  // not sign hands over nothing: what the named key signs later is then
  // `unknown key` too.
  void KeyRotation(const std::string& stream, StreamState& state, uint64_t seq, const std::string& prev,
                   const json& record, const fs::path& file, size_t line) {
    if (!state.key) return;
    auto next = key_rotation::Follow(ObjectMember(record, "details"), stream, seq, prev, *state.key);
    if (!next) {
      Problem(stream, seq, next.error().code == ErrorCode::kNotFound ? "unknown key" : "bad signature",
              "a key rotation that does not hold: " + next.error().message, file, line);
      return;
    }
    rotated_keys_.push_back(std::move(*next));
    state.key = &rotated_keys_.back();
    ++state.key_rotations;
  }

  void Problem(const std::string& stream, uint64_t seq, std::string verdict, std::string detail,
               const fs::path& file, size_t line) {
    report_.problems.push_back({stream, seq, std::move(verdict), std::move(detail), file, line});
  }

  const SigningKey* key_;
  const key_rotation::History rotations_;
  std::deque<SigningKey> rotated_keys_;  // the keys key_rotation records handed over to
  VerifyReport& report_;
  const bool segments_;
  fs::path span_file_;  // the segment being read, and when its records so far were stamped
  std::optional<journal::TimeSpan> file_span_;
  std::map<std::string, StreamState> streams_;
  std::map<std::tuple<std::string, uint64_t, std::string>, Declaration> declarations_;
};

// Whether to read on.
bool KeepReading(const VerifyProgress& progress, uint64_t records) {
  return !progress || records % 10000 != 0 || progress(records);
}

// Lines are examined in batches on two threads (hashing is most of the work),
// then applied to the verifier in their order.
class Batches {
 public:
  Batches(Verifier& verifier, VerifyReport& report, const VerifyProgress& progress)
      : verifier_(verifier), report_(report), progress_(progress) {}

  // False when the progress callback said stop.
  bool Add(const fs::path& file, size_t number, const std::string& text) {
    if (files_.empty() || files_.back() != file) files_.push_back(file);
    lines_.push_back({text_.size(), text.size(), files_.size() - 1, number});
    text_ += text;
    return (lines_.size() < kLines && text_.size() < kBytes) || Flush();
  }

  // Every line of `file`, empty ones too, as std::getline reads them (a last
  // line without its newline is one), read in large blocks straight into the
  // batch's text. Sets `stopped` when the progress callback said stop.
  Status AddFile(const fs::path& file, bool& stopped) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Fail(ErrorCode::kIo, "cannot read " + file.string());
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    if (files_.empty() || files_.back() != file) files_.push_back(file);
    // Blocks as large as the file (a small one costs no megabyte buffer), up to
    // kBlock; the text's capacity grows once and is kept across batches.
    struct stat st {};
    const size_t block = ::fstat(fd, &st) == 0
                             ? std::clamp<size_t>(static_cast<size_t>(st.st_size) + 1, 4096, kBlock)
                             : kBlock;
    size_t number = 0;
    size_t from = text_.size();  // where the next line starts
    size_t scanned = from;       // the bytes before it hold no line break after `from`
    bool skipping = false;       // the line at `from` is too long: its bytes are not kept
    while (true) {
      const size_t end = text_.size();
      text_.resize(end + block);
      const ssize_t n = ::read(fd, text_.data() + end, block);
      text_.resize(end + static_cast<size_t>(std::max<ssize_t>(n, 0)));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Fail(ErrorCode::kIo, "cannot read " + file.string() + ": " + std::strerror(errno));
      }
      if (n == 0) break;
      while (const void* newline =
                 std::memchr(text_.data() + scanned, '\n', text_.size() - scanned)) {
        const size_t at = static_cast<const char*>(newline) - text_.data();
        if (skipping) {  // the end of a line longer than any record
          lines_.push_back({from, 0, files_.size() - 1, ++number, /*too_long=*/true});
          text_.erase(from, at + 1 - from);
          skipping = false;
          scanned = from;
          continue;
        }
        lines_.push_back({from, at - from, files_.size() - 1, ++number});
        from = scanned = at + 1;
      }
      scanned = text_.size();
      if (skipping || text_.size() - from > journal::kMaxLineBytes) {
        skipping = true;
        text_.resize(from);
        scanned = from;
      }
      if (lines_.size() >= kLines || from >= kBytes) {
        // The start of a line still being read stays for the next batch.
        std::string tail = text_.substr(from);
        if (!Flush()) {
          stopped = true;
          return {};
        }
        text_.assign(tail);  // in the buffer already there
        from = 0;
        scanned = text_.size();
      }
    }
    if (skipping) {
      lines_.push_back({from, 0, files_.size() - 1, ++number, /*too_long=*/true});
    } else if (from < text_.size()) {
      lines_.push_back({from, text_.size() - from, files_.size() - 1, ++number});
    }
    return {};
  }

  // Examines and applies the lines added since the last time.
  bool Flush() {
    std::vector<Examined> examined(lines_.size());
    auto examine = [&](size_t from, size_t to) {
      for (size_t i = from; i < to; ++i)
        examined[i] =
            lines_[i].too_long
                ? TooLong()
                : Examine(std::string_view(text_).substr(lines_[i].offset, lines_[i].size));
    };
    const size_t half = lines_.size() / 2;
    if (lines_.size() >= 64) {
      std::jthread helper(examine, half, lines_.size());
      examine(0, half);
    } else {
      examine(0, lines_.size());
    }
    bool go_on = true;
    for (size_t i = 0; i < lines_.size() && go_on; ++i) {
      verifier_.Apply(examined[i], files_[lines_[i].file], lines_[i].number);
      go_on = KeepReading(progress_, report_.records);
    }
    lines_.clear();
    text_.clear();
    if (!files_.empty()) files_.erase(files_.begin(), files_.end() - 1);
    return go_on;
  }

 private:
  static constexpr size_t kLines = 8192;
  static constexpr size_t kBytes = 16 << 20;
  static constexpr size_t kBlock = 1 << 20;  // read at once
  struct Line {
    size_t offset, size;  // in text_
    size_t file;          // index in files_
    size_t number;
    bool too_long = false;  // longer than kMaxLineBytes: its bytes were not kept
  };
  Verifier& verifier_;
  VerifyReport& report_;
  const VerifyProgress& progress_;
  std::vector<fs::path> files_;
  std::vector<Line> lines_;
  std::string text_;  // the lines, one after the other
};

Error StoppedEarly() { return {ErrorCode::kUnavailable, "the verify was stopped before its end"}; }

}  // namespace

Result<VerifyReport> VerifyJournal(const fs::path& dir, const SigningKey* public_key,
                                   const VerifyProgress& progress) {
  auto files = ListAuditFiles(dir);
  if (!files) return std::unexpected(files.error());
  const bool writer_running = WriterRunning(dir);
  std::erase_if(*files, [](const fs::path& file) {
    return !journal::IsSegmentName(file.filename().string());
  });
  if (files->empty()) return Fail(ErrorCode::kNotFound, "no journal segments in " + dir.string());
  key_rotation::History rotations;
  if (public_key) {
    Status read = ForEachLine(*files, [&](const fs::path&, size_t, const std::string& line) {
      if (key_rotation::History::MayTell(line)) rotations.Add(ParseWithin(line, kMaxRecordDepth));
      return true;
    });
    if (!read) return std::unexpected(read.error());
  }
  VerifyReport report;
  Verifier verifier(public_key, std::move(rotations), report, /*segments=*/true);
  // Empty lines too: the writer never writes one, so one stands where a record was.
  Batches batches(verifier, report, progress);
  bool stopped = false;
  for (const auto& file : *files) {
    if (Status read = batches.AddFile(file, stopped); !read) return std::unexpected(read.error());
    if (stopped) return std::unexpected(StoppedEarly());
  }
  if (!batches.Flush()) return std::unexpected(StoppedEarly());
  verifier.Finish(writer_running);
  if (writer_running)
    report.notes.push_back("a writer is running on this journal: its newest records may follow");
  return report;
}

Result<VerifyReport> VerifyLocalJournal(const fs::path& dir, const SigningKey* public_key,
                                        const VerifyProgress& progress) {
  auto report = VerifyJournal(dir, public_key, progress);
  if (!report) return report;
  SinkConfig store;
  store.url = "sqlite://" + (dir / "audit.db").string();
  std::vector<CursorAhead> ahead;
  CompareWithAnchors(
      *report, JournalAnchors(
                   dir, {store},
                   report->newest_stream.empty() ? KnownJournalStream(dir) : report->newest_stream, ahead));
  return report;
}

Result<VerifyReport> VerifyStore(const SinkConfig& store, const SigningKey* public_key,
                                 const VerifyProgress& progress) {
  key_rotation::History rotations;
  if (public_key) {
    Selection retention_records;
    retention_records.filter.event_type = "retention";
    retention_records.newest_first = false;
    auto read = SelectStoredRecords(
        store, retention_records,
        [&](const AuditEvent&, const std::string& line) {
          rotations.Add(ParseWithin(line, kMaxRecordDepth));
          return true;
        },
        [](size_t, const std::string&) {});
    if (!read) return std::unexpected(read.error());
  }
  VerifyReport report;
  Verifier verifier(public_key, std::move(rotations), report, /*segments=*/false);
  const std::string url = RedactUrl(store.url);
  const fs::path where = url;
  Batches batches(verifier, report, progress);
  bool stopped = false;
  auto read = ForEachStoredLine(store, [&](size_t row, const std::string& line) {
    stopped = !batches.Add(where, row, line);
    return !stopped;
  });
  if (!read) return std::unexpected(read.error());
  if (stopped || !batches.Flush()) return std::unexpected(StoppedEarly());
  if (report.records == 0) return Fail(ErrorCode::kNotFound, "no audit records in " + url);
  verifier.Finish(/*writer_running=*/true);
  report.notes.push_back(
      "records after the last checkpoint in the store may still be on their way from the journal");
  return report;
}

void CompareWithAnchors(VerifyReport& report, const std::vector<JournalAnchor>& anchors) {
  for (const JournalAnchor& anchor : anchors) {
    const auto it = report.heads.find(anchor.stream);
    const uint64_t head = it == report.heads.end() ? 0 : it->second.seq;
    if (anchor.seq > head) {
      const std::string range = head + 1 == anchor.seq
                                    ? std::to_string(anchor.seq)
                                    : std::to_string(head + 1) + "-" + std::to_string(anchor.seq);
      report.problems.push_back({anchor.stream,
                                 head + 1,
                                 "missing",
                                 "seq " + range + " are in the " + anchor.source +
                                     " but not in the journal, which ends at seq " +
                                     std::to_string(head) + ": its newest records were deleted",
                                 {},
                                 0});
    } else if (it != report.heads.end() && anchor.seq == head && !anchor.hash.empty() &&
               anchor.hash != it->second.hash) {
      report.problems.push_back({anchor.stream,
                                 head,
                                 "modified",
                                 "the " + anchor.source +
                                     " has another record with this seq: the journal's end was "
                                     "rewritten",
                                 {},
                                 0});
    }
  }
}

}  // namespace mcpaudit

// The on-disk format of the journal: the contract between the writer (Pipeline,
// Journal) and every reader (verify, query, tail, erase).
//
// A journal directory holds segment files `segment-<first seq, 20 digits>.jsonl`
// (mode 0600), each a sequence of JSON lines: one AuditEvent per line, in the
// order of `integrity.seq`. `journal.lock` is held (flock) by the one writer.
//
// Chain. Each record carries
//   "integrity": {"v": 2, "stream": S, "seq": N, "prev": H(N-1), "hash": H(N), "salts": {pointer:
//   salt}}
// with H(0) = 64 zeros and H(N) = SHA-256(H(N-1) ‖ L(N)) over the 32 bytes of
// each (hex in the record), where L(N) = SHA-256(0x00 ‖ C(N)) is the record's
// RFC 6962 leaf hash and C(N) is the RFC 8785 canonical JSON of the record
// without "integrity" and with each erasable field (the pointers named in
// "salts") replaced by its commitment
//   {"$erased": SHA-256(salt as hex text ‖ canonical(value))}.
// Erasing a field writes that commitment object in place of the value and drops
// its salt: C(N), and so every hash, stays the same.
//
// The writer writes each record as its canonical JSON with the values in plain
// (the members in RFC 8785 order) and "integrity" appended last, so that a
// reader gets C(N) from the line's bytes by replacing the salted values'
// bytes with their commitments, without parsing the record (RecordLeaf).
// Producers compute L(N) in parallel; the one writer only links the chain.
//
// Records without "v" are of the first format (journals written before it):
// H(N) = SHA-256(H(N-1) as hex text ‖ C(N)), members in schema order. They stay
// verifiable; a stream may go on from one format to the next.
//
// Checkpoints are records of event_type "checkpoint" whose details name the
// record they cover and, when a signing key is configured, sign it:
//   "details": {"covers": {"seq": N, "hash": H(N)}, "key_id": K, "signature": base64 Ed25519}
// over the text CheckpointMessage(stream, N, H(N)).
//
// Time bounds. A checkpoint also says when the records of its segment so far
// (itself included) were stamped: "details": {…, "segment": {"earliest": T, "latest": T}}
// (record timestamps). The writer closes each segment it rotates with such a
// checkpoint, so a reader that looks only at a segment's last line knows whether
// the segment can hold a record of a time range (records are not in time order:
// a call is stamped when it arrives and written when it ends). A writer that
// does not know the bounds of its segment (after a crash) leaves them out and
// starts a new segment. verify checks every bound it finds against the records
// (no signature covers a checkpoint's own details: only that check does).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/crypto.h"
#include "mcpaudit/result.h"

namespace mcpaudit::journal {

inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";
inline constexpr std::string_view kLockFile = "journal.lock";  // flock()ed by the writer
// The journal's stream name (pipeline.h: JournalStream).
inline constexpr std::string_view kStreamFile = "stream";
inline constexpr std::string_view kErasedKey = "$erased";

std::string SegmentName(uint64_t first_seq);
bool IsSegmentName(std::string_view name);
// The first seq a segment's name gives; nullopt for any other name.
std::optional<uint64_t> SegmentFirstSeq(std::string_view name);
// A segment of the journal: a regular file (not a link, not a directory) with a segment's name.
bool IsSegmentFile(const std::filesystem::directory_entry& entry);

inline std::string CheckpointMessage(std::string_view stream, uint64_t seq, std::string_view hash) {
  return "mcp-audit/1 checkpoint " + std::string(stream) + " " + std::to_string(seq) + " " +
         std::string(hash);
}

// When the records of a segment were stamped: the least and greatest timestamp.
struct TimeSpan {
  std::chrono::system_clock::time_point earliest, latest;
  void Widen(std::chrono::system_clock::time_point time) {
    earliest = std::min(earliest, time);
    latest = std::max(latest, time);
  }
  // Whether a record of [since, until) may lie within.
  bool Meets(std::optional<std::chrono::system_clock::time_point> since,
             std::optional<std::chrono::system_clock::time_point> until) const {
    return (!since || latest >= *since) && (!until || earliest < *until);
  }
};
// The last complete line of `text` (without its newline); empty when `text`
// does not end with one.
std::string_view LastLine(std::string_view text);

// `span` widened by `time` or `other` (when there is no span yet, it becomes theirs).
void Widen(std::optional<TimeSpan>& span, std::chrono::system_clock::time_point time);
void Widen(std::optional<TimeSpan>& span, const std::optional<TimeSpan>& other);
nlohmann::json SpanJson(const TimeSpan& span);
// The bounds a record declares for its segment: those of a checkpoint whose
// details.segment is well formed, else none.
template <typename Json>
std::optional<TimeSpan> DeclaredSpan(const Json& record);

// Retention drops a stream's oldest records; its `retention` record declares
// where the stream now begins and signs this text (as a checkpoint does):
//   "details": {"cuts": [{"stream": S, "seq": N, "hash": H(N)}], "key_id": K, "signatures": [base64
//   …]}
// The first remaining record of S is N+1 and its prev is H(N): the new genesis.
inline std::string RetentionMessage(std::string_view stream, uint64_t seq, std::string_view hash) {
  return "mcp-audit/1 retention " + std::string(stream) + " " + std::to_string(seq) + " " +
         std::string(hash);
}

// A salt: 16 random bytes as 32 lowercase hex digits.
inline constexpr size_t kSaltDigits = 32;
bool IsSalt(std::string_view text);

// The commitment that replaces an erasable value: {"$erased": "<hex>"}.
nlohmann::json Commitment(std::string_view salt, const nlohmann::json& value);
bool IsErased(const nlohmann::json& value);

// C(N) of a record (parsed line or freshly built event), given its salts. Fails
// when a salt names a pointer that is not valid JSON pointer syntax.
template <typename Json>
Result<std::string> CanonicalForHash(const Json& record, const nlohmann::json& salts);

// The format the writer writes ("v" in "integrity").
inline constexpr int kFormat = 2;

// The longest line the writer writes (a record over half of it is refused:
// its integrity and salts come on top), and so the longest a reader keeps: a
// longer one is not a record of the journal. A request at the transports'
// default limit (4 MiB) stays under it even if every character is escaped.
inline constexpr size_t kMaxLineBytes = size_t{64} << 20;

// Appends the integrity object as the writer lays it out (and verify expects
// it, to hash a line's bytes as they are):
//   {"v":2,"stream":S,"seq":N,"prev":"<hex>","hash":"<hex>"[,"salts":{…}]}
// `stream_json` is the stream as a JSON string, `salts_json` an object or empty.
void AppendIntegrity(std::string& out, std::string_view stream_json, uint64_t seq,
                     std::string_view prev, std::string_view hash, std::string_view salts_json);

// The journal line of a parsed record, after a tool changed it (erasure): in
// the writer's layout for a record of this format, so that readers still hash
// its bytes as they are; as nlohmann writes it for the first format.
std::string RecordLine(const nlohmann::json& record);

// L(N) = SHA-256(0x00 ‖ C(N)).
Sha256Digest LeafHash(std::string_view canonical);
// L(N) from `record`, the record's canonical JSON with its values in plain
// (what the writer writes before "integrity"), and `salts` ({pointer: salt}):
// each salted value's bytes are replaced by their commitment. nullopt when a
// salt is not a salt (IsSalt). A pointer that names no value in `record`
// commits nothing (as in CanonicalForHash).
std::optional<Sha256Digest> RecordLeaf(std::string_view record, const nlohmann::json& salts);
// A value of `record` (bytes within it) and the salt of its commitment.
struct SaltedValue {
  std::string_view value;
  std::string_view salt;
};
// L(N) from `record` (as above) with each of `values` replaced by its
// commitment; a value inside another is committed with the outer one.
// Sorts `values` by where they lie in `record`.
Sha256Digest LeafWithCommitments(std::string_view record, std::span<SaltedValue> values);

// H(N) from H(N-1) and L(N) (format 2), as hex. A prev that is not 64 hex
// digits (an edited record's) is hashed as the text it is.
std::string ChainHash(std::string_view prev, const Sha256Digest& leaf);
// H(N) from H(N-1) and C(N) (format 1).
std::string ChainHashV1(std::string_view prev, std::string_view canonical);

}  // namespace mcpaudit::journal

// The on-disk format of the journal: the contract between the writer (Pipeline,
// Journal) and every reader (verify, query, tail, erase).
//
// A journal directory holds segment files `segment-<first seq, 20 digits>.jsonl`
// (mode 0600), each a sequence of JSON lines: one AuditEvent per line, in the
// order of `integrity.seq`. `journal.lock` is held (flock) by the one writer.
//
// Chain. Each record carries
//   "integrity": {"stream": S, "seq": N, "prev": H(N-1), "hash": H(N), "salts": {pointer: salt}}
// with H(0) = 64 zeros and H(N) = SHA-256(H(N-1) as hex text ‖ C(N)), where C(N)
// is the RFC 8785 canonical JSON of the record without "integrity" and with each
// erasable field (the pointers named in "salts") replaced by its commitment
//   {"$erased": SHA-256(salt as hex text ‖ canonical(value))}.
// Erasing a field writes that commitment object in place of the value and drops
// its salt: C(N), and so every hash, stays the same.
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
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mcpaudit/result.h"

namespace mcpaudit::journal {

inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";
inline constexpr std::string_view kLockFile = "journal.lock";
inline constexpr std::string_view kErasedKey = "$erased";

std::string SegmentName(uint64_t first_seq);
bool IsSegmentName(std::string_view name);
// A segment of the journal: a regular file (not a link, not a directory) with a segment's name.
bool IsSegmentFile(const std::filesystem::directory_entry& entry);

inline std::string CheckpointMessage(std::string_view stream, uint64_t seq, std::string_view hash) {
  return "mcp-audit/1 checkpoint " + std::string(stream) + " " + std::to_string(seq) + " " + std::string(hash);
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
//   "details": {"cuts": [{"stream": S, "seq": N, "hash": H(N)}], "key_id": K, "signatures": [base64 …]}
// The first remaining record of S is N+1 and its prev is H(N): the new genesis.
inline std::string RetentionMessage(std::string_view stream, uint64_t seq, std::string_view hash) {
  return "mcp-audit/1 retention " + std::string(stream) + " " + std::to_string(seq) + " " + std::string(hash);
}

// The commitment that replaces an erasable value: {"$erased": "<hex>"}.
nlohmann::json Commitment(std::string_view salt, const nlohmann::json& value);
bool IsErased(const nlohmann::json& value);

// C(N) of a record (parsed line or freshly built event), given its salts. Fails
// when a salt names a pointer that is not valid JSON pointer syntax.
template <typename Json>
Result<std::string> CanonicalForHash(const Json& record, const nlohmann::json& salts);

// H(N) from H(N-1) and C(N).
std::string ChainHash(std::string_view prev, std::string_view canonical);

}  // namespace mcpaudit::journal

// Retention and anonymisation (DESIGN.md §5). Records older than their
// tenant's retention are deleted, whole segments at a time, from the oldest:
// a chain can lose its beginning, never a record in its middle. A signed
// `retention` record declares where each stream now begins (its new genesis),
// so `verify` stays green. Records older than the anonymisation age keep their
// place in the chain but lose their erasable fields, as in an erasure.
//
// A segment is deleted only when every record in it has expired, every sink
// has shipped it, and it is not the newest one. An expired record in a segment
// that must stay (it also holds younger records, or records of a tenant kept
// longer) is anonymised when an anonymisation age applies, and is deleted with
// its segment later: separate journals (servers) per regime delete exactly.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/crypto.h"
#include "mcpaudit/audit_event.h"
#include "mcpaudit/result.h"

namespace mcpaudit {

struct RetentionRule {
  std::string tenant;                                // glob on user.tenant_id
  std::optional<std::chrono::days> keep;             // delete after; none: keep forever
  std::optional<std::chrono::days> anonymize_after;  // erase the erasable fields after
};

struct RetentionPolicy {
  // For records that no tenant rule names, and those without a tenant (the
  // audit system's own events): none means kept forever.
  std::optional<std::chrono::days> keep;
  std::optional<std::chrono::days> anonymize_after;
  std::vector<RetentionRule> tenants;  // the first rule whose pattern matches wins
  std::chrono::hours run_every{24};    // inside the server; 0: only `mcp-audit retention` runs it
  // A disk budget for the journal (0: none). Above it the oldest segments are
  // deleted even unexpired or unshipped (never the newest), and the retention
  // record says how many records each sink will never receive.
  uint64_t max_journal_bytes = 0;
  bool empty() const { return !keep && !anonymize_after && tenants.empty() && max_journal_bytes == 0; }
};

struct RetentionOptions {
  RetentionPolicy policy;
  std::chrono::system_clock::time_point now;
  std::vector<std::string>
      sinks;  // the shippers (sink names) whose cursors must have passed a segment
  bool dry_run = false;
  // A server running retention on the journal it writes (it holds the lock):
  // then only segments every sink has passed are touched.
  bool writer_is_caller = false;
};

// Where a stream begins after a run: its record `seq` (with `hash`) is the last one deleted.
struct RetentionCut {
  std::string stream;
  uint64_t seq = 0;
  std::string hash;
  // The notes of the stream's key rotations up to `seq` (key_rotation.h) that
  // no retention record the run keeps carries already: verify follows them
  // all, from the first key.
  std::vector<std::string> key_rotations;
};

struct RetentionPlan {
  std::vector<std::string> segments_to_delete;  // file names, oldest first
  uint64_t records_to_delete = 0;
  std::vector<RetentionCut> cuts;
  uint64_t records_anonymised = 0;
  uint64_t fields_anonymised = 0;
  std::vector<std::string> anonymised_lines;  // the anonymised records as they now are
  uint64_t segments_forced = 0;  // deleted by the disk budget before their time or their shipping
  std::map<std::string, uint64_t> given_up;  // per sink: records it had not received from those
  uint64_t expired_kept = 0;                  // expired records that stay for now
  std::vector<std::string> held;  // why expired segments stay (a sink behind, younger records)
  bool empty() const { return segments_to_delete.empty() && records_anonymised == 0; }
};

// Reads the journal in `dir`, anonymises (rewriting segments, unless dry_run)
// and says which segments are to be deleted. Deletion is a second step, after
// the retention record is on disk: a crash in between leaves a declaration of
// a cut not yet made, never a cut without its declaration.
[[nodiscard]] Result<RetentionPlan> PlanRetention(const std::filesystem::path& dir,
                                                  const RetentionOptions& options);

// The `retention` record of a plan: what was given up, and the cuts, signed
// when a key is given.
[[nodiscard]] Result<AuditEvent> RetentionEvent(const RetentionPlan& plan, const SigningKey* key,
                                                std::chrono::system_clock::time_point now);

// Signs the cuts of a retention record with `key` (its key_id and
// signatures): the writer does, with the key of the epoch it writes it in
// (Pipeline::LogSigned). A signature that cannot be made leaves it unsigned.
void SignRetentionCuts(AuditEvent& event, const SigningKey& key);

// The bytes the journal's segments take.
uint64_t JournalBytes(const std::filesystem::path& dir);

// Deletes the plan's segments (and makes that durable).
[[nodiscard]] Status DeleteExpiredSegments(const std::filesystem::path& dir,
                                           const RetentionPlan& plan);

}  // namespace mcpaudit

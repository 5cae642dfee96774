#include "store/retention.h"

#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "audit/journal_format.h"
#include "audit/key_rotation.h"
#include "mcpaudit/shipper.h"
#include "base/audit_files.h"
#include "base/bounded_json.h"
#include "mcp/jsonrpc.h"
#include "mcpaudit/audit_policy.h"
#include "mcpaudit/clock.h"
#include "store/erasure.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::days;
using std::chrono::system_clock;

struct Ages {
  std::optional<days> keep, anonymize_after;
  bool follows = false;  // no age of its own: neither holds its segment nor expires it
};

// A tenant's rule, else the defaults. A record without a tenant (the audit
// system's own) with no default age goes with the records around it.
Ages AgesFor(const RetentionPolicy& policy, const std::string& tenant) {
  if (!tenant.empty()) {
    for (const RetentionRule& rule : policy.tenants)
      if (GlobMatch(rule.tenant, tenant)) return {rule.keep, rule.anonymize_after};
  }
  return {policy.keep, policy.anonymize_after, tenant.empty() && !policy.keep};
}

// How many of the `lines` lines of `segment` each sink has still to ship
// (only the sinks that have some).
Result<std::map<std::string, uint64_t>> Unshipped(const fs::path& dir, const std::vector<std::string>& sinks,
                                                  const std::string& segment, uint64_t lines) {
  std::map<std::string, uint64_t> behind;
  for (const std::string& sink : sinks) {
    auto position = ReadShipperPosition(dir, sink);
    if (!position) return std::unexpected(position.error());
    if (position->segment > segment) continue;
    const uint64_t shipped = position->segment == segment ? std::min(position->lines, lines) : 0;
    if (shipped < lines) behind[sink] = lines - shipped;
  }
  return behind;
}

std::string JoinNames(const std::map<std::string, uint64_t>& sinks) {
  std::string out;
  for (const auto& [name, count] : sinks) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

Result<RetentionPlan> PlanRetention(const fs::path& dir, const RetentionOptions& options) {
  std::vector<std::string> segments;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (journal::IsSegmentFile(entry)) segments.push_back(std::move(name));
  }
  if (ec) return Fail(ErrorCode::kIo, "cannot read " + dir.string() + ": " + ec.message());
  std::sort(segments.begin(), segments.end());
  std::vector<uint64_t> sizes;
  uint64_t journal_bytes = 0;
  for (const auto& segment : segments) {
    const uintmax_t size = fs::file_size(dir / segment, ec);
    sizes.push_back(ec ? 0 : size);  // gone meanwhile: it takes no space
    journal_bytes += sizes.back();
  }

  std::optional<JournalLock> lock;
  if (!options.writer_is_caller && !options.dry_run) {
    auto taken = JournalLock::Take(dir, "applying retention (a running server applies it itself)");
    if (!taken) return std::unexpected(taken.error());
    lock.emplace(std::move(*taken));
  }

  RetentionPlan plan;
  std::map<std::string, RetentionCut> cuts;
  // The key rotations the journal tells of, and those its kept retention
  // records carry already: a run carries only the ones that would be lost.
  key_rotation::History rotations, carried;
  bool deleting = true;  // still in the prefix of deletable segments
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& segment = segments[i];
    const bool newest = i + 1 == segments.size();
    std::ifstream in(dir / segment, std::ios::binary);
    if (!in) return Fail(ErrorCode::kIo, "cannot read " + (dir / segment).string());
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));

    uint64_t expired = 0, kept = 0;
    std::map<std::string, RetentionCut> last;  // per stream, the segment's last record
    std::vector<std::pair<size_t, json>> to_anonymise;  // line number, parsed record
    std::vector<json> retention_records;                // of this segment
    for (size_t n = 0; n < lines.size(); ++n) {
      json record = ParseWithin(lines[n], kMaxRecordDepth);
      if (!record.is_object() || !record.contains("integrity") || !record["integrity"].is_object())
        continue;  // verify reports it; it goes with its segment
      rotations.Add(record);
      // A carrier for later runs, unless erasure or anonymisation could empty its notes.
      if (StringMember(record, "event_type") == "retention" && ObjectMember(record["integrity"], "salts").empty())
        retention_records.push_back(record);
      const json& integrity = record["integrity"];
      const std::string stream = jsonrpc::StringMember(integrity, "stream");
      const uint64_t seq = integrity.contains("seq") && integrity["seq"].is_number_unsigned()
                               ? integrity["seq"].get<uint64_t>()
                               : 0;
      last[stream] = {stream, seq, jsonrpc::StringMember(integrity, "hash"), {}};
      auto time = ParseTimestamp(jsonrpc::StringMember(record, "timestamp"));
      if (!time) {
        ++kept;  // an age cannot be told: it stays
        continue;
      }
      const std::string tenant =
          record.contains("user") ? jsonrpc::StringMember(record["user"], "tenant_id") : std::string();
      const Ages ages = AgesFor(options.policy, tenant);
      if (ages.keep && *time + *ages.keep <= options.now)
        ++expired;
      else if (!ages.follows)
        ++kept;
      if (ages.anonymize_after && *time + *ages.anonymize_after <= options.now &&
          integrity.contains("salts") && integrity["salts"].is_object())
        to_anonymise.emplace_back(n, std::move(record));
    }

    auto waiting = Unshipped(dir, options.sinks, segment, lines.size());
    if (!waiting) return std::unexpected(waiting.error());
    const bool shipped = waiting->empty();
    const bool all_expired = expired > 0 && kept == 0;
    // Over the disk budget, the oldest segments go whatever they hold: what
    // the sinks had not received is counted as given up.
    const bool over_budget = options.policy.max_journal_bytes > 0 && journal_bytes > options.policy.max_journal_bytes;
    if (deleting && !newest && ((all_expired && shipped) || over_budget)) {
      if (!(all_expired && shipped)) {
        ++plan.segments_forced;
        for (const auto& [sink, count] : *waiting) plan.given_up[sink] += count;
      }
      plan.segments_to_delete.push_back(segment);
      plan.records_to_delete += lines.size();
      journal_bytes -= sizes[i];
      for (auto& [stream, cut] : last) cuts[stream] = std::move(cut);
      continue;
    }
    for (const json& kept : retention_records) carried.Add(kept);
    deleting = false;
    if (expired > 0) {
      plan.expired_kept += expired;
      if (!shipped) {
        plan.held.push_back(segment + ": " + std::to_string(expired) +
                            " expired records wait for sink(s) " + JoinNames(*waiting) +
                            " to ship them");
      } else if (newest) {
        plan.held.push_back(segment + ": " + std::to_string(expired) +
                            " expired records are in the newest segment (deleted once it rotates)");
      } else if (all_expired) {
        plan.held.push_back(
            segment +
            ": expired, but an older segment must stay (a chain loses only its beginning)");
      } else {
        plan.held.push_back(segment + ": " + std::to_string(expired) +
                            " expired records share it with " + std::to_string(kept) +
                            " records still kept");
      }
    }
    // A running server rewrites only what its shippers have read: they keep
    // byte offsets into the segment they are in.
    if (to_anonymise.empty() || (options.writer_is_caller && (!shipped || newest))) continue;
    for (auto& [n, record] : to_anonymise) {
      const int erased = EraseFields(record);
      if (erased == 0) continue;
      lines[n] = journal::RecordLine(record);
      plan.anonymised_lines.push_back(lines[n]);
      ++plan.records_anonymised;
      plan.fields_anonymised += static_cast<uint64_t>(erased);
    }
    if (options.dry_run) continue;
    std::string content;
    for (const auto& line : lines) content += line + '\n';
    if (Status replaced = ReplaceFileDurably(dir / segment, content); !replaced)
      return std::unexpected(replaced.error());
  }
  for (auto& [stream, cut] : cuts) {
    const std::vector<std::string> kept = carried.Notes(stream, cut.seq);
    const std::set<std::string> already(kept.begin(), kept.end());
    for (std::string& note : rotations.Notes(stream, cut.seq))
      if (!already.contains(note)) cut.key_rotations.push_back(std::move(note));
    plan.cuts.push_back(std::move(cut));
  }
  return plan;
}

Result<AuditEvent> RetentionEvent(const RetentionPlan& plan, const SigningKey* key,
                                  system_clock::time_point now) {
  AuditEvent event;
  event.timestamp = now;
  event.id = NewUuidV7(now, SecureRandom());
  event.event_type = "retention";
  json cuts = json::array();
  for (const RetentionCut& cut : plan.cuts) {
    cuts.push_back({{"stream", cut.stream}, {"seq", cut.seq}, {"hash", cut.hash}});
    if (!cut.key_rotations.empty()) cuts.back()["key_rotations"] = cut.key_rotations;
  }
  event.details = {{"cuts", cuts},
                   {"segments_deleted", plan.segments_to_delete.size()},
                   {"records_deleted", plan.records_to_delete},
                   {"records_anonymised", plan.records_anonymised},
                   {"fields_anonymised", plan.fields_anonymised},
                   {"expired_kept", plan.expired_kept}};
  if (plan.segments_forced > 0) {
    // A gap the sinks will never fill: say exactly what each one lost.
    event.details["disk_budget"] = {{"segments_forced", plan.segments_forced}, {"records_given_up", plan.given_up}};
  }
  if (key) {
    SignRetentionCuts(event, *key);
    if (!event.details.contains("signatures"))
      return Fail(ErrorCode::kInternal, "the retention record cannot be signed");
  }
  return event;
}

void SignRetentionCuts(AuditEvent& event, const SigningKey& key) {
  json signatures = json::array();
  for (const json& cut : ArrayMember(event.details, "cuts")) {
    auto signature = key.Sign(
        journal::RetentionMessage(StringMember(cut, "stream"), UnsignedMember(cut, "seq"), StringMember(cut, "hash")));
    if (!signature) return;
    signatures.push_back(*signature);
  }
  event.details["key_id"] = key.KeyId();
  event.details["signatures"] = std::move(signatures);
}

uint64_t JournalBytes(const fs::path& dir) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!journal::IsSegmentFile(entry)) continue;
    const uint64_t size = entry.file_size(ec);
    if (!ec) bytes += size;
  }
  return bytes;
}

Status DeleteExpiredSegments(const fs::path& dir, const RetentionPlan& plan) {
  for (const std::string& segment : plan.segments_to_delete) {
    std::error_code ec;
    fs::remove(dir / segment, ec);
    if (ec)
      return Fail(ErrorCode::kIo,
                  "cannot delete " + (dir / segment).string() + ": " + ec.message());
  }
  if (!plan.segments_to_delete.empty()) SyncDirectory(dir);
  return {};
}

}  // namespace mcpaudit

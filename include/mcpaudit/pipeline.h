// The audit pipeline: events → bounded queue → one writer thread that chains
// them (seq, prev, hash), appends them to the journal and syncs it, with signed
// checkpoints. DESIGN.md §3 and §5.
//
// Delivery modes:
//   kAsync    Log() returns once the event is queued. The writer writes every
//             batch at once and fdatasyncs at least every flush_interval: a
//             crash of the process loses what was still queued; a crash of the
//             machine at most one interval.
//   kDurable  Log() returns once the event is fdatasync'ed (group commit: one
//             sync serves every event waiting). An error means the event is NOT
//             on disk; the toolkit then refuses the call (fail closed).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mcpaudit/audit_logger.h"
#include "mcpaudit/result.h"
#include "mcpaudit/signing_key.h"

namespace mcpaudit {

enum class DeliveryMode { kAsync, kDurable };
Result<DeliveryMode> ParseDeliveryMode(std::string_view text);

// What to do when free disk space falls below admin_space_left (auditd's terms).
enum class SpaceAction {
  kRefuse,       // refuse events (durable mode: refuse calls) until space returns
  kKeepLogging,  // warn and go on until the disk is full
};

// What outside the journal knows of a stream's head: the newest record a store
// holds, where a shipper's cursor stands. A journal behind it lost records.
struct JournalAnchor {
  std::string source;  // e.g. "store sqlite:///var/lib/mcp-audit/audit.db"
  std::string stream;
  uint64_t seq = 0;  // the highest seq it has of the stream
  std::string hash;  // that record's hash, when known
};

// Beyond any seq a stream reaches (2^62 is 146,000 years at a million records
// a second): a seq this large or larger was edited in.
inline constexpr uint64_t kMaxSeq = uint64_t{1} << 62;

struct PipelineOptions {
  std::filesystem::path directory;
  DeliveryMode mode = DeliveryMode::kAsync;
  OverflowPolicy overflow = OverflowPolicy::kBlock;
  size_t queue_capacity = 65536;
  std::chrono::milliseconds flush_interval{1000};
  std::string stream;  // the chain's name; default: JournalStream(directory)
  uint64_t max_segment_bytes = 64ull << 20;
  std::chrono::seconds max_segment_age{24 * 3600};
  uint64_t checkpoint_every_records = 1000;
  std::chrono::seconds checkpoint_every{60};
  std::filesystem::path signing_key;  // PEM Ed25519 private key (0600); empty: unsigned checkpoints
  // The checkpoints' C2SP notes (mcp-audit checkpoint): their origin line
  // (default <host>/mcp-audit/<stream>) and the name of the signing key in
  // their signature line (default: the name in the .vkey file beside the
  // signing key, which `mcp-audit keygen` writes; else <host>/mcp-audit).
  std::string origin;
  std::string key_name;
  // Forward-secure signing: each key_epoch a new key signs, named in a
  // key_rotation record the old key signs, and the old key is destroyed
  // (overwritten, synced, replaced in the signing_key file). 0: one key.
  std::chrono::seconds key_epoch{0};
  // With key epochs: how many upcoming epochs' keys are made ahead, their
  // vkeys in <signing_key stem>.upcoming.vkey for witnesses (key_rotation.h).
  // 0: each key is made at its rotation.
  size_t upcoming_keys = 0;
  std::vector<std::string> erasable = {"/user/email", "/request/client_ip", "/params"};
  uint64_t space_left_bytes = 512ull << 20;       // below: a warning
  uint64_t admin_space_left_bytes = 64ull << 20;  // below: admin_space_left_action
  SpaceAction admin_space_left_action = SpaceAction::kRefuse;
  AuditServer server;  // names the writer in its own events (audit_started, checkpoint, ...)
  // Compared with the journal's head at open: an anchor ahead of it (or at its
  // seq with another hash) means the journal lost its newest records. Then
  // `audit_started` says previous_stop "truncated", an `integrity_alarm` record
  // names the missing seqs, and the chain goes on after the anchor's seq, so
  // that the gap stays visible to `verify` and no seq is used twice.
  std::vector<JournalAnchor> anchors;
};

// The stream a pipeline writes when PipelineOptions::stream is empty: the name
// the journal in `directory` keeps in its `stream` file. A journal's first
// start writes the host name and a random suffix there ("db1-3f9a1c07"), so
// that two journals on one host are two streams in one store; a journal
// without the file (begun before it existed, or the file deleted) goes on with
// the stream its newest record names.
[[nodiscard]] Result<std::string> JournalStream(const std::filesystem::path& directory);
// The same, read only (for commands that read a journal): the host name when
// the journal has no `stream` file yet, or an unreadable one.
std::string KnownJournalStream(const std::filesystem::path& directory);

struct PipelineCounters {
  uint64_t accepted = 0;  // events taken into the queue
  uint64_t dropped = 0;   // refused: queue full (kDrop)
  uint64_t refused =
      0;  // refused: disk space below admin_space_left, or after a write failure (durable)
  uint64_t written = 0;  // records appended to the journal (including the pipeline's own)
  uint64_t failed = 0;   // failed write or sync attempts
  uint64_t syncs = 0;
  uint64_t checkpoints = 0;
};

class Pipeline final : public AuditLogger {
 public:
  // Opens the journal (taking its lock, recovering a torn tail), loads the
  // signing key, compares the journal's head with the anchors, starts the
  // writer and logs `audit_started`. Fails on a head seq beyond kMaxSeq.
  [[nodiscard]] static Result<std::unique_ptr<Pipeline>> Open(PipelineOptions options);
  // Logs `audit_stopped`, writes everything queued and a final checkpoint, syncs.
  ~Pipeline() override;

  [[nodiscard]] Status Log(const AuditEvent& event) override;
  // Durable: `done` runs on the writer thread after the sync (group commit
  // for every call in flight). Async: at once.
  void LogThen(const AuditEvent& event, Done done) override;
  // Logs `event` signed by `sign` with the key of the epoch the writer writes
  // it in (none: unsigned), and waits until it is written and synced, in
  // either mode. For the records whose signatures must be the epoch's own
  // (retention's cuts): a key rotation may come between the call and the write.
  using Signer = std::function<void(AuditEvent& event, const SigningKey& key)>;
  [[nodiscard]] Status LogSigned(const AuditEvent& event, Signer sign);
  // Not ready below admin_space_left (action refuse), or in durable mode while
  // the last write or sync failed.
  [[nodiscard]] Status Ready() const override;
  // Whether the writer's last write and sync succeeded (in either mode).
  [[nodiscard]] Status Writable() const;
  // Waits until everything logged before is written and synced.
  [[nodiscard]] Status Flush();

  DeliveryMode mode() const;
  PipelineCounters counters() const;

  struct State;

 private:
  explicit Pipeline(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace mcpaudit

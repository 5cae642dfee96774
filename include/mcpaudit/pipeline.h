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
#include <memory>
#include <string>
#include <vector>

#include "mcpaudit/audit_logger.h"
#include "mcpaudit/result.h"

namespace mcpaudit {

enum class DeliveryMode { kAsync, kDurable };
Result<DeliveryMode> ParseDeliveryMode(std::string_view text);

// What to do when free disk space falls below admin_space_left (auditd's terms).
enum class SpaceAction {
  kRefuse,       // refuse events (durable mode: refuse calls) until space returns
  kKeepLogging,  // warn and go on until the disk is full
};

struct PipelineOptions {
  std::filesystem::path directory;
  DeliveryMode mode = DeliveryMode::kAsync;
  OverflowPolicy overflow = OverflowPolicy::kBlock;
  size_t queue_capacity = 65536;
  std::chrono::milliseconds flush_interval{1000};
  std::string stream;  // the chain's name; default: the host name
  uint64_t max_segment_bytes = 64ull << 20;
  std::chrono::seconds max_segment_age{24 * 3600};
  uint64_t checkpoint_every_records = 1000;
  std::chrono::seconds checkpoint_every{60};
  std::filesystem::path signing_key;  // PEM Ed25519 private key (0600); empty: unsigned checkpoints
  std::vector<std::string> erasable = {"/user/email", "/request/client_ip", "/params"};
  uint64_t space_left_bytes = 512ull << 20;       // below: a warning
  uint64_t admin_space_left_bytes = 64ull << 20;  // below: admin_space_left_action
  SpaceAction admin_space_left_action = SpaceAction::kRefuse;
  AuditServer server;  // names the writer in its own events (audit_started, checkpoint, ...)
};

struct PipelineCounters {
  uint64_t accepted = 0;    // events taken into the queue
  uint64_t dropped = 0;     // refused: queue full (kDrop)
  uint64_t refused = 0;     // refused: disk space below admin_space_left, or after a write failure (durable)
  uint64_t written = 0;     // records appended to the journal (including the pipeline's own)
  uint64_t failed = 0;      // failed write or sync attempts
  uint64_t syncs = 0;
  uint64_t checkpoints = 0;
};

class Pipeline final : public AuditLogger {
 public:
  // Opens the journal (taking its lock, recovering a torn tail), loads the
  // signing key, starts the writer and logs `audit_started`.
  [[nodiscard]] static Result<std::unique_ptr<Pipeline>> Open(PipelineOptions options);
  // Logs `audit_stopped`, writes everything queued and a final checkpoint, syncs.
  ~Pipeline() override;

  [[nodiscard]] Status Log(const AuditEvent& event) override;
  // Not ready below admin_space_left (action refuse), or in durable mode while
  // the last write or sync failed.
  [[nodiscard]] Status Ready() const override;
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

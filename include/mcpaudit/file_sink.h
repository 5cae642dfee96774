// FileSink: audit events appended as JSON lines to a file (mode 0600), written
// by one writer thread fed by a bounded queue. Rotates by size; reopens the file
// on request (SIGHUP after an external logrotate).
//
// Delivery: Log() returns once the event is in the queue (async). A crash of the
// process loses nothing that the writer has written (the page cache keeps it);
// Flush() waits until everything queued before it has been written.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <future>
#include <memory>
#include <string>

#include "mcpaudit/audit_logger.h"
#include "mcpaudit/result.h"

namespace mcpaudit {

struct FileSinkOptions {
  std::filesystem::path directory;          // created (0700) if missing
  std::string file_name = "audit.jsonl";    // the active file
  uint64_t max_file_bytes = 64ull << 20;    // rotate when the next batch would pass this
  size_t queue_capacity = 65536;            // events
  OverflowPolicy overflow = OverflowPolicy::kBlock;
};

struct FileSinkCounters {
  uint64_t accepted = 0;   // events taken into the queue
  uint64_t dropped = 0;    // events refused because the queue was full (kDrop)
  uint64_t written = 0;    // events written to the file
  uint64_t failed = 0;     // events whose write failed (kept and retried)
  uint64_t rotations = 0;
};

class FileSink final : public AuditLogger {
 public:
  // Opens (or creates) the active file and starts the writer thread.
  [[nodiscard]] static Result<std::unique_ptr<FileSink>> Open(FileSinkOptions options);
  ~FileSink() override;  // writes everything queued, then joins the writer

  [[nodiscard]] Status Log(const AuditEvent& event) override;

  // Resolves when everything logged before the call has been written (or with
  // the write error). Thread-safe.
  std::future<Status> Flush();

  // The next write closes and reopens the active file by name (after an
  // external rotation moved it away). Thread-safe and async-signal-safe.
  void RequestReopen();

  FileSinkCounters counters() const;
  const std::filesystem::path& active_path() const;

 private:
  struct State;
  explicit FileSink(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace mcpaudit

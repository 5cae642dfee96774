// The journal's disk, as auditd watches it: a warning below space_left, and
// below admin_space_left (with the action "refuse") events are refused until
// space returns. The writer thread looks at most once a second; whether
// events are refused may be asked from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>

#include "mcpaudit/pipeline.h"
#include "mcpaudit/result.h"

namespace mcpaudit {

// Free bytes on the filesystem of `directory`.
Result<uint64_t> FreeBytesOf(const std::filesystem::path& directory);

class DiskSpaceWatch {
 public:
  DiskSpaceWatch(std::filesystem::path directory, uint64_t space_left_bytes,
                 uint64_t admin_space_left_bytes, SpaceAction admin_space_left_action);

  // Looks at the disk unless it did within the last second, and says in the
  // log when a limit is crossed (either way). The writer thread's.
  void Check();
  // Whether events are refused, as of the last look.
  bool refusing() const { return refusing_.load(std::memory_order_relaxed); }
  // Whether events are refused, looking at the disk now (for a call about to
  // run in durable mode: the last look may be from before the disk filled).
  bool RefusingNow() const;

 private:
  const std::filesystem::path directory_;
  const uint64_t space_left_bytes_, admin_space_left_bytes_;
  const SpaceAction action_;
  std::atomic<bool> refusing_{false};
  // The writer thread's.
  std::chrono::steady_clock::time_point last_check_{};
  bool warned_ = false;
};

}  // namespace mcpaudit

// The journal directory on disk: segment files, the writer's lock, recovery of
// a torn tail, rotation and syncing. Used by the Pipeline's writer thread only
// (not thread-safe). The format is in journal_format.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "audit/journal_format.h"
#include "mcpaudit/result.h"

namespace mcpaudit {

struct JournalOptions {
  std::filesystem::path directory;
  uint64_t max_segment_bytes = 64ull << 20;
  std::chrono::seconds max_segment_age{24 * 3600};
};

// Where the chain stood at the end of the journal when it was opened.
struct ChainHead {
  std::string stream;
  uint64_t seq = 0;  // 0: empty journal
  std::string hash;
  bool stopped = false;  // it ends with audit_stopped and the final checkpoint (a clean stop)
};

// What recovery found and did at open.
struct Recovery {
  uint64_t torn_bytes = 0;               // bytes after the last complete line
  std::filesystem::path set_aside;       // where those bytes were moved
  bool clean_stop = true;                // the stream ended with a clean stop (or had no record)
  bool first_start = false;              // the journal had no record of the stream
};

class Journal {
 public:
  // Takes the directory's lock (failing if another process writes to it),
  // recovers the last segment and finds the chain head of `stream`.
  [[nodiscard]] static Result<Journal> Open(JournalOptions options, std::string_view stream);
  Journal(Journal&&) noexcept;
  Journal& operator=(Journal&&) noexcept;
  ~Journal();

  const ChainHead& head() const { return head_; }
  const Recovery& recovery() const { return recovery_; }

  // Whether the active segment is to be closed before `incoming_bytes` more:
  // it would be full, it is old, or it holds records whose time bounds the
  // writer does not know (it crashed).
  bool RotationDue(size_t incoming_bytes) const;
  // Closes the active segment (synced) and starts a new one; `next_seq` is
  // the seq of the first record that will go into it.
  [[nodiscard]] Status Rotate(uint64_t next_seq);
  // When the records of the active segment were stamped (none yet: nullopt),
  // if known: a checkpoint declares them (journal_format.h).
  bool span_known() const { return span_known_; }
  const std::optional<journal::TimeSpan>& span() const { return span_; }
  // Appends whole lines, stamped within `span`. On failure the segment is cut
  // back to where it was, so that a partial write never leaves a torn line behind.
  [[nodiscard]] Status Append(std::string_view lines, const std::optional<journal::TimeSpan>& span);
  // fdatasync of the active segment.
  [[nodiscard]] Status Sync();
  const std::filesystem::path& directory() const { return options_.directory; }

 private:
  Journal() = default;
  Status OpenSegment(uint64_t first_seq);
  void CloseSegment();
  std::optional<uint64_t> ActiveFirstSeq() const;  // from the active segment's name

  JournalOptions options_;
  int lock_fd_ = -1;
  int fd_ = -1;
  std::filesystem::path segment_path_;
  uint64_t segment_bytes_ = 0;
  std::chrono::system_clock::time_point segment_opened_;
  // When the active segment's records were stamped (nullopt: it has none), and
  // whether that is known: not for a segment a crash left, which is then closed.
  bool span_known_ = true;
  std::optional<journal::TimeSpan> span_;
  ChainHead head_;
  Recovery recovery_;
};

}  // namespace mcpaudit

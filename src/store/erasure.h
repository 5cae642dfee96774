// GDPR erasure in the journal (DESIGN.md §5): every erasable field of the
// matching records is replaced by its commitment and its salt is dropped. The
// value is gone from the files; every hash, and so `verify`, stays as it was.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mcpaudit/result.h"

namespace mcpaudit {

struct ErasureRequest {
  std::string user;         // every erasable field of this user's records, or
  std::string field_value;  // the erasable fields that hold this text (as a string, or inside a longer one)
  bool dry_run = false;     // only say what would be erased
};

// A place the value was found: the record (id, seq) and the field (JSON pointer).
struct ErasurePlace {
  std::string id;
  uint64_t seq = 0;
  std::string pointer;
};

struct ErasureResult {
  uint64_t records_scanned = 0;
  uint64_t records_erased = 0;
  uint64_t fields_erased = 0;
  uint64_t segments_rewritten = 0;
  std::vector<std::string> erased_lines;  // the erased records as they now are (dry run: none)
  std::vector<ErasurePlace> erased;       // field_value: each field erased (or that would be)
  // field_value: where it also appears outside the erasable fields, where it
  // cannot be erased without breaking the chain (at most 100 listed).
  std::vector<ErasurePlace> elsewhere;
  uint64_t elsewhere_count = 0;
};

// Replaces every erasable field of a parsed journal record (those its salts
// name) by its commitment and drops the salts; returns how many it erased.
int EraseFields(nlohmann::json& record);

// The journal writer's lock (journal.lock), held by a command that rewrites
// segments so that no server appends to them meanwhile.
class JournalLock {
 public:
  // Fails, saying to stop the server, when a writer holds the journal.
  [[nodiscard]] static Result<JournalLock> Take(const std::filesystem::path& dir, std::string_view doing);
  JournalLock(JournalLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  JournalLock& operator=(JournalLock&&) = delete;
  ~JournalLock();

 private:
  explicit JournalLock(int fd) : fd_(fd) {}
  int fd_;
};

// Rewrites the segments of the journal in `dir` (each to a temporary file,
// synced, then renamed over the old one). Fails when a server holds the
// journal: the caller must stop it first. A dry run changes nothing.
[[nodiscard]] Result<ErasureResult> EraseFromJournal(const std::filesystem::path& dir, const ErasureRequest& request);

}  // namespace mcpaudit

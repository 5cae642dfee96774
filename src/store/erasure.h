// GDPR erasure in the journal (DESIGN.md §5): every erasable field of the
// matching records is replaced by its commitment and its salt is dropped. The
// value is gone from the files; every hash, and so `verify`, stays as it was.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "mcpaudit/result.h"

namespace mcpaudit {

struct ErasureRequest {
  std::string user;         // records of this user id, or
  std::string field_value;  // records whose erasable fields hold this text
};

struct ErasureResult {
  uint64_t records_scanned = 0;
  uint64_t records_erased = 0;
  uint64_t fields_erased = 0;
  uint64_t segments_rewritten = 0;
  std::vector<std::string> erased_lines;  // the erased records as they now are
};

// Rewrites the segments of the journal in `dir` (each to a temporary file,
// synced, then renamed over the old one). Fails when a server holds the
// journal: the caller must stop it first.
[[nodiscard]] Result<ErasureResult> EraseFromJournal(const std::filesystem::path& dir, const ErasureRequest& request);

}  // namespace mcpaudit

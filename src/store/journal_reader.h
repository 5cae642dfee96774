// Reads audit records back from a directory of JSONL files, oldest first.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mcpaudit/audit_event.h"
#include "mcpaudit/result.h"
#include "mcpaudit/sink.h"

namespace mcpaudit {

// The audit files of `dir` in the order they were written: the journal's
// segments (segment-<first seq>.jsonl), then a FileSink's rotated files
// (audit-<time>-<n>.jsonl) and its active audit.jsonl.
Result<std::vector<std::filesystem::path>> ListAuditFiles(const std::filesystem::path& dir);

// Calls `visit(file, line_number, line)` for every line of `files` (but empty
// ones, unless `empty_too`: the writer never writes one), in order, until it
// returns false.
[[nodiscard]] Status ForEachLine(const std::vector<std::filesystem::path>& files,
                                 const std::function<bool(const std::filesystem::path&, size_t, const std::string&)>& visit,
                                 bool empty_too = false);

struct BadLine {
  std::filesystem::path file;
  size_t line_number;
  std::string reason;
};

// Calls `visit` for every record in order until it returns false. A line that
// is not a record is passed to `on_bad_line` and skipped, never silently.
[[nodiscard]] Status ForEachRecord(const std::filesystem::path& dir,
                                   const std::function<bool(const AuditEvent&)>& visit,
                                   const std::function<void(const BadLine&)>& on_bad_line);

// The same for the records of a database (`store`, see record_store.h) when
// its URL is not empty, else for the journal in `dir`.
[[nodiscard]] Status ForEachRecordIn(const std::filesystem::path& dir, const SinkConfig& store,
                                     const std::function<bool(const AuditEvent&)>& visit,
                                     const std::function<void(const BadLine&)>& on_bad_line);

// A period of record timestamps: [since, until), open where not given.
struct TimeWindow {
  std::optional<std::chrono::system_clock::time_point> since, until;
};

// Whether the journal segment `file` may hold a record of `window`: false only
// when its last line is a checkpoint whose time bounds lie outside it
// (journal_format.h; verify checks those bounds against the records).
bool SegmentMayHold(const std::filesystem::path& file, const TimeWindow& window);

// The same, with each record's line as it is stored (what `export` writes).
// Records outside `window` may still be visited (the caller filters), but the
// journal's segments that cannot hold one are not read.
[[nodiscard]] Status ForEachRecordLineIn(const std::filesystem::path& dir, const SinkConfig& store,
                                         const std::function<bool(const AuditEvent&, const std::string&)>& visit,
                                         const std::function<void(const BadLine&)>& on_bad_line,
                                         const TimeWindow& window = {});

}  // namespace mcpaudit

#include "store/journal_reader.h"

#include <algorithm>
#include <fstream>

#include "audit/journal_format.h"
#include "base/bounded_json.h"
#include "base/line_reader.h"
#include "store/record_store.h"

namespace mcpaudit {

namespace fs = std::filesystem;

Result<std::vector<fs::path>> ListAuditFiles(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return Fail(ErrorCode::kNotFound, "no audit directory at " + dir.string());
  std::vector<fs::path> segments, rotated;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file()) continue;
    if (journal::IsSegmentFile(entry)) segments.push_back(entry.path());
    if (name.starts_with("audit-") && name.ends_with(".jsonl")) rotated.push_back(entry.path());
  }
  if (ec) return Fail(ErrorCode::kIo, "cannot list " + dir.string() + ": " + ec.message());
  // A journal (segments, named by their first seq) or a FileSink's files.
  std::sort(segments.begin(), segments.end());
  std::sort(rotated.begin(), rotated.end());
  if (fs::exists(dir / "audit.jsonl")) rotated.push_back(dir / "audit.jsonl");
  segments.insert(segments.end(), rotated.begin(), rotated.end());
  return segments;
}

Status ForEachLine(const std::vector<fs::path>& files,
                   const std::function<bool(const fs::path&, size_t, const std::string&)>& visit,
                   bool empty_too) {
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Fail(ErrorCode::kIo, "cannot read " + file.string());
    std::string line;
    size_t number = 0;
    while (true) {
      const LineRead read = ReadLineWithin(in, line, journal::kMaxLineBytes);
      if (read.bytes == 0) break;
      ++number;
      // A line longer than any record is not one: what it is takes its place.
      if (read.too_long)
        line = "(a line of " + std::to_string(read.bytes) + " bytes, longer than any record)";
      if ((empty_too || !line.empty()) && !visit(file, number, line)) return {};
    }
  }
  return {};
}

bool SegmentMayHold(const fs::path& file, const TimeWindow& window) {
  if (!window.since && !window.until) return true;
  if (!journal::IsSegmentName(file.filename().string())) return true;
  // A checkpoint's line is well under this: a segment whose last line is
  // longer (or not whole) is read.
  constexpr std::streamoff kTail = 8192;
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  const std::streamoff size = in ? static_cast<std::streamoff>(in.tellg()) : 0;
  const std::streamoff from = std::max<std::streamoff>(0, size - kTail);
  std::string tail(static_cast<size_t>(size - from), '\0');
  in.seekg(from);
  if (tail.empty() || !in.read(tail.data(), static_cast<std::streamsize>(tail.size()))) return true;
  const std::string_view line = journal::LastLine(tail);
  if (line.empty() || (from > 0 && line.size() + 1 == tail.size()))
    return true;  // perhaps cut by the window
  auto span = journal::DeclaredSpan(ParseWithin(line, kMaxRecordDepth));
  return !span || span->Meets(window.since, window.until);
}

Status ForEachRecordLineIn(const fs::path& dir, const SinkConfig& store,
                           const std::function<bool(const AuditEvent&, const std::string&)>& visit,
                           const std::function<void(const BadLine&)>& on_bad_line,
                           const TimeWindow& window) {
  auto record = [&](const fs::path& where, size_t number, const std::string& line) {
    auto event = AuditEventFromLine(line);
    if (!event) {
      on_bad_line({where, number, event.error().message});
      return true;
    }
    return visit(*event, line);
  };
  if (!store.url.empty()) {
    const fs::path where = RedactUrl(store.url);
    return ForEachStoredLine(
        store, [&](size_t row, const std::string& line) { return record(where, row, line); });
  }
  auto files = ListAuditFiles(dir);
  if (!files) return std::unexpected(files.error());
  std::erase_if(*files, [&](const fs::path& file) { return !SegmentMayHold(file, window); });
  return ForEachLine(*files, record);
}

Status ForEachRecordIn(const fs::path& dir, const SinkConfig& store,
                       const std::function<bool(const AuditEvent&)>& visit,
                       const std::function<void(const BadLine&)>& on_bad_line) {
  return ForEachRecordLineIn(
      dir, store, [&](const AuditEvent& event, const std::string&) { return visit(event); },
      on_bad_line);
}

Status ForEachRecord(const fs::path& dir, const std::function<bool(const AuditEvent&)>& visit,
                     const std::function<void(const BadLine&)>& on_bad_line) {
  return ForEachRecordIn(dir, SinkConfig{}, visit, on_bad_line);
}

}  // namespace mcpaudit

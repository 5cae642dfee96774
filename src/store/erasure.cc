#include "store/erasure.h"
#include "audit/bounded_json.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "audit/audit_files.h"
#include "audit/journal_format.h"
#include "store/journal_reader.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Whether `value` is, or contains (as a string anywhere inside), `text`.
bool Holds(const json& value, const std::string& text) {
  if (value.is_string()) return value.get_ref<const std::string&>() == text;
  if (value.is_object() || value.is_array()) {
    for (const auto& item : value)
      if (Holds(item, text)) return true;
  }
  return false;
}

// Erases the record's erasable fields when it matches; returns how many.
int EraseRecord(json& record, const ErasureRequest& request) {
  json& integrity = record["integrity"];
  if (!integrity.contains("salts") || !integrity["salts"].is_object()) return 0;
  json& salts = integrity["salts"];
  bool matches = !request.user.empty() && record.contains("user") && record["user"].value("id", "") == request.user;
  if (!matches && !request.field_value.empty()) {
    for (auto it = salts.begin(); it != salts.end() && !matches; ++it) {
      const json::json_pointer pointer(it.key());
      matches = record.contains(pointer) && Holds(record[pointer], request.field_value);
    }
  }
  return matches ? EraseFields(record) : 0;
}

}  // namespace

int EraseFields(json& record) {
  if (!record.contains("integrity") || !record["integrity"].contains("salts")) return 0;
  json& salts = record["integrity"]["salts"];
  int erased = 0;
  for (auto it = salts.begin(); it != salts.end(); ++it) {
    const json::json_pointer pointer(it.key());
    if (!record.contains(pointer) || journal::IsErased(record[pointer]) || !it.value().is_string()) continue;
    record[pointer] = journal::Commitment(it.value().get<std::string>(), record[pointer]);
    ++erased;
  }
  record["integrity"].erase("salts");
  return erased;
}

JournalLock::~JournalLock() {
  if (fd_ >= 0) ::close(fd_);
}

Result<JournalLock> JournalLock::Take(const fs::path& dir, std::string_view doing) {
  const fs::path lock_path = dir / journal::kLockFile;
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected(ErrnoError("cannot open", lock_path));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return Fail(ErrorCode::kUnavailable, "a server is writing to " + dir.string() + ": stop it before " +
                                             std::string(doing) + " (it holds " + lock_path.string() + ")");
  }
  return JournalLock(fd);
}

Result<ErasureResult> EraseFromJournal(const fs::path& dir, const ErasureRequest& request) {
  if (request.user.empty() == request.field_value.empty())
    return Fail(ErrorCode::kInvalidArgument, "say what to erase: a user id or a field value (one of them)");
  auto files = ListAuditFiles(dir);
  if (!files) return std::unexpected(files.error());
  // Hold the writer's lock while rewriting: a running server appends to the
  // files this replaces.
  auto lock = JournalLock::Take(dir, "erasing");
  if (!lock) return std::unexpected(lock.error());
  ErasureResult result;
  Status status;
  for (const auto& file : *files) {
    if (!journal::IsSegmentName(file.filename().string())) continue;
    std::ifstream in(file, std::ios::binary);
    std::string content, line;
    bool changed = false;
    while (std::getline(in, line)) {
      ++result.records_scanned;
      json record = ParseWithin(line, kMaxRecordDepth);
      int erased = record.is_object() && record.contains("integrity") ? EraseRecord(record, request) : 0;
      if (erased > 0) {
        line = record.dump(-1, ' ', false, json::error_handler_t::replace);
        ++result.records_erased;
        result.fields_erased += static_cast<uint64_t>(erased);
        result.erased_lines.push_back(line);
        changed = true;
      }
      content += line;
      content += '\n';
    }
    if (!changed) continue;
    status = ReplaceFileDurably(file, content);
    if (!status) break;
    ++result.segments_rewritten;
  }
  if (!status) return std::unexpected(status.error());
  return result;
}

}  // namespace mcpaudit

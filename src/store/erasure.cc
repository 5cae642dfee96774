#include "store/erasure.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "audit/journal_format.h"
#include "base/audit_files.h"
#include "base/bounded_json.h"
#include "store/journal_reader.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Whether `value` holds `text` in one of its strings (anywhere inside them: a
// name usually appears within a longer parameter, "patient Zebulon-…").
bool Holds(const json& value, const std::string& text) {
  if (value.is_string()) return value.get_ref<const std::string&>().find(text) != std::string::npos;
  if (value.is_object() || value.is_array()) {
    for (const auto& item : value)
      if (Holds(item, text)) return true;
  }
  return false;
}

// The places outside the erasable fields (`skip`) where a string holds `text`.
void FindElsewhere(const json& value, const std::string& text, const std::string& pointer,
                   const json& skip, std::vector<std::string>& out) {
  if (skip.contains(pointer)) return;
  if (value.is_string()) {
    if (value.get_ref<const std::string&>().find(text) != std::string::npos) out.push_back(pointer);
  } else if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it)
      FindElsewhere(it.value(), text, (json::json_pointer(pointer) / it.key()).to_string(), skip,
                    out);
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i)
      FindElsewhere(value[i], text, pointer + "/" + std::to_string(i), skip, out);
  }
}

// Erases the field at `pointer` (one the salts name) by its commitment.
void EraseField(json& record, json& salts, const std::string& pointer) {
  const json::json_pointer at(pointer);
  // A salted value is committed whatever it looks like (C(N) commits it so).
  if (record.contains(at) && salts[pointer].is_string())
    record[at] = journal::Commitment(salts[pointer].get<std::string>(), record[at]);
  salts.erase(pointer);
}

// Erases the matching fields of the record; returns the pointers erased.
std::vector<std::string> EraseRecord(json& record, const ErasureRequest& request,
                                     ErasureResult& result) {
  json& integrity = record["integrity"];
  if (!integrity.contains("salts") || !integrity["salts"].is_object()) return {};
  json& salts = integrity["salts"];
  std::vector<std::string> pointers;
  if (!request.user.empty()) {
    if (!record.contains("user") || !record["user"].is_object() ||
        record["user"].value("id", "") != request.user)
      return {};
    for (auto it = salts.begin(); it != salts.end(); ++it) {
      if (record.contains(json::json_pointer(it.key())) &&
          !journal::IsErased(record[json::json_pointer(it.key())]))
        pointers.push_back(it.key());
    }
  } else {
    for (auto it = salts.begin(); it != salts.end(); ++it) {
      const json::json_pointer pointer(it.key());
      if (record.contains(pointer) && !journal::IsErased(record[pointer]) &&
          Holds(record[pointer], request.field_value))
        pointers.push_back(it.key());
    }
    std::vector<std::string> elsewhere;
    FindElsewhere(record, request.field_value, "", salts, elsewhere);
    for (const auto& pointer : elsewhere) {
      if (pointer.starts_with("/integrity")) continue;
      if (result.elsewhere.size() < 100)
        result.elsewhere.push_back(
            {record.value("id", ""), UnsignedMember(integrity, "seq"), pointer});
      ++result.elsewhere_count;
    }
  }
  for (const auto& pointer : pointers) {
    if (request.user.empty() && result.erased.size() < 10000)
      result.erased.push_back({record.value("id", ""), UnsignedMember(integrity, "seq"), pointer});
    if (!request.dry_run) EraseField(record, salts, pointer);
  }
  if (!request.dry_run && salts.empty()) integrity.erase("salts");
  return pointers;
}

}  // namespace

int EraseFields(json& record) {
  if (!record.contains("integrity") || !record["integrity"].contains("salts")) return 0;
  json& salts = record["integrity"]["salts"];
  int erased = 0;
  for (auto it = salts.begin(); it != salts.end(); ++it) {
    const json::json_pointer pointer(it.key());
    if (!record.contains(pointer) || !it.value().is_string()) continue;
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
    return Fail(ErrorCode::kUnavailable, "a server is writing to " + dir.string() +
                                             ": stop it before " + std::string(doing) +
                                             " (it holds " + lock_path.string() + ")");
  }
  return JournalLock(fd);
}

Result<ErasureResult> EraseFromJournal(const fs::path& dir, const ErasureRequest& request) {
  if (request.user.empty() == request.field_value.empty())
    return Fail(ErrorCode::kInvalidArgument,
                "say what to erase: a user id or a field value (one of them)");
  if (!request.field_value.empty() && request.field_value.size() < 3)
    return Fail(ErrorCode::kInvalidArgument,
                "--field-value: give at least 3 characters (it also matches inside "
                "longer strings; see what it matches with --dry-run)");
  auto files = ListAuditFiles(dir);
  if (!files) return std::unexpected(files.error());
  // Hold the writer's lock while rewriting: a running server appends to the
  // files this replaces.
  std::optional<JournalLock> lock;
  if (!request.dry_run) {
    auto taken = JournalLock::Take(dir, "erasing");
    if (!taken) return std::unexpected(taken.error());
    lock.emplace(std::move(*taken));
  }
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
      size_t erased = 0;
      try {
        if (record.is_object() && record.contains("integrity") && record["integrity"].is_object())
          erased = EraseRecord(record, request, result).size();
      } catch (const json::exception&) {
        // A member of the wrong type: an edited line (verify names it), left as it is.
        record = ParseWithin(line, kMaxRecordDepth);
        erased = 0;
      }
      if (erased > 0) {
        ++result.records_erased;
        result.fields_erased += erased;
        if (!request.dry_run) {
          line = journal::RecordLine(record);
          result.erased_lines.push_back(line);
          changed = true;
        }
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

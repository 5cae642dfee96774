#include "store/record_store.h"

#include <sqlite3.h>

#include "audit/bounded_json.h"
#include "audit/ops_log.h"
#include "sinks/mysql_sink.h"
#include "sinks/postgres_sink.h"
#include "sinks/sqlite_sink.h"

namespace mcpaudit {
namespace {

// The SQLite store at `path`, read only; the caller closes it (sqlite3_close).
Result<sqlite3*> OpenReadOnly(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Fail(ErrorCode::kNotFound, "cannot open " + path.string() + ": " + message);
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

Status ForEachSqliteLine(const std::filesystem::path& path, const std::function<bool(size_t, const std::string&)>& visit,
                         StoredRecords which) {
  auto opened = OpenReadOnly(path);
  if (!opened) return std::unexpected(opened.error());
  sqlite3* db = *opened;
  const std::string sql = SelectRecords(kAuditTable, which);
  sqlite3_stmt* stmt = nullptr;
  Status status;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    status = Fail(ErrorCode::kIo, path.string() + " holds no audit records: " + sqlite3_errmsg(db));
  } else {
    size_t row = 0;
    int step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      const std::string line(text ? text : "", static_cast<size_t>(sqlite3_column_bytes(stmt, 0)));
      if (!visit(++row, line)) break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
      status = Fail(ErrorCode::kIo, "cannot read " + path.string() + ": " + sqlite3_errmsg(db));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return status;
}

}  // namespace

Result<std::vector<JournalAnchor>> StoreHeads(const SinkConfig& store) {
  std::vector<JournalAnchor> heads;
  const std::string source = "store " + RedactUrl(store.url);
  Status read = ForEachStoredLine(
      store,
      [&](size_t, const std::string& line) {
        const nlohmann::json record = ParseWithin(line, kMaxRecordDepth);
        if (!record.is_object() || !record.contains("integrity") || !record["integrity"].is_object()) return true;
        const nlohmann::json& integrity = record["integrity"];
        if (!integrity.contains("seq") || !integrity["seq"].is_number_unsigned()) return true;
        const auto text = [&](const char* key) {
          return integrity.contains(key) && integrity[key].is_string() ? integrity[key].get<std::string>() : "";
        };
        heads.push_back({source, text("stream"), integrity["seq"].get<uint64_t>(), text("hash")});
        return true;
      },
      StoredRecords::kNewestOfEachStream);
  if (!read) return std::unexpected(read.error());
  return heads;
}

std::vector<JournalAnchor> JournalAnchors(const std::filesystem::path& journal_dir,
                                          const std::vector<SinkConfig>& stores, const std::string& stream,
                                          std::vector<CursorAhead>& ahead) {
  std::vector<JournalAnchor> anchors;
  for (const SinkConfig& store : stores) {
    const auto path = SqlitePathFromUrl(store.url);
    std::error_code ec;
    if (!path || !std::filesystem::exists(*path, ec)) continue;
    auto heads = StoreHeads(store);
    if (!heads) {
      OpsLog().warn("the head of the journal cannot be compared with {}: {}", RedactUrl(store.url),
                    heads.error().message);
      continue;
    }
    anchors.insert(anchors.end(), heads->begin(), heads->end());
  }
  if (auto cursors = CursorsAhead(journal_dir, stream)) {
    ahead = std::move(*cursors);
    for (const CursorAhead& cursor : ahead) anchors.push_back(cursor.anchor);
  } else {
    OpsLog().warn("the head of the journal cannot be compared with its shippers' cursors: {}", cursors.error().message);
  }
  return anchors;
}

Status ForEachStoredLine(const SinkConfig& store, const std::function<bool(size_t, const std::string&)>& visit,
                         StoredRecords which) {
  if (auto path = SqlitePathFromUrl(store.url)) return ForEachSqliteLine(*path, visit, which);
  if (IsPostgresUrl(store.url)) return ReadPostgresRecords(store, visit, which);
  if (IsMysqlUrl(store.url)) return ReadMysqlRecords(store, visit, which);
  return Fail(ErrorCode::kInvalidArgument, "'" + RedactUrl(store.url) +
                                               "' is not a store URL (sqlite:///path, postgres://…, mysql://…)");
}

}  // namespace mcpaudit

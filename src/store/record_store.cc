#include "store/record_store.h"

#include <sqlite3.h>

#include "audit/bounded_json.h"
#include "sinks/mysql_sink.h"
#include "sinks/postgres_sink.h"
#include "sinks/sqlite_sink.h"

namespace mcpaudit {
namespace {

Status ForEachSqliteLine(const std::filesystem::path& path, const std::function<bool(size_t, const std::string&)>& visit) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Fail(ErrorCode::kNotFound, "cannot open " + path.string() + ": " + message);
  }
  sqlite3_busy_timeout(db, 5000);
  const std::string sql = std::string("SELECT record FROM ") + kAuditTable + " ORDER BY stream, seq";
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

Result<std::vector<JournalAnchor>> SqliteHeads(const std::filesystem::path& path, const std::string& url) {
  std::vector<JournalAnchor> heads;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Fail(ErrorCode::kNotFound, "cannot open " + path.string() + ": " + message);
  }
  sqlite3_busy_timeout(db, 5000);
  // One index seek per stream (audit_events_stream_seq).
  const std::string sql = std::string("SELECT stream, seq, record FROM ") + kAuditTable +
                          " AS a WHERE seq = (SELECT max(seq) FROM " + kAuditTable + " WHERE stream = a.stream)";
  sqlite3_stmt* stmt = nullptr;
  Status status;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    status = Fail(ErrorCode::kIo, path.string() + " holds no audit records: " + sqlite3_errmsg(db));
  } else {
    int step;
    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
      const auto* stream = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 2));
      const nlohmann::json record =
          ParseWithin(std::string_view(text ? text : "", static_cast<size_t>(sqlite3_column_bytes(stmt, 2))),
                      kMaxRecordDepth);
      std::string hash;
      if (record.is_object() && record.contains("integrity") && record["integrity"].is_object())
        hash = record["integrity"].value("hash", "");
      heads.push_back({"store " + url, stream ? stream : "", static_cast<uint64_t>(sqlite3_column_int64(stmt, 1)),
                       std::move(hash)});
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
      status = Fail(ErrorCode::kIo, "cannot read " + path.string() + ": " + sqlite3_errmsg(db));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  if (!status) return std::unexpected(status.error());
  return heads;
}

}  // namespace

Result<std::vector<JournalAnchor>> StoreHeads(const SinkConfig& store) {
  if (auto path = SqlitePathFromUrl(store.url)) return SqliteHeads(*path, RedactUrl(store.url));
  return std::vector<JournalAnchor>{};
}

Status ForEachStoredLine(const SinkConfig& store, const std::function<bool(size_t, const std::string&)>& visit) {
  if (auto path = SqlitePathFromUrl(store.url)) return ForEachSqliteLine(*path, visit);
  if (IsPostgresUrl(store.url)) return ReadPostgresRecords(store, visit);
  if (IsMysqlUrl(store.url)) return ReadMysqlRecords(store, visit);
  return Fail(ErrorCode::kInvalidArgument, "'" + RedactUrl(store.url) +
                                               "' is not a store URL (sqlite:///path, postgres://…, mysql://…)");
}

}  // namespace mcpaudit

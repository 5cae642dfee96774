#include "store/record_store.h"

#include "base/bounded_json.h"
#include "base/ops_log.h"

namespace mcpaudit {

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

Status RunStoreQuery(const SinkConfig& store, const SqlText& query, const RowVisitor& visit) {
  const std::string type = SinkType(store);
  if (type != "sqlite" && type != "postgres" && type != "mysql")
    return Fail(ErrorCode::kInvalidArgument, "'" + RedactUrl(store.url) +
                                                 "' is not a store URL (sqlite:///path, postgres://…, mysql://…)");
  StoreReader read = FindStoreReader(type);
  if (!read) return Fail(ErrorCode::kInvalidArgument, "store " + RedactUrl(store.url) + ": " + NoSuchSinkType(type));
  return read(store, query, visit);
}

Status ForEachStoredLine(const SinkConfig& store, const std::function<bool(size_t, const std::string&)>& visit,
                         StoredRecords which) {
  const char* table = IsMysqlUrl(store.url) ? kMysqlAuditTable : kAuditTable;
  size_t row = 0;
  std::string line;
  return RunStoreQuery(store, {SelectRecords(table, which), {}}, [&](std::span<const std::string_view> columns) {
    line.assign(columns[0]);
    return visit(++row, line);
  });
}

}  // namespace mcpaudit

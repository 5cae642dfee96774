// Records read back from a database that a sink filled (`--store URL`), in
// chain order (by stream, then seq), one row at a time: constant memory
// however many rows there are.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "mcpaudit/shipper.h"
#include "mcpaudit/pipeline.h"
#include "mcpaudit/result.h"
#include "mcpaudit/sink.h"
#include "sinks/sql_columns.h"

namespace mcpaudit {

// Calls `visit(row_number, line)` with each stored record as the journal held
// it, until it returns false. `store` is read with the scheme of its URL:
// sqlite://, postgres:// or mysql://.
[[nodiscard]] Status ForEachStoredLine(const SinkConfig& store,
                                       const std::function<bool(size_t, const std::string&)>& visit,
                                       StoredRecords which = StoredRecords::kAll);

// Runs `query` on `store` (sqlite://, postgres:// or mysql://) and calls
// `visit` with the text of each row's columns (NULL as empty) until it
// returns false. Rows are streamed: constant memory however many there are.
[[nodiscard]] Status RunStoreQuery(const SinkConfig& store, const SqlText& query, const RowVisitor& visit);

// The newest record of each stream a store holds (its seq and hash): what the
// journal that fills the store must at least reach.
[[nodiscard]] Result<std::vector<JournalAnchor>> StoreHeads(const SinkConfig& store);

// What outside the journal in `journal_dir` knows of the head of `stream`: the
// newest records of those `stores` that are SQLite files that exist (not a
// PostgreSQL or MariaDB store: several journals may ship into one, and a
// stream name given twice would read as a truncation there), and the cursors
// of its shippers; those ahead of the journal go to `ahead`. What cannot be
// read is logged and passed over.
std::vector<JournalAnchor> JournalAnchors(const std::filesystem::path& journal_dir,
                                          const std::vector<SinkConfig>& stores, const std::string& stream,
                                          std::vector<CursorAhead>& ahead);

}  // namespace mcpaudit

// Records read back from a database that a sink filled (`--store URL`), in
// chain order (by stream, then seq), one row at a time: constant memory
// however many rows there are.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

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

// The newest record of each stream a store holds (its seq and hash): what the
// journal that fills the store must at least reach.
[[nodiscard]] Result<std::vector<JournalAnchor>> StoreHeads(const SinkConfig& store);

}  // namespace mcpaudit

// SqliteSink: the embedded default store. Records go into one SQLite file
// (0600, WAL, synchronous=FULL so that a confirmed batch survives power loss),
// one transaction per batch, through one prepared statement; a record whose id
// is already stored is left as it is.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include "mcpaudit/sink.h"
#include "sinks/sql_columns.h"

namespace mcpaudit {

// Opens (creating and migrating) the database at `path`.
[[nodiscard]] Result<std::unique_ptr<Sink>> OpenSqliteSink(const std::filesystem::path& path);

// Runs `query` on the SQLite store at `path`, opened read only.
[[nodiscard]] Status RunSqliteQuery(const std::filesystem::path& path, const SqlText& query, const RowVisitor& visit);

}  // namespace mcpaudit

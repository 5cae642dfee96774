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

// The table every SQL sink fills (and `--store` reads): the columns people
// filter on, and the whole record as the journal holds it.
inline constexpr const char* kAuditTable = "audit_events";

// The file of a sqlite:// URL: sqlite:///var/audit/audit.db is /var/audit/audit.db,
// sqlite://audit.db is audit.db (relative). Empty for any other URL.
std::optional<std::filesystem::path> SqlitePathFromUrl(std::string_view url);

// Opens (creating and migrating) the database at `path`.
[[nodiscard]] Result<std::unique_ptr<Sink>> OpenSqliteSink(const std::filesystem::path& path);

// Runs `query` on the SQLite store at `path`, opened read only.
[[nodiscard]] Status RunSqliteQuery(const std::filesystem::path& path, const SqlText& query, const RowVisitor& visit);

}  // namespace mcpaudit

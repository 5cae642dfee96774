// PostgresSink (libpq): records go into `audit_events`, a table partitioned by
// month (a partition is created when its first record comes), indexed on
// time, user, tenant, tool and chain position. A batch is one transaction:
// COPY into a temporary table, then one INSERT … ON CONFLICT (id) DO NOTHING,
// so that a batch sent again stores nothing twice.
//
// The connection is made on the first batch and again after it broke, so a
// server starts while its database is down (the shipper keeps the backlog).
// Hosts other than loopback get sslmode=verify-full unless the URL says otherwise.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "mcpaudit/sink.h"
#include "sinks/sql_columns.h"

namespace mcpaudit {

bool IsPostgresUrl(std::string_view url);  // postgres:// or postgresql://

[[nodiscard]] Result<std::unique_ptr<Sink>> OpenPostgresSink(const SinkConfig& config);

// Calls `visit(row, record line)` for each stored record in chain order (by
// stream, then seq), one row at a time, until it returns false.
// `which`: all of them, or the newest of each stream.
[[nodiscard]] Status RunPostgresQuery(const SinkConfig& config, const SqlText& query, const RowVisitor& visit);

}  // namespace mcpaudit

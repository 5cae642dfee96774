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

[[nodiscard]] Result<std::unique_ptr<Sink>> OpenPostgresSink(const SinkConfig& config);

// Runs `query` (see store/record_store.h RunStoreQuery): each `?` in its SQL
// takes the next value, sent apart from the text ($1, $2, ...);
// the SQL itself must hold no other '?'. Rows are streamed.
[[nodiscard]] Status RunPostgresQuery(const SinkConfig& config, const SqlText& query, const RowVisitor& visit);

}  // namespace mcpaudit

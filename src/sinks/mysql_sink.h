// MysqlSink (MariaDB Connector/C; works with MySQL too): records go into
// `audit_log` — id, timestamp, tool, user_id, params (JSON), request_id,
// client_ip, tenant_id, with their indexes — extended with the rest of the
// event: type, outcome, duration, resources, compliance, the integrity fields
// and the record as the journal holds it (so that `verify --store` works).
// A batch is one transaction of multi-row INSERTs; a record whose id is stored
// already is left as it is.
//
// URL: mysql://user@host[:port]/database[?socket=/path/to/mysqld.sock]. The
// connection is made on the first batch and again after it broke. Hosts other
// than loopback must speak TLS with a certificate the system trusts.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "mcpaudit/sink.h"
#include "sinks/sql_columns.h"

namespace mcpaudit {

[[nodiscard]] Result<std::unique_ptr<Sink>> OpenMysqlSink(const SinkConfig& config);

// Runs `query` (see store/record_store.h RunStoreQuery): each `?` in its SQL
// takes the next value, inlined, quoted and escaped for the connection's character set;
// the SQL itself must hold no other '?'. Rows are streamed.
[[nodiscard]] Status RunMysqlQuery(const SinkConfig& config, const SqlText& query, const RowVisitor& visit);

}  // namespace mcpaudit

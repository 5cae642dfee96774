// Reads of a SQL store (SQLite, PostgreSQL, MariaDB/MySQL) that the database
// answers on its indexes: the filters become a WHERE clause, pages follow a
// keyset cursor (valid while records arrive), counts are GROUP BYs. What SQL
// can only narrow (a resource, a text search) is confirmed on each record.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mcpaudit/audit_event.h"
#include "mcpaudit/result.h"
#include "mcpaudit/sink.h"
#include "sinks/sql_columns.h"
#include "store/record_store.h"
#include "store/query.h"

namespace mcpaudit {

enum class SqlFlavour { kSqlite, kPostgres, kMysql };
Result<SqlFlavour> FlavourOf(const SinkConfig& store);

// Where a page ends: the last record's time and id. Its text form is the
// cursor a caller hands back for the next page.
struct RecordPosition {
  std::string timestamp;  // RFC 3339 as stored (milliseconds, Z)
  std::string id;
};
std::string EncodeCursor(const RecordPosition& position);
Result<RecordPosition> DecodeCursor(std::string_view cursor);

struct Selection {
  QueryFilter filter;  // its limit: the page size (0: every record)
  bool newest_first = true;
  std::optional<RecordPosition> after;  // the records after this one, in the chosen order
  // Rows read at most (0: no bound). A filter SQL only narrows (a text search)
  // may read many rows for few records: past this the page ends, its cursor
  // after the last row read.
  size_t max_rows = 0;
};

// The SELECT of one page (at most `limit` rows; 0: no LIMIT) of the record texts `selection` names.
SqlText SelectSql(SqlFlavour flavour, const Selection& selection, size_t limit);

struct SelectedPage {
  size_t records = 0;
  std::optional<RecordPosition> next;  // set when more records may follow
};
// Calls `visit(event, line)` for each selected record in order (at most
// filter.limit), then says where the next page starts. Lines that are not
// records go to `on_bad_row` (their row number in this read).
[[nodiscard]] Result<SelectedPage> SelectStoredRecords(
    const SinkConfig& store, const Selection& selection,
    const std::function<bool(const AuditEvent&, const std::string&)>& visit,
    const std::function<void(size_t row, const std::string& reason)>& on_bad_row);

// The stored text of the record with `id`; nullopt when the store has none.
[[nodiscard]] Result<std::optional<std::string>> FindStoredRecord(const SinkConfig& store, std::string_view id);

// The stored text of the first checkpoint of `stream` after `seq`: the one
// that covers that record (nullopt: none yet).
[[nodiscard]] Result<std::optional<std::string>> FindCheckpointAfter(const SinkConfig& store,
                                                                     std::string_view stream, uint64_t seq);

// Where a stream of the store ends: its newest record and its newest checkpoint.
struct StoredStreamHead {
  std::string stream;
  std::string head;                       // the record text
  std::optional<std::string> checkpoint;  // the record text; nullopt: none yet
};
// Each stream's head (at most `max_streams`, by name), found on the
// (stream, seq) index: a few lookups per stream, whatever the store holds.
[[nodiscard]] Result<std::vector<StoredStreamHead>> StoredStreamHeads(const SinkConfig& store,
                                                                     size_t max_streams = 100);

enum class Bucket { kMinute, kHour, kDay };
Result<Bucket> ParseBucket(std::string_view text);

struct OutcomeCounts {
  uint64_t success = 0, failure = 0, denied = 0;
  uint64_t Total() const { return success + failure + denied; }
};
struct StoreStats {
  std::vector<std::pair<std::string, OutcomeCounts>> buckets;  // start (RFC 3339), oldest first
  std::vector<std::pair<std::string, uint64_t>> top_tools, top_users, denials_by_reason;
  OutcomeCounts totals;
};
// Counts of the records the filter selects (its text and resource filters are
// not exact in SQL: they are refused here), per bucket and outcome, and the
// most frequent tools, users and reasons for a denial (at most `top` each).
[[nodiscard]] Result<StoreStats> CountStoredRecords(const SinkConfig& store, const QueryFilter& filter, Bucket bucket,
                                                    size_t top = 10);

}  // namespace mcpaudit

// What the SQL sinks share: the columns stored beside each record (the fields
// people filter on), the password of a connection, and the loopback test that
// decides whether TLS is required.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "mcpaudit/sink.h"

namespace mcpaudit {

// The table every SQL sink fills (and `--store` reads): the columns people
// filter on, and the whole record as the journal holds it. MariaDB's is named
// apart from the others.
inline constexpr const char* kAuditTable = "audit_events";
inline constexpr const char* kMysqlAuditTable = "audit_log";

// The file of a sqlite:// URL: sqlite:///var/audit/audit.db is /var/audit/audit.db,
// sqlite://audit.db is audit.db (relative). Empty for any other URL.
std::optional<std::filesystem::path> SqlitePathFromUrl(std::string_view url);
bool IsPostgresUrl(std::string_view url);  // postgres:// or postgresql://
bool IsMysqlUrl(std::string_view url);     // mysql:// or mariadb://

// A versioned schema migration: applied in order, each in its own transaction
// and recorded in schema_migrations. Never edit one that has shipped: add another.
struct Migration {
  int version;
  const char* sql;
};

// The filterable fields of one record. Views into the record, except timestamp.
struct RecordColumns {
  std::string_view id;
  std::string_view stream;
  uint64_t seq = 0;
  std::string timestamp;  // RFC 3339, UTC
  std::string_view event_type;
  std::string_view tool;
  std::string_view outcome;
  std::string_view user_id;
  std::string_view tenant_id;
  std::string_view request_id;
  std::string_view client_ip;
  std::optional<double> duration_ms;
  std::string_view session_id;
  bool phi = false;
  std::string_view error_reason;
};
RecordColumns ColumnsOf(const SinkRecord& record);

// The rollup counts (the console reads them instead of the records) of the
// records one write inserts, per key: by hour, tenant, tool, kind, outcome and
// reason, and by day, tenant, user and outcome. A sink adds them to its
// audit_rollup and audit_rollup_users tables when it commits the records
// (its update and delete triggers count erasure and retention).
class RollupCounts {
 public:
  // `column_text`: what the store makes of a text value in its columns (the
  // keys must be the same), e.g. PostgreSQL's, which holds no NUL; none: as is.
  using ColumnText = std::string (*)(std::string_view);
  explicit RollupCounts(ColumnText column_text = nullptr) : column_text_(column_text) {}

  using Hour =
      std::tuple<std::string, std::string, std::string, std::string, std::string, std::string>;
  using Day = std::tuple<std::string, std::string, std::string, std::string>;
  // One record, by the keys of its columns.
  void Add(const RecordColumns& c);
  // One record, by its keys as the store has them (hour: 2024-01-15T10; day: 2024-01-15).
  struct Keys {
    std::string_view hour, day, tenant_id, tool, event_type, outcome, error_reason, user_id;
  };
  void Add(const Keys& k);
  const std::map<Hour, int64_t>& hours() const { return hours_; }
  const std::map<Day, int64_t>& days() const { return days_; }

 private:
  std::string Text(std::string_view value) const;

  ColumnText column_text_;
  std::map<Hour, int64_t> hours_;
  std::map<Day, int64_t> days_;
};

// Which stored records a reader asks a SQL store for.
enum class StoredRecords {
  kAll,                 // every record, in chain order (by stream, then seq)
  kNewestOfEachStream,  // the head of each stream: what its journal must at least reach
};
// The SELECT of the record texts of `table` that `which` names (one index seek
// per stream for kNewestOfEachStream).
std::string SelectRecords(std::string_view table, StoredRecords which);

// One statement with `?` placeholders and their values, in order.
struct SqlText {
  std::string sql;
  std::vector<std::string> params;
};
// Receives the text of each column of a row (NULL as empty); false stops the read.
using RowVisitor = std::function<bool(std::span<const std::string_view>)>;

// Runs a query on a store of one engine (see store/record_store.h RunStoreQuery).
using StoreReader = Status (*)(const SinkConfig& store, const SqlText& query, const RowVisitor& visit);
// Makes stores of the sink type `type` readable by `read`: the component of
// that type's sinks registers it (see RegisterSinkType).
void RegisterStoreReader(std::string type, StoreReader read);
// The reader of stores of `type`; null when no linked component reads them.
StoreReader FindStoreReader(const std::string& type);
// Why a sink or store of `type` cannot be opened here: not a type, or the
// component of that type is not linked into this program.
std::string NoSuchSinkType(const std::string& type);

// The password of `config`: from its environment variable or file (one line,
// the line break dropped); empty when it names neither. Fails when the named
// source is missing, and when the URL itself holds a password.
[[nodiscard]] Result<std::string> ReadSinkPassword(const SinkConfig& config);

// True for localhost, 127.0.0.0/8, ::1 and Unix sockets (an empty host or a
// path): the hosts a connection may reach without TLS.
bool IsLoopbackHost(std::string_view host);

// The longest prefix of `text` with at most `max_chars` UTF-8 characters (a
// column copy that must fit its column; the record keeps the whole value).
std::string_view TruncateUtf8(std::string_view text, size_t max_chars);

}  // namespace mcpaudit

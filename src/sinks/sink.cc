// The sinks by URL scheme: a new sink is one file pair and one line here.
#include "mcpaudit/sink.h"

#include "sinks/mysql_sink.h"
#include "sinks/postgres_sink.h"
#include "sinks/sqlite_sink.h"

namespace mcpaudit {

std::string RedactUrl(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  const size_t authority = scheme + 3;
  const size_t at = url.find('@', authority);
  const size_t slash = url.find('/', authority);
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at)) return std::string(url);
  const size_t colon = url.find(':', authority);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

Result<std::unique_ptr<Sink>> OpenSink(const SinkConfig& config) {
  const std::string& url = config.url;
  if (auto path = SqlitePathFromUrl(url)) return OpenSqliteSink(*path);
  if (IsPostgresUrl(url)) return OpenPostgresSink(config);
  if (IsMysqlUrl(url)) return OpenMysqlSink(config);
  return Fail(ErrorCode::kInvalidArgument,
              "sink " + config.name + ": '" + RedactUrl(url) +
                  "' is not a store URL (sqlite:///path/audit.db, postgres://user@host/db, mysql://user@host/db)");
}

}  // namespace mcpaudit

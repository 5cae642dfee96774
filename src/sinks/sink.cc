// The sinks by URL scheme: a new sink is one file pair and one line here.
#include "mcpaudit/sink.h"

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
  const std::string scheme = url.substr(0, url.find("://"));
  if (scheme == "postgres" || scheme == "postgresql" || scheme == "mysql")
    return Fail(ErrorCode::kInvalidArgument, "sink " + config.name + ": " + scheme +
                                                 ":// stores are not available in this version (sqlite:// is)");
  return Fail(ErrorCode::kInvalidArgument,
              "sink " + config.name + ": '" + url + "' is not a store URL (sqlite:///path/to/audit.db)");
}

}  // namespace mcpaudit

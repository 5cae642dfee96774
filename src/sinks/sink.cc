// The sinks by URL scheme: a new sink is one file pair and one line here.
#include "mcpaudit/sink.h"

#include <algorithm>

#include "sinks/http_sinks.h"
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

std::string SinkType(const SinkConfig& config) {
  if (!config.type.empty()) return config.type;
  if (SqlitePathFromUrl(config.url)) return "sqlite";
  if (IsPostgresUrl(config.url)) return "postgres";
  if (IsMysqlUrl(config.url)) return "mysql";
  return "";
}

namespace {

// Routing: passes on only the records of some tenants or event types, and
// every checkpoint (a copy of the chain head belongs in every destination).
class RoutedSink final : public Sink {
 public:
  RoutedSink(std::unique_ptr<Sink> sink, std::vector<std::string> tenants, std::vector<std::string> event_types)
      : sink_(std::move(sink)), tenants_(std::move(tenants)), event_types_(std::move(event_types)) {}

  Status Store(std::span<const SinkRecord> batch) override {
    if (std::all_of(batch.begin(), batch.end(), [&](const auto& r) { return Passes(r); })) return sink_->Store(batch);
    return sink_->Store(Routed(batch));
  }
  Status Replace(std::span<const SinkRecord> records) override { return sink_->Replace(Routed(records)); }
  Status Forget(std::string_view stream, uint64_t through_seq) override { return sink_->Forget(stream, through_seq); }
  std::optional<std::chrono::milliseconds> RetryAfter() const override { return sink_->RetryAfter(); }

 private:
  static bool Listed(const std::vector<std::string>& list, const std::string& value) {
    return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
  }
  bool Passes(const SinkRecord& record) const {
    const AuditEvent& e = record.event;
    return e.event_type == "checkpoint" || e.event_type == "retention" || (Listed(tenants_, e.user.tenant_id) && Listed(event_types_, e.event_type));
  }
  // The records that pass, copied (only when some do not: see Store).
  std::vector<SinkRecord> Routed(std::span<const SinkRecord> batch) const {
    std::vector<SinkRecord> routed;
    for (const SinkRecord& record : batch) {
      if (Passes(record)) routed.push_back(record);
    }
    return routed;
  }

  std::unique_ptr<Sink> sink_;
  std::vector<std::string> tenants_, event_types_;
};

Result<std::unique_ptr<Sink>> OpenByType(const SinkConfig& config) {
  const std::string type = SinkType(config);
  if (type == "sqlite") {
    auto path = SqlitePathFromUrl(config.url);
    if (!path) return Fail(ErrorCode::kInvalidArgument, "sink " + config.name + ": sqlite needs a sqlite:///path URL");
    return OpenSqliteSink(*path);
  }
  if (type == "postgres") return OpenPostgresSink(config);
  if (type == "mysql") return OpenMysqlSink(config);
  if (type == "splunk") return OpenSplunkSink(config);
  if (type == "datadog") return OpenDatadogSink(config);
  if (type == "elastic") return OpenElasticSink(config);
  if (type == "otlp") return OpenOtlpSink(config);
  if (type == "webhook") return OpenWebhookSink(config);
  if (type == "syslog") return OpenSyslogSink(config);
  if (!type.empty())
    return Fail(ErrorCode::kInvalidArgument,
                "sink " + config.name + ": unknown type '" + type +
                    "' (sqlite, postgres, mysql, splunk, datadog, elastic, otlp, webhook, syslog)");
  return Fail(ErrorCode::kInvalidArgument,
              "sink " + config.name + ": '" + RedactUrl(config.url) +
                  "' is not a store URL (sqlite:///path/audit.db, postgres://user@host/db, mysql://user@host/db); "
                  "for other destinations give a type");
}

}  // namespace

Result<std::unique_ptr<Sink>> OpenSink(const SinkConfig& config) {
  auto sink = OpenByType(config);
  if (!sink || (config.tenants.empty() && config.event_types.empty())) return sink;
  return std::make_unique<RoutedSink>(std::move(*sink), config.tenants, config.event_types);
}

}  // namespace mcpaudit

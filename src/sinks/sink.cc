// The sinks by type: each component of sinks registers the types it opens
// (and the stores it reads back) when it is linked.
#include "mcpaudit/sink.h"

#include <algorithm>
#include <mutex>

#include "sinks/sql_columns.h"

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

// What the linked components registered.
struct Registry {
  std::mutex mutex;
  std::map<std::string, SinkOpener, std::less<>> openers;
  std::map<std::string, StoreReader, std::less<>> readers;
};
Registry& Registered() {
  static Registry registry;  // built on first use: by the first component that registers
  return registry;
}

// The types of sinks mcp-audit has, by the component that opens them.
constexpr std::pair<std::string_view, std::string_view> kComponentOfType[] = {
    {"sqlite", "sqlite"}, {"postgres", "postgres"}, {"mysql", "mysql"},  {"splunk", "siem"}, {"datadog", "siem"},
    {"elastic", "siem"},  {"otlp", "siem"},         {"webhook", "siem"}, {"syslog", "siem"}};

Result<std::unique_ptr<Sink>> OpenByType(const SinkConfig& config) {
  const std::string type = SinkType(config);
  if (type.empty())
    return Fail(ErrorCode::kInvalidArgument,
                "sink " + config.name + ": '" + RedactUrl(config.url) +
                    "' is not a store URL (sqlite:///path/audit.db, postgres://user@host/db, mysql://user@host/db); "
                    "for other destinations give a type");
  SinkOpener open;
  {
    Registry& registry = Registered();
    std::lock_guard lock(registry.mutex);
    if (auto found = registry.openers.find(type); found != registry.openers.end()) open = found->second;
  }
  if (!open) return Fail(ErrorCode::kInvalidArgument, "sink " + config.name + ": " + NoSuchSinkType(type));
  return open(config);
}

}  // namespace

void RegisterSinkType(std::string type, SinkOpener open) {
  Registry& registry = Registered();
  std::lock_guard lock(registry.mutex);
  registry.openers[std::move(type)] = std::move(open);
}

void RegisterStoreReader(std::string type, StoreReader read) {
  Registry& registry = Registered();
  std::lock_guard lock(registry.mutex);
  registry.readers[std::move(type)] = read;
}

StoreReader FindStoreReader(const std::string& type) {
  Registry& registry = Registered();
  std::lock_guard lock(registry.mutex);
  auto found = registry.readers.find(type);
  return found == registry.readers.end() ? nullptr : found->second;
}

std::string NoSuchSinkType(const std::string& type) {
  for (const auto& [known, component] : kComponentOfType) {
    if (known == type)
      return "sinks of type '" + type + "' are in the component mcpaudit::" + std::string(component) +
             ", which this program does not link";
  }
  std::string types;
  Registry& registry = Registered();
  std::lock_guard lock(registry.mutex);
  for (const auto& [name, open] : registry.openers) types += (types.empty() ? "" : ", ") + name;
  return "unknown type '" + type + "' (" + (types.empty() ? "no sink type is linked" : types) + ")";
}

Result<std::unique_ptr<Sink>> OpenSink(const SinkConfig& config) {
  auto sink = OpenByType(config);
  if (!sink || (config.tenants.empty() && config.event_types.empty())) return sink;
  return std::make_unique<RoutedSink>(std::move(*sink), config.tenants, config.event_types);
}

}  // namespace mcpaudit

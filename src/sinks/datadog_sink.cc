// Datadog Logs intake (v2): a JSON array of log entries, the record under "audit".
#include "base/bounded_json.h"
#include "sinks/http_sink.h"
#include "sinks/http_sinks.h"

namespace mcpaudit {
namespace {

// What Datadog keeps whole of one entry (it takes 1 MB; the rest of the entry needs room).
constexpr size_t kMaxRecordBytes = 900 * 1000;

class DatadogSink final : public HttpSink {
 public:
  DatadogSink(SinkConfig config, std::string key)
      : HttpSink(std::move(config), std::move(key)), host_(Option("host", LocalHostname())) {}

 private:
  std::string Endpoint() const override { return WithPath(config().url, "/api/v2/logs"); }
  // The intake's limits: 1000 entries and 5 MB (uncompressed) per request.
  BodyShape Shape() const override { return {"[", ",", "]", 1000, 4500 * 1024}; }

  std::string Item(const SinkRecord& record) const override {
    const AuditEvent& e = record.event;
    const char* status = e.outcome == Outcome::kSuccess ? "info" : e.outcome == Outcome::kDenied ? "warn" : "error";
    std::string message = e.event_type == "tool_call" ? e.tool + " " + std::string(ToString(e.outcome)) : e.event_type;
    if (!e.user.id.empty()) message += " by " + e.user.id;
    std::string item = "{\"ddsource\":\"mcp-audit\"";
    item += ",\"service\":" + JsonString(Option("service", "mcp-audit"));
    item += ",\"hostname\":" + JsonString(host_);
    if (const std::string tags = Option("tags"); !tags.empty()) item += ",\"ddtags\":" + JsonString(tags);
    item += ",\"status\":\"" + std::string(status) + "\"";
    item += ",\"message\":" + JsonString(message);
    if (record.line.size() <= kMaxRecordBytes) {
      item += ",\"audit\":" + record.line + "}";
      return item;
    }
    // Datadog cuts an entry over 1 MB wherever it falls, which leaves broken
    // JSON: send the record without its largest parts instead, and say so
    // (the journal and the other sinks keep all of it).
    auto reduced = ParseWithin(record.line, kMaxRecordDepth);
    if (reduced.is_object()) {
      for (const char* part : {"params", "details"}) {
        if (reduced.contains(part)) reduced[part] = {{"$omitted_bytes", reduced[part].dump().size()}};
      }
    }
    item += ",\"truncated\":true,\"audit\":" +
            reduced.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "}";
    return item;
  }

  std::vector<std::string> Headers(const std::string&) const override {
    return {"DD-API-KEY: " + secret(), "Content-Type: application/json"};
  }

  std::string host_;
};

}  // namespace

Result<std::unique_ptr<Sink>> OpenDatadogSink(const SinkConfig& config) {
  auto key = ReadSinkSecret(config, true);
  if (!key) return std::unexpected(key.error());
  SinkConfig with_url = config;
  if (with_url.url.empty()) with_url.url = "https://http-intake.logs.datadoghq.com";
  return std::make_unique<DatadogSink>(std::move(with_url), std::move(*key));
}

}  // namespace mcpaudit

// OpenTelemetry OTLP/HTTP logs, JSON encoding: one log record per audit record,
// its body the record as the journal holds it, its attributes named after the
// semantic conventions where they exist (gen_ai.tool.name, mcp.method.name,
// mcp.session.id, user.id, client.address) and mcp_audit.* otherwise; a
// request's W3C trace context becomes the log record's traceId and spanId.
#include <optional>

#include "base/crypto.h"
#include "sinks/http_sink.h"
#include "sinks/http_sinks.h"

namespace mcpaudit {
namespace {

void Attribute(std::string& out, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  if (out.back() != '[') out += ',';
  out += "{\"key\":\"" + std::string(key) + "\",\"value\":{\"stringValue\":" + JsonString(value) + "}}";
}

class OtlpSink final : public HttpSink {
 public:
  OtlpSink(SinkConfig config, std::string token) : HttpSink(std::move(config), std::move(token)) {}

 private:
  std::string Endpoint() const override { return WithPath(config().url, "/v1/logs"); }

  BodyShape Shape() const override {
    BodyShape shape;
    shape.prefix = "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
                   "{\"stringValue\":" +
                   JsonString(Option("service", "mcp-audit")) +
                   "}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"mcp-audit\"},\"logRecords\":[";
    shape.separator = ",";
    shape.suffix = "]}]}]}";
    return shape;
  }

  // ",traceId,spanId,flags" (OTLP/JSON: ids in hex) from "00-<trace>-<span>-<flags>";
  // nullopt for anything else (a record is text anyone with the files may have edited).
  static std::optional<std::string> TraceContext(std::string_view traceparent) {
    if (traceparent.size() != 55 || traceparent[2] != '-' || traceparent[35] != '-' ||
        traceparent[52] != '-')
      return std::nullopt;
    const std::string_view trace = traceparent.substr(3, 32), span = traceparent.substr(36, 16),
                           flags = traceparent.substr(53, 2);
    uint8_t flag_bits[1];
    if (!IsLowerHex(trace, 32) || !IsLowerHex(span, 16) || !HexDecodeTo(flags, flag_bits))
      return std::nullopt;
    return ",\"traceId\":\"" + std::string(trace) + "\",\"spanId\":\"" + std::string(span) +
           "\",\"flags\":" + std::to_string(flag_bits[0]);
  }

  std::string Item(const SinkRecord& record) const override {
    const AuditEvent& e = record.event;
    // SeverityNumber: 9 INFO, 13 WARN (a denial), 17 ERROR (a failure).
    const int severity = e.outcome == Outcome::kSuccess ? 9 : e.outcome == Outcome::kDenied ? 13 : 17;
    const char* text = severity == 9 ? "INFO" : severity == 13 ? "WARN" : "ERROR";
    std::string item = "{\"timeUnixNano\":\"" + std::to_string(UnixNanos(e.timestamp)) +
                       "\",\"severityNumber\":" + std::to_string(severity) + ",\"severityText\":\"" + text +
                       "\",\"body\":{\"stringValue\":" + JsonString(record.line) + "},\"attributes\":[";
    Attribute(item, "event.name", "mcp_audit." + e.event_type);
    if (e.event_type == "tool_call") {
      Attribute(item, "gen_ai.tool.name", e.tool);
      Attribute(item, "mcp.method.name", "tools/call");
    }
    Attribute(item, "mcp.session.id", e.request.session_id);
    Attribute(item, "mcp.protocol.version", e.request.protocol_version);
    Attribute(item, "jsonrpc.request.id", e.request.id);
    Attribute(item, "user.id", e.user.id);
    Attribute(item, "client.address", e.request.client_ip);
    Attribute(item, "mcp_audit.tenant_id", e.user.tenant_id);
    Attribute(item, "mcp_audit.outcome", ToString(e.outcome));
    Attribute(item, "mcp_audit.event_id", e.id);
    if (e.error) Attribute(item, "error.type", e.error->reason);
    item += "]";
    // The request's W3C trace context: the record joins the caller's trace.
    if (auto trace = TraceContext(e.request.traceparent)) item += *trace;
    item += "}";
    return item;
  }

  std::vector<std::string> Headers(const std::string&) const override {
    std::vector<std::string> headers = {"Content-Type: application/json"};
    if (!secret().empty()) headers.push_back("Authorization: Bearer " + secret());
    return headers;
  }
};

}  // namespace

Result<std::unique_ptr<Sink>> OpenOtlpSink(const SinkConfig& config) {
  auto token = ReadSinkSecret(config, false);
  if (!token) return std::unexpected(token.error());
  return std::make_unique<OtlpSink>(config, std::move(*token));
}

}  // namespace mcpaudit

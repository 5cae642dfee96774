// Elasticsearch / OpenSearch bulk API: one `create` per record, its id the
// record's, so that a record sent again is refused as a conflict (stored once).
// Documents carry Elastic Common Schema fields and the record under "mcp_audit".
#include "base/bounded_json.h"
#include "sinks/http_sink.h"
#include "sinks/http_sinks.h"

namespace mcpaudit {
namespace {

// ECS: event.outcome is success, failure or unknown; a denial is a failure of type "denied".
const char* EcsOutcome(Outcome outcome) { return outcome == Outcome::kSuccess ? "success" : "failure"; }
const char* EcsType(Outcome outcome) {
  return outcome == Outcome::kSuccess ? "allowed" : outcome == Outcome::kDenied ? "denied" : "error";
}

class ElasticSink final : public HttpSink {
 public:
  ElasticSink(SinkConfig config, std::string key) : HttpSink(std::move(config), std::move(key)) {}

 private:
  std::string Endpoint() const override { return WithPath(config().url, "/_bulk"); }
  BodyShape Shape() const override { return {"", "\n", "\n", 1000, 5 << 20}; }

  std::string Item(const SinkRecord& record) const override {
    const AuditEvent& e = record.event;
    nlohmann::json doc;
    doc["@timestamp"] = FormatTimestamp(e.timestamp);
    doc["event"] = {{"kind", "event"},
                    {"category", {"api"}},
                    {"type", {EcsType(e.outcome)}},
                    {"action", e.event_type == "tool_call" ? e.tool : e.event_type},
                    {"outcome", EcsOutcome(e.outcome)},
                    {"id", e.id},
                    {"dataset", "mcp_audit"}};
    if (e.response) doc["event"]["duration"] = static_cast<int64_t>(e.response->duration_ms * 1e6);
    if (!e.user.id.empty()) doc["user"]["id"] = e.user.id;
    if (!e.user.email.empty()) doc["user"]["email"] = e.user.email;
    if (!e.user.roles.empty()) doc["user"]["roles"] = e.user.roles;
    if (!e.user.tenant_id.empty()) doc["organization"]["id"] = e.user.tenant_id;
    if (!e.request.client_ip.empty()) doc["source"]["ip"] = e.request.client_ip;
    if (!e.request.user_agent.empty()) doc["user_agent"]["original"] = e.request.user_agent;
    if (!e.server.name.empty()) doc["service"] = {{"name", e.server.name}, {"version", e.server.version}};
    if (!e.server.instance.empty()) doc["host"]["name"] = e.server.instance;
    if (e.error) doc["error"] = {{"code", std::to_string(e.error->code)}, {"message", e.error->message}};
    std::string item = "{\"create\":{\"_index\":" + JsonString(Option("index", "mcp-audit")) +
                       ",\"_id\":" + JsonString(e.id) + "}}\n";
    std::string body = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    body.back() = ',';
    item += body + "\"mcp_audit\":" + record.line + "}";
    return item;
  }

  std::vector<std::string> Headers(const std::string&) const override {
    std::vector<std::string> headers = {"Content-Type: application/x-ndjson"};
    if (!secret().empty()) headers.push_back("Authorization: ApiKey " + secret());
    return headers;
  }

  // Per item: 201 created and 409 (already there) are stored; 429 and 5xx are
  // sent again; anything else (a mapping error) is refused for good.
  Result<ItemVerdicts> CheckItems(const HttpResponse& response, size_t items) const override {
    const auto answer = ParseWithin(response.body, kDefaultMessageDepth);
    if (!answer.is_object()) return Fail(ErrorCode::kUnavailable, "the bulk answer is not JSON");
    ItemVerdicts verdicts;
    if (!answer.value("errors", false)) return verdicts;
    const auto& results = answer.value("items", nlohmann::json::array());
    if (!results.is_array() || results.size() != items)
      return Fail(ErrorCode::kUnavailable, "the bulk answer does not list every item");
    for (size_t i = 0; i < items; ++i) {
      const auto& result = results[i].contains("create") ? results[i]["create"] : results[i]["index"];
      const int status = result.value("status", 0);
      if ((status >= 200 && status < 300) || status == 409) continue;
      if (status == 429 || status >= 500) {
        verdicts.retry.push_back(i);
      } else {
        const auto& error = result.value("error", nlohmann::json::object());
        verdicts.refused.emplace_back(i, "status " + std::to_string(status) + " " + error.value("type", "") + ": " +
                                             error.value("reason", ""));
      }
    }
    return verdicts;
  }
};

}  // namespace

Result<std::unique_ptr<Sink>> OpenElasticSink(const SinkConfig& config) {
  auto key = ReadSinkSecret(config, false);
  if (!key) return std::unexpected(key.error());
  return std::make_unique<ElasticSink>(config, std::move(*key));
}

}  // namespace mcpaudit

// Generic webhook: {"records":[…]} batches, each signed so that the receiver
// can tell they come from this server and are fresh:
//   X-MCP-Audit-Timestamp: <unix seconds>
//   X-MCP-Audit-Signature: sha256=<hex HMAC-SHA256(key, timestamp + "." + body)>
// (the body as sent before any gzip). The key is the sink's secret.
#include "base/crypto.h"
#include "sinks/http_sink.h"
#include "sinks/http_sinks.h"

namespace mcpaudit {
namespace {

class WebhookSink final : public HttpSink {
 public:
  WebhookSink(SinkConfig config, std::string key) : HttpSink(std::move(config), std::move(key)) {}

 private:
  BodyShape Shape() const override { return {"{\"records\":[", ",", "]}", 1000, 4 << 20}; }
  std::string Item(const SinkRecord& record) const override { return record.line; }

  std::vector<std::string> Headers(const std::string& body) const override {
    const std::string timestamp = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    return {"Content-Type: application/json", "X-MCP-Audit-Timestamp: " + timestamp,
            "X-MCP-Audit-Signature: sha256=" + HmacSha256Hex(secret(), timestamp + "." + body)};
  }
};

}  // namespace

Result<std::unique_ptr<Sink>> OpenWebhookSink(const SinkConfig& config) {
  auto key = ReadSinkSecret(config, true);
  if (!key) return std::unexpected(key.error());
  return std::make_unique<WebhookSink>(config, std::move(*key));
}

}  // namespace mcpaudit

// Splunk HTTP Event Collector: one JSON event object per record, concatenated.
#include <thread>

#include "base/bounded_json.h"
#include "mcpaudit/clock.h"
#include "sinks/http_sink.h"
#include "sinks/http_sinks.h"

namespace mcpaudit {
namespace {

class SplunkSink final : public HttpSink {
 public:
  SplunkSink(SinkConfig config, std::string token)
      : HttpSink(std::move(config), std::move(token)),
        host_(Option("host", LocalHostname())),
        channel_(NewUuidV7(std::chrono::system_clock::now(), SecureRandom())) {}

 private:
  std::string Endpoint() const override { return WithPath(config().url, "/services/collector/event"); }
  // HEC takes up to 1 MB per request by default (max_content_length).
  BodyShape Shape() const override { return {"", "\n", "", 1000, 800 * 1024}; }

  std::string Item(const SinkRecord& record) const override {
    const auto millis = UnixNanos(record.event.timestamp) / 1000000;
    std::string item = "{\"time\":" + std::to_string(millis / 1000) + "." + std::to_string(1000 + millis % 1000).substr(1);
    item += ",\"host\":" + JsonString(host_);
    item += ",\"source\":" + JsonString(Option("source", "mcp-audit"));
    item += ",\"sourcetype\":" + JsonString(Option("sourcetype", "mcp:audit"));
    if (const std::string index = Option("index"); !index.empty()) item += ",\"index\":" + JsonString(index);
    item += ",\"event\":" + record.line + "}";
    return item;
  }

  std::vector<std::string> Headers(const std::string&) const override {
    std::vector<std::string> headers = {"Authorization: Splunk " + secret(), "Content-Type: application/json"};
    if (Acknowledged()) headers.push_back("X-Splunk-Request-Channel: " + channel_);
    return headers;
  }

  bool Acknowledged() const { return Option("ack") == "true"; }

  // With indexer acknowledgement the events count only once the indexers say
  // so: ask with the ackId until it is true (up to a minute).
  Status Confirm(const HttpResponse& response) override {
    if (!Acknowledged()) return {};
    const auto answer = ParseWithin(response.body, kDefaultMessageDepth);
    if (!answer.is_object() || !answer.contains("ackId"))
      return Fail(ErrorCode::kUnavailable, "HEC acknowledgement is on but the answer has no ackId: " + response.body);
    const std::string id = answer["ackId"].dump();
    const std::string body = "{\"acks\":[" + id + "]}";
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(std::chrono::milliseconds(200))) {
      const HttpResponse ack = PostTo(WithPath(config().url, "/services/collector/ack"), Headers(body), body);
      const auto acks = ParseWithin(ack.body, kDefaultMessageDepth);
      if (ack.status == 200 && acks.is_object() && acks.contains("acks") && acks["acks"].value(id, false)) return {};
      if (ack.status != 200 && ack.status != 0)
        return Fail(ErrorCode::kUnavailable, "HEC acknowledgement failed: HTTP " + std::to_string(ack.status));
    }
    return Fail(ErrorCode::kUnavailable, "the indexers did not acknowledge ackId " + id + " within a minute");
  }

  std::string host_;
  std::string channel_;
};

}  // namespace

Result<std::unique_ptr<Sink>> OpenSplunkSink(const SinkConfig& config) {
  auto token = ReadSinkSecret(config, true);
  if (!token) return std::unexpected(token.error());
  return std::make_unique<SplunkSink>(config, std::move(*token));
}

}  // namespace mcpaudit

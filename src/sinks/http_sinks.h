// The sinks that POST batches to a receiver, one file each behind HttpSink:
//   splunk   Splunk HTTP Event Collector (/services/collector/event), token auth,
//            time/host/source/sourcetype/index, indexer acknowledgement with ack = "true";
//   datadog  Datadog Logs intake v2 (/api/v2/logs), DD-API-KEY, ddsource/service/ddtags;
//   elastic  Elasticsearch / OpenSearch bulk API (/_bulk), Elastic Common Schema
//            fields, one document per record id (a record sent twice is stored once);
//   otlp     OpenTelemetry OTLP/HTTP logs, JSON encoding (/v1/logs), GenAI/MCP
//            semantic-convention attributes;
//   webhook  JSON batches to any URL, signed: HMAC-SHA256 over timestamp and body.
// And, not over HTTP but beside them:
//   syslog   RFC 5424 over udp://, tcp:// (octet counting) or tls:// (syslog_sink.cc).
#pragma once

#include <memory>

#include "mcpaudit/sink.h"

namespace mcpaudit {

[[nodiscard]] Result<std::unique_ptr<Sink>> OpenSplunkSink(const SinkConfig& config);
[[nodiscard]] Result<std::unique_ptr<Sink>> OpenDatadogSink(const SinkConfig& config);
[[nodiscard]] Result<std::unique_ptr<Sink>> OpenElasticSink(const SinkConfig& config);
[[nodiscard]] Result<std::unique_ptr<Sink>> OpenOtlpSink(const SinkConfig& config);
[[nodiscard]] Result<std::unique_ptr<Sink>> OpenWebhookSink(const SinkConfig& config);
[[nodiscard]] Result<std::unique_ptr<Sink>> OpenSyslogSink(const SinkConfig& config);

}  // namespace mcpaudit

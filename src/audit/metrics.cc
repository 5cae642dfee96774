#include "audit/metrics.h"

#include <functional>

namespace mcpaudit {
namespace {

// A label value as the format wants it: backslash, quote and line break escaped.
std::string LabelValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

class Writer {
 public:
  // One metric: its help and type lines, then a sample per label set.
  void Family(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void Sample(const char* name, uint64_t value, const std::string& sink = {}) {
    out_ += name;
    if (!sink.empty()) out_ += "{sink=\"" + LabelValue(sink) + "\"}";
    out_ += " " + std::to_string(value) + "\n";
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string PrometheusText(const PipelineCounters& pipeline, const std::vector<SinkMetrics>& sinks) {
  Writer w;
  const struct {
    const char* name;
    const char* help;
    uint64_t value;
  } counters[] = {
      {"mcpaudit_records_written_total", "Records this process appended to the audit journal.", pipeline.written},
      {"mcpaudit_records_dropped_total", "Records dropped because the queue was full (overflow policy drop).",
       pipeline.dropped},
      {"mcpaudit_records_refused_total", "Records refused: the disk below admin_space_left, or a failed write in "
                                         "durable mode.", pipeline.refused},
      {"mcpaudit_journal_write_failures_total", "Failed journal writes or syncs.", pipeline.failed},
      {"mcpaudit_journal_syncs_total", "fdatasync calls on the journal.", pipeline.syncs},
      {"mcpaudit_checkpoints_total", "Checkpoints written.", pipeline.checkpoints},
  };
  for (const auto& c : counters) {
    w.Family(c.name, "counter", c.help);
    w.Sample(c.name, c.value);
  }
  using Field = std::function<std::optional<uint64_t>(const SinkMetrics&)>;
  const struct {
    const char* name;
    const char* type;
    const char* help;
    Field value;
  } per_sink[] = {
      {"mcpaudit_sink_shipped_total", "counter", "Records the sink confirmed (or that were not for it).",
       [](const SinkMetrics& s) { return s.counters.shipped; }},
      {"mcpaudit_sink_failures_total", "counter", "Failed attempts to ship a batch (each retried).",
       [](const SinkMetrics& s) { return s.counters.failures; }},
      {"mcpaudit_sink_unreadable_total", "counter", "Journal lines that were not records, passed over.",
       [](const SinkMetrics& s) { return s.counters.unreadable; }},
      {"mcpaudit_sink_up", "gauge", "1 when the last attempt to ship succeeded, 0 while the sink is failing.",
       [](const SinkMetrics& s) { return s.counters.failing ? 0 : 1; }},
      {"mcpaudit_sink_backlog_bytes", "gauge", "Journal bytes the sink has not received yet.",
       [](const SinkMetrics& s) { return s.backlog_bytes; }},
  };
  for (const auto& metric : per_sink) {
    w.Family(metric.name, metric.type, metric.help);
    for (const auto& sink : sinks)
      if (auto value = metric.value(sink)) w.Sample(metric.name, *value, sink.name);
  }
  return w.Take();
}

}  // namespace mcpaudit

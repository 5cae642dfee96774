// What the audit system counts, in the Prometheus text format (0.0.4), for
// GET /metrics: records written, dropped, refused, failed writes, and for
// each sink what it shipped, how often it failed, whether it is up, and how
// far behind the journal it is.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mcpaudit/shipper.h"
#include "mcpaudit/pipeline.h"

namespace mcpaudit {

struct SinkMetrics {
  std::string name;
  ShipperCounters counters;
  std::optional<uint64_t> backlog_bytes;  // unknown right after a restart
};

std::string PrometheusText(const PipelineCounters& pipeline, const std::vector<SinkMetrics>& sinks);

}  // namespace mcpaudit

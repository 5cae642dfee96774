#include "audit/metrics.h"

#include <gtest/gtest.h>

namespace mcpaudit {
namespace {

TEST(MetricsTest, CountersAndEachSinkInThePrometheusTextFormat) {
  PipelineCounters pipeline;
  pipeline.written = 42;
  pipeline.dropped = 3;
  ShipperCounters up;
  up.shipped = 40;
  ShipperCounters down;
  down.failures = 7;
  down.failing = true;
  const std::string text = PrometheusText(pipeline, {{"sqlite", up, 0}, {"ware\"house", down, 9000}, {"new", {}, {}}});
  EXPECT_NE(text.find("# TYPE mcpaudit_records_written_total counter\nmcpaudit_records_written_total 42\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("\nmcpaudit_records_dropped_total 3\n"), std::string::npos);
  EXPECT_NE(text.find("\nmcpaudit_sink_shipped_total{sink=\"sqlite\"} 40\n"), std::string::npos);
  EXPECT_NE(text.find("\nmcpaudit_sink_up{sink=\"sqlite\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("\nmcpaudit_sink_up{sink=\"ware\\\"house\"} 0\n"), std::string::npos) << "label escaped";
  EXPECT_NE(text.find("\nmcpaudit_sink_failures_total{sink=\"ware\\\"house\"} 7\n"), std::string::npos);
  EXPECT_NE(text.find("\nmcpaudit_sink_backlog_bytes{sink=\"ware\\\"house\"} 9000\n"), std::string::npos);
  EXPECT_EQ(text.find("mcpaudit_sink_backlog_bytes{sink=\"new\"}"), std::string::npos)
      << "an unknown backlog is left out, not reported as 0";
  EXPECT_NE(text.find("# TYPE mcpaudit_sink_backlog_bytes gauge\n"), std::string::npos);
}

}  // namespace
}  // namespace mcpaudit

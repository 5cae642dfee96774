// The shippers a server runs, one per sink: what /metrics and /readyz say of
// them, and how a reload replaces them.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "audit/metrics.h"
#include "mcpaudit/shipper.h"
#include "mcpaudit/http_transport.h"
#include "mcpaudit/pipeline.h"
#include "mcpaudit/result.h"
#include "mcpaudit/sink.h"

namespace mcpaudit::cli {

class Shipping;

// What GET /readyz says: the journal is written, its disk has more than
// space_left free, and each sink ships or has no more than its budget to ship.
Readiness ReadinessOf(const Pipeline& pipeline, const PipelineOptions& audit,
                      const Shipping& shipping);

class Shipping {
 public:
  // Opens each sink and starts its shipper; fails on the first that cannot start.
  [[nodiscard]] static Result<std::unique_ptr<Shipping>> Start(std::filesystem::path journal_dir,
                                                               std::vector<SinkConfig> sinks);
  // Ships to `sinks` from now on: a sink that is new or changed starts anew
  // (from its cursor), one that is gone stops (shipping what the journal holds
  // first), one that is the same goes on. Every new sink is opened before any
  // is stopped: a sink that cannot open fails it all and changes nothing; one
  // that cannot start fails it all and the sinks that were stopped start again.
  // One call at a time.
  [[nodiscard]] Status Reconfigure(std::vector<SinkConfig> wanted);

  std::vector<SinkMetrics> Metrics() const;
  // For /readyz: per sink whether it is up or its backlog within its
  // ready_backlog_bytes, without its error (which may name hosts).
  nlohmann::json Readiness(bool& ready) const;
  // "  shipped to:    NAME URL" lines, passwords hidden.
  std::string Summary() const;

 private:
  struct Running {
    SinkConfig config;
    std::unique_ptr<Shipper> shipper;
  };
  explicit Shipping(std::filesystem::path journal_dir) : journal_dir_(std::move(journal_dir)) {}
  SinkMetrics MetricsOf(const Running& running) const;

  const std::filesystem::path journal_dir_;
  mutable std::mutex mutex_;
  std::vector<Running> running_;  // guarded by mutex_; a Running without a shipper is yet to start
};

}  // namespace mcpaudit::cli

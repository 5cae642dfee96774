// The shippers a server runs, one per sink.
#include "cli/shipping.h"

#include <algorithm>

#include "audit/disk_space.h"
#include "base/ops_log.h"

namespace mcpaudit::cli {

Result<std::unique_ptr<Shipping>> Shipping::Start(std::filesystem::path journal_dir,
                                                  std::vector<SinkConfig> sinks) {
  std::unique_ptr<Shipping> shipping(new Shipping(std::move(journal_dir)));
  if (Status started = shipping->Reconfigure(std::move(sinks)); !started)
    return std::unexpected(started.error());
  return shipping;
}

Status Shipping::Reconfigure(std::vector<SinkConfig> wanted) {
  for (SinkConfig& config : wanted)
    if (config.dead_letter.empty()) config.dead_letter = DeadLetterPath(journal_dir_, config.name);
  // Open the sinks that are new or changed (this checks their URL and secret).
  std::vector<std::unique_ptr<Sink>> opened(wanted.size());
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < wanted.size(); ++i) {
      const bool kept =
          std::ranges::any_of(running_, [&](const Running& r) { return r.config == wanted[i]; });
      if (kept) continue;
      auto sink = OpenSink(wanted[i]);
      if (!sink) return std::unexpected(sink.error());
      opened[i] = std::move(*sink);
    }
  }
  // Stop those that are gone or changed (two shippers never share a cursor):
  // each ships what the journal holds first. Those that stay keep shipping.
  std::vector<Running> stopping;
  {
    std::lock_guard lock(mutex_);
    std::vector<Running> staying;
    for (Running& running : running_) {
      const bool stays =
          std::ranges::any_of(wanted, [&](const SinkConfig& w) { return w == running.config; });
      (stays ? staying : stopping).push_back(std::move(running));
    }
    running_ = std::move(staying);
  }
  std::vector<SinkConfig> stopped;
  for (Running& running : stopping) stopped.push_back(std::move(running.config));
  stopping.clear();
  // Start the new ones; if one cannot start, the old set ships again.
  std::vector<Running> started;
  Status status;
  for (size_t i = 0; i < wanted.size() && status; ++i) {
    if (!opened[i]) continue;  // it stayed
    auto shipper =
        Shipper::Start({.journal_dir = journal_dir_, .name = wanted[i].name}, std::move(opened[i]));
    if (!shipper) {
      status = std::unexpected(shipper.error());
      break;
    }
    started.push_back({wanted[i], std::move(*shipper)});
  }
  if (!status) {
    started.clear();  // outside the lock: each ships what it read first
    std::vector<Running> restored;
    for (SinkConfig& config : stopped) {
      auto sink = OpenSink(config);
      auto shipper = sink ? Shipper::Start({.journal_dir = journal_dir_, .name = config.name},
                                           std::move(*sink))
                          : std::unexpected(sink.error());
      if (!shipper) {
        OpsLog().error("sink {} could not start again: {}", config.name, shipper.error().message);
        continue;
      }
      restored.push_back({std::move(config), std::move(*shipper)});
    }
    std::lock_guard lock(mutex_);
    for (Running& running : restored) running_.push_back(std::move(running));
    return status;
  }
  std::lock_guard lock(mutex_);
  for (Running& running : started) running_.push_back(std::move(running));
  // In the order configured.
  std::ranges::sort(running_, {}, [&](const Running& r) {
    return std::ranges::find(wanted, r.config) - wanted.begin();
  });
  return {};
}

SinkMetrics Shipping::MetricsOf(const Running& running) const {
  SinkMetrics sink{running.config.name, running.shipper->counters(), std::nullopt};
  if (sink.counters.position_known)
    sink.backlog_bytes =
        JournalBytesAfter(journal_dir_, sink.counters.segment, sink.counters.offset);
  return sink;
}

std::vector<SinkMetrics> Shipping::Metrics() const {
  std::lock_guard lock(mutex_);
  std::vector<SinkMetrics> sinks;
  for (const Running& running : running_) sinks.push_back(MetricsOf(running));
  return sinks;
}

nlohmann::json Shipping::Readiness(bool& ready) const {
  std::lock_guard lock(mutex_);
  nlohmann::json out = nlohmann::json::object();
  for (const Running& running : running_) {
    const SinkMetrics sink = MetricsOf(running);
    const uint64_t budget = running.config.ready_backlog_bytes;
    // Right after a start the backlog is unknown until the shipper has read its segment once.
    const bool within = sink.backlog_bytes && *sink.backlog_bytes <= budget;
    const bool ok = !sink.counters.failing || within;
    nlohmann::json check = {
        {"ok", ok}, {"failing", sink.counters.failing}, {"ready_backlog_bytes", budget}};
    if (sink.backlog_bytes) check["backlog_bytes"] = *sink.backlog_bytes;
    out[sink.name] = std::move(check);
    ready = ready && ok;
  }
  return out;
}

Readiness ReadinessOf(const Pipeline& pipeline, const PipelineOptions& audit,
                      const Shipping& shipping) {
  Readiness readiness;
  nlohmann::json checks;
  const bool journal_ok = pipeline.Writable().has_value() && pipeline.Ready().has_value();
  checks["journal"] = {{"ok", journal_ok}};
  auto free = FreeBytesOf(audit.directory);
  const bool disk_ok = free && *free >= audit.space_left_bytes;
  checks["disk"] = {{"ok", disk_ok},
                    {"space_left_bytes", audit.space_left_bytes},
                    {"admin_space_left_bytes", audit.admin_space_left_bytes}};
  if (free) checks["disk"]["free_bytes"] = *free;
  readiness.ready = journal_ok && disk_ok;
  checks["sinks"] = shipping.Readiness(readiness.ready);
  readiness.body = nlohmann::json{{"ready", readiness.ready}, {"checks", checks}}.dump();
  return readiness;
}

std::string Shipping::Summary() const {
  std::lock_guard lock(mutex_);
  std::string lines;
  for (const Running& running : running_)
    lines += "  shipped to:    " + running.config.name + " " + RedactUrl(running.config.url) + "\n";
  return lines;
}

}  // namespace mcpaudit::cli

// The shippers a server runs, one per sink.
#include "cli/shipping.h"

#include <algorithm>

#include "audit/disk_space.h"

namespace mcpaudit::cli {

Result<std::unique_ptr<Shipping>> Shipping::Start(std::filesystem::path journal_dir,
                                                  std::vector<SinkConfig> sinks) {
  std::unique_ptr<Shipping> shipping(new Shipping(std::move(journal_dir)));
  if (Status started = shipping->Reconfigure(std::move(sinks)); !started)
    return std::unexpected(started.error());
  return shipping;
}

Status Shipping::Reconfigure(std::vector<SinkConfig> sinks) {
  std::vector<Running> wanted;
  for (SinkConfig& config : sinks) {
    if (config.dead_letter.empty()) config.dead_letter = DeadLetterPath(journal_dir_, config.name);
    wanted.push_back({std::move(config), nullptr});
  }
  // Open the sinks that are new or changed (this checks their URL and secret).
  std::vector<std::unique_ptr<Sink>> opened(wanted.size());
  std::vector<bool> kept(wanted.size(), false);
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < wanted.size(); ++i)
      kept[i] = std::ranges::any_of(running_,
                                    [&](const Running& r) { return r.config == wanted[i].config; });
  }
  for (size_t i = 0; i < wanted.size(); ++i) {
    if (kept[i]) continue;
    auto sink = OpenSink(wanted[i].config);
    if (!sink) return std::unexpected(sink.error());
    opened[i] = std::move(*sink);
  }
  // Stop those that are gone or changed (two shippers never share a cursor),
  // outside the lock: each ships what the journal holds first.
  std::vector<Running> stopping;
  {
    std::lock_guard lock(mutex_);
    for (Running& running : running_) {
      auto same = std::ranges::find_if(
          wanted, [&](const Running& w) { return w.config == running.config; });
      if (same != wanted.end()) {
        same->shipper = std::move(running.shipper);
      } else {
        stopping.push_back(std::move(running));
      }
    }
    running_.clear();
  }
  stopping.clear();
  Status status;
  for (size_t i = 0; i < wanted.size(); ++i) {
    Running& running = wanted[i];
    if (running.shipper) continue;
    auto shipper = Shipper::Start({.journal_dir = journal_dir_, .name = running.config.name},
                                  std::move(opened[i]));
    if (!shipper) {
      status = std::unexpected(shipper.error());
      continue;
    }
    running.shipper = std::move(*shipper);
  }
  std::erase_if(wanted, [](const Running& r) { return r.shipper == nullptr; });
  std::lock_guard lock(mutex_);
  running_ = std::move(wanted);
  return status;
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

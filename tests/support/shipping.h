// A journal written as `serve` writes it, and a Shipper that looks at it
// often: what the sink tests feed their sinks from.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "mcpaudit/shipper.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/pipeline.h"
#include "support/journal_files.h"

namespace mcpaudit::testing {

inline std::unique_ptr<Pipeline> OpenJournal(const std::filesystem::path& dir) {
  PipelineOptions options;
  options.directory = dir;
  options.stream = "s1";
  options.max_segment_bytes = 64 * 1024;  // several segments
  options.space_left_bytes = options.admin_space_left_bytes = 0;
  auto pipeline = Pipeline::Open(options);
  EXPECT_TRUE(pipeline.has_value()) << pipeline.error().message;
  return pipeline ? std::move(*pipeline) : nullptr;
}

// Logs one tool call of `user` (tenant `tenant`) and returns its id.
inline std::string LogCall(Pipeline& pipeline, nlohmann::json params, const std::string& user = "alice",
                           const std::string& tenant = "acme") {
  AuditEvent e;
  e.timestamp = std::chrono::system_clock::now();
  e.id = NewUuidV7(e.timestamp, SecureRandom());
  e.tool = "catalog_search";
  e.user.id = user;
  e.user.email = user + "@example.com";
  e.user.tenant_id = tenant;
  e.params = std::move(params);
  EXPECT_TRUE(pipeline.Log(e).has_value());
  return e.id;
}

// Every line of the journal, in order.
inline std::vector<std::string> JournalLines(const std::filesystem::path& dir) {
  std::vector<std::string> lines;
  for (const auto& file : SegmentPaths(dir))
    for (auto& line : ReadLines(file)) lines.push_back(std::move(line));
  return lines;
}

inline ShipperOptions FastShipping(const std::filesystem::path& dir) {
  using namespace std::chrono_literals;
  ShipperOptions options;
  options.journal_dir = dir;
  options.name = "db";
  options.batch_records = 100;
  options.poll_interval = 20ms;
  options.min_backoff = 20ms;
  options.max_backoff = 300ms;
  options.drain_timeout = 0ms;
  return options;
}

}  // namespace mcpaudit::testing

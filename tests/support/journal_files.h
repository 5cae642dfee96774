// Reading and rewriting journal segment files line by line, as a test (or an
// attacker) would.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "audit/journal_format.h"
#include "base/crypto.h"
#include "mcpaudit/pipeline.h"

namespace mcpaudit::testing {

// A key pair saved as <dir>/k.key (0600) and <dir>/k.pub; returns the public half.
inline SigningKey SaveTestKeys(const SigningKey& key, const std::filesystem::path& dir) {
  EXPECT_TRUE(key.Save((dir / "k.key").string(), (dir / "k.pub").string()).has_value());
  return *SigningKey::LoadPublic((dir / "k.pub").string());
}

// A journal of stream "s" in small segments (~4 KiB) with a checkpoint every 5
// records, signed with <key_dir>/k.key, without disk-space thresholds.
inline PipelineOptions SmallSignedJournal(const std::filesystem::path& journal, const std::filesystem::path& key_dir) {
  PipelineOptions options;
  options.directory = journal;
  options.stream = "s";
  options.checkpoint_every_records = 5;
  options.max_segment_bytes = 4096;
  options.signing_key = key_dir / "k.key";
  options.admin_space_left_bytes = options.space_left_bytes = 0;
  return options;
}

inline std::vector<std::filesystem::path> SegmentPaths(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (journal::IsSegmentName(entry.path().filename().string())) out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

inline std::vector<std::string> ReadLines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline void WriteLines(const std::filesystem::path& file, const std::vector<std::string>& lines) {
  std::ofstream out(file, std::ios::trunc);
  for (const auto& line : lines) out << line << '\n';
}

// Every record of the journal, parsed, in file order.
inline std::vector<nlohmann::json> JournalRecords(const std::filesystem::path& dir) {
  std::vector<nlohmann::json> out;
  for (const auto& file : SegmentPaths(dir))
    for (const auto& line : ReadLines(file)) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace mcpaudit::testing

// Reading and rewriting journal segment files line by line, as a test (or an
// attacker) would.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/journal_format.h"

namespace mcpaudit::testing {

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

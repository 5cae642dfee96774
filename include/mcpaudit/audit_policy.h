// How much of a tool call the record keeps, per tool (DESIGN.md §6). Rules are
// tried in order and the first whose pattern matches the tool name wins, as in
// Kubernetes audit policy.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mcpaudit/result.h"

namespace mcpaudit {

enum class AuditLevel {
  kNone,      // successful calls leave no record (refusals and failures always do)
  kMetadata,  // who, what, when, outcome, resources — no parameters
  kRequest,   // and the (redacted) parameters: the default
  kFull,      // and a summary of the result (details.result, at most 1 KiB of text)
};
Result<AuditLevel> ParseAuditLevel(std::string_view text);
std::string_view ToString(AuditLevel level);

struct LevelRule {
  std::vector<std::string> tools;  // glob patterns: "catalog_*", "*"
  AuditLevel level = AuditLevel::kRequest;
};

// Classification (DESIGN.md §6): calls of matching tools, or calls whose
// results touched matching resource URNs, are marked with a sensitivity and
// PHI, and may require an access reason (HIPAA): without one the call is
// refused before it runs (tool rules) or its result withheld (resource rules).
// What a caller is told when a call needs an access reason it did not give.
inline constexpr const char* kAccessReasonMessage =
    "Access reason required: this call touches protected data; give one in the request's "
    "_meta.access_reason (e.g. \"treatment\") or, over HTTP, the X-Access-Reason header";

struct ClassifyRule {
  std::vector<std::string> tools;      // glob patterns on the tool name
  std::vector<std::string> resources;  // glob patterns on the resource URNs a result names
  std::string sensitivity;             // e.g. "restricted"; empty: leave as is
  bool phi = false;
  bool require_access_reason = false;
};

// Sampling of high-volume tools: 1 in `keep_one_in` successful calls is
// recorded; failures and refusals always are, and `sample_summary` records
// count what was skipped.
struct SampleRule {
  std::vector<std::string> tools;  // glob patterns
  uint64_t keep_one_in = 1;
};

struct AuditPolicy {
  std::vector<LevelRule> levels;
  AuditLevel default_level = AuditLevel::kRequest;
  std::vector<ClassifyRule> classify;
  std::vector<SampleRule> sampling;

  AuditLevel LevelFor(std::string_view tool) const;
  bool MatchesTool(const ClassifyRule& rule, std::string_view tool) const;
  bool MatchesResources(const ClassifyRule& rule, const std::vector<std::string>& resources) const;
};

// What a record at level "full" keeps of a tools/call result: at most 1 KiB of
// its text content, with the full size.
nlohmann::json ResultSummary(const nlohmann::json& result);

// Shell-style glob: '*' any run of characters, '?' one character.
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace mcpaudit

// How much of a tool call the record keeps, per tool (DESIGN.md §6). Rules are
// tried in order and the first whose pattern matches the tool name wins, as in
// Kubernetes audit policy.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
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

  bool operator==(const LevelRule&) const = default;
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

  bool operator==(const ClassifyRule&) const = default;
};

// Sampling of high-volume tools: 1 in `keep_one_in` successful calls is
// recorded; failures and refusals always are, and `sample_summary` records
// count what was skipped.
struct SampleRule {
  std::vector<std::string> tools;  // glob patterns
  uint64_t keep_one_in = 1;

  bool operator==(const SampleRule&) const = default;
};

// Which tools a caller's roles may call (least privilege). Once any rule is
// configured, a call is allowed only when a rule for one of the caller's roles
// allows the tool and no rule for them denies it; others are refused before
// they run (or reach the upstream) and recorded as denied / tool_not_allowed.
struct AccessRule {
  std::vector<std::string> roles;  // glob patterns on the caller's roles; "*": every caller
  std::vector<std::string> allow;  // tool name patterns
  std::vector<std::string> deny;   // tool name patterns; deny wins

  bool operator==(const AccessRule&) const = default;
};

struct AuditPolicy {
  std::vector<LevelRule> levels;
  AuditLevel default_level = AuditLevel::kRequest;
  std::vector<ClassifyRule> classify;
  std::vector<SampleRule> sampling;
  std::vector<AccessRule> access;

  // Whether a caller with `roles` may call `tool` (always, without access rules).
  bool Permits(const std::vector<std::string>& roles, std::string_view tool) const;

  AuditLevel LevelFor(std::string_view tool) const;
  bool MatchesTool(const ClassifyRule& rule, std::string_view tool) const;
  bool MatchesResources(const ClassifyRule& rule, const std::vector<std::string>& resources) const;

  bool operator==(const AuditPolicy&) const = default;
};

// What a record at level "full" keeps of a tools/call result: at most 1 KiB of
// its text content, with the full size.
nlohmann::json ResultSummary(const nlohmann::json& result);

// 1-in-N sampling of successful calls, per tool: which to leave out of the
// log, and how many were left out since the last `sample_summary`. Thread-safe.
class CallSampler {
 public:
  explicit CallSampler(std::vector<SampleRule> rules = {})
      : any_rule_(!rules.empty()), rules_(std::move(rules)) {}
  // Samples by these rules from now on; what was left out is still counted.
  void SetRules(std::vector<SampleRule> rules);
  // For a successful call of `tool`: true when it is left out (and counted).
  bool Skip(std::string_view tool);
  // How many calls of `tool` were left out since the last time this was asked.
  uint64_t TakeSkipped(std::string_view tool);
  // The tools with calls left out that no summary has told yet.
  std::vector<std::string> ToolsWithSkipped() const;

 private:
  struct Count {
    uint64_t seen = 0;
    uint64_t skipped = 0;  // since the last sample_summary
  };
  std::atomic<bool> any_rule_;  // without rules, no call waits for the mutex
  mutable std::mutex mutex_;
  std::vector<SampleRule> rules_;  // guarded by mutex_
  std::map<std::string, Count, std::less<>> counts_;  // guarded by mutex_
};

// The refusal of a tool the caller's roles may not call.
inline constexpr const char* kToolNotAllowedReason = "tool_not_allowed";
std::string ToolNotAllowedMessage(std::string_view tool);

// Shell-style glob: '*' any run of characters, '?' one character.
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace mcpaudit

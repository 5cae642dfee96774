#include "mcpaudit/audit_policy.h"

#include <algorithm>

namespace mcpaudit {

Result<AuditLevel> ParseAuditLevel(std::string_view text) {
  if (text == "none") return AuditLevel::kNone;
  if (text == "metadata") return AuditLevel::kMetadata;
  if (text == "request") return AuditLevel::kRequest;
  if (text == "full") return AuditLevel::kFull;
  return Fail(ErrorCode::kInvalidArgument,
              "unknown level '" + std::string(text) + "' (expected none, metadata, request, full)");
}

std::string_view ToString(AuditLevel level) {
  switch (level) {
    case AuditLevel::kNone: return "none";
    case AuditLevel::kMetadata: return "metadata";
    case AuditLevel::kRequest: return "request";
    case AuditLevel::kFull: return "full";
  }
  return "request";
}

nlohmann::json ResultSummary(const nlohmann::json& result) {
  constexpr size_t kMax = 1024;
  std::string text;
  if (auto content = result.find("content"); content != result.end() && content->is_array()) {
    for (const auto& item : *content)
      if (item.is_object() && item.value("type", "") == "text" && item["text"].is_string())
        text += item["text"].get<std::string>();
  }
  nlohmann::json summary = {{"bytes", text.size()}};
  if (text.size() > kMax) {
    text.resize(kMax);
    summary["truncated"] = true;
  }
  summary["text"] = text;
  return summary;
}

bool AuditPolicy::Permits(const std::vector<std::string>& roles, std::string_view tool) const {
  if (access.empty()) return true;
  auto any = [](const std::vector<std::string>& patterns, std::string_view text) {
    return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return GlobMatch(p, text); });
  };
  bool allowed = false;
  for (const AccessRule& rule : access) {
    // "*" names every caller, one without roles too.
    const bool applies = std::find(rule.roles.begin(), rule.roles.end(), "*") != rule.roles.end() ||
                         std::any_of(roles.begin(), roles.end(), [&](const std::string& role) { return any(rule.roles, role); });
    if (!applies) continue;
    if (any(rule.deny, tool)) return false;
    allowed = allowed || any(rule.allow, tool);
  }
  return allowed;
}

void CallSampler::SetRules(std::vector<SampleRule> rules) {
  std::lock_guard lock(mutex_);
  any_rule_.store(!rules.empty(), std::memory_order_relaxed);
  rules_ = std::move(rules);
}

bool CallSampler::Skip(std::string_view tool) {
  if (!any_rule_.load(std::memory_order_relaxed)) return false;
  std::lock_guard lock(mutex_);
  const SampleRule* rule = nullptr;
  for (const auto& candidate : rules_)
    for (const auto& pattern : candidate.tools)
      if (!rule && GlobMatch(pattern, tool)) rule = &candidate;
  if (!rule || rule->keep_one_in <= 1) return false;
  Count& count = counts_[std::string(tool)];
  if (count.seen++ % rule->keep_one_in == 0) return false;
  ++count.skipped;
  return true;
}

uint64_t CallSampler::TakeSkipped(std::string_view tool) {
  std::lock_guard lock(mutex_);
  auto it = counts_.find(tool);
  return it == counts_.end() ? 0 : std::exchange(it->second.skipped, 0);
}

std::vector<std::string> CallSampler::ToolsWithSkipped() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> tools;
  for (const auto& [tool, count] : counts_)
    if (count.skipped > 0) tools.push_back(tool);
  return tools;
}

std::string ToolNotAllowedMessage(std::string_view tool) {
  return "Forbidden: the caller's roles do not allow the tool " + std::string(tool) +
         " ([[policy.access]] in the configuration)";
}

bool GlobMatch(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p, ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

AuditLevel AuditPolicy::LevelFor(std::string_view tool) const {
  for (const auto& rule : levels)
    for (const auto& pattern : rule.tools)
      if (GlobMatch(pattern, tool)) return rule.level;
  return default_level;
}

bool AuditPolicy::MatchesTool(const ClassifyRule& rule, std::string_view tool) const {
  for (const auto& pattern : rule.tools)
    if (GlobMatch(pattern, tool)) return true;
  return false;
}

bool AuditPolicy::MatchesResources(const ClassifyRule& rule, const std::vector<std::string>& resources) const {
  for (const auto& pattern : rule.resources)
    for (const auto& resource : resources)
      if (GlobMatch(pattern, resource)) return true;
  return false;
}

}  // namespace mcpaudit

#include "mcpaudit/rate_limit.h"

#include <algorithm>
#include <cmath>

#include "mcp/modern.h"

namespace mcpaudit {

RateLimiter::RateLimiter(std::vector<RateLimitRule> rules, const Clock* clock)
    : any_rule_(!rules.empty()), rules_(std::move(rules)), clock_(clock ? *clock : system_clock_) {}

void RateLimiter::SetRules(std::vector<RateLimitRule> rules) {
  std::lock_guard lock(mutex_);
  buckets_.clear();  // they point into the old rules
  any_rule_.store(!rules.empty(), std::memory_order_relaxed);
  rules_ = std::move(rules);
}

std::optional<Refusal> RateLimiter::Before(RequestContext& ctx, const ToolCall& call) {
  if (!any_rule_.load(std::memory_order_relaxed)) return std::nullopt;
  std::lock_guard lock(mutex_);
  size_t index = 0;
  const RateLimitRule* rule = nullptr;
  for (; index < rules_.size() && !rule; ++index) {
    for (const auto& pattern : rules_[index].tools)
      if (GlobMatch(pattern, call.tool)) rule = &rules_[index];
  }
  if (!rule) return std::nullopt;
  const bool per_tenant = rule->per == RateLimitRule::Per::kTenant;
  const std::string& who = per_tenant ? ctx.identity.tenant_id : ctx.identity.user_id;
  const std::string key = std::to_string(index) + (per_tenant ? "/tenant/" : "/user/") + who;
  const auto now = clock_.Monotonic();
  if (now - swept_ > std::chrono::seconds(10)) {
    swept_ = now;
    std::erase_if(buckets_, [&](const auto& entry) {
      const Bucket& idle = entry.second;
      const double refilled =
          std::chrono::duration<double>(now - idle.updated).count() * idle.rule->per_second;
      return idle.tokens + refilled >= idle.rule->burst;
    });
  }
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{rule->burst, now, rule});
  Bucket& bucket = it->second;
  const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
  bucket.tokens = std::min(rule->burst, bucket.tokens + elapsed * rule->per_second);
  bucket.updated = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return std::nullopt;
  }
  const auto wait_ms = static_cast<long>(std::ceil((1 - bucket.tokens) / rule->per_second * 1000));
  return Refusal{
      modern::IsVersion(ctx.protocol_version) ? kRateLimitedModernCode : kRateLimitedCode,
      "Rate limit exceeded for " + std::string(per_tenant ? "tenant '" : "user '") + who +
          "' on '" + std::string(call.tool) + "': retry in " + std::to_string(wait_ms) + " ms",
      "rate_limited"};
}

size_t RateLimiter::buckets() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

}  // namespace mcpaudit

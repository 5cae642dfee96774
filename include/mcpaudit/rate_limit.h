// Rate limiting per user or per tenant, per class of tools: a token bucket for
// each (rule, user or tenant). A call over the limit is refused before its tool
// runs: the client gets a JSON-RPC error saying when to retry, the record says
// `denied` with reason `rate_limited`.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "mcpaudit/clock.h"
#include "mcpaudit/toolkit.h"

namespace mcpaudit {

inline constexpr int kRateLimitedCode = -32029;  // server-defined JSON-RPC error
// The same for 2026-07-28 requests: that revision reserves -32020..-32099 for its own codes.
inline constexpr int kRateLimitedModernCode = -31029;

struct RateLimitRule {
  std::vector<std::string> tools = {"*"};  // glob patterns; the first matching rule applies
  enum class Per { kUser, kTenant } per = Per::kUser;
  double per_second = 10;  // tokens added each second
  double burst = 20;       // the bucket's size

  bool operator==(const RateLimitRule&) const = default;
};

class RateLimiter final : public Middleware {
 public:
  // `clock` must outlive the limiter; null: the system clock.
  explicit RateLimiter(std::vector<RateLimitRule> rules, const Clock* clock = nullptr);
  std::optional<Refusal> Before(RequestContext& ctx, const ToolCall& call) override;
  // Limits by these rules from now on; every caller starts with a full bucket.
  void SetRules(std::vector<RateLimitRule> rules);
  // How many callers' buckets it holds now (those that filled up again are dropped).
  size_t buckets() const;

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point updated;
    const RateLimitRule* rule;
  };
  std::atomic<bool> any_rule_;  // without rules, no call waits for the mutex
  std::vector<RateLimitRule> rules_;  // guarded by mutex_
  SystemClock system_clock_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  // Guarded by mutex_; "rule index / per / name". A bucket that has filled up
  // again is the same as none, and is dropped by the next sweep: the map holds
  // only the callers of the last few refill periods.
  std::map<std::string, Bucket> buckets_;
  std::chrono::steady_clock::time_point swept_{};  // guarded by mutex_
};

}  // namespace mcpaudit

// What SIGHUP (and `mcp-audit reload`) changes in a running server: who may
// call (API keys, JWT), the policy, the rate limits and the sinks. Calls in
// flight finish under the settings they began with; a configuration that does
// not check is refused and the old one stays; each reload is a record.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "cli/config.h"
#include "cli/shipping.h"
#include "mcpaudit/auth.h"
#include "mcpaudit/pipeline.h"
#include "mcpaudit/rate_limit.h"
#include "mcpaudit/toolkit.h"

namespace mcpaudit::cli {

// An authenticator that a reload replaces; a request is checked by the one
// current when it arrives.
class SwappableAuthenticator final : public Authenticator {
 public:
  explicit SwappableAuthenticator(std::shared_ptr<const Authenticator> first)
      : current_(std::move(first)) {}
  std::expected<Identity, AuthFailure> Authenticate(const Credentials& credentials) const override {
    return current_.load()->Authenticate(credentials);
  }
  void Set(std::shared_ptr<const Authenticator> next) { current_.store(std::move(next)); }

 private:
  std::atomic<std::shared_ptr<const Authenticator>> current_;
};

// The parts of a running server a reload reaches.
struct LiveSettings {
  Pipeline& pipeline;
  AuditServer server;
  Shipping& shipping;
  // Null: callers are not authenticated, or by a key made for this run
  // (--dev-api-key); [auth] then takes a restart.
  std::shared_ptr<SwappableAuthenticator> authenticator;
  // Null: a proxy, whose policy and rate limits take a restart.
  Toolkit* toolkit = nullptr;
  std::shared_ptr<RateLimiter> limiter;
  // What the toolkit and the limiter run with now.
  AuditPolicy policy;
  std::vector<RateLimitRule> rate_limits;
  // Tells the clients their tools' list changed, after a new policy (none: no server yet).
  std::function<void()> tools_changed;
};

// Applies `next` (the file read again, the flags applied) to `live` and
// records `config_reload`; a `next` that failed to load, or whose sinks cannot
// open or start, changes nothing and is recorded as a failure. What only a
// restart changes (compared with `started`, the configuration the server
// started with: the listener, the journal, the toolkit, redaction, [http]
// limits) is named in the record and the log.
Status Reload(LiveSettings& live, const Config& started, Result<Config> next,
              const std::string& file);

}  // namespace mcpaudit::cli

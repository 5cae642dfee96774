// What SIGHUP (and `mcp-audit reload`) changes in a running server.
#include "cli/reload.h"

#include <fstream>
#include <iterator>

#include "base/crypto.h"
#include "base/ops_log.h"
#include "mcpaudit/clock.h"

namespace mcpaudit::cli {
namespace {

// What differs between the configuration the server started with and `next`
// that a running server cannot take.
std::vector<std::string> NeedingARestart(const Config& started, const Config& next,
                                         bool has_toolkit) {
  std::vector<std::string> out;
  auto differs = [&](bool changed, const char* what) {
    if (changed) out.push_back(what);
  };
  const PipelineOptions& was = started.audit;
  const PipelineOptions& now = next.audit;
  differs(started.listen != next.listen, "listen");
  differs(started.toolkit != next.toolkit, "toolkit");
  differs(started.user != next.user, "user");
  differs(started.max_json_depth != next.max_json_depth, "max_json_depth");
  differs(started.request_state_key_file != next.request_state_key_file, "request_state_key_file");
  differs(was.directory != now.directory || was.mode != now.mode || was.stream != now.stream ||
              was.signing_key != now.signing_key || was.overflow != now.overflow ||
              was.queue_capacity != now.queue_capacity ||
              was.flush_interval != now.flush_interval ||
              was.max_segment_bytes != now.max_segment_bytes ||
              was.max_segment_age != now.max_segment_age ||
              was.checkpoint_every_records != now.checkpoint_every_records ||
              was.checkpoint_every != now.checkpoint_every || was.erasable != now.erasable ||
              was.space_left_bytes != now.space_left_bytes ||
              was.admin_space_left_bytes != now.admin_space_left_bytes ||
              was.admin_space_left_action != now.admin_space_left_action,
          "audit");
  differs(was.origin != now.origin || was.key_name != now.key_name || was.key_epoch != now.key_epoch ||
              was.upcoming_keys != now.upcoming_keys,
          "integrity");
  differs(started.http.path != next.http.path ||
              started.http.allowed_hosts != next.http.allowed_hosts ||
              started.http.allowed_origins != next.http.allowed_origins ||
              started.http.trusted_proxies != next.http.trusted_proxies ||
              started.http.max_body_bytes != next.http.max_body_bytes ||
              started.http.stateless != next.http.stateless,
          "http");
  differs(!(started.redaction == next.redaction), "policy.redaction");
  differs(started.upstream.url != next.upstream.url, "upstream");
  differs(!has_toolkit && !(started.policy == next.policy), "policy");
  differs(!has_toolkit && started.rate_limits != next.rate_limits, "rate_limits");
  return out;
}

std::string FileDigest(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  const std::string content((std::istreambuf_iterator<char>(in)), {});
  return Sha256Hex({content});
}

void RecordReload(LiveSettings& live, const std::string& file, const Status& status,
                  nlohmann::json details) {
  AuditEvent event;
  event.timestamp = std::chrono::system_clock::now();
  event.id = NewUuidV7(event.timestamp, SecureRandom());
  event.event_type = "config_reload";
  event.server = live.server;
  details["config"] = file;
  if (!file.empty()) details["sha256"] = FileDigest(file);
  event.details = std::move(details);
  if (!status) {
    event.outcome = Outcome::kFailure;
    event.error = AuditError{0, status.error().message, "config_refused"};
  }
  if (Status logged = live.pipeline.Log(event); !logged)
    OpsLog().error("reload: its record was not written: {}", logged.error().message);
}

}  // namespace

Status Reload(LiveSettings& live, const Config& started, Result<Config> next,
              const std::string& file) {
  if (!next) {
    OpsLog().error("reload refused, the running configuration stays: {}", next.error().message);
    RecordReload(live, file, std::unexpected(next.error()), nlohmann::json::object());
    return std::unexpected(next.error());
  }
  // Who may call: a server that authenticates by [auth] takes the new [auth];
  // turning authentication on or off takes a restart.
  const bool had_auth = live.authenticator != nullptr;
  const bool has_auth = next->http.authenticator != nullptr;
  std::vector<std::string> restart = NeedingARestart(started, *next, live.toolkit != nullptr);
  if (had_auth != has_auth) restart.push_back("auth");
  // Sinks first: they are the part that can still fail (a sink that cannot
  // open or start), and then nothing has changed.
  if (Status shipped = live.shipping.Reconfigure(SinksOrDefault(*next)); !shipped) {
    OpsLog().error("reload refused, the running configuration stays: {}", shipped.error().message);
    RecordReload(live, file, shipped, nlohmann::json::object());
    return shipped;
  }
  nlohmann::json applied = {"sinks"};
  if (had_auth && has_auth) {
    live.authenticator->Set(next->http.authenticator);
    applied.push_back("auth");
  }
  if (live.toolkit) {
    // Only what changed: a new rule set refills every caller's bucket.
    if (!(live.policy == next->policy)) {
      live.toolkit->SetPolicy(next->policy);
      live.policy = next->policy;
      applied.push_back("policy");
      if (live.tools_changed) live.tools_changed();  // the roles may see other tools now
    }
    if (live.rate_limits != next->rate_limits) {
      live.limiter->SetRules(next->rate_limits);
      live.rate_limits = next->rate_limits;
      applied.push_back("rate_limits");
    }
  }
  if (!restart.empty())
    OpsLog().warn("reload: these settings differ from the start and take effect at the next: {}",
                  nlohmann::json(restart).dump());
  OpsLog().info("reload: {} applied from {}", applied.dump(), file);
  RecordReload(live, file, {}, {{"applied", applied}, {"restart_needed", restart}});
  return {};
}

}  // namespace mcpaudit::cli

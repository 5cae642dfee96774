// What SIGHUP (and `mcp-audit reload`) changes in a running server.
#include "cli/reload.h"

#include <fstream>
#include <iterator>

#include "base/crypto.h"
#include "base/ops_log.h"
#include "mcpaudit/clock.h"

namespace mcpaudit::cli {
namespace {

// What differs between two configurations that a running server cannot take.
std::vector<std::string> NeedingARestart(const Config& was, const Config& next, bool has_toolkit) {
  std::vector<std::string> out;
  auto differs = [&](bool changed, const char* what) {
    if (changed) out.push_back(what);
  };
  differs(was.listen != next.listen, "listen");
  differs(was.toolkit != next.toolkit, "toolkit");
  differs(was.user != next.user, "user");
  differs(was.max_json_depth != next.max_json_depth, "max_json_depth");
  differs(was.audit.directory != next.audit.directory, "audit.dir");
  differs(was.audit.mode != next.audit.mode, "audit.mode");
  differs(was.audit.stream != next.audit.stream, "audit.stream");
  differs(was.audit.signing_key != next.audit.signing_key, "audit.signing_key");
  differs(was.redaction.key_patterns != next.redaction.key_patterns ||
              was.redaction.mode != next.redaction.mode ||
              was.redaction.pointers.size() != next.redaction.pointers.size() ||
              was.redaction.max_value_bytes != next.redaction.max_value_bytes ||
              was.redaction.hmac_key != next.redaction.hmac_key,
          "policy.redaction");
  differs(was.upstream.url != next.upstream.url, "upstream");
  differs(!has_toolkit && was.rate_limits.size() != next.rate_limits.size(), "rate_limits");
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

Status Reload(LiveSettings& live, Config& current, Result<Config> next, const std::string& file) {
  if (!next) {
    OpsLog().error("reload refused, the running configuration stays: {}", next.error().message);
    RecordReload(live, file, std::unexpected(next.error()), nlohmann::json::object());
    return std::unexpected(next.error());
  }
  // Who may call: a server that authenticates by [auth] takes the new [auth];
  // turning authentication on or off takes a restart.
  const bool had_auth = live.authenticator != nullptr;
  const bool has_auth = next->http.authenticator != nullptr;
  std::vector<std::string> restart = NeedingARestart(current, *next, live.toolkit != nullptr);
  if (had_auth != has_auth) restart.push_back("auth");
  // Sinks first: they are the part that can still fail (a sink that cannot
  // open), and then nothing has changed.
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
    live.toolkit->SetPolicy(next->policy);
    live.limiter->SetRules(next->rate_limits);
    applied.push_back("policy");
    applied.push_back("rate_limits");
  }
  if (!restart.empty())
    OpsLog().warn("reload: these settings changed and take effect at the next start: {}",
                  nlohmann::json(restart).dump());
  OpsLog().info("reload: {} applied from {}", applied.dump(), file);
  RecordReload(live, file, {}, {{"applied", applied}, {"restart_needed", restart}});
  current = std::move(*next);
  return {};
}

}  // namespace mcpaudit::cli

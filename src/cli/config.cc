#include "cli/config.h"

#include <curl/curl.h>
#include <toml++/toml.h>

#include <filesystem>
#include <functional>
#include <set>
#include <sstream>

#include "base/audit_files.h"
#include "base/bounded_json.h"
#include "cli/commands.h"
#include "mcpaudit/authenticators.h"
#include "sinks/sql_columns.h"

namespace mcpaudit::cli {
namespace {

// Reads typed values out of a table, remembering which keys were known.
class Reader {
 public:
  Reader(const std::string& file, const toml::table& table, std::string prefix)
      : file_(file), table_(table), prefix_(std::move(prefix)) {}

  template <typename T>
  Status Get(const char* key, T& out) {
    known_.insert(key);
    const toml::node* node = table_.get(key);
    if (!node) return {};
    if constexpr (std::is_same_v<T, std::string>) {
      if (auto v = node->value<std::string>()) {
        out = *v;
        return {};
      }
      return Wrong(*node, key, "a string");
    } else if constexpr (std::is_same_v<T, bool>) {
      if (auto v = node->value<bool>()) {
        out = *v;
        return {};
      }
      return Wrong(*node, key, "true or false");
    } else {
      auto v = node->value<int64_t>();
      if (!v || !node->is_integer() || *v < 0)
        return Wrong(*node, key, "a whole number, 0 or more");
      out = static_cast<T>(*v);
      return {};
    }
  }

  Status GetStrings(const char* key, std::vector<std::string>& out) {
    known_.insert(key);
    const toml::node* node = table_.get(key);
    if (!node) return {};
    const toml::array* array = node->as_array();
    if (!array) return Wrong(*node, key, "a list of strings");
    std::vector<std::string> values;
    for (const auto& item : *array) {
      auto v = item.value<std::string>();
      if (!v) return Wrong(item, key, "a list of strings");
      values.push_back(*v);
    }
    out = std::move(values);
    return {};
  }

  // One of `choices`, or an error that lists them.
  Status GetChoice(const char* key, std::string& out, std::initializer_list<const char*> choices) {
    std::string value = out;
    if (auto got = Get(key, value); !got) return got;
    for (const char* choice : choices)
      if (value == choice) {
        out = value;
        return {};
      }
    std::string list;
    for (const char* choice : choices) list += std::string(list.empty() ? "" : ", ") + choice;
    return Error(*table_.get(key), key, "unknown value '" + value + "' (expected " + list + ")");
  }

  // The tables of an array of tables ([[key]]); each is read with `read`.
  Status EachTable(const char* key, const std::function<Status(Reader&)>& read) {
    known_.insert(key);
    const toml::node* node = table_.get(key);
    if (!node) return {};
    const toml::array* array = node->as_array();
    if (!array) return Wrong(*node, key, "an array of tables ([[" + prefix_ + key + "]])");
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& item = *array->get(i);
      if (!item.is_table()) return Wrong(item, key, "an array of tables");
      Reader entry(file_, *item.as_table(), prefix_ + key + "[" + std::to_string(i) + "].");
      if (auto status = read(entry); !status) return status;
      if (auto status = entry.NoUnknownKeys(); !status) return status;
    }
    return {};
  }

  Result<Reader> Table(const char* key) {
    known_.insert(key);
    const toml::node* node = table_.get(key);
    static const toml::table kEmpty;
    if (!node) return Reader(file_, kEmpty, prefix_ + key + ".");
    if (!node->is_table()) return std::unexpected(Wrong(*node, key, "a table").error());
    return Reader(file_, *node->as_table(), prefix_ + key + ".");
  }

  // A required key that is absent.
  const toml::node* Node(const char* key) const { return table_.get(key); }

  Status Missing(const char* key, const std::string& what) const {
    const auto& where = table_.source().begin;
    return Fail(ErrorCode::kInvalidArgument, file_ + ":" + std::to_string(where.line) + ":" +
                                                 std::to_string(where.column) + ": " + prefix_ +
                                                 key + ": missing (" + what + ")");
  }

  // Every key of the table must have been asked for: a typo is an error.
  Status NoUnknownKeys() const {
    for (const auto& [key, node] : table_) {
      if (!known_.contains(std::string(key.str())))
        return Error(node, std::string(key.str()).c_str(),
                     "unknown key (see `mcp-audit config example`)");
    }
    return {};
  }

  Status Error(const toml::node& node, const char* key, const std::string& what) const {
    const auto& where = node.source().begin;
    return Fail(ErrorCode::kInvalidArgument, file_ + ":" + std::to_string(where.line) + ":" +
                                                 std::to_string(where.column) + ": " + prefix_ +
                                                 key + ": " + what);
  }

 private:
  Status Wrong(const toml::node& node, const char* key, const std::string& expected) const {
    return Error(node, key, "must be " + expected);
  }

  std::string file_;
  const toml::table& table_;
  std::string prefix_;
  std::set<std::string> known_;
};

#define MCPAUDIT_TRY(expr)                                                        \
  do {                                                                            \
    if (auto status_ = (expr); !status_) return std::unexpected(status_.error()); \
  } while (0)

// The [server] table: the toolkit, the local user and the nesting limit.
Status ReadServer(Reader& top, const std::string& path, Config& config) {
  auto server = top.Table("server");
  if (!server) return std::unexpected(server.error());
  MCPAUDIT_TRY(server->GetChoice("toolkit", config.toolkit, {"catalog", "conformance"}));
  MCPAUDIT_TRY(server->Get("user", config.user));
  MCPAUDIT_TRY(server->Get("max_json_depth", config.max_json_depth));
  MCPAUDIT_TRY(server->Get("request_state_key_file", config.request_state_key_file));
  MCPAUDIT_TRY(server->NoUnknownKeys());
  if (config.max_json_depth < 4 || config.max_json_depth > kMaxMessageDepth) {
    return Fail(ErrorCode::kInvalidArgument, path +
                                                 ": server.max_json_depth: must be between 4 and " +
                                                 std::to_string(kMaxMessageDepth));
  }
  return {};
}

// The [http] table: where and how the server listens.
Status ReadHttp(Reader& top, const std::string& path, Config& config) {
  auto http = top.Table("http");
  if (!http) return std::unexpected(http.error());
  HttpOptions& h = config.http;
  uint64_t request_timeout = h.request_timeout.count(), idle_timeout = h.idle_timeout.count(),
           session_timeout = h.session_timeout.count();
  MCPAUDIT_TRY(http->Get("listen", config.listen));
  MCPAUDIT_TRY(http->Get("path", h.path));
  MCPAUDIT_TRY(http->Get("stateless", h.stateless));
  MCPAUDIT_TRY(http->GetStrings("allowed_hosts", h.allowed_hosts));
  MCPAUDIT_TRY(http->GetStrings("allowed_origins", h.allowed_origins));
  MCPAUDIT_TRY(http->Get("max_body_bytes", h.max_body_bytes));
  MCPAUDIT_TRY(http->Get("max_sessions", h.max_sessions));
  MCPAUDIT_TRY(http->Get("max_sessions_per_user", h.max_sessions_per_user));
  MCPAUDIT_TRY(http->Get("max_connections", h.max_connections));
  MCPAUDIT_TRY(http->Get("request_timeout_seconds", request_timeout));
  MCPAUDIT_TRY(http->Get("idle_timeout_seconds", idle_timeout));
  MCPAUDIT_TRY(http->Get("session_timeout_seconds", session_timeout));
  MCPAUDIT_TRY(http->GetStrings("trusted_proxies", h.trusted_proxies));
  MCPAUDIT_TRY(http->Get("resource_url", h.resource_url));
  MCPAUDIT_TRY(http->GetStrings("authorization_servers", h.authorization_servers));
  MCPAUDIT_TRY(http->NoUnknownKeys());
  if (!h.path.starts_with("/"))
    return Fail(ErrorCode::kInvalidArgument,
                path + ": http.path: '" + h.path + "' must start with '/'");
  h.request_timeout = std::chrono::seconds(request_timeout);
  h.idle_timeout = std::chrono::seconds(idle_timeout);
  h.session_timeout = std::chrono::seconds(session_timeout);
  return {};
}

// The [auth] table: API keys and JWT verification, made into the HTTP authenticator.
Status ReadAuth(Reader& top, const std::string& path, Config& config) {
  auto auth = top.Table("auth");
  if (!auth) return std::unexpected(auth.error());
  std::vector<ApiKeyEntry> api_keys;
  MCPAUDIT_TRY(auth->EachTable("api_keys", [&](Reader& entry) -> Status {
    ApiKeyEntry key;
    if (auto status = entry.Get("sha256", key.sha256); !status) return status;
    if (key.sha256.empty())
      return entry.Missing("sha256", "the key's SHA-256; `mcp-audit apikey` makes one");
    if (auto status = entry.Get("user_id", key.identity.user_id); !status) return status;
    if (key.identity.user_id.empty()) return entry.Missing("user_id", "who calls with this key");
    if (auto status = entry.Get("email", key.identity.email); !status) return status;
    if (auto status = entry.Get("tenant_id", key.identity.tenant_id); !status) return status;
    if (auto status = entry.GetStrings("roles", key.identity.roles); !status) return status;
    api_keys.push_back(std::move(key));
    return {};
  }));
  auto jwt = auth->Table("jwt");
  if (!jwt) return std::unexpected(jwt.error());
  JwtOptions j;
  uint64_t leeway = j.leeway.count(), jwks_cache = j.jwks_cache.count();
  MCPAUDIT_TRY(jwt->GetStrings("algorithms", j.algorithms));
  MCPAUDIT_TRY(jwt->Get("public_key_file", j.public_key_file));
  MCPAUDIT_TRY(jwt->Get("secret_file", j.secret_file));
  MCPAUDIT_TRY(jwt->Get("jwks_file", j.jwks_file));
  MCPAUDIT_TRY(jwt->Get("jwks_url", j.jwks_url));
  MCPAUDIT_TRY(jwt->Get("jwks_cache_seconds", jwks_cache));
  MCPAUDIT_TRY(jwt->Get("issuer", j.issuer));
  MCPAUDIT_TRY(jwt->GetStrings("audience", j.audience));
  MCPAUDIT_TRY(jwt->Get("leeway_seconds", leeway));
  MCPAUDIT_TRY(jwt->Get("require_exp", j.require_exp));
  MCPAUDIT_TRY(jwt->Get("user_claim", j.user_claim));
  MCPAUDIT_TRY(jwt->Get("email_claim", j.email_claim));
  MCPAUDIT_TRY(jwt->Get("tenant_claim", j.tenant_claim));
  MCPAUDIT_TRY(jwt->Get("roles_claim", j.roles_claim));
  MCPAUDIT_TRY(jwt->NoUnknownKeys());
  MCPAUDIT_TRY(auth->NoUnknownKeys());
  j.leeway = std::chrono::seconds(leeway);
  j.jwks_cache = std::chrono::seconds(jwks_cache);
  std::shared_ptr<const Authenticator> key_auth, jwt_auth;
  if (!api_keys.empty()) {
    auto made = MakeApiKeyAuthenticator(std::move(api_keys));
    if (!made)
      return Fail(ErrorCode::kInvalidArgument, path + ": auth.api_keys: " + made.error().message);
    key_auth = *made;
  }
  if (!j.public_key_file.empty() || !j.secret_file.empty() || !j.jwks_file.empty() ||
      !j.jwks_url.empty()) {
    auto made = MakeJwtAuthenticator(std::move(j));
    if (!made)
      return Fail(ErrorCode::kInvalidArgument, path + ": auth.jwt: " + made.error().message);
    jwt_auth = *made;
  }
  config.http.authenticator = ChainAuthenticators(key_auth, jwt_auth);
  return {};
}

// The [[rate_limits]] rules.
Status ReadRateLimits(Reader& top, const std::string& /*path: the reader names it*/,
                      Config& config) {
  MCPAUDIT_TRY(top.EachTable("rate_limits", [&](Reader& rule) -> Status {
    RateLimitRule parsed;
    std::string per = "user";
    uint64_t per_minute = 600, burst = 20;
    if (auto status = rule.GetStrings("tools", parsed.tools); !status) return status;
    if (auto status = rule.GetChoice("per", per, {"user", "tenant"}); !status) return status;
    if (auto status = rule.Get("per_minute", per_minute); !status) return status;
    if (auto status = rule.Get("burst", burst); !status) return status;
    if (per_minute == 0) return rule.Missing("per_minute", "1 or more calls a minute");
    if (burst == 0) return rule.Missing("burst", "1 or more calls at once");
    parsed.per = per == "tenant" ? RateLimitRule::Per::kTenant : RateLimitRule::Per::kUser;
    parsed.per_second = static_cast<double>(per_minute) / 60.0;
    parsed.burst = static_cast<double>(burst);
    config.rate_limits.push_back(std::move(parsed));
    return {};
  }));
  return {};
}

// The [[sinks]]: where records are shipped.
Status ReadSinks(Reader& top, const std::string& /*path: the reader names it*/, Config& config) {
  MCPAUDIT_TRY(top.EachTable("sinks", [&](Reader& sink) -> Status {
    SinkConfig parsed;
    if (auto status = sink.Get("name", parsed.name); !status) return status;
    if (auto status = sink.Get("url", parsed.url); !status) return status;
    if (auto status = sink.Get("password_env", parsed.password_env); !status) return status;
    if (auto status = sink.Get("password_file", parsed.password_file); !status) return status;
    if (auto status = sink.GetChoice("type", parsed.type,
                                     {"", "sqlite", "postgres", "mysql", "splunk", "datadog",
                                      "elastic", "otlp", "webhook", "syslog"});
        !status)
      return status;
    if (auto status = sink.Get("ca_file", parsed.ca_file); !status) return status;
    if (auto status = sink.Get("gzip", parsed.gzip); !status) return status;
    uint64_t timeout_seconds = 30;
    if (auto status = sink.Get("timeout_seconds", timeout_seconds); !status) return status;
    if (timeout_seconds == 0) return sink.Missing("timeout_seconds", "1 or more seconds");
    parsed.timeout = std::chrono::seconds(timeout_seconds);
    uint64_t ready_backlog_mb = parsed.ready_backlog_bytes >> 20;
    if (auto status = sink.Get("ready_backlog_mb", ready_backlog_mb); !status) return status;
    parsed.ready_backlog_bytes = std::min(ready_backlog_mb, uint64_t{1} << 40) << 20;
    if (auto status = sink.GetStrings("tenants", parsed.tenants); !status) return status;
    if (auto status = sink.GetStrings("event_types", parsed.event_types); !status) return status;
    for (const char* key :
         {"index", "source", "sourcetype", "service", "tags", "host", "facility"}) {
      std::string value;
      if (auto status = sink.Get(key, value); !status) return status;
      if (!value.empty()) parsed.options[key] = value;
    }
    bool ack = false;
    if (auto status = sink.Get("ack", ack); !status) return status;
    if (ack) parsed.options["ack"] = "true";
    if (parsed.url.empty() && parsed.type != "datadog")
      return sink.Missing(
          "url", "where to ship records: sqlite:///path, postgres://…, https://…, udp://host:port");
    if (parsed.type.empty() && SinkType(parsed).empty())
      return sink.Missing("type", "splunk, datadog, elastic, otlp, webhook or syslog for '" +
                                      RedactUrl(parsed.url) + "'");
    if (parsed.name.empty())
      parsed.name =
          parsed.type.empty() ? parsed.url.substr(0, parsed.url.find("://")) : parsed.type;
    for (const auto& other : config.sinks) {
      if (other.name == parsed.name)
        return sink.Missing("name",
                            "a name no other sink has (two sinks named '" + parsed.name + "')");
    }
    config.sinks.push_back(std::move(parsed));
    return {};
  }));
  return {};
}

// The [audit] table: the journal, its segments, checkpoints and disk limits.
Status ReadAudit(Reader& top, const std::string& path, Config& config) {
  auto audit = top.Table("audit");
  if (!audit) return std::unexpected(audit.error());
  PipelineOptions& a = config.audit;
  std::string dir = a.directory.string(), mode = "async", overflow = "block", signing_key;
  uint64_t flush_ms = static_cast<uint64_t>(a.flush_interval.count());
  MCPAUDIT_TRY(audit->Get("dir", dir));
  MCPAUDIT_TRY(audit->GetChoice("mode", mode, {"async", "durable"}));
  MCPAUDIT_TRY(audit->GetChoice("overflow", overflow, {"block", "drop"}));
  MCPAUDIT_TRY(audit->Get("queue_capacity", a.queue_capacity));
  MCPAUDIT_TRY(audit->Get("flush_interval_ms", flush_ms));
  MCPAUDIT_TRY(audit->Get("stream", a.stream));
  MCPAUDIT_TRY(audit->Get("signing_key", signing_key));
  MCPAUDIT_TRY(audit->GetStrings("erasable", a.erasable));
  for (const auto& pointer : a.erasable) {
    if (!pointer.starts_with("/"))
      return Fail(ErrorCode::kInvalidArgument,
                  path + ": audit.erasable: '" + pointer +
                      "' is not a JSON pointer (they start with '/', e.g. /user/email)");
  }
  a.directory = dir;
  a.mode = mode == "durable" ? DeliveryMode::kDurable : DeliveryMode::kAsync;
  a.overflow = overflow == "drop" ? OverflowPolicy::kDrop : OverflowPolicy::kBlock;
  a.flush_interval = std::chrono::milliseconds(flush_ms);
  a.signing_key = signing_key;

  auto segments = audit->Table("segments");
  if (!segments) return std::unexpected(segments.error());
  uint64_t max_age_hours = static_cast<uint64_t>(a.max_segment_age.count() / 3600);
  MCPAUDIT_TRY(segments->Get("max_bytes", a.max_segment_bytes));
  MCPAUDIT_TRY(segments->Get("max_age_hours", max_age_hours));
  MCPAUDIT_TRY(segments->NoUnknownKeys());
  a.max_segment_age = std::chrono::hours(max_age_hours);

  auto checkpoints = audit->Table("checkpoints");
  if (!checkpoints) return std::unexpected(checkpoints.error());
  uint64_t every_seconds = static_cast<uint64_t>(a.checkpoint_every.count());
  MCPAUDIT_TRY(checkpoints->Get("every_records", a.checkpoint_every_records));
  MCPAUDIT_TRY(checkpoints->Get("every_seconds", every_seconds));
  MCPAUDIT_TRY(checkpoints->NoUnknownKeys());
  a.checkpoint_every = std::chrono::seconds(every_seconds);

  auto disk = audit->Table("disk");
  if (!disk) return std::unexpected(disk.error());
  uint64_t space_left_mb = a.space_left_bytes >> 20,
           admin_space_left_mb = a.admin_space_left_bytes >> 20;
  std::string action = "refuse";
  MCPAUDIT_TRY(disk->Get("space_left_mb", space_left_mb));
  MCPAUDIT_TRY(disk->Get("admin_space_left_mb", admin_space_left_mb));
  MCPAUDIT_TRY(disk->GetChoice("admin_space_left_action", action, {"refuse", "keep_logging"}));
  MCPAUDIT_TRY(disk->NoUnknownKeys());
  a.space_left_bytes = space_left_mb << 20;
  a.admin_space_left_bytes = admin_space_left_mb << 20;
  a.admin_space_left_action = action == "refuse" ? SpaceAction::kRefuse : SpaceAction::kKeepLogging;
  MCPAUDIT_TRY(audit->NoUnknownKeys());
  return {};
}

// The [policy.redaction] table: how secrets and chosen values are hidden.
Status ReadRedaction(Reader& policy, const std::string& path, Config& config) {
  auto redaction = policy.Table("redaction");
  if (!redaction) return std::unexpected(redaction.error());
  RedactionOptions& r = config.redaction;
  std::string secret_mode = "mask", hmac_key_file;
  MCPAUDIT_TRY(redaction->GetChoice("mode", secret_mode, {"mask", "drop", "hmac"}));
  MCPAUDIT_TRY(redaction->Get("hmac_key_file", hmac_key_file));
  MCPAUDIT_TRY(redaction->GetStrings("key_patterns", r.key_patterns));
  MCPAUDIT_TRY(redaction->Get("max_value_bytes", r.max_value_bytes));
  r.mode = *ParseRedactionMode(secret_mode);
  MCPAUDIT_TRY(redaction->EachTable("pointers", [&](Reader& rule) -> Status {
    std::string pointer, rule_mode = "mask";
    if (auto status = rule.Get("pointer", pointer); !status) return status;
    if (pointer.empty())
      return rule.Missing("pointer", "a JSON pointer into the parameters, e.g. /patient/ssn");
    if (auto status = rule.GetChoice("mode", rule_mode, {"mask", "drop", "hmac", "truncate"});
        !status)
      return status;
    PointerRule parsed;
    try {
      parsed.pointer = nlohmann::json::json_pointer(pointer);
    } catch (const nlohmann::json::exception&) {
      return rule.Error(
          *rule.Node("pointer"), "pointer",
          "'" + pointer +
              "' is not a JSON pointer (RFC 6901: \"/a/b\", with ~0 for ~ and ~1 for /)");
    }
    parsed.mode = *ParseRedactionMode(rule_mode);
    r.pointers.push_back(std::move(parsed));
    return {};
  }));
  MCPAUDIT_TRY(redaction->NoUnknownKeys());
  if (!hmac_key_file.empty()) {
    auto owner_only = CheckOwnerOnly(hmac_key_file, "the HMAC key");
    auto key = owner_only ? ReadWholeFile(hmac_key_file) : std::unexpected(owner_only.error());
    if (!key) {
      return Fail(ErrorCode::kInvalidArgument,
                  path + ": policy.redaction.hmac_key_file: " + key.error().message);
    }
    r.hmac_key = std::move(*key);
  }
  if (auto checked = CheckRedaction(r); !checked) {
    return Fail(ErrorCode::kInvalidArgument,
                path + ": policy.redaction: " + checked.error().message);
  }
  return {};
}

// The [policy] table: levels, classification, sampling, access and redaction.
Status ReadPolicy(Reader& top, const std::string& path, Config& config) {
  auto policy = top.Table("policy");
  if (!policy) return std::unexpected(policy.error());
  std::string default_level = "request";
  MCPAUDIT_TRY(
      policy->GetChoice("default_level", default_level, {"none", "metadata", "request", "full"}));
  config.policy.default_level = *ParseAuditLevel(default_level);
  MCPAUDIT_TRY(policy->EachTable("levels", [&](Reader& rule) -> Status {
    LevelRule parsed;
    std::string level = "request";
    if (auto status = rule.GetStrings("tools", parsed.tools); !status) return status;
    if (parsed.tools.empty())
      return rule.Missing("tools", "a list of tool name patterns, e.g. [\"catalog_*\"]");
    if (auto status = rule.GetChoice("level", level, {"none", "metadata", "request", "full"});
        !status)
      return status;
    parsed.level = *ParseAuditLevel(level);
    config.policy.levels.push_back(std::move(parsed));
    return {};
  }));
  MCPAUDIT_TRY(policy->EachTable("classify", [&](Reader& rule) -> Status {
    ClassifyRule parsed;
    if (auto status = rule.GetStrings("tools", parsed.tools); !status) return status;
    if (auto status = rule.GetStrings("resources", parsed.resources); !status) return status;
    if (parsed.tools.empty() && parsed.resources.empty())
      return rule.Missing("tools", "tool name patterns, or resources: URN patterns, or both");
    if (auto status = rule.Get("sensitivity", parsed.sensitivity); !status) return status;
    if (auto status = rule.Get("phi", parsed.phi); !status) return status;
    if (auto status = rule.Get("require_access_reason", parsed.require_access_reason); !status)
      return status;
    config.policy.classify.push_back(std::move(parsed));
    return {};
  }));
  MCPAUDIT_TRY(policy->EachTable("sampling", [&](Reader& rule) -> Status {
    SampleRule parsed;
    if (auto status = rule.GetStrings("tools", parsed.tools); !status) return status;
    if (parsed.tools.empty()) return rule.Missing("tools", "a list of tool name patterns");
    if (auto status = rule.Get("keep_one_in", parsed.keep_one_in); !status) return status;
    if (parsed.keep_one_in == 0) return rule.Missing("keep_one_in", "1 or more");
    config.policy.sampling.push_back(std::move(parsed));
    return {};
  }));
  MCPAUDIT_TRY(policy->EachTable("access", [&](Reader& rule) -> Status {
    AccessRule parsed;
    if (auto status = rule.GetStrings("roles", parsed.roles); !status) return status;
    if (parsed.roles.empty())
      return rule.Missing("roles",
                          "role patterns, e.g. [\"analyst\"], or [\"*\"] for every caller");
    if (auto status = rule.GetStrings("allow", parsed.allow); !status) return status;
    if (auto status = rule.GetStrings("deny", parsed.deny); !status) return status;
    if (parsed.allow.empty() && parsed.deny.empty())
      return rule.Missing("allow", "tool name patterns to allow, or deny = [...], or both");
    config.policy.access.push_back(std::move(parsed));
    return {};
  }));
  MCPAUDIT_TRY(ReadRedaction(*policy, path, config));
  MCPAUDIT_TRY(policy->NoUnknownKeys());
  return {};
}

// The [integrity] table: the checkpoints' notes and forward-secure signing keys.
Status ReadIntegrity(Reader& top, const std::string& /*path: the reader names it*/, Config& config) {
  auto integrity = top.Table("integrity");
  if (!integrity) return std::unexpected(integrity.error());
  uint64_t epoch_hours = static_cast<uint64_t>(config.audit.key_epoch.count() / 3600);
  MCPAUDIT_TRY(integrity->Get("origin", config.audit.origin));
  MCPAUDIT_TRY(integrity->Get("key_name", config.audit.key_name));
  MCPAUDIT_TRY(integrity->Get("key_epoch_hours", epoch_hours));
  uint64_t upcoming = config.audit.upcoming_keys;
  MCPAUDIT_TRY(integrity->Get("upcoming_keys", upcoming));
  MCPAUDIT_TRY(integrity->NoUnknownKeys());
  if (epoch_hours > 24 * 365 * 100)
    return integrity->Error(*integrity->Node("key_epoch_hours"), "key_epoch_hours",
                            std::to_string(epoch_hours) + " is more than a century: give 0 for one key");
  if (upcoming > 0 && epoch_hours == 0)
    return integrity->Error(*integrity->Node("upcoming_keys"), "upcoming_keys",
                            "keys made ahead are for key epochs: set key_epoch_hours too");
  if (upcoming > 10000)
    return integrity->Error(*integrity->Node("upcoming_keys"), "upcoming_keys",
                            std::to_string(upcoming) + " keys made ahead: at most 10000");
  config.audit.key_epoch = std::chrono::hours(epoch_hours);
  config.audit.upcoming_keys = static_cast<size_t>(upcoming);
  return {};
}

// The [retention] table: how long records are kept, per tenant too.
Status ReadRetention(Reader& top, const std::string& /*path: the reader names it*/,
                     Config& config) {
  auto retention = top.Table("retention");
  if (!retention) return std::unexpected(retention.error());
  // Ages in days; 0 (or absent): never. Anonymising after deleting would be a policy that does not
  // mean what it says.
  auto ages = [](Reader& table, std::optional<std::chrono::days>& keep,
                 std::optional<std::chrono::days>& anonymize_after) -> Status {
    uint64_t keep_days = 0, anonymize_days = 0;
    if (auto status = table.Get("keep_days", keep_days); !status) return status;
    if (auto status = table.Get("anonymize_after_days", anonymize_days); !status) return status;
    if (keep_days > 0 && anonymize_days >= keep_days)
      return table.Error(*table.Node("anonymize_after_days"), "anonymize_after_days",
                         std::to_string(anonymize_days) + " is not less than keep_days (" +
                             std::to_string(keep_days) +
                             "): records would be deleted before they are anonymised");
    if (keep_days > 0) keep = std::chrono::days(keep_days);
    if (anonymize_days > 0) anonymize_after = std::chrono::days(anonymize_days);
    return {};
  };
  RetentionPolicy& rp = config.retention;
  MCPAUDIT_TRY(ages(*retention, rp.keep, rp.anonymize_after));
  uint64_t run_every_hours = static_cast<uint64_t>(rp.run_every.count());
  MCPAUDIT_TRY(retention->Get("run_every_hours", run_every_hours));
  rp.run_every = std::chrono::hours(run_every_hours);
  uint64_t max_journal_mb = 0;
  MCPAUDIT_TRY(retention->Get("max_journal_mb", max_journal_mb));
  rp.max_journal_bytes = max_journal_mb << 20;
  MCPAUDIT_TRY(retention->EachTable("tenants", [&](Reader& rule) -> Status {
    RetentionRule parsed;
    if (auto status = rule.Get("tenant", parsed.tenant); !status) return status;
    if (parsed.tenant.empty())
      return rule.Missing("tenant", "a tenant id or pattern, e.g. \"shop-*\"");
    if (auto status = ages(rule, parsed.keep, parsed.anonymize_after); !status) return status;
    rp.tenants.push_back(std::move(parsed));
    return {};
  }));
  MCPAUDIT_TRY(retention->NoUnknownKeys());
  return {};
}

// The [upstream] table: the MCP server the proxy audits.
Status ReadUpstream(Reader& top, const std::string& /*path: the reader names it*/, Config& config) {
  auto upstream = top.Table("upstream");
  if (!upstream) return std::unexpected(upstream.error());
  UpstreamConfig& u = config.upstream;
  uint64_t connect_timeout = u.connect_timeout.count();
  MCPAUDIT_TRY(upstream->Get("url", u.url));
  MCPAUDIT_TRY(upstream->Get("bearer_token_env", u.bearer_token_env));
  MCPAUDIT_TRY(upstream->Get("bearer_token_file", u.bearer_token_file));
  MCPAUDIT_TRY(upstream->GetStrings("headers", u.headers));
  MCPAUDIT_TRY(upstream->GetStrings("header_env", u.header_env));
  MCPAUDIT_TRY(upstream->Get("ca_file", u.ca_file));
  MCPAUDIT_TRY(upstream->Get("connect_timeout_seconds", connect_timeout));
  if (connect_timeout == 0)
    MCPAUDIT_TRY(upstream->Missing("connect_timeout_seconds", "1 or more seconds"));
  u.connect_timeout = std::chrono::seconds(connect_timeout);
  for (const char* key : {"headers", "header_env"}) {
    std::vector<std::string> lines;
    MCPAUDIT_TRY(upstream->GetStrings(key, lines));
    for (const auto& line : lines) {
      const size_t colon = line.find(':');
      if (colon == 0 || colon == std::string::npos ||
          line.find_first_of("\r\n") != std::string::npos)
        MCPAUDIT_TRY(
            upstream->Error(*upstream->Node(key), key,
                            "'" + line.substr(0, colon) + "…' is not \"Name: value\" on one line"));
    }
  }
  MCPAUDIT_TRY(upstream->NoUnknownKeys());
  return {};
}

}  // namespace

Config::Config() { audit.directory = kDefaultAuditDir; }

Result<Config> LoadConfig(const std::string& path) {
  toml::table root;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return Fail(ErrorCode::kIo, "cannot read the configuration file " + path + ": no such file");
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return Fail(ErrorCode::kInvalidArgument, path + ":" + std::to_string(where.line) + ":" +
                                                 std::to_string(where.column) + ": " +
                                                 std::string(e.description()));
  }
  Config config;
  Reader top(path, root, "");
  for (auto read : {ReadServer, ReadHttp, ReadAuth, ReadRateLimits, ReadSinks, ReadAudit, ReadIntegrity,
                    ReadPolicy, ReadRetention, ReadUpstream})
    MCPAUDIT_TRY(read(top, path, config));
  MCPAUDIT_TRY(top.NoUnknownKeys());
  return config;
}

Result<HttpUpstream> ResolveUpstream(const UpstreamConfig& u) {
  HttpUpstream resolved;
  resolved.url = u.url;
  resolved.ca_file = u.ca_file;
  resolved.connect_timeout = u.connect_timeout;
  CURLU* parsed = curl_url();
  char *scheme = nullptr, *host = nullptr;
  const bool valid = parsed && curl_url_set(parsed, CURLUPART_URL, u.url.c_str(), 0) == CURLUE_OK &&
                     curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
                     curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK;
  const std::string scheme_text = scheme ? scheme : "", host_text = host ? host : "";
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(parsed);
  if (!valid || (scheme_text != "http" && scheme_text != "https"))
    return Fail(ErrorCode::kInvalidArgument,
                "the upstream URL '" + RedactUrl(u.url) +
                    "' is not an http:// or https:// URL (e.g. https://mcp.example.com/mcp)");
  if (RedactUrl(u.url) != u.url)
    return Fail(ErrorCode::kInvalidArgument,
                "the upstream URL holds a password; put the credentials in "
                "[upstream] bearer_token_env, bearer_token_file or header_env instead");
  if (scheme_text == "http" && !IsLoopbackHost(host_text))
    return Fail(ErrorCode::kInvalidArgument,
                "the upstream " + u.url +
                    " is not on this machine: use https:// "
                    "(the proxy's credentials and the calls must not cross the network in clear)");
  const bool configured = !u.bearer_token_env.empty() || !u.bearer_token_file.empty();
  auto read = ReadSecret(configured                       ? u.bearer_token_env
                         : std::getenv(kUpstreamTokenEnv) ? kUpstreamTokenEnv
                                                          : "",
                         u.bearer_token_file, "the upstream's bearer token", /*owner_only=*/true);
  if (!read) return std::unexpected(read.error());
  const std::string token = std::move(*read);
  if (token.find_first_of("\r\n") != std::string::npos)
    return Fail(ErrorCode::kInvalidArgument, "the upstream's bearer token holds a line break");
  if (!token.empty()) resolved.headers.push_back("Authorization: Bearer " + token);
  for (const auto& line : u.header_env) {
    const size_t colon = line.find(':');
    std::string variable = line.substr(colon + 1);
    std::erase(variable, ' ');
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr || std::string_view(value).find_first_of("\r\n") != std::string_view::npos)
      return Fail(ErrorCode::kInvalidArgument, "upstream.header_env: the environment variable " +
                                                   variable +
                                                   (value ? " holds a line break" : " is not set"));
    resolved.headers.push_back(line.substr(0, colon) + ": " + value);
  }
  resolved.headers.insert(resolved.headers.end(), u.headers.begin(), u.headers.end());
  return resolved;
}

std::vector<SinkConfig> SinksOrDefault(const Config& config) {
  if (!config.sinks.empty()) return config.sinks;
  SinkConfig sqlite;
  sqlite.name = "sqlite";
  sqlite.url = "sqlite://" + (config.audit.directory / "audit.db").string();
  return {sqlite};
}

}  // namespace mcpaudit::cli

#include "cli/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/temp_dir.h"

namespace mcpaudit::cli {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  Result<Config> Load(const std::string& text) {
    const auto path = dir_.path() / "mcp-audit.toml";
    std::ofstream(path, std::ios::trunc) << text;
    return LoadConfig(path.string());
  }
  std::string ErrorOf(const std::string& text) {
    auto config = Load(text);
    EXPECT_FALSE(config.has_value()) << text;
    return config ? "" : config.error().message;
  }
  testing::TempDir dir_;
};

TEST_F(ConfigTest, TheExampleIsValidAndStatesTheDefaults) {
  auto example = Load(ExampleConfig());
  ASSERT_TRUE(example.has_value()) << example.error().message;
  const Config defaults;
  EXPECT_EQ(example->toolkit, defaults.toolkit);
  EXPECT_EQ(example->audit.directory, defaults.audit.directory);
  EXPECT_EQ(example->audit.mode, defaults.audit.mode);
  EXPECT_EQ(example->audit.queue_capacity, defaults.audit.queue_capacity);
  EXPECT_EQ(example->audit.flush_interval, defaults.audit.flush_interval);
  EXPECT_EQ(example->audit.erasable, defaults.audit.erasable);
  EXPECT_EQ(example->audit.max_segment_bytes, defaults.audit.max_segment_bytes);
  EXPECT_EQ(example->audit.max_segment_age, defaults.audit.max_segment_age);
  EXPECT_EQ(example->audit.checkpoint_every_records, defaults.audit.checkpoint_every_records);
  EXPECT_EQ(example->audit.checkpoint_every, defaults.audit.checkpoint_every);
  EXPECT_EQ(example->audit.space_left_bytes, defaults.audit.space_left_bytes);
  EXPECT_EQ(example->audit.admin_space_left_bytes, defaults.audit.admin_space_left_bytes);
  EXPECT_EQ(example->audit.admin_space_left_action, defaults.audit.admin_space_left_action);
}

TEST_F(ConfigTest, ReadsEverySetting) {
  auto config = Load(R"(
[server]
user = "svc"
[audit]
dir = "/srv/audit"
mode = "durable"
overflow = "drop"
queue_capacity = 10
flush_interval_ms = 250
stream = "host-b"
signing_key = "/etc/mcp-audit/key.pem"
erasable = ["/params"]
[audit.segments]
max_bytes = 1024
max_age_hours = 2
[audit.checkpoints]
every_records = 7
every_seconds = 9
[audit.disk]
space_left_mb = 100
admin_space_left_mb = 10
admin_space_left_action = "keep_logging"
)");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(config->user, "svc");
  const PipelineOptions& a = config->audit;
  EXPECT_EQ(a.directory, "/srv/audit");
  EXPECT_EQ(a.mode, DeliveryMode::kDurable);
  EXPECT_EQ(a.overflow, OverflowPolicy::kDrop);
  EXPECT_EQ(a.queue_capacity, 10u);
  EXPECT_EQ(a.flush_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(a.stream, "host-b");
  EXPECT_EQ(a.signing_key, "/etc/mcp-audit/key.pem");
  EXPECT_EQ(a.erasable, std::vector<std::string>{"/params"});
  EXPECT_EQ(a.max_segment_bytes, 1024u);
  EXPECT_EQ(a.max_segment_age, std::chrono::hours(2));
  EXPECT_EQ(a.checkpoint_every_records, 7u);
  EXPECT_EQ(a.checkpoint_every, std::chrono::seconds(9));
  EXPECT_EQ(a.space_left_bytes, 100ull << 20);
  EXPECT_EQ(a.admin_space_left_bytes, 10ull << 20);
  EXPECT_EQ(a.admin_space_left_action, SpaceAction::kKeepLogging);
}

TEST_F(ConfigTest, SaysWhatIsWrongAndWhere) {
  EXPECT_NE(ErrorOf("[audit]\nmode = \"fast\"\n").find("mcp-audit.toml:2:8: audit.mode: unknown value 'fast' (expected async, durable)"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[audit]\nmod = \"async\"\n").find(":2:7: audit.mod: unknown key"), std::string::npos);
  EXPECT_NE(ErrorOf("[audit.disk]\nspace_left_mb = -1\n").find("audit.disk.space_left_mb: must be a whole number"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[audit]\nqueue_capacity = \"big\"\n").find("audit.queue_capacity: must be a whole number"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[audit]\nerasable = [\"user\"]\n").find("'user' is not a JSON pointer"), std::string::npos);
  EXPECT_NE(ErrorOf("audit = 5\n").find("audit: must be a table"), std::string::npos);
  EXPECT_NE(ErrorOf("[audit\n").find("mcp-audit.toml:1:"), std::string::npos);
  EXPECT_NE(ErrorOf("[sampling]\n").find("sampling: unknown key"), std::string::npos);
}

TEST_F(ConfigTest, ReadsLevelRulesInOrder) {
  auto config = Load(R"(
[policy]
default_level = "metadata"
[[policy.levels]]
tools = ["catalog_get_*", "catalog_search"]
level = "full"
[[policy.levels]]
tools = ["*"]
level = "request"
)");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(config->policy.default_level, AuditLevel::kMetadata);
  ASSERT_EQ(config->policy.levels.size(), 2u);
  EXPECT_EQ(config->policy.levels[0].tools, (std::vector<std::string>{"catalog_get_*", "catalog_search"}));
  EXPECT_EQ(config->policy.levels[0].level, AuditLevel::kFull);
  EXPECT_EQ(config->policy.LevelFor("catalog_list_tags"), AuditLevel::kRequest);
  EXPECT_NE(ErrorOf("[[policy.levels]]\ntools = [\"x\"]\nlevel = \"loud\"\n")
                .find(":3:9: policy.levels[0].level: unknown value 'loud' (expected none, metadata, request, full)"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[[policy.levels]]\nlevel = \"none\"\n").find("policy.levels[0].tools: missing"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[[policy.levels]]\ntools = [\"x\"]\nlvl = \"none\"\n").find("policy.levels[0].lvl: unknown key"),
            std::string::npos);
}

TEST_F(ConfigTest, ReadsClassificationRules) {
  auto config = Load(R"(
[[policy.classify]]
resources = ["urn:li:dataset:*clinic*"]
sensitivity = "restricted"
phi = true
require_access_reason = true
)");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  ASSERT_EQ(config->policy.classify.size(), 1u);
  const ClassifyRule& rule = config->policy.classify[0];
  EXPECT_EQ(rule.resources, std::vector<std::string>{"urn:li:dataset:*clinic*"});
  EXPECT_EQ(rule.sensitivity, "restricted");
  EXPECT_TRUE(rule.phi);
  EXPECT_TRUE(rule.require_access_reason);
  EXPECT_NE(ErrorOf("[[policy.classify]]\nphi = true\n").find("policy.classify[0].tools: missing"), std::string::npos);
  EXPECT_NE(ErrorOf("[[policy.classify]]\ntools = [\"x\"]\nphi = \"yes\"\n").find("policy.classify[0].phi: must be true or false"),
            std::string::npos);
}

TEST_F(ConfigTest, ReadsSamplingRules) {
  auto config = Load("[[policy.sampling]]\ntools = [\"catalog_search\"]\nkeep_one_in = 10\n");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  ASSERT_EQ(config->policy.sampling.size(), 1u);
  EXPECT_EQ(config->policy.sampling[0].keep_one_in, 10u);
  EXPECT_NE(ErrorOf("[[policy.sampling]]\ntools = [\"x\"]\nkeep_one_in = 0\n").find("keep_one_in"), std::string::npos);
}

TEST_F(ConfigTest, ReadsRetentionPerTenantAndSaysWhatIsWrongWithIt) {
  auto config = Load(
      "[retention]\nkeep_days = 2190\nrun_every_hours = 6\n"
      "[[retention.tenants]]\ntenant = \"shop-*\"\nkeep_days = 365\nanonymize_after_days = 90\n");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(config->retention.keep, std::chrono::days(2190));
  EXPECT_FALSE(config->retention.anonymize_after.has_value());
  EXPECT_EQ(config->retention.run_every, std::chrono::hours(6));
  ASSERT_EQ(config->retention.tenants.size(), 1u);
  EXPECT_EQ(config->retention.tenants[0].tenant, "shop-*");
  EXPECT_EQ(config->retention.tenants[0].keep, std::chrono::days(365));
  EXPECT_EQ(config->retention.tenants[0].anonymize_after, std::chrono::days(90));
  EXPECT_TRUE(Load("").value().retention.empty());

  EXPECT_NE(ErrorOf("[retention]\nkeep_days = 30\nanonymize_after_days = 30\n")
                .find("retention.anonymize_after_days: 30 is not less than keep_days (30)"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[[retention.tenants]]\nkeep_days = 30\n").find("retention.tenants[0].tenant: missing"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[retention]\nkeep_months = 12\n").find("retention.keep_months: unknown key"), std::string::npos);
  EXPECT_NE(ErrorOf("[retention]\nkeep_days = \"1y\"\n").find("retention.keep_days: must be a whole number"),
            std::string::npos);
}

TEST_F(ConfigTest, ReadsKeyEpochsAndTheKeysMadeAheadAndSaysWhatIsWrongWithThem) {
  auto config = Load("[integrity]\nkey_name = \"audit.example/log\"\nkey_epoch_hours = 24\nupcoming_keys = 30\n");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(config->audit.key_name, "audit.example/log");
  EXPECT_EQ(config->audit.key_epoch, std::chrono::hours(24));
  EXPECT_EQ(config->audit.upcoming_keys, 30u);
  EXPECT_NE(ErrorOf("[integrity]\nupcoming_keys = 30\n")
                .find("integrity.upcoming_keys: keys made ahead are for key epochs: set key_epoch_hours too"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[integrity]\nkey_epoch_hours = 1\nupcoming_keys = 10001\n")
                .find("integrity.upcoming_keys: 10001 keys made ahead: at most 10000"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[integrity]\nkey_epoch_hours = 876001\n").find("is more than a century"), std::string::npos);
}

TEST_F(ConfigTest, ReadsTheUpstreamAndResolvesItsCredentials) {
  const auto token = dir_.path() / "upstream-token";
  std::ofstream(token) << "file-token\n";
  std::filesystem::permissions(token, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::replace);
  ::setenv("MCPAUDIT_TEST_UPSTREAM_KEY", "env-key", 1);
  auto config = Load("[upstream]\nurl = \"https://mcp.example.com/mcp\"\nbearer_token_file = \"" + token.string() +
                     "\"\nheaders = [\"X-Team: payments\"]\nheader_env = [\"X-API-Key: MCPAUDIT_TEST_UPSTREAM_KEY\"]\n"
                     "ca_file = \"/etc/ca.pem\"\nconnect_timeout_seconds = 3\n");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  auto resolved = ResolveUpstream(config->upstream);
  ASSERT_TRUE(resolved.has_value()) << resolved.error().message;
  EXPECT_EQ(resolved->url, "https://mcp.example.com/mcp");
  EXPECT_EQ(resolved->headers, (std::vector<std::string>{"Authorization: Bearer file-token",
                                                         "X-API-Key: env-key", "X-Team: payments"}));
  EXPECT_EQ(resolved->ca_file, "/etc/ca.pem");
  EXPECT_EQ(resolved->connect_timeout, std::chrono::seconds(3));

  // Without a configured source, $MCP_AUDIT_UPSTREAM_TOKEN; without that, no credentials.
  UpstreamConfig plain{.url = "http://127.0.0.1:9000/mcp"};
  ::setenv(kUpstreamTokenEnv, "from-env", 1);
  EXPECT_EQ(ResolveUpstream(plain).value().headers, std::vector<std::string>{"Authorization: Bearer from-env"});
  ::unsetenv(kUpstreamTokenEnv);
  EXPECT_TRUE(ResolveUpstream(plain).value().headers.empty());

  auto refusal = [](UpstreamConfig u) {
    auto resolved = ResolveUpstream(u);
    EXPECT_FALSE(resolved.has_value()) << u.url;
    return resolved ? "" : resolved.error().message;
  };
  EXPECT_NE(refusal({.url = "http://mcp.example.com/mcp"}).find("use https://"), std::string::npos);
  EXPECT_NE(refusal({.url = "mcp.example.com"}).find("not an http:// or https:// URL"), std::string::npos);
  EXPECT_NE(refusal({.url = "https://u:pw@mcp.example.com/mcp"}).find("holds a password"), std::string::npos);
  EXPECT_NE(refusal({.url = "https://mcp.example.com/mcp", .bearer_token_env = "MCPAUDIT_TEST_UNSET"})
                .find("MCPAUDIT_TEST_UNSET is not set"),
            std::string::npos);
  std::filesystem::permissions(token, std::filesystem::perms::others_read, std::filesystem::perm_options::add);
  EXPECT_NE(refusal({.url = "https://mcp.example.com/mcp", .bearer_token_file = token.string()}).find("chmod 600"),
            std::string::npos)
      << "a token file others can read is refused";

  EXPECT_NE(ErrorOf("[upstream]\nheaders = [\"X-Team payments\"]\n").find("upstream.headers: 'X-Team payments"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[upstream]\nheaders = [\"X-A: 1\\r\\nX-B: 2\"]\n").find("on one line"), std::string::npos);
  EXPECT_NE(ErrorOf("[upstream]\nconnect_timeout_seconds = 0\n").find("upstream.connect_timeout_seconds"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[upstream]\ntoken = \"x\"\n").find("upstream.token: unknown key"), std::string::npos);
}

TEST_F(ConfigTest, ReadsHttpAndAuth) {
  auto config = Load(R"(
[http]
listen = "0.0.0.0:9000"
allowed_hosts = ["mcp.example.com"]
trusted_proxies = ["10.0.0.5"]
session_timeout_seconds = 600

[[auth.api_keys]]
sha256 = "c0d6bbb96d2d690245546f145fe91e1c61bdc3f732b1a5ffd7a20bbd7f7a8327"
user_id = "alice"
tenant_id = "acme"
)");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(config->listen, "0.0.0.0:9000");
  EXPECT_EQ(config->http.allowed_hosts, std::vector<std::string>{"mcp.example.com"});
  EXPECT_EQ(config->http.trusted_proxies, std::vector<std::string>{"10.0.0.5"});
  EXPECT_EQ(config->http.session_timeout, std::chrono::seconds(600));
  ASSERT_NE(config->http.authenticator, nullptr);
  EXPECT_EQ(config->http.authenticator->Authenticate({"", "not-the-key"}).error().description, "unknown API key");
}

TEST_F(ConfigTest, BadAuthSaysWhatIsWrong) {
  EXPECT_NE(ErrorOf("[[auth.api_keys]]\nuser_id = \"a\"\n").find("auth.api_keys[0].sha256: missing"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[[auth.api_keys]]\nsha256 = \"abc\"\nuser_id = \"a\"\n").find("64 hex digits"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[auth.jwt]\njwks_file = \"/nonexistent/jwks.json\"\n").find("auth.jwt: cannot read"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[auth.jwt]\nalgorithms = [\"none\"]\njwks_url = \"https://idp.example.com/jwks\"\n")
                .find("'none' is not supported"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[auth.jwt]\nissuer_url = \"x\"\n").find("auth.jwt.issuer_url: unknown key"),
            std::string::npos);
}

TEST_F(ConfigTest, ReadsRedactionAndSaysWhatIsWrongWithIt) {
  const auto key = dir_.path() / "hmac.key";
  std::ofstream(key) << std::string(40, 'k');
  std::filesystem::permissions(key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::replace);
  auto config = Load("[policy.redaction]\nmode = \"hmac\"\nhmac_key_file = \"" + key.string() +
                     "\"\nmax_value_bytes = 1024\n[[policy.redaction.pointers]]\npointer = \"/patient/ssn\"\n"
                     "mode = \"drop\"\n");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(config->redaction.mode, RedactionMode::kHmac);
  EXPECT_EQ(config->redaction.hmac_key, std::string(40, 'k'));
  EXPECT_EQ(config->redaction.max_value_bytes, 1024u);
  ASSERT_EQ(config->redaction.pointers.size(), 1u);
  EXPECT_EQ(config->redaction.pointers[0].pointer.to_string(), "/patient/ssn");

  EXPECT_NE(ErrorOf("[policy.redaction]\nmode = \"hmac\"\n").find("policy.redaction: hmac needs a key"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[[policy.redaction.pointers]]\npointer = \"patient/ssn\"\n")
                .find(":2:11: policy.redaction.pointers[0].pointer: 'patient/ssn' is not a JSON pointer"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[policy.redaction]\nmode = \"blur\"\n").find("unknown value 'blur'"), std::string::npos);
  std::filesystem::permissions(key, std::filesystem::perms::others_read, std::filesystem::perm_options::add);
  EXPECT_NE(ErrorOf("[policy.redaction]\nmode = \"hmac\"\nhmac_key_file = \"" + key.string() + "\"\n")
                .find("chmod 600"),
            std::string::npos);
}

TEST_F(ConfigTest, ReadsSinksOfEveryKindAndSaysWhatIsWrongWithThem) {
  auto config = Load(R"(
[[sinks]]
name = "warehouse"
url = "postgres://audit@db.example.com/compliance"
password_env = "DB_PASSWORD"
[[sinks]]
name = "splunk"
type = "splunk"
url = "https://splunk.example.com:8088"
password_file = "/run/secrets/hec"
index = "mcp_audit"
ack = true
tenants = ["acme", "globex"]
event_types = ["tool_call"]
ca_file = "/etc/ssl/private-ca.pem"
gzip = false
timeout_seconds = 5
[[sinks]]
type = "syslog"
url = "tls://logs.example.com:6514"
facility = "authpriv"
)");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  ASSERT_EQ(config->sinks.size(), 3u);
  EXPECT_EQ(SinkType(config->sinks[0]), "postgres");
  EXPECT_EQ(config->sinks[0].password_env, "DB_PASSWORD");
  const SinkConfig& splunk = config->sinks[1];
  EXPECT_EQ(SinkType(splunk), "splunk");
  EXPECT_EQ(splunk.options.at("index"), "mcp_audit");
  EXPECT_EQ(splunk.options.at("ack"), "true");
  EXPECT_EQ(splunk.tenants, (std::vector<std::string>{"acme", "globex"}));
  EXPECT_EQ(splunk.event_types, (std::vector<std::string>{"tool_call"}));
  EXPECT_EQ(splunk.ca_file, "/etc/ssl/private-ca.pem");
  EXPECT_FALSE(splunk.gzip);
  EXPECT_EQ(splunk.timeout, std::chrono::seconds(5));
  EXPECT_EQ(config->sinks[2].name, "syslog") << "named after its type when unnamed";
  EXPECT_EQ(config->sinks[2].options.at("facility"), "authpriv");

  EXPECT_NE(ErrorOf("[[sinks]]\ntype = \"kafka\"\nurl = \"x\"\n").find("sinks[0].type: unknown value 'kafka'"), std::string::npos);
  EXPECT_NE(ErrorOf("[[sinks]]\nurl = \"https://splunk:8088\"\n").find("splunk, datadog, elastic"), std::string::npos);
  EXPECT_NE(ErrorOf("[[sinks]]\ntype = \"webhook\"\n").find("sinks[0].url: missing"), std::string::npos);
  EXPECT_NE(ErrorOf("[[sinks]]\nurl = \"sqlite:///a.db\"\n[[sinks]]\nurl = \"sqlite:///b.db\"\n").find("two sinks named"),
            std::string::npos);
}

TEST_F(ConfigTest, AMissingFileIsAnIoError) {
  auto config = LoadConfig((dir_.path() / "none.toml").string());
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().code, ErrorCode::kIo);
}

}  // namespace
}  // namespace mcpaudit::cli

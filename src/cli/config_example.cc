// `mcp-audit config example`: every key of the configuration file with its
// default and what it does (tests/cli/config_test.cc loads it).
#include "cli/config.h"

namespace mcpaudit::cli {

std::string ExampleConfig() {
  return R"(# mcp-audit configuration (TOML). Flags given to `mcp-audit serve` override it;
# every value below is the default.

[server]
toolkit = "catalog"            # the tools to serve
user = ""                      # the stdio caller; empty: $MCP_AUDIT_USER, else the OS user
max_json_depth = 64            # a message nested deeper is refused (-32600) and recorded as denied (too_deep)
request_state_key_file = ""    # 0600, >= 32 bytes, the same for every instance behind one load balancer: seals the
                               # requestState of 2026-07-28 multi round-trip calls; empty: a random key per process

[http]
listen = ""                    # HOST:PORT to serve Streamable HTTP on (like --http); empty: stdio
path = "/mcp"                  # the MCP endpoint
stateless = false              # true: no sessions; every POST stands alone (no GET stream)
allowed_hosts = []             # Host names served; empty: localhost names when bound to loopback
allowed_origins = []           # browser Origins served; empty: those whose host is an allowed Host
max_body_bytes = 4194304       # a larger request body gets 413
max_sessions = 10000           # in all; past it, initialize gets 503
max_sessions_per_user = 256    # past it, the user's least recently used idle session ends
max_connections = 4096         # past it, new connections wait in the kernel's backlog
request_timeout_seconds = 30   # to receive one request
idle_timeout_seconds = 120     # an idle keep-alive connection is closed
session_timeout_seconds = 3600 # a session without requests ends
trusted_proxies = []           # peers whose X-Forwarded-For names the client, e.g. ["10.0.0.5"]
resource_url = ""              # this endpoint's public URL (OAuth metadata); empty: from listen
authorization_servers = []     # OAuth authorization servers that issue tokens for it

[auth]
# Who may call over HTTP. Without any key or token source, HTTP serves loopback only.
# API keys: the config holds the SHA-256 of each key, never the key
# (`mcp-audit apikey --user alice` makes a key and prints its entry).
# [[auth.api_keys]]
# sha256 = "<64 hex digits, as printed by mcp-audit apikey>"
# user_id = "alice"
# email = "alice@example.com"
# tenant_id = "acme"
# roles = ["analyst"]

[auth.jwt]
algorithms = ["RS256", "ES256"]   # accepted "alg" values (HS256 needs secret_file); never "none"
public_key_file = ""           # PEM public key (RS256/ES256)
secret_file = ""               # shared secret for HS256 (mode 0600, 32 bytes or more)
jwks_file = ""                 # a JSON Web Key Set on disk
jwks_url = ""                  # or fetched over HTTPS and cached
jwks_cache_seconds = 300
issuer = ""                    # required "iss", when set
audience = []                  # "aud" must name one of these, when set
leeway_seconds = 60            # clock skew allowed for exp and nbf
require_exp = true
user_claim = "sub"             # the claims that name the caller
email_claim = "email"
tenant_claim = "tenant_id"
roles_claim = "roles"

# Rate limits: a token bucket per user (or tenant) for the tools a rule names; the first
# matching rule applies. A call over the limit is refused before it runs (JSON-RPC error
# -32029 saying when to retry) and recorded as denied / rate_limited.
# [[rate_limits]]
# tools = ["catalog_*"]
# per = "user"                 # user | tenant
# per_minute = 600
# burst = 20

# Sinks: where records are shipped from the journal (each from its own cursor; a sink that is
# down only builds a backlog, see `mcp-audit status`). With none, records go to SQLite at
# <audit dir>/audit.db. Passwords come from password_env or password_file, never the URL;
# hosts other than loopback need verified TLS.
# [[sinks]]
# name = "sqlite"
# url = "sqlite:///var/lib/mcp-audit/audit.db"
# [[sinks]]
# name = "warehouse"
# url = "postgres://audit@db.example.com:5432/compliance"   # or mysql://audit@db:3306/compliance
# password_env = "MCP_AUDIT_DB_PASSWORD"                     # or password_file = "/run/secrets/db"
# SIEMs and collectors name their type: splunk, datadog, elastic, otlp, webhook or syslog.
# [[sinks]]
# name = "splunk"
# type = "splunk"
# url = "https://splunk.example.com:8088"
# password_env = "SPLUNK_HEC_TOKEN"   # the token, API key or (webhook) HMAC key
# index = "mcp_audit"                 # splunk, elastic; also source, sourcetype, ack = true (splunk),
#                                     # service, tags (datadog, otlp), facility (syslog), host
# tenants = []                        # only these tenants' records; empty: all (checkpoints: always)
# event_types = []                    # only these event types; empty: all
# ca_file = ""                        # TLS: trust this CA bundle instead of the system's
# gzip = true
# timeout_seconds = 30
# ready_backlog_mb = 256              # /readyz: not ready while failing with more than this to ship

[audit]
dir = "./var/audit"            # the journal (0700; segment files 0600)
mode = "async"                 # async: a call waits for its record to be queued
                               # durable: until it is fdatasync'ed; fail closed when it cannot be
overflow = "block"             # a full queue: block the call, or drop the record (counted in the log)
queue_capacity = 65536         # records
flush_interval_ms = 1000       # async: fdatasync at least this often
stream = ""                    # the chain's name; empty: the journal's own (host-1a2b3c4d, in DIR/stream)
signing_key = ""               # Ed25519 private key (PEM, mode 0600) to sign checkpoints; see keygen
erasable = ["/user/email", "/request/client_ip", "/params"]   # JSON pointers erasure may remove

[audit.segments]
max_bytes = 67108864           # start a new segment file past 64 MiB
max_age_hours = 24             # or after a day

[audit.checkpoints]
every_records = 1000           # a (signed) checkpoint record after this many records
every_seconds = 60             # or this often, when there were records

[audit.disk]
space_left_mb = 512            # below: a warning in the operational log
admin_space_left_mb = 64       # below: the action
admin_space_left_action = "refuse"   # refuse (durable calls fail) | keep_logging (until the disk is full)

[integrity]
origin = ""                    # the checkpoints' notes: their log (default <host>/mcp-audit/<stream>)
key_name = ""                  # and their key's name (default: the name in audit-signing.vkey, else <host>/mcp-audit)
key_epoch_hours = 0            # > 0: a new signing key every so many hours, the old one destroyed (forward security)
upcoming_keys = 0              # with epochs: keys made ahead, their vkeys in <key>.upcoming.vkey for witnesses

[policy]
default_level = "request"      # none | metadata | request | full
# Levels per tool: the first rule whose pattern matches the tool name wins.
#   none      successful calls leave no record (refusals and failures always do)
#   metadata  no parameters
#   request   the parameters, secrets redacted
#   full      and a summary of the result (details.result, at most 1 KiB)
# [[policy.levels]]
# tools = ["catalog_list_tags"]
# level = "metadata"
#
# Classification: calls of these tools, or whose results touched these resource URNs, are
# marked; with require_access_reason a call without _meta.access_reason is refused (tool
# rules: before it runs; resource rules: its result is withheld).
# [[policy.classify]]
# resources = ["urn:li:dataset:(urn:li:dataPlatform:postgres,clinic.*"]
# sensitivity = "restricted"
# phi = true
# require_access_reason = true
#
# Redaction, before anything is written. Secret-looking keys (key_patterns, at any depth) and
# parameters a tool's schema marks sensitive become: mask ("[REDACTED]"), drop (left out) or
# hmac ("hmac-sha256:<hex>" with the key in hmac_key_file: equal values still correlate; the
# key is never stored with the records).
# [policy.redaction]
# mode = "mask"
# hmac_key_file = ""           # 32 bytes or more, mode 0600
# max_value_bytes = 0          # 0: no limit; longer strings: {"truncated_from": N, "value": "<prefix>"}
# [[policy.redaction.pointers]]   # values named by JSON pointer into the parameters
# pointer = "/patient/ssn"
# mode = "hmac"                # mask | drop | hmac | truncate
#
# Tool access per role (least privilege): once any rule exists, a tool call is allowed only
# when a rule for one of the caller's roles allows the tool and none denies it; a refused call
# never runs (in proxy mode: never reaches the upstream) and is recorded as denied.
# [[policy.access]]
# roles = ["analyst"]          # patterns on the caller's roles; "*": every caller
# allow = ["catalog_*"]
# deny = ["catalog_get_schema"]
#
# Sampling of high-volume tools: 1 in keep_one_in successful calls is recorded; failures
# and refusals always are, and sample_summary records count the skipped ones.
# [[policy.sampling]]
# tools = ["catalog_search"]
# keep_one_in = 10

# Retention: records older than keep_days are deleted, whole journal segments at a time from
# the oldest, once every sink has shipped them (and from the SQL stores); records older than
# anonymize_after_days lose their erasable fields. A signed `retention` record says what was
# done, and `verify` stays valid. 0: never. The server applies it every run_every_hours;
# `mcp-audit retention --config FILE` applies it while no server runs.
[retention]
keep_days = 0                  # records of tenants no rule names, and the audit system's own
anonymize_after_days = 0
run_every_hours = 24           # 0: only `mcp-audit retention`
max_journal_mb = 0             # a disk budget for the journal (0: none): above it the server deletes
                               # the oldest segments even before every sink has them, and records
                               # how many records each sink will never receive
# [[retention.tenants]]        # the first rule whose pattern matches user.tenant_id wins
# tenant = "shop-*"
# keep_days = 365              # PCI DSS 10.5.1: at least 12 months
# anonymize_after_days = 90

# `mcp-audit proxy` in front of a Streamable HTTP server (instead of `-- COMMAND`); --upstream-url
# overrides url. Each client session gets its own session with it. https://, or http:// to this
# machine only; TLS is verified. Credentials come from the environment or a file (mode 0600);
# with neither bearer_token_env nor bearer_token_file set, $MCP_AUDIT_UPSTREAM_TOKEN is used if set.
[upstream]
url = ""
bearer_token_env = ""          # Authorization: Bearer <the value of this environment variable>
bearer_token_file = ""         # or <the content of this file>
headers = []                   # sent as they are, e.g. ["X-Team: payments"]
header_env = []                # values from the environment, e.g. ["X-API-Key: UPSTREAM_API_KEY"]
ca_file = ""                   # trust this CA bundle instead of the system's
connect_timeout_seconds = 10
)";
}

}  // namespace mcpaudit::cli

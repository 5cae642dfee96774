// mcp-audit serve: an MCP server whose every tool call is audited.
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "audit/metrics.h"
#include "base/audit_files.h"
#include "base/bounded_queue.h"
#include "base/ops_log.h"
#include "catalog/catalog_toolkit.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/reload.h"
#include "cli/serving.h"
#include "cli/shipping.h"
#include "conformance/conformance_toolkit.h"
#include "console/console_site.h"
#include "mcpaudit/authenticators.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/http_transport.h"
#include "mcpaudit/pipeline.h"
#include "mcpaudit/server.h"
#include "mcpaudit/shipper.h"
#include "mcpaudit/sink.h"
#include "mcpaudit/stdio_transport.h"
#include "proxy/proxy_host.h"
#include "proxy/stdio_proxy.h"
#include "store/audit_reads.h"
#include "store/journal_reader.h"
#include "store/record_store.h"

namespace mcpaudit::cli {
namespace {

// The flags of `serve`; a flag that was not given leaves the config's value.
struct ServeFlags {
  std::string config_file;
  bool stdio = false;
  bool dev_api_key = false;
  std::string http;
  std::string audit_dir, toolkit, user, mode, signing_key;
  size_t max_message_bytes = 4 * 1024 * 1024;
  size_t workers = 4;
  std::string log_level = "info";
  bool proxy = false;  // `mcp-audit proxy`
  std::vector<std::string>
      upstream;              // proxy: the MCP server to start and put the audit in front of,
  std::string upstream_url;  // or the Streamable HTTP server to reach
  unsigned call_timeout_seconds = 300;  // proxy: how long a call may wait for the upstream
  CLI::Option *http_opt = nullptr, *audit_dir_opt = nullptr, *toolkit_opt = nullptr,
              *user_opt = nullptr, *mode_opt = nullptr, *signing_key_opt = nullptr,
              *upstream_url_opt = nullptr;
};

// The effective settings: defaults, then the config file, then the flags.
Result<Config> Settings(const ServeFlags& flags) {
  Config config;
  if (!flags.config_file.empty()) {
    auto loaded = LoadConfig(flags.config_file);
    if (!loaded) return loaded;
    config = std::move(*loaded);
  }
  if (flags.http_opt && flags.http_opt->count()) config.listen = flags.http;
  if (flags.stdio) config.listen.clear();
  if (flags.audit_dir_opt->count()) config.audit.directory = flags.audit_dir;
  if (flags.toolkit_opt && flags.toolkit_opt->count()) config.toolkit = flags.toolkit;
  if (flags.user_opt->count()) config.user = flags.user;
  if (flags.signing_key_opt->count()) config.audit.signing_key = flags.signing_key;
  if (flags.upstream_url_opt && flags.upstream_url_opt->count())
    config.upstream.url = flags.upstream_url;
  if (flags.mode_opt->count()) {
    auto mode = ParseDeliveryMode(flags.mode);
    if (!mode) return std::unexpected(mode.error());
    config.audit.mode = *mode;
  }
  return config;
}

// Who is calling over stdio: --user, else MCP_AUDIT_USER, else the OS user.
Identity StdioIdentity(const std::string& flag_user) {
  Identity identity;
  if (!flag_user.empty()) {
    identity.user_id = flag_user;
    identity.auth_method = "cli_flag";
  } else if (const char* env = std::getenv("MCP_AUDIT_USER"); env && *env) {
    identity.user_id = env;
    identity.auth_method = "env";
  } else {
    const passwd* pw = ::getpwuid(::geteuid());
    identity.user_id = pw ? pw->pw_name : "uid:" + std::to_string(::geteuid());
    identity.auth_method = "os_user";
  }
  return identity;
}

std::string InstanceName() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(::getpid());
}

Status ServeOverStdio(Server& server, const Config& config, const ServeFlags& flags,
                      const Toolkit& toolkit, const std::string& journal_line,
                      const std::filesystem::path& records, std::stop_source stop) {
  StdioOptions stdio;
  stdio.max_message_bytes = flags.max_message_bytes;
  stdio.connection.identity = StdioIdentity(config.user);
  stdio.connection.session_id = NewUuidV7(std::chrono::system_clock::now(), SecureRandom());
  std::cerr << "mcp-audit " << MCPAUDIT_VERSION
            << ": serving MCP over stdio (toolkit: " << config.toolkit << ", "
            << toolkit.ListTools().size() << " tools)\n"
            << "  caller:        " << stdio.connection.identity.user_id << " ("
            << stdio.connection.identity.auth_method << ")\n"
            << journal_line << "  connect:       point an MCP client at this command, e.g.\n"
            << "                 npx @modelcontextprotocol/inspector "
            << std::filesystem::read_symlink("/proc/self/exe").string()
            << " serve --stdio --audit-dir " << records.string() << "\n"
            << "  stop:          end of input (Ctrl-D) or Ctrl-C\n";
  return ServeStdio(server, stdio, stop.get_token());
}

// The HTTP settings, checked before anything starts: the address, and who may call.
Result<HttpOptions> PrepareHttp(const Config& config, const ServeFlags& flags,
                                std::string& dev_key) {
  HttpOptions http = config.http;
  http.max_json_depth = config.max_json_depth;
  if (auto parsed = ParseListen(config.listen, http); !parsed)
    return std::unexpected(parsed.error());
  if (flags.dev_api_key) {
    if (http.authenticator) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--dev-api-key: the config already sets [auth]; use its keys");
    }
    NewApiKey key = GenerateApiKey();
    Identity developer = StdioIdentity(config.user);
    developer.roles.push_back("auditor");  // the development key may read the audit log too
    auto made = MakeApiKeyAuthenticator({{key.sha256, developer}});
    if (!made) return std::unexpected(made.error());
    http.authenticator = ChainAuthenticators(*made, nullptr);
    dev_key = key.key;
  }
  if (http.host == "localhost") http.host = "127.0.0.1";
  if (!IsLoopback(http.host) && !http.authenticator) {
    return Fail(
        ErrorCode::kInvalidArgument,
        "refusing to serve " + config.listen +
            " without authentication: anyone who can reach that address could call the tools. "
            "Configure [auth] (API keys or JWT) in the config file, or bind to loopback "
            "(--http 127.0.0.1:PORT) for development");
  }
  return http;
}

// Who may call an HTTP endpoint, as the start-up banner says it.
std::string CallersLines(const HttpOptions& http, const std::string& dev_key) {
  std::string lines = std::string("  callers:       ") +
                      (!dev_key.empty() ? "with the development API key below (X-API-Key header)"
                       : http.authenticator ? "authenticated ([auth] in the config)"
                                            : "not authenticated (loopback only)") +
                      "\n";
  if (!dev_key.empty()) lines += "  dev API key:   " + dev_key + "   (valid for this run only)\n";
  return lines;
}

Status ServeOverHttp(Server& server, HttpOptions http, const Config& config,
                     const std::string& dev_key, const Toolkit& toolkit,
                     const std::string& journal_line, std::stop_source stop) {
  http.on_listening = [&](const std::string& url) {
    std::cerr << "mcp-audit " << MCPAUDIT_VERSION
              << ": serving MCP over Streamable HTTP (toolkit: " << config.toolkit << ", "
              << toolkit.ListTools().size() << " tools)\n"
              << "  endpoint:      " << url << (http.stateless ? " (stateless)" : "") << "\n"
              << CallersLines(http, dev_key) << journal_line
              << "  connect:       npx @modelcontextprotocol/inspector --cli " << url
              << " --transport http --method tools/list"
              << (dev_key.empty() ? "" : " --header \"X-API-Key: " + dev_key + "\"") << "\n"
              << (http.read_api ? ConsoleBannerLines(url.substr(0, url.size() - http.path.size()))
                                : "")
              << "  stop:          Ctrl-C (calls in flight finish first)\n";
  };
  return ServeHttp(server, http, stop.get_token());
}

// `proxy`: relays between the clients (on stdio, or each HTTP session) and
// the upstream (a child process or an HTTP session of its own per client
// session), recording each call.
int RunProxy(const ServeFlags& flags, const Config& config, HttpUpstream upstream,
             const HttpOptions& http, const std::string& dev_key, Pipeline& pipeline,
             const AuditServer& server, const std::string& journal_line, std::stop_source stop,
             std::function<void()> on_hangup) {
  static const SystemClock clock;
  Recorder recorder(pipeline, server, clock, SecureRandom());
  ProxyOptions options;
  options.command = flags.upstream;
  options.http = std::move(upstream);
  options.stopping = stop.get_token();
  const bool over_http = !options.http.url.empty();
  const std::string upstream_name = over_http ? options.http.url : flags.upstream.front();
  options.fail_closed = config.audit.mode == DeliveryMode::kDurable;
  options.redaction = config.redaction;
  options.policy = config.policy;
  options.call_timeout = std::chrono::seconds(flags.call_timeout_seconds);
  options.max_message_bytes = flags.max_message_bytes;
  options.max_json_depth = config.max_json_depth;
  // Answers (tool results, resources) may be larger than what clients send.
  options.max_upstream_message_bytes =
      std::max(options.max_upstream_message_bytes, flags.max_message_bytes);
  options.http.max_message_bytes = options.max_upstream_message_bytes;
  // Past the call timeout the call has failed; its request is kept a little longer for a late
  // answer.
  options.http.request_timeout = options.call_timeout + std::chrono::seconds(30);
  if (!config.rate_limits.empty())
    options.middleware.push_back(std::make_shared<RateLimiter>(config.rate_limits));
  SignalWatcher watcher(stop, std::move(on_hangup));
  if (config.listen.empty()) {
    const Identity identity = StdioIdentity(config.user);
    std::cerr << "mcp-audit " << MCPAUDIT_VERSION << ": auditing the MCP server `" << upstream_name
              << "` over stdio\n"
              << "  caller:        " << identity.user_id << " (" << identity.auth_method << ")\n"
              << journal_line << "  stop:          end of input (Ctrl-D) or Ctrl-C\n";
    // One client, one upstream process: when it ends, so does the session. An
    // HTTP server that forgot the session (a restart) gets a new one.
    if (!over_http) options.max_restarts = 0;
    return StdioProxy(options, recorder, identity)
        .Run(STDIN_FILENO, STDOUT_FILENO, stop.get_token());
  }
  if (http.stateless) {
    std::cerr << "mcp-audit proxy: stateless HTTP is not available in proxy mode: each session "
                 "keeps its own "
                 "upstream; remove http.stateless\n";
    return 2;
  }
  ProxyHost host(options, recorder);
  HttpOptions served = http;
  served.on_listening = [&](const std::string& url) {
    std::cerr << "mcp-audit " << MCPAUDIT_VERSION << ": auditing the MCP server `" << upstream_name
              << "` for clients over Streamable HTTP ("
              << (over_http ? "one upstream session" : "one upstream process") << " per session)\n"
              << "  endpoint:      " << url << "\n"
              << CallersLines(http, dev_key) << journal_line
              << (http.read_api ? ConsoleBannerLines(url.substr(0, url.size() - http.path.size()))
                                : "")
              << "  stop:          Ctrl-C (calls in flight finish first)\n";
  };
  if (Status status = ServeHttp(host, served, stop.get_token()); !status) {
    std::cerr << "mcp-audit proxy: " << status.error().message << "\n";
    return 1;
  }
  return 0;
}

// Retention inside the server, when configured: now, then every
// run_every_hours, and as soon as the journal outgrows its disk budget (looked
// at every minute). Destroying the thread stops it.
std::jthread StartRetention(const Config& config, Pipeline& pipeline) {
  const RetentionPolicy& rp = config.retention;
  if (rp.empty() || (rp.run_every.count() == 0 && rp.max_journal_bytes == 0)) return {};
  return std::jthread([&config, &rp, &pipeline](std::stop_token stop) {
    std::mutex mutex;
    std::condition_variable_any wake;
    std::optional<std::chrono::steady_clock::time_point> last_run;
    do {  // the first look happens even when the server stops at once
      const bool due = rp.run_every.count() > 0 &&
                       (!last_run || std::chrono::steady_clock::now() - *last_run >= rp.run_every);
      if (due || (rp.max_journal_bytes > 0 &&
                  JournalBytes(config.audit.directory) > rp.max_journal_bytes)) {
        last_run = std::chrono::steady_clock::now();
        auto plan = RunRetention(config, &pipeline, false);
        if (!plan) {
          OpsLog().error("retention: {}", plan.error().message);
        } else {
          OpsLog().info(
              "retention: deleted {} records ({} segments), anonymised {}, {} expired kept",
              plan->records_to_delete, plan->segments_to_delete.size(), plan->records_anonymised,
              plan->expired_kept);
          for (const auto& [sink, count] : plan->given_up)
            OpsLog().error(
                "retention: the journal was over its disk budget: sink {} will never receive {} "
                "records",
                sink, count);
        }
      }
      std::unique_lock lock(mutex);
      wake.wait_for(lock, stop, std::chrono::minutes(1), [] { return false; });
    } while (!stop.stop_requested());
  });
}

int Serve(const ServeFlags& flags) {
  // Every thread started from here on inherits the mask: only the watcher takes them.
  const sigset_t signals = WatchedSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  OpsLog().set_level(spdlog::level::from_str(flags.log_level));
  auto settings = Settings(flags);
  if (!settings) {
    std::cerr << "mcp-audit serve: " << settings.error().message << "\n";
    return 2;
  }
  const Config& config = *settings;
  if (config.toolkit != "catalog" && config.toolkit != "conformance") {
    std::cerr << "mcp-audit serve: unknown toolkit '" << config.toolkit
              << "' (available: catalog, conformance)\n";
    return 2;
  }
  HttpUpstream upstream;
  if (flags.proxy) {
    if (flags.upstream.empty() == config.upstream.url.empty()) {
      std::cerr << "mcp-audit proxy: name the MCP server to audit: `-- COMMAND [ARGS...]` for one "
                   "that speaks "
                   "stdio, or --upstream-url URL (or [upstream] url) for a Streamable HTTP server; "
                   "not both\n";
      return 2;
    }
    if (!config.upstream.url.empty()) {
      auto resolved = ResolveUpstream(config.upstream);
      if (!resolved) {
        std::cerr << "mcp-audit proxy: " << resolved.error().message << "\n";
        return 2;
      }
      upstream = std::move(*resolved);
    }
  }
  std::string dev_key;
  Result<HttpOptions> http = HttpOptions{};
  if (!config.listen.empty()) http = PrepareHttp(config, flags, dev_key);
  if (!http) {
    std::cerr << "mcp-audit serve: " << http.error().message << "\n";
    return 2;
  }
  // Who may call, as a reload replaces it: the MCP endpoint, the read API and
  // the console's sign-in all ask this one.
  std::shared_ptr<SwappableAuthenticator> authenticator;
  if (http->authenticator && dev_key.empty()) {
    authenticator = std::make_shared<SwappableAuthenticator>(http->authenticator);
    http->authenticator = authenticator;
  }
  PipelineOptions pipeline_options = config.audit;
  pipeline_options.server = {"mcp-audit", MCPAUDIT_VERSION, InstanceName()};
  if (pipeline_options.stream.empty()) {
    auto stream = JournalStream(config.audit.directory);
    if (!stream) {
      std::cerr << "mcp-audit serve: " << stream.error().message << "\n";
      return 2;
    }
    pipeline_options.stream = std::move(*stream);
  }
  std::vector<CursorAhead> cursors_ahead;
  pipeline_options.anchors = JournalAnchors(config.audit.directory, SinksOrDefault(config),
                                            pipeline_options.stream, cursors_ahead);
  auto pipeline = Pipeline::Open(pipeline_options);
  if (!pipeline) {
    std::cerr << "mcp-audit serve: " << pipeline.error().message << "\n";
    return 2;
  }
  // Shippers that shipped records the journal lost go on from where it now ends.
  if (Status moved = MoveCursorsBack(config.audit.directory, cursors_ahead); !moved)
    OpsLog().error("{}", moved.error().message);
  // Each sink is fed from the journal by its own shipper (stopped after the
  // pipeline, so that they ship the final records too).
  auto shipping = Shipping::Start(config.audit.directory, SinksOrDefault(config));
  if (!shipping) {
    std::cerr << "mcp-audit serve: " << shipping.error().message << "\n";
    return 2;
  }
  // Reads of the audit log by the CLI while the server holds the journal.
  auto reads =
      AuditReadListener::Start(config.audit.directory, **pipeline, pipeline_options.server);
  if (!reads)
    OpsLog().warn("reads of the audit log by mcp-audit commands cannot be recorded: {}",
                  reads.error().message);
  std::jthread retention = StartRetention(config, **pipeline);
  const bool durable = config.audit.mode == DeliveryMode::kDurable;
  ToolkitOptions toolkit_options;
  toolkit_options.server = pipeline_options.server;
  toolkit_options.fail_closed = durable;
  toolkit_options.policy = config.policy;
  toolkit_options.redaction = config.redaction;
  Toolkit toolkit(**pipeline, toolkit_options);
  auto limiter = std::make_shared<RateLimiter>(config.rate_limits);  // a reload may add rules
  toolkit.Use(limiter);
  const bool catalog = config.toolkit == "catalog";
  if (auto registered =
          catalog ? RegisterCatalogTools(toolkit) : RegisterConformanceToolkit(toolkit);
      !registered) {
    std::cerr << "mcp-audit serve: " << registered.error().message << "\n";
    return 2;
  }
  ServerOptions server_options;
  server_options.version = MCPAUDIT_VERSION;
  // Durable calls do not wait for the disk on a worker (Toolkit::CallThen): the
  // same few workers serve both modes.
  server_options.workers = flags.workers;
  server_options.max_json_depth = config.max_json_depth;
  if (!config.request_state_key_file.empty()) {
    auto key = ReadSecret("", config.request_state_key_file, "server.request_state_key_file",
                          /*owner_only=*/true);
    if (key && key->size() < 32)
      key = Fail(ErrorCode::kInvalidArgument,
                 "server.request_state_key_file: the key must hold at least 32 bytes");
    if (!key) {
      std::cerr << "mcp-audit serve: " << key.error().message << "\n";
      return 2;
    }
    server_options.request_state_key = std::move(*key);
  }
  if (catalog) {
    server_options.title = "mcp-audit (catalog demo)";
    server_options.instructions =
        "A metadata catalog of datasets, dashboards and glossary terms. Start with catalog_search; "
        "every tool call is recorded in an audit log.";
  } else {
    server_options.title = "mcp-audit (conformance fixtures)";
  }

  const auto records = std::filesystem::absolute(config.audit.directory).lexically_normal();
  const std::string journal_line =
      "  audit journal: " + records.string() + " (" + (durable ? "durable" : "async") + " mode, " +
      (config.audit.signing_key.empty() ? "unsigned" : "signed") + " checkpoints, files 0600)\n" +
      "  read it:       mcp-audit query --audit-dir " + records.string() +
      "   verify it: mcp-audit verify --audit-dir " + records.string() + "\n" +
      (*shipping)->Summary();
  // GET /metrics on the HTTP listener: the pipeline's and the shippers' counters.
  http->metrics = [&pipeline = **pipeline, &shipping = **shipping] {
    return PrometheusText(pipeline.counters(), shipping.Metrics());
  };
  // GET /readyz: whether a load balancer should send calls here; looked at once
  // a second at most, however often it is asked (it stats the journal's files).
  struct ReadinessSeen {
    std::mutex mutex;
    std::chrono::steady_clock::time_point at;
    Readiness answer;
  };
  http->readiness = [&pipeline = **pipeline, &shipping = **shipping, &audit = config.audit,
                     seen = std::make_shared<ReadinessSeen>()] {
    std::lock_guard lock(seen->mutex);
    const auto now = std::chrono::steady_clock::now();
    if (seen->answer.body.empty() || now - seen->at >= std::chrono::seconds(1)) {
      seen->answer = ReadinessOf(pipeline, audit, shipping);
      seen->at = now;
    }
    return seen->answer;
  };
  // The auditor's console on the same listener, reading the first SQL store the server ships to.
  ReadApiOptions read_api;
  read_api.logger = pipeline->get();
  read_api.server = pipeline_options.server;
  for (const SinkConfig& sink : SinksOrDefault(config))
    if (IsSqlStore(sink)) {
      read_api.store = sink;
      break;
    }
  std::unique_ptr<ConsoleSite> console;
  if (!read_api.store.url.empty()) {
    auto site = ConsoleSite::Create(read_api, config.audit.directory, config.audit.signing_key);
    if (!site) {
      std::cerr << "mcp-audit serve: " << site.error().message << "\n";
      return 2;
    }
    console = std::move(*site);
    console->Mount(*http);
  }
  std::stop_source stop;
  Status served;
  int proxied = 0;
  // SIGHUP (`mcp-audit reload`): the file read again, the flags applied again.
  LiveSettings live{**pipeline,
                    pipeline_options.server,
                    **shipping,
                    authenticator,
                    flags.proxy ? nullptr : &toolkit,
                    limiter,
                    config.policy,
                    config.rate_limits,
                    nullptr};
  auto reload = [&] {
    if (flags.config_file.empty()) {
      (void)Reload(live, config,
                   Fail(ErrorCode::kInvalidArgument,
                        "serve was started without --config: there is no file to read again"),
                   "");
      return;
    }
    (void)Reload(live, config, Settings(flags), flags.config_file);
  };
  if (flags.proxy) {
    proxied = RunProxy(flags, config, std::move(upstream), *http, dev_key, **pipeline,
                       pipeline_options.server, journal_line, stop, reload);
  } else {
    Server server(server_options, toolkit);
    live.tools_changed = [&server] { server.ToolsListChanged(); };
    SignalWatcher watcher(stop, reload);  // before the server goes: it may reach it
    if (config.listen.empty()) {
      served = ServeOverStdio(server, config, flags, toolkit, journal_line, records, stop);
    } else {
      served = ServeOverHttp(server, *http, config, dev_key, toolkit, journal_line, stop);
    }
  }
  retention = {};   // stops and joins it: it logs through the pipeline
  console.reset();  // stops a verify run, which records its verdict through the pipeline
  if (reads) reads->reset();
  auto flushed = (*pipeline)->Flush();
  const PipelineCounters counters = (*pipeline)->counters();
  OpsLog().info("stopping: {} audit records written, {} dropped, {} refused, {} failed writes",
                counters.written, counters.dropped, counters.refused, counters.failed);
  pipeline->reset();  // audit_stopped and the final checkpoint
  shipping->reset();  // each shipper ships what is left while its sink takes it
  if (!served) {
    std::cerr << "mcp-audit serve: " << served.error().message << "\n";
    return 1;
  }
  if (!flushed) {
    std::cerr << "mcp-audit serve: audit records could not be written: " << flushed.error().message
              << "\n";
    return 1;
  }
  return proxied;
}

}  // namespace

void AddServeCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve MCP with every tool call audited");
  cmd->add_option("--config", flags->config_file,
                  "Configuration file (TOML; see `mcp-audit config example`)");
  cmd->add_flag("--stdio", flags->stdio, "Serve one client over stdin/stdout (the default)");
  flags->http_opt =
      cmd->add_option("--http", flags->http,
                      "Serve Streamable HTTP on HOST:PORT, e.g. 127.0.0.1:8080 (endpoint /mcp)");
  cmd->get_option("--stdio")->excludes(flags->http_opt);
  cmd->add_flag(
      "--dev-api-key", flags->dev_api_key,
      "HTTP: make a one-time API key for this run, print it, and require it (development)");
  flags->audit_dir_opt = cmd->add_option("--audit-dir", flags->audit_dir,
                                         "Directory of the journal (default ./var/audit)");
  flags->toolkit_opt = cmd->add_option(
      "--toolkit", flags->toolkit,
      "The tools to serve: catalog, or conformance (the MCP conformance suite's fixtures)");
  flags->mode_opt =
      cmd->add_option("--mode", flags->mode,
                      "async (a call waits for its record to be queued) or durable (to be on disk; "
                      "fail closed)")
          ->check(CLI::IsMember({"async", "durable"}));
  flags->signing_key_opt = cmd->add_option(
      "--signing-key", flags->signing_key,
      "Ed25519 private key (PEM, mode 0600) that signs the journal's checkpoints (see keygen)");
  flags->user_opt =
      cmd->add_option("--user", flags->user,
                      "The caller's user id on stdio (default: $MCP_AUDIT_USER, else the OS user)");
  cmd->add_option("--max-message-bytes", flags->max_message_bytes,
                  "Longest accepted JSON-RPC message; longer ones get an error")
      ->capture_default_str();
  cmd->add_option("--workers", flags->workers, "Threads that run tool calls")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--log-level", flags->log_level, "Operational log level on stderr")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  cmd->callback([flags, &exit_code] { exit_code = Serve(*flags); });
}

void AddProxyCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "proxy",
      "Audit an MCP server: `mcp-audit proxy [options] -- COMMAND [ARGS...]` (stdio) or "
      "`mcp-audit proxy --upstream-url URL` (Streamable HTTP)");
  cmd->add_option("--config", flags->config_file,
                  "Configuration file (TOML; see `mcp-audit config example`)");
  flags->http_opt = cmd->add_option(
      "--http", flags->http,
      "Serve clients over Streamable HTTP on HOST:PORT (one upstream process or "
      "session per session; [auth] and [http] of the config apply) instead of stdio");
  cmd->add_flag(
      "--dev-api-key", flags->dev_api_key,
      "HTTP: make a one-time API key for this run, print it, and require it (development)");
  cmd->add_flag("--stdio", flags->stdio, "Serve one client over stdin/stdout (the default)");
  cmd->get_option("--stdio")->excludes(flags->http_opt);
  flags->audit_dir_opt = cmd->add_option("--audit-dir", flags->audit_dir,
                                         "Directory of the journal (default ./var/audit)");
  cmd->add_option("--max-message-bytes", flags->max_message_bytes,
                  "Longest accepted client message on stdio; longer ones get an error (the "
                  "upstream's answers "
                  "may be 16 MiB, or this if larger)")
      ->capture_default_str();
  flags->mode_opt = cmd->add_option("--mode", flags->mode,
                                    "async or durable (no answer without its record on disk)")
                        ->check(CLI::IsMember({"async", "durable"}));
  flags->signing_key_opt = cmd->add_option("--signing-key", flags->signing_key,
                                           "Ed25519 private key that signs the checkpoints");
  flags->user_opt = cmd->add_option(
      "--user", flags->user, "The caller's user id (default: $MCP_AUDIT_USER, else the OS user)");
  cmd->add_option("--log-level", flags->log_level, "Operational log level on stderr")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  cmd->add_option(
         "--call-timeout-seconds", flags->call_timeout_seconds,
         "A call the server has not answered by then gets an error (and is recorded as a failure)")
      ->check(CLI::Range(1u, 86400u))
      ->capture_default_str();
  flags->upstream_url_opt =
      cmd->add_option("--upstream-url", flags->upstream_url,
                      "The Streamable HTTP server to audit, e.g. https://mcp.example.com/mcp "
                      "(credentials: [upstream] in the "
                      "config, or $MCP_AUDIT_UPSTREAM_TOKEN as a bearer token)");
  cmd->add_option("command", flags->upstream,
                  "The MCP server to start and audit (stdio), after --");
  cmd->callback([flags, &exit_code] {
    flags->proxy = true;
    exit_code = Serve(*flags);
  });
}

}  // namespace mcpaudit::cli

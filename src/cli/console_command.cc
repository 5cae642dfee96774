// mcp-audit console: the auditor's console (web pages and read API) on a
// listener of its own, reading a store (e.g. a PostgreSQL that several
// servers ship to); each read is recorded in a local journal.
#include <iostream>

#include "base/bounded_queue.h"
#include "base/ops_log.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/serving.h"
#include "console/console_site.h"
#include "store/audit_reads.h"
#include "store/journal_reader.h"

namespace mcpaudit::cli {

namespace {

// Each read through the console goes to the journal of its audit directory:
// handed to the server that holds it, or kept for the next one (audit_reads.h).
class AuditReadRecorder final : public AuditLogger {
 public:
  explicit AuditReadRecorder(std::filesystem::path dir) : dir_(std::move(dir)) {}
  Status Log(const AuditEvent& event) override { return RecordAuditRead(dir_, event); }
  Status Ready() const override { return {}; }

 private:
  std::filesystem::path dir_;
};

// The console serves no MCP sessions; what it refuses (a wrong key, a bad
// Host) is recorded as a refused read, on a thread of its own: the I/O thread
// never waits for the journal. Past 1024 waiting, refusals are counted instead.
class ConsoleHost final : public SessionHost {
 public:
  explicit ConsoleHost(const ReadApiOptions& api)
      : api_(api), thread_([this] {
          std::vector<AuditEvent> batch;
          while (queue_.PopBatch(batch, 64)) {
            for (const AuditEvent& e : batch)
              if (Status logged = api_.logger->Log(e); !logged)
                OpsLog().error("a refused read is not recorded: {}", logged.error().message);
            batch.clear();
          }
        }) {}
  ~ConsoleHost() override {
    queue_.Close();
    thread_.join();
    if (dropped_ > 0) OpsLog().warn("{} refused reads were only counted: too many at once", dropped_.load());
  }
  std::unique_ptr<Connection> Connect(ConnectionInfo, MessageSender) override { return nullptr; }
  void RecordRefusal(const ConnectionInfo& info, const RefusedRequest& refusal) override {
    AuditEvent e = ReadApiEvent(api_, info.identity, info.client_ip, "api");
    e.outcome = Outcome::kDenied;
    e.error = AuditError{refusal.http_status ? refusal.http_status : refusal.code, refusal.message, refusal.reason};
    if (queue_.Push(std::move(e), /*wait=*/false) != PushResult::kOk) ++dropped_;
  }

 private:
  const ReadApiOptions& api_;
  BoundedQueue<AuditEvent> queue_{1024};
  std::atomic<uint64_t> dropped_{0};
  std::thread thread_;  // last: started once the queue exists
};

int RunConsole(const std::string& listen, const std::string& audit_dir, const StoreFlags& store_flags,
               const std::string& config_file) {
  const sigset_t signals = WatchedSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  Config config;
  if (!config_file.empty()) {
    auto loaded = LoadConfig(config_file);
    if (!loaded) {
      std::cerr << "mcp-audit console: " << loaded.error().message << "\n";
      return 2;
    }
    config = std::move(*loaded);
  }
  if (!audit_dir.empty()) config.audit.directory = audit_dir;
  ReadApiOptions api;
  api.store = store_flags.Config();
  if (api.store.url.empty())
    for (const SinkConfig& sink : SinksOrDefault(config))
      if (IsSqlStore(sink)) {
        api.store = sink;
        break;
      }
  // Each read is recorded there, or not answered: a directory without a journal would refuse them all.
  if (auto files = ListAuditFiles(config.audit.directory); !files || files->empty()) {
    std::cerr << "mcp-audit console: no audit journal in " << config.audit.directory.string()
              << " to record the reads in: point --audit-dir at a journal (`mcp-audit serve` makes one)\n";
    return 2;
  }
  AuditReadRecorder recorder(config.audit.directory);
  api.logger = &recorder;
  api.server = {"mcp-audit console", MCPAUDIT_VERSION, ""};
  HttpOptions http = config.http;
  http.serve_mcp = false;
  if (Status parsed = ParseListen(listen, http); !parsed) {
    std::cerr << "mcp-audit console: " << parsed.error().message << "\n";
    return 2;
  }
  if (http.host == "localhost") http.host = "127.0.0.1";
  if (!IsLoopback(http.host) && !http.authenticator) {
    std::cerr << "mcp-audit console: refusing to serve " << listen
              << " without authentication: configure [auth] in the config file, or bind to loopback\n";
    return 2;
  }
  if (!http.authenticator) {
    std::cerr << "mcp-audit console: no callers could read: configure [auth] with a key or token of the auditor "
                 "role (`mcp-audit apikey --user ann --role auditor`)\n";
    return 2;
  }
  if (!IsLoopback(http.host) && http.trusted_proxies.empty())
    std::cerr << "mcp-audit console: warning: keys, tokens and session cookies cross the network unencrypted on "
                 "http://" << listen << ": serve it behind an HTTPS reverse proxy ([http] trusted_proxies)\n";
  // A store named apart from the journal is verified itself; else the journal, held against its own store.
  const bool own_store = store_flags.url.empty() && api.store.url == "sqlite://" +
                                                        (config.audit.directory / "audit.db").string();
  auto site = ConsoleSite::Create(api, own_store ? config.audit.directory : std::filesystem::path(),
                                  config.audit.signing_key);
  if (!site) {
    std::cerr << "mcp-audit console: " << site.error().message << "\n";
    return 2;
  }
  (*site)->Mount(http);
  http.on_listening = [&](const std::string& url) {
    const std::string base = url.substr(0, url.size() - http.path.size());
    std::cerr << "mcp-audit " << MCPAUDIT_VERSION << ": the auditor's console\n"
              << "  endpoint:      " << base << "/\n"
              << ConsoleBannerLines(base)
              << "  store:         " << RedactUrl(api.store.url) << "\n"
              << "  reads go to:   the journal in " << config.audit.directory.string() << "\n"
              << "  stop:          Ctrl-C\n";
  };
  ConsoleHost host(api);
  std::stop_source stop;
  SignalWatcher watcher(stop);
  if (Status served = ServeHttp(host, http, stop.get_token()); !served) {
    std::cerr << "mcp-audit console: " << served.error().message << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

void AddConsoleCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::string listen, audit_dir, config;
    StoreFlags store;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "console", "Serve the auditor's console (/console/) and read API (/api/v1/) from a store, e.g. a shared PostgreSQL");
  cmd->add_option("--http", options->listen, "HOST:PORT to listen on")->required();
  cmd->add_option("--audit-dir", options->audit_dir,
                  "The journal each read is recorded in (default: the config's, else ./var/audit)");
  AddStoreFlags(cmd, options->store, "The store to read (default: the config's first SQL sink, else <audit-dir>/audit.db)");
  cmd->add_option("--config", options->config, "Configuration file: [auth] says who may call, [[sinks]] the stores");
  cmd->callback([options, &exit_code] {
    exit_code = RunConsole(options->listen, options->audit_dir, options->store, options->config);
  });
}

}  // namespace mcpaudit::cli

// The subcommands of `mcp-audit`. Each adds itself to the app; its callback
// stores the process exit code in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "audit/signed_note.h"
#include "mcpaudit/sink.h"
#include "store/journal_reader.h"
#include "store/query.h"
#include "store/store_query.h"
#include "store/retention.h"

namespace mcpaudit {
class Pipeline;
}

namespace mcpaudit::cli {

struct Config;

void AddServeCommand(CLI::App& app, int& exit_code);
void AddQueryCommand(CLI::App& app, int& exit_code);
void AddTailCommand(CLI::App& app, int& exit_code);
void AddVerifyCommand(CLI::App& app, int& exit_code);
void AddKeygenCommand(CLI::App& app, int& exit_code);
void AddConfigCommand(CLI::App& app, int& exit_code);
void AddEraseCommand(CLI::App& app, int& exit_code);
void AddApiKeyCommand(CLI::App& app, int& exit_code);
void AddStatusCommand(CLI::App& app, int& exit_code);
void AddExportCommand(CLI::App& app, int& exit_code);
void AddProxyCommand(CLI::App& app, int& exit_code);
void AddRetentionCommand(CLI::App& app, int& exit_code);
void AddReportCommand(CLI::App& app, int& exit_code);
void AddConsoleCommand(CLI::App& app, int& exit_code);
void AddReloadCommand(CLI::App& app, int& exit_code);
void AddCheckpointCommand(CLI::App& app, int& exit_code);
void AddProveCommand(CLI::App& app, int& exit_code);
void AddEvidenceCommand(CLI::App& app, int& exit_code);
void AddWitnessCommand(CLI::App& app, int& exit_code);

// One retention run over the journal of `config` and the SQL stores it ships
// to. `running`: the server's own pipeline, when the server runs it (it holds
// the journal); null: no server runs, the command records the run itself.
[[nodiscard]] Result<RetentionPlan> RunRetention(const Config& config, Pipeline* running, bool dry_run);

// --store URL and where its password comes from, for the commands that read a
// database a sink fills (the password never on the command line).
struct StoreFlags {
  std::string url;
  std::string password_env;
  std::string password_file;
  SinkConfig Config() const {
    SinkConfig config;
    config.name = "store";
    config.url = url;
    config.password_env = password_env;
    config.password_file = password_file;
    return config;
  }
};
// Adds --store (described by `what`), --store-password-env and --store-password-file; returns --store.
CLI::Option* AddStoreFlags(CLI::App* cmd, StoreFlags& flags, const std::string& what);

// The record filters of `query` and `export`: --since, --until, --user, --tenant,
// --tool, --outcome, --event-type, --limit.
struct FilterFlags {
  std::string since, until, user, tenant, tool, outcome, event_type, session, request_id, client_ip, resource, text;
  bool phi_only = false;
  size_t limit = 0;
  Result<QueryFilter> Filter() const;
};
void AddFilterFlags(CLI::App* cmd, FilterFlags& flags);

// Where a read command reads: the --store given; else <audit-dir>/audit.db
// when the server's SQLite sink has shipped it every record (its indexes answer
// a filter without reading the journal); else the journal (an empty URL).
StoreFlags ReadSource(const std::string& audit_dir, const StoreFlags& store);

// Calls `visit(event, line)` for each record `selection` selects, from the
// store `source` names, or from the journal in `audit_dir` when its URL is
// empty (oldest first only; the filter is applied to every record there).
[[nodiscard]] Status ForEachSelectedRecord(const std::string& audit_dir, const StoreFlags& source,
                                           const Selection& selection,
                                           const std::function<bool(const AuditEvent&, const std::string&)>& visit,
                                           const std::function<void(const BadLine&)>& on_bad_line);

// "12,345 records read" on stderr while a long read runs, when stderr is a
// terminal that the results do not go to; erased when done.
class ProgressLine {
 public:
  explicit ProgressLine(bool results_on_terminal);
  ~ProgressLine();
  void Update(size_t read, size_t selected);

 private:
  bool enabled_;
  std::chrono::steady_clock::time_point next_;
};

// Records that `command` reads the audit log (an audit_read event, see
// store/audit_reads.h) in the journal `audit_dir`, with what it asked for in
// `request`. A read that cannot be recorded goes on, with a warning saying why.
void RecordRead(const std::string& command, const std::string& audit_dir, const StoreFlags& store,
                nlohmann::json request);
// The filters given, as recorded with a read.
nlohmann::json FiltersJson(const FilterFlags& flags);

// The sinks that are SQL stores (SQLite, PostgreSQL, MySQL/MariaDB): where
// erasure and retention reach; a SIEM keeps what it was sent.
bool IsSqlStore(const SinkConfig& sink);
// Applies `action` to every store, opened in turn; the first failure names the store.
[[nodiscard]] Status ForEachStore(const std::vector<SinkConfig>& stores,
                                  const std::function<Status(const SinkConfig&, Sink&)>& action);
// Overwrites in every store the records whose new versions (journal lines) are
// `lines`: how an erasure or an anonymisation reaches the stores.
[[nodiscard]] Status ReplaceInStores(const std::vector<SinkConfig>& stores, const std::vector<std::string>& lines,
                                     const std::function<void(const SinkConfig&, size_t)>& replaced = {});

// Creates `path` for records or a report on them (personal data): mode 0600,
// and never over an existing file (an earlier export is evidence).
[[nodiscard]] Status CreatePrivateFile(const std::string& path);

// The content of `file`, at most `limit` bytes; a FIFO, a directory or a
// larger file is refused, said as such (`what`: what the file should hold).
[[nodiscard]] Result<std::string> ReadSmallFile(const std::string& file, uintmax_t limit, const char* what);
// The C2SP verifier keys (audit-signing.vkey) in `files`, one per file.
[[nodiscard]] Result<std::vector<note::Verifier>> ReadVerifierKeys(const std::vector<std::string>& files);

// Where records go when no --audit-dir is given.
inline constexpr const char* kDefaultAuditDir = "./var/audit";

}  // namespace mcpaudit::cli

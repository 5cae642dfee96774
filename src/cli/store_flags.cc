// The flags and the progress line the commands that read records share.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>

#include <iostream>

#include "base/audit_files.h"
#include "mcpaudit/shipper.h"
#include "cli/commands.h"
#include "sinks/sqlite_sink.h"
#include "store/audit_reads.h"

namespace mcpaudit::cli {

void RecordRead(const std::string& command, const std::string& audit_dir, const StoreFlags& store,
                nlohmann::json request) {
  std::error_code ec;
  if (store.url.empty() && !std::filesystem::is_directory(audit_dir, ec)) return;  // the read fails and says why
  const std::string source = store.url.empty() ? "journal " + audit_dir : RedactUrl(store.url);
  AuditEvent event = AuditReadEvent(command, source, request);
  event.server = {"mcp-audit " + command, MCPAUDIT_VERSION, ""};
  if (Status recorded = RecordAuditRead(audit_dir, event); !recorded) {
    std::cerr << "mcp-audit " << command << ": warning: this read of the audit log is not recorded: "
              << recorded.error().message << (store.url.empty() ? "" : " (--audit-dir names the journal that records it)")
              << "\n";
  }
}

nlohmann::json FiltersJson(const FilterFlags& flags) {
  nlohmann::json filters = nlohmann::json::object();
  for (const auto& [name, value] :
       {std::pair{"since", &flags.since}, {"until", &flags.until}, {"user", &flags.user}, {"tenant", &flags.tenant},
        {"tool", &flags.tool}, {"outcome", &flags.outcome}, {"event_type", &flags.event_type},
        {"session", &flags.session}, {"request_id", &flags.request_id}, {"client_ip", &flags.client_ip},
        {"resource", &flags.resource}, {"q", &flags.text}})
    if (!value->empty()) filters[name] = *value;
  if (flags.phi_only) filters["phi"] = true;
  if (flags.limit > 0) filters["limit"] = flags.limit;
  return filters;
}

bool IsSqlStore(const SinkConfig& sink) {
  const std::string type = SinkType(sink);
  return type == "sqlite" || type == "postgres" || type == "mysql";
}

Status ForEachStore(const std::vector<SinkConfig>& stores,
                    const std::function<Status(const SinkConfig&, Sink&)>& action) {
  for (const SinkConfig& store : stores) {
    auto sink = OpenSink(store);
    Status done = sink ? action(store, **sink) : Status(std::unexpected(sink.error()));
    if (!done) return Fail(ErrorCode::kIo, "store " + RedactUrl(store.url) + ": " + done.error().message);
  }
  return {};
}

Status ReplaceInStores(const std::vector<SinkConfig>& stores, const std::vector<std::string>& lines,
                       const std::function<void(const SinkConfig&, size_t)>& replaced) {
  std::vector<SinkRecord> records;
  for (const auto& line : lines) {
    auto event = AuditEventFromLine(line);
    if (event) records.push_back({line, std::move(*event)});
  }
  return ForEachStore(stores, [&](const SinkConfig& store, Sink& sink) -> Status {
    if (Status done = sink.Replace(records); !done) return done;
    if (replaced) replaced(store, records.size());
    return {};
  });
}

Result<std::string> ReadSmallFile(const std::string& file, uintmax_t limit, const char* what) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    return Fail(ErrorCode::kInvalidArgument, file + ": not a file (" + (ec ? ec.message() : "not a regular file") + ")");
  if (std::filesystem::file_size(file, ec) > limit)
    return Fail(ErrorCode::kInvalidArgument, file + " is too large for " + what);
  return ReadWholeFile(file);
}

Result<std::vector<note::Verifier>> ReadVerifierKeys(const std::vector<std::string>& files) {
  std::vector<note::Verifier> keys;
  for (const std::string& file : files) {
    auto text = ReadSmallFile(file, 4096, "a verifier key");
    if (!text) return std::unexpected(text.error());
    auto key = note::ParseVerifierKey(text->substr(0, text->find('\n')));
    if (!key) return Fail(ErrorCode::kInvalidArgument, file + ": " + key.error().message);
    keys.push_back(std::move(*key));
  }
  return keys;
}

Status CreatePrivateFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(ErrorCode::kIo, "cannot create " + path + ": " + std::strerror(errno));
  ::close(fd);
  return {};
}

CLI::Option* AddStoreFlags(CLI::App* cmd, StoreFlags& flags, const std::string& what) {
  CLI::Option* store = cmd->add_option(
      "--store", flags.url, what + " (sqlite:///path/audit.db, postgres://user@host/db, mysql://user@host/db)");
  cmd->add_option("--store-password-env", flags.password_env,
                  "Environment variable that holds the store's password")
      ->needs(store);
  cmd->add_option("--store-password-file", flags.password_file, "File that holds the store's password")
      ->needs(store);
  return store;
}

void AddFilterFlags(CLI::App* cmd, FilterFlags& flags) {
  cmd->add_option("--since", flags.since, "Only records at or after this time (RFC 3339 UTC, or a date)");
  cmd->add_option("--until", flags.until, "Only records before this time");
  cmd->add_option("--user", flags.user, "Only this user id");
  cmd->add_option("--tenant", flags.tenant, "Only this tenant");
  cmd->add_option("--tool", flags.tool, "Only this tool");
  cmd->add_option("--outcome", flags.outcome, "Only this outcome: success, failure or denied");
  cmd->add_option("--event-type", flags.event_type,
                  "Only this kind of record: tool_call, erasure, checkpoint, audit_started, ...");
  cmd->add_option("--session", flags.session, "Only this MCP session id");
  cmd->add_option("--request-id", flags.request_id, "Only this JSON-RPC request id");
  cmd->add_option("--client-ip", flags.client_ip, "Only calls from this address");
  cmd->add_option("--resource", flags.resource, "Only records that name this resource (a URN)");
  cmd->add_flag("--phi", flags.phi_only, "Only records of data classified PHI");
  cmd->add_option("-q,--text", flags.text, "Only records with this text in the tool, the error reason or message");
  cmd->add_option("--limit", flags.limit, "At most this many records (0: all)");
}

StoreFlags ReadSource(const std::string& audit_dir, const StoreFlags& store) {
  if (!store.url.empty()) return store;
  const std::filesystem::path local = std::filesystem::path(audit_dir) / "audit.db";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(local, ec)) return {};
  auto backlogs = ReadShipperBacklogs(audit_dir);
  if (!backlogs) return {};
  for (const ShipperBacklog& b : *backlogs)
    if (b.name == "sqlite" && b.records_behind == 0 && b.set_aside == 0) {
      StoreFlags caught_up;
      caught_up.url = "sqlite://" + local.string();
      return caught_up;
    }
  return {};
}

Status ForEachSelectedRecord(const std::string& audit_dir, const StoreFlags& source, const Selection& selection,
                             const std::function<bool(const AuditEvent&, const std::string&)>& visit,
                             const std::function<void(const BadLine&)>& on_bad_line) {
  if (!source.url.empty()) {
    const std::filesystem::path where = RedactUrl(source.url);
    auto page = SelectStoredRecords(source.Config(), selection, visit, [&](size_t row, const std::string& reason) {
      on_bad_line({where, row, reason});
    });
    if (!page) return std::unexpected(page.error());
    return {};
  }
  size_t selected = 0;
  const QueryFilter& filter = selection.filter;
  if (selection.newest_first) {
    // The journal is read oldest first: the newest `limit` are kept on the way, then given newest first.
    if (filter.limit == 0)
      return Fail(ErrorCode::kInvalidArgument,
                  "newest first from the journal needs --limit (or a store that has caught up: --store)");
    std::deque<std::pair<AuditEvent, std::string>> newest;
    Status read = ForEachRecordLineIn(
        audit_dir, {},
        [&](const AuditEvent& event, const std::string& line) {
          if (!Matches(filter, event)) return true;
          newest.emplace_back(event, line);
          if (newest.size() > filter.limit) newest.pop_front();
          return true;
        },
        on_bad_line, {filter.since, filter.until});
    if (!read) return read;
    for (auto it = newest.rbegin(); it != newest.rend(); ++it)
      if (!visit(it->first, it->second)) break;
    return {};
  }
  return ForEachRecordLineIn(
      audit_dir, {},
      [&](const AuditEvent& event, const std::string& line) {
        if (!Matches(filter, event)) return true;
        if (!visit(event, line)) return false;
        return filter.limit == 0 || ++selected < filter.limit;
      },
      on_bad_line, {filter.since, filter.until});
}

Result<QueryFilter> FilterFlags::Filter() const {
  QueryFilter filter;
  filter.user = user;
  filter.tenant = tenant;
  filter.tool = tool;
  filter.event_type = event_type;
  filter.limit = limit;
  filter.session = session;
  filter.request_id = request_id;
  filter.client_ip = client_ip;
  filter.resource = resource;
  filter.phi_only = phi_only;
  filter.text = text;
  for (auto [text, target] : {std::pair{&since, &filter.since}, {&until, &filter.until}}) {
    if (text->empty()) continue;
    auto time = ParseTimestamp(*text);
    if (!time) return std::unexpected(time.error());
    *target = *time;
  }
  if (!outcome.empty()) {
    auto parsed = ParseOutcome(outcome);
    if (!parsed) return std::unexpected(parsed.error());
    filter.outcome = *parsed;
  }
  return filter;
}

ProgressLine::ProgressLine(bool results_on_terminal)
    : enabled_(::isatty(STDERR_FILENO) && !results_on_terminal),
      next_(std::chrono::steady_clock::now() + std::chrono::milliseconds(300)) {}

ProgressLine::~ProgressLine() {
  if (enabled_) std::fputs("\r\033[K", stderr);
}

void ProgressLine::Update(size_t read, size_t selected) {
  if (!enabled_) return;
  // Called for every record: look at the clock only every 1024 of them.
  if (read % 1024 != 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_) return;
  next_ = now + std::chrono::milliseconds(200);
  std::fprintf(stderr, "\r\033[K%zu records read, %zu selected", read, selected);
  std::fflush(stderr);
}

}  // namespace mcpaudit::cli

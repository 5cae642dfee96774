// mcp-audit query: select audit records and print them as a table, JSON lines or CSV.
#include <iostream>

#include "cli/commands.h"
#include "store/journal_reader.h"
#include "store/query.h"

namespace mcpaudit::cli {

void AddQueryCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::string audit_dir = kDefaultAuditDir;
    StoreFlags store;
    std::string since, until, user, tenant, tool, outcome, event_type;
    size_t limit = 0;
    std::string format = "table";
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("query", "Print the audit records that match the filters, oldest first");
  auto* dir = cmd->add_option("--audit-dir", options->audit_dir, "Directory of the audit files")->capture_default_str();
  AddStoreFlags(cmd, options->store, "Read a database a sink fills instead")->excludes(dir);
  cmd->add_option("--since", options->since, "Only records at or after this time (RFC 3339 UTC, or a date)");
  cmd->add_option("--until", options->until, "Only records before this time");
  cmd->add_option("--user", options->user, "Only this user id");
  cmd->add_option("--tenant", options->tenant, "Only this tenant");
  cmd->add_option("--tool", options->tool, "Only this tool");
  cmd->add_option("--outcome", options->outcome, "Only this outcome: success, failure or denied");
  cmd->add_option("--event-type", options->event_type,
                  "Only this kind of record: tool_call, erasure, checkpoint, audit_started, ...");
  cmd->add_option("--limit", options->limit, "At most this many records (0: all)");
  cmd->add_option("--format", options->format, "table, json (one record per line) or csv")
      ->capture_default_str();
  cmd->callback([options, &exit_code] {
    auto fail = [&](const std::string& message) {
      std::cerr << "mcp-audit query: " << message << "\n";
      exit_code = 2;
    };
    QueryFilter filter;
    filter.user = options->user;
    filter.tenant = options->tenant;
    filter.tool = options->tool;
    filter.event_type = options->event_type;
    filter.limit = options->limit;
    for (auto [text, target] : {std::pair{&options->since, &filter.since}, {&options->until, &filter.until}}) {
      if (text->empty()) continue;
      auto time = ParseTimestamp(*text);
      if (!time) return fail(time.error().message);
      *target = *time;
    }
    if (!options->outcome.empty()) {
      auto outcome = ParseOutcome(options->outcome);
      if (!outcome) return fail(outcome.error().message);
      filter.outcome = *outcome;
    }
    auto format = ParseOutputFormat(options->format);
    if (!format) return fail(format.error().message);

    auto printer = MakeRecordPrinter(*format, std::cout);
    size_t printed = 0, bad = 0;
    auto status = ForEachRecordIn(
        options->audit_dir, options->store.Config(),
        [&](const AuditEvent& event) {
          if (!Matches(filter, event)) return true;
          printer->Write(event);
          ++printed;
          return filter.limit == 0 || printed < filter.limit;
        },
        [&](const BadLine& line) {
          ++bad;
          std::cerr << "mcp-audit query: " << line.file.string() << ":" << line.line_number
                    << ": not an audit record (" << line.reason << ")\n";
        });
    if (!status) return fail(status.error().message);
    printer->End();
    std::cout.flush();
    exit_code = 0;
  });
}

}  // namespace mcpaudit::cli

// mcp-audit query: select audit records and print them as a table, JSON lines or CSV.
#include <unistd.h>

#include <iostream>

#include "cli/commands.h"
#include "store/journal_reader.h"
#include "store/query.h"

namespace mcpaudit::cli {

void AddQueryCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::string audit_dir = kDefaultAuditDir;
    StoreFlags store;
    FilterFlags filters;
    std::string format = "table";
    bool newest_first = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("query", "Print the audit records that match the filters, oldest first (from <audit-dir>/audit.db when it holds every record)");
  cmd->add_option("--audit-dir", options->audit_dir, "Directory of the journal (with --store: the journal that records this read)")->capture_default_str();
  AddStoreFlags(cmd, options->store, "Read a database a sink fills instead");
  AddFilterFlags(cmd, options->filters);
  cmd->add_option("--format", options->format, "table, json (one record per line) or csv")
      ->capture_default_str();
  cmd->add_flag("--newest-first", options->newest_first, "Newest records first (from a store: the journal is read oldest first)");
  cmd->callback([options, &exit_code] {
    auto fail = [&](const std::string& message) {
      std::cerr << "mcp-audit query: " << message << "\n";
      exit_code = 2;
    };
    auto filter_or = options->filters.Filter();
    if (!filter_or) return fail(filter_or.error().message);
    const QueryFilter& filter = *filter_or;
    auto format = ParseOutputFormat(options->format);
    if (!format) return fail(format.error().message);

    const StoreFlags source = ReadSource(options->audit_dir, options->store);
    RecordRead("query", options->audit_dir, source, {{"filters", FiltersJson(options->filters)}});
    auto printer = MakeRecordPrinter(*format, std::cout);
    size_t printed = 0;
    ProgressLine progress(::isatty(STDOUT_FILENO));
    auto status = ForEachSelectedRecord(
        options->audit_dir, source, {.filter = filter, .newest_first = options->newest_first, .after = std::nullopt, .max_rows = 0},
        [&](const AuditEvent& event, const std::string&) {
          printer->Write(event);
          ++printed;
          progress.Update(printed, printed);
          return true;
        },
        [&](const BadLine& line) {
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

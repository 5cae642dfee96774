// mcp-audit report: the evidence an auditor asks for, over a period.
#include <unistd.h>

#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "store/journal_reader.h"
#include "store/report.h"

namespace mcpaudit::cli {

void AddReportCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::string audit_dir = kDefaultAuditDir;
    StoreFlags store;
    std::string kind, format = "csv", since, until, tenant, output;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "report", "Evidence for an auditor: access-review, phi-access or failures, over a period");
  cmd->add_option(
         "--kind", options->kind,
         "access-review (who used which tools on which resources), phi-access (PHI accesses with "
         "their reasons) or failures (denials, failures, refused authentications)")
      ->required();
  cmd->add_option("--audit-dir", options->audit_dir,
                  "Directory of the journal (with --store: the journal that records this read)")
      ->capture_default_str();
  AddStoreFlags(cmd, options->store, "Report on a database a sink fills instead");
  cmd->add_option("--since", options->since,
                  "Records at or after this time (RFC 3339 UTC, or a date)");
  cmd->add_option("--until", options->until, "Records before this time");
  cmd->add_option("--tenant", options->tenant, "Only this tenant");
  cmd->add_option("--format", options->format, "csv, json or html")->capture_default_str();
  cmd->add_option("-o,--output", options->output,
                  "Write to this file (created 0600; never overwritten)");
  cmd->callback([options, &exit_code] {
    auto fail = [&](const std::string& message, int code = 2) {
      std::cerr << "mcp-audit report: " << message << "\n";
      exit_code = code;
    };
    auto kind = ParseReportKind(options->kind);
    if (!kind) return fail(kind.error().message);
    auto format = ParseReportFormat(options->format);
    if (!format) return fail(format.error().message);
    FilterFlags flags;
    flags.since = options->since;
    flags.until = options->until;
    flags.tenant = options->tenant;
    auto filter = flags.Filter();
    if (!filter) return fail(filter.error().message);
    const StoreFlags source = ReadSource(options->audit_dir, options->store);
    RecordRead(
        "report", options->audit_dir, source,
        {{"kind", options->kind}, {"filters", FiltersJson(flags)}, {"format", options->format}});
    std::ofstream file;
    if (!options->output.empty()) {
      if (Status created = CreatePrivateFile(options->output); !created)
        return fail(created.error().message);
      file.open(options->output, std::ios::binary | std::ios::trunc);
    }
    std::ostream& out = options->output.empty() ? std::cout : file;
    ReportHeader header{*kind,
                        filter->since,
                        filter->until,
                        options->tenant,
                        source.url.empty() ? "journal " + options->audit_dir : RedactUrl(source.url),
                        std::chrono::system_clock::now()};
    Report report(header, MakeReportWriter(*format, out));
    size_t selected = 0, bad = 0;
    ProgressLine progress(options->output.empty() && ::isatty(STDOUT_FILENO));
    auto status = ForEachSelectedRecord(
        options->audit_dir, source, {.filter = *filter, .newest_first = false, .after = std::nullopt, .max_rows = 0},
        [&](const AuditEvent& event, const std::string&) {
          report.Add(event);
          ++selected;
          progress.Update(selected, selected);
          return true;
        },
        [&](const BadLine& line) {
          ++bad;
          std::cerr << "mcp-audit report: " << line.file.string() << ":" << line.line_number
                    << ": not an audit record (" << line.reason << "), left out\n";
        });
    if (!status) {
      if (!options->output.empty()) ::unlink(options->output.c_str());
      return fail(status.error().message);
    }
    report.Finish();
    if (!out) return fail("cannot write the report", 1);
    exit_code = bad == 0 ? 0 : 1;
  });
}

}  // namespace mcpaudit::cli

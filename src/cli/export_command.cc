// mcp-audit export: the selected records into a file for an auditor — as the
// journal holds them (JSON lines with their integrity fields), or as CSV.
#include <unistd.h>

#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "store/journal_reader.h"
#include "store/query.h"

namespace mcpaudit::cli {

void AddExportCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::string audit_dir = kDefaultAuditDir;
    StoreFlags store;
    FilterFlags filters;
    std::string format = "jsonl";
    std::string output;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "export", "Write the records that match the filters to a file: as stored (with their hashes) or as CSV");
  cmd->add_option("--audit-dir", options->audit_dir, "Directory of the journal (with --store: the journal that records this read)")->capture_default_str();
  AddStoreFlags(cmd, options->store, "Export from a database a sink fills instead");
  AddFilterFlags(cmd, options->filters);
  cmd->add_option("--format", options->format,
                  "jsonl (the records as stored, integrity fields included) or csv")
      ->check(CLI::IsMember({"jsonl", "csv"}))
      ->capture_default_str();
  cmd->add_option("-o,--output", options->output, "The file to write (created 0600; never overwritten)")
      ->required();
  cmd->callback([options, &exit_code] {
    auto fail = [&](const std::string& message) {
      std::cerr << "mcp-audit export: " << message << "\n";
      exit_code = 2;
    };
    auto filter = options->filters.Filter();
    if (!filter) return fail(filter.error().message);
    // The export holds personal data: only its owner may read it, and an
    // existing file (an earlier export, evidence) is never replaced.
    if (Status created = CreatePrivateFile(options->output); !created) return fail(created.error().message);
    const StoreFlags source = ReadSource(options->audit_dir, options->store);
    RecordRead("export", options->audit_dir, source,
               {{"filters", FiltersJson(options->filters)}, {"format", options->format}, {"output", options->output}});
    std::ofstream out(options->output, std::ios::binary | std::ios::trunc);
    auto printer = options->format == "csv" ? MakeRecordPrinter(OutputFormat::kCsv, out) : nullptr;
    size_t written = 0, bad = 0;
    {
      ProgressLine progress(false);
      auto status = ForEachSelectedRecord(
          options->audit_dir, source, {.filter = *filter, .newest_first = false, .after = std::nullopt, .max_rows = 0},
          [&](const AuditEvent& event, const std::string& line) {
            if (printer) printer->Write(event);
            else out << line << '\n';
            ++written;
            progress.Update(written, written);
            return true;
          },
          [&](const BadLine& line) {
            ++bad;
            std::cerr << "mcp-audit export: " << line.file.string() << ":" << line.line_number
                      << ": not an audit record (" << line.reason << "), left out\n";
          });
      if (!status) {
        out.close();
        ::unlink(options->output.c_str());
        return fail(status.error().message + " (nothing exported)");
      }
    }
    if (printer) printer->End();
    out.flush();
    if (!out) {
      ::unlink(options->output.c_str());
      return fail("cannot write " + options->output + " (nothing exported)");
    }
    out.close();
    std::cerr << "exported " << written << " records to " << options->output << "\n";
    exit_code = bad == 0 ? 0 : 1;
  });
}

}  // namespace mcpaudit::cli

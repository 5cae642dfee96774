// mcp-audit evidence: the selected records, each with its inclusion proof
// against one signed checkpoint, in a tar.gz an auditor checks without the
// rest of the log (`mcp-audit verify --bundle`; see store/evidence.h).
#include <iostream>

#include "base/audit_files.h"
#include "cli/commands.h"
#include "store/evidence.h"
#include "store/journal_reader.h"
#include "store/query.h"

namespace mcpaudit::cli {

void AddEvidenceCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::string audit_dir = kDefaultAuditDir;
    StoreFlags store;
    FilterFlags filters;
    std::vector<std::string> vkeys;
    std::string output;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "evidence", "Write the records that match the filters, each with its proof against a signed checkpoint, "
                  "into a tar.gz an auditor checks without the rest of the log (verify --bundle)");
  cmd->add_option("--audit-dir", options->audit_dir, "Directory of the journal (its tree and checkpoints)")
      ->capture_default_str();
  AddStoreFlags(cmd, options->store, "Select from a database a sink fills instead (the proofs are the journal's)");
  AddFilterFlags(cmd, options->filters);
  cmd->add_option("--vkey", options->vkeys,
                  "A file holding the C2SP verifier key that signs the checkpoints (audit-signing.vkey; repeat "
                  "for more keys)")
      ->required();
  cmd->add_option("-o,--out", options->output, "The bundle to write, FILE.tar.gz (created 0600; never overwritten)")
      ->required();
  cmd->callback([options, &exit_code] {
    auto fail = [&](const std::string& message) {
      std::cerr << "mcp-audit evidence: " << Printable(message) << "\n";
      exit_code = 2;
    };
    auto filter = options->filters.Filter();
    if (!filter) return fail(filter.error().message);
    std::vector<std::string> vkeys;
    for (const std::string& file : options->vkeys) {
      auto text = ReadSmallFile(file, 4096, "a verifier key");
      if (!text) return fail(text.error().message);
      vkeys.push_back(text->substr(0, text->find('\n')));
    }
    auto bundle = evidence::BundleWriter::Create(options->output, options->audit_dir, std::move(vkeys));
    if (!bundle) return fail(bundle.error().message);
    const StoreFlags source = ReadSource(options->audit_dir, options->store);
    RecordRead("evidence", options->audit_dir, source,
               {{"filters", FiltersJson(options->filters)}, {"output", options->output}});
    // Without --until the bundle ends at the newest checkpoint: what is newer is not signed yet.
    const bool up_to_now = options->filters.until.empty();
    size_t unsigned_records = 0, bad = 0;
    Result<bool> added = true;
    {
      ProgressLine progress(false);
      auto status = ForEachSelectedRecord(
          options->audit_dir, source, {.filter = *filter, .newest_first = false, .after = std::nullopt, .max_rows = 0},
          [&](const AuditEvent& event, const std::string& line) {
            added = (*bundle)->Add(line);
            if (added && !*added) {
              ++unsigned_records;
              if (!up_to_now)
                added = Fail(ErrorCode::kUnavailable, "record " + event.id +
                                                          " is not signed by a checkpoint yet; ask again after "
                                                          "the next checkpoint, or give an earlier --until");
            }
            progress.Update((*bundle)->records(), (*bundle)->records());
            return added.has_value();
          },
          [&](const BadLine& line) {
            ++bad;
            std::cerr << "mcp-audit evidence: " << line.file.string() << ":" << line.line_number
                      << ": not an audit record (" << line.reason << "), left out\n";
          });
      if (!status) return fail(status.error().message + " (no bundle written)");
      if (!added) return fail(added.error().message + " (no bundle written)");
    }
    if ((*bundle)->records() == 0) return fail("no signed record matches the filters (no bundle written)");
    if (Status finished = (*bundle)->Finish(FiltersJson(options->filters)); !finished) return fail(finished.error().message);
    const auto records = [](size_t n) { return std::to_string(n) + (n == 1 ? " record" : " records"); };
    if (unsigned_records > 0)
      std::cerr << "mcp-audit evidence: " << records(unsigned_records)
                << " newer than the newest checkpoint left out (not signed yet)\n";
    std::cerr << "wrote " << records((*bundle)->records()) << " with their proofs to " << options->output
              << " (check it: mcp-audit verify --bundle " << options->output << " --vkey KEY)\n";
    exit_code = bad == 0 ? 0 : 1;
  });
}

}  // namespace mcpaudit::cli

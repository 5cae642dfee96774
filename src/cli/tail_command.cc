// mcp-audit tail: the newest records, and with -f the ones that follow.
#include <deque>
#include <functional>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "store/journal_reader.h"
#include "store/query.h"

namespace mcpaudit::cli {
namespace {

namespace fs = std::filesystem;

// Calls `visit` for each complete record line of `file` from `offset` on and
// returns the offset after the last complete line: a line still being written
// is left for the next look.
std::streamoff ReadNewRecords(const fs::path& file, std::streamoff offset,
                              const std::function<void(const AuditEvent&)>& visit) {
  std::ifstream in(file, std::ios::binary);
  in.seekg(offset);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no newline yet
    offset += static_cast<std::streamoff>(line.size()) + 1;
    if (auto event = AuditEventFromLine(line)) visit(*event);
  }
  return offset;
}

}  // namespace

void AddTailCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::string audit_dir = kDefaultAuditDir;
    StoreFlags store;
    size_t lines = 10;
    bool follow = false;
    std::string format = "json";
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("tail", "Print the newest audit records; -f keeps printing new ones");
  cmd->add_option("--audit-dir", options->audit_dir, "Directory of the journal (with --store: the journal that records this read)")->capture_default_str();
  auto* store = AddStoreFlags(cmd, options->store, "Read a database a sink fills instead");
  cmd->add_option("-n,--lines", options->lines, "How many of the newest records")->capture_default_str();
  cmd->add_flag("-f,--follow", options->follow, "Wait for new records in the journal and print them as they come")
      ->excludes(store);
  cmd->add_option("--format", options->format, "json (one record per line), table or csv")->capture_default_str();
  cmd->callback([options, &exit_code] {
    auto format = ParseOutputFormat(options->format);
    if (!format) {
      std::cerr << "mcp-audit tail: " << format.error().message << "\n";
      exit_code = 2;
      return;
    }
    const StoreFlags source = options->follow ? options->store : ReadSource(options->audit_dir, options->store);
    RecordRead("tail", options->audit_dir, source,
               {{"lines", options->lines}, {"follow", options->follow}});
    if (!source.url.empty() && options->lines == 0) {  // no record asked for (a limit of 0 would mean all)
      MakeRecordPrinter(*format, std::cout)->End();
      exit_code = 0;
      return;
    }
    if (!source.url.empty()) {
      // The store gives the newest first, from its index: printed oldest first, as the journal's are.
      std::deque<AuditEvent> newest;
      QueryFilter filter;
      filter.limit = options->lines;
      auto read = ForEachSelectedRecord(
          options->audit_dir, source, {.filter = filter, .newest_first = true, .after = std::nullopt, .max_rows = 0},
          [&](const AuditEvent& event, const std::string&) {
            newest.push_front(event);
            return true;
          },
          [](const BadLine& line) {
            std::cerr << "mcp-audit tail: " << line.file.string() << ":" << line.line_number
                      << ": not an audit record (" << line.reason << ")\n";
          });
      if (!read) {
        std::cerr << "mcp-audit tail: " << read.error().message << "\n";
        exit_code = 2;
        return;
      }
      auto printer = MakeRecordPrinter(*format, std::cout);
      for (const auto& event : newest) printer->Write(event);
      printer->End();
      exit_code = 0;
      return;
    }
    auto files = ListAuditFiles(options->audit_dir);
    if (!files) {
      std::cerr << "mcp-audit tail: " << files.error().message << "\n";
      exit_code = 2;
      return;
    }
    // One pass that also says where following starts: exactly after the last
    // complete line read, so that no record falls between reading and following.
    std::deque<AuditEvent> newest;
    fs::path current;
    std::streamoff offset = 0;
    for (const auto& file : *files) {
      current = file;
      offset = ReadNewRecords(file, 0, [&](const AuditEvent& event) {
        newest.push_back(event);
        if (newest.size() > options->lines) newest.pop_front();
      });
    }
    auto printer = MakeRecordPrinter(*format, std::cout);
    auto print = [&](const AuditEvent& event) {
      printer->Write(event);
      std::cout.flush();
    };
    for (const auto& event : newest) print(event);
    std::cout.flush();
    exit_code = 0;
    if (!options->follow) return;
    while (true) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (!current.empty()) offset = ReadNewRecords(current, offset, print);
      files = ListAuditFiles(options->audit_dir);
      if (files && !files->empty() && files->back() != current) {
        // A new segment: finish the old one, then start the new one from its beginning.
        if (!current.empty()) ReadNewRecords(current, offset, print);
        current = files->back();
        offset = ReadNewRecords(current, 0, print);
      }
    }
  });
}

}  // namespace mcpaudit::cli

// mcp-audit tail: the newest records, and with -f the ones that follow.
#include <deque>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "store/journal_reader.h"
#include "store/query.h"

namespace mcpaudit::cli {
namespace {

namespace fs = std::filesystem;

// Prints the complete lines appended to `file` from `offset` on; returns the new offset.
std::streamoff PrintNewLines(const fs::path& file, std::streamoff offset, RecordPrinter& printer) {
  std::ifstream in(file, std::ios::binary);
  in.seekg(offset);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no newline yet: a record still being written
    offset += static_cast<std::streamoff>(line.size()) + 1;
    auto json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded()) continue;
    if (auto event = AuditEventFromJson(json)) printer.Write(*event);
  }
  std::cout.flush();
  return offset;
}

}  // namespace

void AddTailCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::string audit_dir = kDefaultAuditDir;
    size_t lines = 10;
    bool follow = false;
    std::string format = "json";
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("tail", "Print the newest audit records; -f keeps printing new ones");
  cmd->add_option("--audit-dir", options->audit_dir, "Directory of the journal")->capture_default_str();
  cmd->add_option("-n,--lines", options->lines, "How many of the newest records")->capture_default_str();
  cmd->add_flag("-f,--follow", options->follow, "Wait for new records and print them as they come");
  cmd->add_option("--format", options->format, "json (one record per line), table or csv")->capture_default_str();
  cmd->callback([options, &exit_code] {
    auto format = ParseOutputFormat(options->format);
    if (!format) {
      std::cerr << "mcp-audit tail: " << format.error().message << "\n";
      exit_code = 2;
      return;
    }
    std::deque<AuditEvent> newest;
    auto status = ForEachRecord(
        options->audit_dir,
        [&](const AuditEvent& event) {
          newest.push_back(event);
          if (newest.size() > options->lines) newest.pop_front();
          return true;
        },
        [](const BadLine& bad) {
          std::cerr << "mcp-audit tail: " << bad.file.string() << ":" << bad.line_number << ": " << bad.reason << "\n";
        });
    if (!status) {
      std::cerr << "mcp-audit tail: " << status.error().message << "\n";
      exit_code = 2;
      return;
    }
    auto printer = MakeRecordPrinter(*format, std::cout);
    for (const auto& event : newest) printer->Write(event);
    std::cout.flush();
    exit_code = 0;
    if (!options->follow) return;
    // Follow the newest file from its current end; move on when a newer one appears.
    auto files = ListAuditFiles(options->audit_dir);
    fs::path current = files && !files->empty() ? files->back() : fs::path();
    std::streamoff offset = current.empty() ? 0 : static_cast<std::streamoff>(fs::file_size(current));
    while (true) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (!current.empty()) offset = PrintNewLines(current, offset, *printer);
      files = ListAuditFiles(options->audit_dir);
      if (files && !files->empty() && files->back() != current) {
        if (!current.empty()) offset = PrintNewLines(current, offset, *printer);
        current = files->back();
        offset = PrintNewLines(current, 0, *printer);
      }
    }
  });
}

}  // namespace mcpaudit::cli

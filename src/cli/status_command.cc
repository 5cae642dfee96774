// mcp-audit status: how far each sink is behind the journal, read from the
// shippers' cursors on disk (a server need not be running).
#include <iostream>
#include <map>

#include "mcpaudit/shipper.h"
#include "cli/commands.h"

namespace mcpaudit::cli {

void AddStatusCommand(CLI::App& app, int& exit_code) {
  auto audit_dir = std::make_shared<std::string>(kDefaultAuditDir);
  CLI::App* cmd = app.add_subcommand("status", "Show how many records each sink has still to receive");
  cmd->add_option("--audit-dir", *audit_dir, "Directory of the journal")->capture_default_str();
  cmd->callback([audit_dir, &exit_code] {
    auto backlogs = ReadShipperBacklogs(*audit_dir);
    if (!backlogs) {
      std::cerr << "mcp-audit status: " << backlogs.error().message << "\n";
      exit_code = 2;
      return;
    }
    if (backlogs->empty()) std::cout << "no sink has shipped from " << *audit_dir << " yet\n";
    // A cursor past the journal's end: the journal lost records that sink already has.
    std::map<std::string, uint64_t> ahead;
    if (auto cursors = CursorsAhead(*audit_dir, KnownJournalStream(*audit_dir)))
      for (const auto& cursor : *cursors) ahead[cursor.name] = cursor.anchor.seq;
    for (const auto& b : *backlogs) {
      std::cout << "sink " << b.name << ": " << b.records_behind << " records to ship";
      if (!b.segment.empty()) std::cout << " (cursor: " << b.segment << " line " << b.shipped_lines << ")";
      std::cout << "\n";
      if (auto it = ahead.find(b.name); it != ahead.end())
        std::cout << "sink " << b.name << ": ALARM: it shipped records up to seq " << it->second
                  << " that the journal no longer holds (run mcp-audit verify)\n";
      if (b.set_aside > 0)
        std::cout << "sink " << b.name << ": " << b.set_aside << " records refused by the destination, set aside in "
                  << DeadLetterPath(*audit_dir, b.name).string() << "\n";
    }
    exit_code = 0;
  });
}

}  // namespace mcpaudit::cli

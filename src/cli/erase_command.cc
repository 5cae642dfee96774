// mcp-audit erase: the right to erasure (GDPR Art. 17) over the journal.
#include <filesystem>
#include <iostream>

#include "base/crypto.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/pipeline.h"
#include "mcpaudit/sink.h"
#include "store/erasure.h"

namespace mcpaudit::cli {

namespace {

struct EraseOptions {
  std::string audit_dir = kDefaultAuditDir;
  std::string user, field_value, reason, signing_key;
  bool dry_run = false;
  std::string config_path;
  StoreFlags store;
};

// The stores the journal is shipped to: the sinks of --config, the --store
// given, or else <audit-dir>/audit.db when it exists.
Result<std::vector<SinkConfig>> StoresToErase(const EraseOptions& options) {
  std::vector<SinkConfig> stores;
  if (!options.config_path.empty()) {
    auto config = LoadConfig(options.config_path);
    if (!config) return std::unexpected(config.error());
    for (SinkConfig& sink : SinksOrDefault(*config)) {
      if (IsSqlStore(sink)) {
        stores.push_back(std::move(sink));
      } else {
        // A SIEM keeps what it was sent; only its own tools can delete there.
        const std::string type = SinkType(sink);
        std::cout << "note: sink " << sink.name << " (" << type
                  << ") cannot be erased from here: what it received stays there until erased in " << type << "\n";
      }
    }
  }
  if (!options.store.url.empty()) stores.push_back(options.store.Config());
  const auto default_store = std::filesystem::path(options.audit_dir) / "audit.db";
  if (stores.empty() && std::filesystem::exists(default_store)) {
    SinkConfig store;
    store.name = "default";
    store.url = "sqlite://" + default_store.string();
    stores.push_back(std::move(store));
  }
  return stores;
}

}  // namespace

void AddEraseCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<EraseOptions>();
  CLI::App* cmd = app.add_subcommand(
      "erase", "Erase a person's data (the erasable fields of their records); verify stays valid");
  cmd->add_option("--audit-dir", options->audit_dir, "Directory of the journal")->capture_default_str();
  auto* user = cmd->add_option("--user", options->user, "Erase the records of this user id");
  auto* value = cmd->add_option("--field-value", options->field_value,
                                "Erase the records whose erasable fields hold this value (an e-mail, an IP, ...)");
  user->excludes(value);
  cmd->add_option("--reason", options->reason, "Why (e.g. the ticket of the erasure request)")->required();
  cmd->add_flag("--dry-run", options->dry_run, "Only list what would be erased (and where else the value appears)");
  cmd->add_option("--signing-key", options->signing_key, "Key that signs the checkpoint after the erasure event");
  cmd->add_option("--config", options->config_path,
                  "Erase in every store this configuration ships to, too (its [[sinks]])");
  AddStoreFlags(cmd, options->store,
                "A database a sink fills, to erase there too (default: <audit-dir>/audit.db when it exists)");
  cmd->callback([options, &exit_code] {
    if (options->reason.find_first_not_of(" \t\r\n") == std::string::npos) {
      std::cerr << "mcp-audit erase: --reason: say why (e.g. the ticket of the erasure request); it is recorded\n";
      exit_code = 2;
      return;
    }
    auto stores = StoresToErase(*options);
    if (!stores) {
      std::cerr << "mcp-audit erase: " << stores.error().message << "\n";
      exit_code = 2;
      return;
    }
    auto erased = EraseFromJournal(options->audit_dir, {options->user, options->field_value, options->dry_run});
    if (!erased) {
      std::cerr << "mcp-audit erase: " << erased.error().message << "\n";
      exit_code = 2;
      return;
    }
    for (const auto& place : erased->erased)
      std::cout << (options->dry_run ? "would erase " : "erased ") << place.pointer << " of record " << place.id
                << " (seq " << place.seq << ")\n";
    if (erased->elsewhere_count > 0) {
      // Outside the erasable fields a value is part of what the chain hashes: it cannot go without breaking it.
      std::cout << "the value also appears outside the erasable fields in " << erased->elsewhere_count
                << " place(s), where it cannot be erased:\n";
      for (const auto& place : erased->elsewhere)
        std::cout << "  " << place.pointer << " of record " << place.id << " (seq " << place.seq << ")\n";
    }
    if (options->dry_run) {
      std::cout << "dry run: " << erased->fields_erased << " fields in " << erased->records_erased << " of "
                << erased->records_scanned << " records would be erased; nothing was changed\n";
      exit_code = 0;
      return;
    }
    if (auto replaced = ReplaceInStores(*stores, erased->erased_lines, [](const SinkConfig& store, size_t records) {
          std::cout << "erased " << records << " records in the store " << RedactUrl(store.url) << "\n";
        }); !replaced) {
      std::cerr << "mcp-audit erase: the journal was erased, but " << replaced.error().message
                << "; run the same erase again once the store is reachable\n";
      exit_code = 1;
      return;
    }
    // The erasure is itself a record, naming the subject only by its hash.
    PipelineOptions pipeline_options;
    pipeline_options.directory = options->audit_dir;
    pipeline_options.mode = DeliveryMode::kDurable;
    pipeline_options.signing_key = options->signing_key;
    pipeline_options.space_left_bytes = pipeline_options.admin_space_left_bytes = 0;
    pipeline_options.server = {"mcp-audit erase", MCPAUDIT_VERSION, ""};
    auto pipeline = Pipeline::Open(pipeline_options);
    if (!pipeline) {
      std::cerr << "mcp-audit erase: the data was erased, but the erasure could not be recorded: "
                << pipeline.error().message << "\n";
      exit_code = 1;
      return;
    }
    AuditEvent event;
    event.timestamp = std::chrono::system_clock::now();
    event.id = NewUuidV7(event.timestamp, SecureRandom());
    event.event_type = "erasure";
    event.server = pipeline_options.server;
    event.details = {{"selector", options->user.empty() ? "field_value" : "user"},
                     {"subject_sha256", Sha256Hex({options->user.empty() ? options->field_value : options->user})},
                     {"reason", options->reason},
                     {"records", erased->records_erased},
                     {"fields", erased->fields_erased}};
    if (auto logged = (*pipeline)->Log(event); !logged) {
      std::cerr << "mcp-audit erase: the data was erased, but the erasure could not be recorded: "
                << logged.error().message << "\n";
      exit_code = 1;
      return;
    }
    std::cout << "erased " << erased->fields_erased << " fields in " << erased->records_erased << " of "
              << erased->records_scanned << " records (" << erased->segments_rewritten
              << " segment files rewritten); the erasure is recorded in the journal\n";
    exit_code = 0;
  });
}

}  // namespace mcpaudit::cli

// mcp-audit retention: deletes and anonymises records by age, as the
// configuration's [retention] says, in the journal and in the SQL stores it
// ships to; the server runs the same every retention.run_every_hours.
#include <iostream>

#include "mcpaudit/shipper.h"
#include "base/ops_log.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "mcpaudit/pipeline.h"
#include "store/retention.h"

namespace mcpaudit::cli {

namespace {

std::vector<SinkConfig> SqlStores(const Config& config) {
  std::vector<SinkConfig> stores = SinksOrDefault(config);
  std::erase_if(stores, [](const SinkConfig& sink) { return !IsSqlStore(sink); });
  return stores;
}

std::vector<std::string> SinkNames(const Config& config) {
  std::vector<std::string> names;
  for (const SinkConfig& sink : SinksOrDefault(config)) names.push_back(sink.name);
  return names;
}

Status ForgetInStores(const std::vector<SinkConfig>& stores, const RetentionPlan& plan) {
  return ForEachStore(stores, [&](const SinkConfig&, Sink& sink) -> Status {
    for (const RetentionCut& cut : plan.cuts)
      if (Status forgot = sink.Forget(cut.stream, cut.seq); !forgot) return forgot;
    return {};
  });
}

void PrintPlan(const RetentionPlan& plan, bool dry_run) {
  const char* would = dry_run ? "would delete " : "deleted ";
  std::cout << would << plan.records_to_delete << " records (" << plan.segments_to_delete.size()
            << " journal segments)";
  for (const RetentionCut& cut : plan.cuts)
    std::cout << "; stream " << cut.stream << " now begins after seq " << cut.seq;
  std::cout << "\n"
            << (dry_run ? "would anonymise " : "anonymised ") << plan.records_anonymised
            << " records (" << plan.fields_anonymised << " fields)\n";
  for (const std::string& held : plan.held) std::cout << "kept: " << held << "\n";
  if (plan.segments_forced > 0) {
    std::cout << "over the disk budget: " << plan.segments_forced << " segments " << (dry_run ? "would go" : "went")
              << " before their time or before every sink had them;";
    for (const auto& [sink, count] : plan.given_up) std::cout << " " << sink << " loses " << count << " records;";
    std::cout << "\n";
  }
}

}  // namespace

Result<RetentionPlan> RunRetention(const Config& config, Pipeline* running, bool dry_run) {
  const auto now = std::chrono::system_clock::now();
  RetentionOptions options{config.retention, now, SinkNames(config), dry_run, running != nullptr};
  auto plan = PlanRetention(config.audit.directory, options);
  if (!plan || dry_run) return plan;
  const std::vector<SinkConfig> stores = SqlStores(config);
  // The anonymised versions reach the stores before anything is declared.
  if (Status anonymised = plan->anonymised_lines.empty() ? Status{} : ReplaceInStores(stores, plan->anonymised_lines);
      !anonymised)
    return std::unexpected(anonymised.error());
  // The writer signs the cuts, with the key of the epoch it writes them in.
  auto event = RetentionEvent(*plan, nullptr, now);
  if (!event) return std::unexpected(event.error());
  if (running) {
    event->server = {"mcp-audit", MCPAUDIT_VERSION, ""};
    if (Status logged = running->LogSigned(*event, SignRetentionCuts); !logged)
      return std::unexpected(logged.error());
  } else {
    PipelineOptions pipeline_options = config.audit;
    pipeline_options.mode = DeliveryMode::kDurable;
    pipeline_options.space_left_bytes = pipeline_options.admin_space_left_bytes = 0;
    pipeline_options.server = {"mcp-audit retention", MCPAUDIT_VERSION, ""};
    event->server = pipeline_options.server;
    auto pipeline = Pipeline::Open(pipeline_options);
    if (!pipeline) return std::unexpected(pipeline.error());
    if (Status logged = (*pipeline)->LogSigned(*event, SignRetentionCuts); !logged)
      return std::unexpected(logged.error());
    pipeline->reset();
    // The declaration goes to the stores before their rows go: `verify --store` needs it.
    for (const SinkConfig& store : stores) {
      auto sink = OpenSink(store);
      if (!sink) return std::unexpected(sink.error());
      auto shipper = Shipper::Start({.journal_dir = config.audit.directory, .name = store.name},
                                    std::move(*sink));
      if (!shipper) return std::unexpected(shipper.error());
      if (Status shipped = (*shipper)->ShipAll(); !shipped)
        return Fail(ErrorCode::kIo,
                    "store " + RedactUrl(store.url) + ": " + shipped.error().message);
    }
  }
  if (Status forgot = ForgetInStores(stores, *plan); !forgot)
    return std::unexpected(forgot.error());
  if (Status deleted = DeleteExpiredSegments(config.audit.directory, *plan); !deleted)
    return std::unexpected(deleted.error());
  return plan;
}

void AddRetentionCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::string config_path, audit_dir, signing_key;
    bool dry_run = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("retention",
                                     "Delete and anonymise records by age, as the configuration's "
                                     "[retention] says; verify stays valid");
  cmd->add_option("--config", options->config_path, "The configuration with the [retention] policy")
      ->required();
  cmd->add_option("--audit-dir", options->audit_dir,
                  "Directory of the journal (default: the configuration's)");
  cmd->add_option(
      "--signing-key", options->signing_key,
      "Key that signs the retention record (default: the configuration's audit.signing_key)");
  cmd->add_flag("--dry-run", options->dry_run,
                "Say what would be deleted and anonymised; change nothing");
  cmd->callback([options, &exit_code] {
    auto config = LoadConfig(options->config_path);
    if (!config) {
      std::cerr << "mcp-audit retention: " << config.error().message << "\n";
      exit_code = 2;
      return;
    }
    if (!options->audit_dir.empty()) config->audit.directory = options->audit_dir;
    if (!options->signing_key.empty()) config->audit.signing_key = options->signing_key;
    if (config->retention.empty()) {
      std::cerr << "mcp-audit retention: " << options->config_path
                << " has no retention policy: set keep_days or anonymize_after_days in [retention] "
                   "(see `mcp-audit config example`)\n";
      exit_code = 2;
      return;
    }
    auto plan = RunRetention(*config, nullptr, options->dry_run);
    if (!plan) {
      std::cerr << "mcp-audit retention: " << plan.error().message << "\n";
      exit_code = plan.error().code == ErrorCode::kIo ? 1 : 2;
      return;
    }
    PrintPlan(*plan, options->dry_run);
    if (!options->dry_run)
      std::cout << "the run is recorded in the journal (event_type retention)\n";
    exit_code = 0;
  });
}

}  // namespace mcpaudit::cli

#include "cli/commands.h"

namespace mcpaudit::cli {

CLI::Option* AddStoreFlags(CLI::App* cmd, StoreFlags& flags, const std::string& what) {
  CLI::Option* store = cmd->add_option(
      "--store", flags.url, what + " (sqlite:///path/audit.db, postgres://user@host/db, mysql://user@host/db)");
  cmd->add_option("--store-password-env", flags.password_env,
                  "Environment variable that holds the store's password")
      ->needs(store);
  cmd->add_option("--store-password-file", flags.password_file, "File that holds the store's password")
      ->needs(store);
  return store;
}

}  // namespace mcpaudit::cli

// A real PostgreSQL or MariaDB server of this test program's own, started on
// first use (tests/support/db-server.sh: loopback, a free port, password auth)
// and destroyed when the program ends. The tests may stop and restart it.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "mcpaudit/sink.h"
#include "support/free_port.h"
#include "support/shell.h"

namespace mcpaudit::testing {

class DatabaseServer {
 public:
  enum class Kind { kPostgres, kMariadb };

  static DatabaseServer& Get(Kind kind) {
    static std::map<Kind, std::unique_ptr<DatabaseServer>> servers;
    auto& server = servers[kind];
    if (!server) server.reset(new DatabaseServer(kind));
    return *server;
  }

  ~DatabaseServer() { Run("destroy"); }

  // Makes a new, empty database and makes it the one Config() and Sql() use:
  // each test starts from nothing though the server is shared.
  void UseNewDatabase() {
    const std::string name = "test" + std::to_string(++databases_);
    database_ = "audit";
    Sql("CREATE DATABASE " + name);
    database_ = name;
  }

  // The sink configuration that reaches it (the password read from a file).
  SinkConfig Config(const std::string& name = "db") const {
    return {name, url_.substr(0, url_.rfind('/') + 1) + database_, "", (dir_ / "password").string()};
  }
  std::string Password() const { return ReadPassword(); }
  // Runs SQL as the owner of the database and returns what it printed (rows
  // tab-separated, one per line, without the last line break).
  std::string Sql(const std::string& sql) const { return Run("sql", sql); }
  void Stop() const { Run("stop"); }
  void Start() const { Run("start"); }

 private:
  explicit DatabaseServer(Kind kind) : kind_(kind) {
    std::string pattern = (std::filesystem::temp_directory_path() / "mcpaudit-db-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    // The port was free when asked for; another test program may take it
    // before the server binds it: then another port.
    for (int attempt = 1;; ++attempt) {
      port_ = FreePort();
      try {
        url_ = Run("start");
        return;
      } catch (const std::exception&) {
        Run("stop");
        if (attempt == 3) throw;
      }
    }
  }

  std::string ReadPassword() const {
    std::string password;
    if (FILE* f = std::fopen((dir_ / "password").c_str(), "r")) {
      char buffer[256];
      if (std::fgets(buffer, sizeof buffer, f)) password = buffer;
      std::fclose(f);
    }
    while (!password.empty() && password.back() == '\n') password.pop_back();
    return password;
  }

  std::string Run(const std::string& action, const std::string& sql = "") const {
    return RunShell(std::string(MCPAUDIT_DB_SERVER_SCRIPT) + " " + action + " " +
                        (kind_ == Kind::kPostgres ? "postgres" : "mariadb") + " " + ShellQuote(dir_.string()) + " " +
                        std::to_string(port_) + " " + database_ + " " + ShellQuote(sql),
                    action == "destroy" || action == "stop");
  }

  Kind kind_;
  std::filesystem::path dir_;
  int port_ = 0;
  std::string url_;
  std::string database_ = "audit";
  int databases_ = 0;
};

}  // namespace mcpaudit::testing

// A real PostgreSQL or MariaDB server of this test program's own, started on
// first use (tests/support/db-server.sh: loopback, a free port, password auth)
// and destroyed when the program ends. The tests may stop and restart it.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "mcpaudit/sink.h"

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
    port_ = FreePort();
    url_ = Run("start");
  }

  static int FreePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ntohs(address.sin_port);
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

  static std::string Quote(const std::string& text) {
    std::string quoted = "'";
    for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
  }

  std::string Run(const std::string& action, const std::string& sql = "") const {
    const std::string command = std::string(MCPAUDIT_DB_SERVER_SCRIPT) + " " + action + " " +
                                (kind_ == Kind::kPostgres ? "postgres" : "mariadb") + " " + Quote(dir_.string()) +
                                " " + std::to_string(port_) + " " + database_ + " " + Quote(sql);
    std::string output;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
    const int status = ::pclose(pipe);
    if (status != 0 && action != "destroy") throw std::runtime_error(command + " failed: " + output);
    while (!output.empty() && output.back() == '\n') output.pop_back();
    return output;
  }

  Kind kind_;
  std::filesystem::path dir_;
  int port_ = 0;
  std::string url_;
  std::string database_ = "audit";
  int databases_ = 0;
};

}  // namespace mcpaudit::testing

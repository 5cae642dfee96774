// Running the tests' helper scripts (database servers, rsyslog).
#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace mcpaudit::testing {

// `text` as one shell word.
inline std::string ShellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// Runs `command` with /bin/sh and returns what it printed on stdout, without
// the last line break; throws with that output when it fails (unless `may_fail`).
inline std::string RunShell(const std::string& command, bool may_fail = false) {
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != 0 && !may_fail) throw std::runtime_error(command + " failed: " + output);
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return output;
}

// A script the tests run (a stand-in server, say): `text` in `path`, which
// only its owner may read, write and run.
inline std::filesystem::path WriteScript(const std::filesystem::path& path,
                                         const std::string& text) {
  std::ofstream(path) << text;
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path;
}

}  // namespace mcpaudit::testing

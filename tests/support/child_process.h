// A program started with pipes on its stdin and stdout (what the stdio tests
// and the proxy benchmark talk to), its stderr into a file.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace mcpaudit::testing {

struct ChildPipes {
  pid_t pid = -1;
  int to_child = -1;    // its stdin
  int from_child = -1;  // its stdout
};

// Starts `args` (args[0] a path); `env` entries ("NAME=value") are added to
// the environment it inherits. Exits this process if pipes cannot be made.
inline ChildPipes SpawnWithPipes(std::vector<std::string> args, const std::string& stderr_path,
                                 const std::vector<std::string>& env = {}) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) std::exit(1);
  ChildPipes child;
  child.pid = ::fork();
  if (child.pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(err, 2);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  child.to_child = in[1];
  child.from_child = out[0];
  return child;
}

}  // namespace mcpaudit::testing

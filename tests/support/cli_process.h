// The real `mcp-audit` binary as tests drive it: a server over pipes, a
// command with its output, and the records it leaves behind.
#pragma once

#include <gtest/gtest.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/journal_reader.h"
#include "support/child_process.h"

namespace mcpaudit::testing {

using nlohmann::json;

// A child process of mcp-audit with pipes on stdin and stdout, stderr in a file.
class ServerProcess {
 public:
  // `mcp-audit serve --stdio --audit-dir DIR` plus `extra_args`.
  ServerProcess(const std::filesystem::path& audit_dir, std::vector<std::string> extra_args = {},
                std::vector<std::string> env = {}) {
    std::filesystem::path base = audit_dir.parent_path();
    while (!std::filesystem::is_directory(base)) base = base.parent_path();
    std::vector<std::string> args = {"serve", "--stdio", "--audit-dir", audit_dir.string()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    Start(std::move(args), base / "stderr.txt", env);
  }
  // `mcp-audit ARGS...`, with `env` ("NAME=value") added to the environment.
  ServerProcess(std::vector<std::string> args, const std::filesystem::path& stderr_path,
                const std::vector<std::string>& env = {}) {
    Start(std::move(args), stderr_path, env);
  }

  void Start(std::vector<std::string> args, const std::filesystem::path& stderr_path,
             const std::vector<std::string>& env) {
    stderr_path_ = stderr_path;
    args.insert(args.begin(), MCP_AUDIT_BINARY);
    const ChildPipes child = SpawnWithPipes(std::move(args), stderr_path_.string(), env);
    pid_ = child.pid;
    to_server_ = child.to_child;
    from_server_ = child.from_child;
  }
  ~ServerProcess() {
    if (to_server_ >= 0) ::close(to_server_);
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(from_server_);
  }

  void Write(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::write(to_server_, bytes.data(), bytes.size());
      ASSERT_GT(n, 0);
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  void Send(const json& message) { Write(message.dump() + "\n"); }
  // Writes as much of `bytes` as the server takes until it has taken nothing
  // for `patience` (a server that stopped reading); returns how much it took.
  size_t WriteWhileTaken(std::string_view bytes, std::chrono::milliseconds patience) {
    const size_t total = bytes.size();
    while (!bytes.empty()) {
      pollfd pfd{to_server_, POLLOUT, 0};
      if (::poll(&pfd, 1, static_cast<int>(patience.count())) <= 0) break;
      const ssize_t n = ::write(to_server_, bytes.data(), std::min<size_t>(bytes.size(), PIPE_BUF));
      if (n <= 0) break;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return total - bytes.size();
  }

  // The next line on stdout (waiting up to 20 s).
  std::string ReadLine() {
    while (true) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      pollfd pfd{from_server_, POLLIN, 0};
      if (::poll(&pfd, 1, 20000) <= 0) {
        ADD_FAILURE() << "no output from mcp-audit within 20 s";
        return {};
      }
      char chunk[65536];
      ssize_t n = ::read(from_server_, chunk, sizeof chunk);
      if (n <= 0) {
        ADD_FAILURE() << "mcp-audit closed stdout";
        return {};
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  // The next line on stdout, which must be a JSON-RPC message.
  json Read() {
    const std::string line = ReadLine();
    json message = json::parse(line, nullptr, false);
    EXPECT_FALSE(message.is_discarded()) << "stdout carried a non-JSON line: " << line;
    EXPECT_EQ(message.value("jsonrpc", ""), "2.0") << line;
    return message;
  }
  json Request(int id, const std::string& method, const json& params = json::object()) {
    Send({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
    return Read();
  }
  void Initialize() {
    json reply = Request(0, "initialize",
                         {{"protocolVersion", "2025-06-18"},
                          {"capabilities", json::object()},
                          {"clientInfo", {{"name", "pipe-test"}, {"version", "1"}}}});
    ASSERT_EQ(reply["result"]["protocolVersion"], "2025-06-18") << reply;
    Send({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  }

  // Closes stdin (EOF) and returns the exit status.
  int CloseAndWait() {
    ::close(to_server_);
    to_server_ = -1;
    return Wait();
  }
  int Signal(int sig, bool wait = true) {
    ::kill(pid_, sig);
    return wait ? Wait() : 0;
  }
  // The exit status, or nothing if the process still runs after `limit`.
  std::optional<int> WaitFor(std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::nullopt;
  }
  pid_t pid() const { return pid_; }
  std::string Stderr() const {
    std::ifstream in(stderr_path_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // Whatever stdout still holds after exit: must be nothing but messages.
  std::string RemainingStdout() {
    char chunk[4096];
    ssize_t n;
    while ((n = ::read(from_server_, chunk, sizeof chunk)) > 0)
      buffer_.append(chunk, static_cast<size_t>(n));
    return buffer_;
  }

 private:
  int Wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  pid_t pid_ = -1;
  bool exited_ = false;
  int to_server_ = -1;
  int from_server_ = -1;
  std::string buffer_;
  std::filesystem::path stderr_path_;
};

// What `serve --http` or `proxy --http` printed once it listens (waiting up
// to 30 s: a loaded machine may start it slowly): its loopback port (0 if it did not say) and its
// dev API key (if any).
struct PrintedEndpoint {
  unsigned short port = 0;
  std::string dev_key;
};
inline PrintedEndpoint WaitForEndpoint(const ServerProcess& server) {
  std::string err;
  for (int i = 0; i < 600 && err.find("stop:") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    err = server.Stderr();
  }
  PrintedEndpoint printed;
  constexpr std::string_view kEndpoint = "endpoint:      http://127.0.0.1:",
                             kKey = "dev API key:   ";
  if (const auto at = err.find(kEndpoint); at != std::string::npos)
    printed.port = static_cast<unsigned short>(std::stoi(err.substr(at + kEndpoint.size())));
  if (const auto at = err.find(kKey); at != std::string::npos)
    printed.dev_key =
        err.substr(at + kKey.size(), err.find(' ', at + kKey.size()) - at - kKey.size());
  return printed;
}

// The records of tool calls (the journal also holds the pipeline's own events).
inline std::vector<AuditEvent> Records(const std::filesystem::path& dir, bool all = false) {
  std::vector<AuditEvent> events;
  EXPECT_TRUE(ForEachRecord(
                  dir,
                  [&](const AuditEvent& e) {
                    if (all || e.event_type == "tool_call") events.push_back(e);
                    return true;
                  },
                  [](const BadLine& bad) { ADD_FAILURE() << bad.reason; })
                  .has_value());
  return events;
}

inline std::string ReadFile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Every byte of every file under `dir` (the journal, the store, the cursors).
inline std::string AllBytes(const std::filesystem::path& dir) {
  std::string all;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) all += ReadFile(entry.path());
  }
  return all;
}

// Runs an mcp-audit command; returns its exit code and what it printed (stdout and stderr).
inline std::pair<int, std::string> RunCommand(const std::string& args) {
  const std::string command = std::string(MCP_AUDIT_BINARY) + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace mcpaudit::testing

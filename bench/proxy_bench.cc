// Proxy benchmark, side by side in one run: tools/call round trips over stdio,
// one at a time, against the conformance fixtures served by `mcp-audit serve
// --stdio` (audit in the server itself) called directly, and the same server
// behind `mcp-audit proxy` (a second audit in front). Prints calls/s and the
// p50/p99 latency of each, and what the proxy adds.
// Usage: proxy_bench MCP_AUDIT_BINARY [calls]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "support/child_process.h"

namespace {

namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    const mcpaudit::testing::ChildPipes child = mcpaudit::testing::SpawnWithPipes(std::move(args), "/dev/null");
    pid_ = child.pid;
    to_ = child.to_child;
    from_ = child.from_child;
  }
  ~Child() {
    ::close(to_);
    ::waitpid(pid_, nullptr, 0);
    ::close(from_);
  }
  void Send(const std::string& line) {
    const std::string data = line + "\n";
    if (::write(to_, data.data(), data.size()) != static_cast<ssize_t>(data.size())) std::exit(1);
  }
  std::string Read() {
    while (true) {
      if (const size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      char chunk[65536];
      const ssize_t n = ::read(from_, chunk, sizeof chunk);
      if (n <= 0) return {};
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  pid_t pid_;
  int to_, from_;
  std::string buffer_;
};

void Measure(const char* name, std::vector<std::string> args, int calls, std::vector<double>& latencies) {
  Child child(std::move(args));
  child.Send(R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
             R"("capabilities":{},"clientInfo":{"name":"bench","version":"1"}}})");
  child.Read();
  child.Send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  for (int i = 1; i <= calls; ++i) {
    const auto start = Steady::now();
    child.Send(R"({"jsonrpc":"2.0","id":)" + std::to_string(i) +
               R"(,"method":"tools/call","params":{"name":"test_simple_text","arguments":{}}})");
    if (child.Read().empty()) {
      std::printf("%-28s failed: no answer\n", name);
      return;
    }
    latencies.push_back(std::chrono::duration<double, std::micro>(Steady::now() - start).count());
  }
  std::vector<double> sorted = latencies;
  std::sort(sorted.begin(), sorted.end());
  double total = 0;
  for (double l : latencies) total += l;
  std::printf("%-28s %6d calls %9.0f calls/s   p50 %7.1f us   p99 %7.1f us\n", name, calls,
              calls / (total / 1e6), sorted[sorted.size() / 2], sorted[sorted.size() * 99 / 100]);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: proxy_bench MCP_AUDIT_BINARY [calls]\n");
    return 2;
  }
  const std::string binary = argv[1];
  const int calls = argc > 2 ? std::atoi(argv[2]) : 5000;
  const fs::path dir = fs::temp_directory_path() / ("mcp-audit-proxy-bench-" + std::to_string(::getpid()));
  const std::vector<std::string> upstream = {binary, "serve", "--toolkit", "conformance", "--stdio"};
  auto with_dir = [&](std::vector<std::string> args, const std::string& name) {
    args.push_back("--audit-dir");
    args.push_back((dir / name).string());
    return args;
  };
  std::vector<double> direct, proxied;
  Measure("direct (serve --stdio)", with_dir(upstream, "direct"), calls, direct);
  std::vector<std::string> proxy = with_dir({binary, "proxy"}, "proxy");
  proxy.push_back("--");
  for (const auto& arg : with_dir(upstream, "upstream")) proxy.push_back(arg);
  Measure("through mcp-audit proxy", proxy, calls, proxied);
  if (direct.size() == proxied.size() && !direct.empty()) {
    std::sort(direct.begin(), direct.end());
    std::sort(proxied.begin(), proxied.end());
    std::printf("%-28s p50 +%.1f us   p99 +%.1f us\n", "added by the proxy", proxied[calls / 2] - direct[calls / 2],
                proxied[calls * 99 / 100] - direct[calls * 99 / 100]);
  }
  fs::remove_all(dir);
  return 0;
}

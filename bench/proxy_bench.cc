// Proxy benchmark, side by side in one run: tools/call round trips, one at a
// time, against the conformance fixtures served by `mcp-audit serve` (audit in
// the server itself) called directly, and the same server behind `mcp-audit
// proxy` (a second audit in front): over stdio (`proxy -- serve --stdio`), and
// over Streamable HTTP (`proxy --upstream-url` to `serve --http`, against a
// direct HTTP client with a kept-alive connection). Prints calls/s and the
// p50/p99 latency of each, and what the proxy adds.
// Usage: proxy_bench MCP_AUDIT_BINARY [calls]
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.h"
#include "support/free_port.h"

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

// The figures of `latencies` (microseconds, in call order).
void Print(const char* name, const std::vector<double>& latencies) {
  std::vector<double> sorted = latencies;
  std::sort(sorted.begin(), sorted.end());
  double total = 0;
  for (double l : latencies) total += l;
  std::printf("%-40s %6zu calls %9.0f calls/s   p50 %7.1f us   p99 %7.1f us\n", name, latencies.size(),
              latencies.size() / (total / 1e6), sorted[sorted.size() / 2], sorted[sorted.size() * 99 / 100]);
}

size_t KeepBody(char* data, size_t size, size_t count, void* body) {
  static_cast<std::string*>(body)->append(data, size * count);
  return size * count;
}
size_t KeepSessionId(char* data, size_t size, size_t count, void* session) {
  const std::string line(data, size * count);
  if (line.size() > 15 && strncasecmp(line.c_str(), "mcp-session-id:", 15) == 0) {
    *static_cast<std::string*>(session) = line.substr(15);
    auto& id = *static_cast<std::string*>(session);
    id.erase(0, id.find_first_not_of(' '));
    id.erase(id.find_last_not_of("\r\n ") + 1);
  }
  return size * count;
}

// The same calls as an HTTP client: one kept-alive connection, JSON or SSE answers.
void MeasureHttp(const char* name, const std::string& url, int calls, std::vector<double>& latencies) {
  CURL* curl = curl_easy_init();
  std::string session, body;
  auto post = [&](const std::string& message) {
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json, text/event-stream");
    if (!session.empty()) {
      headers = curl_slist_append(headers, ("Mcp-Session-Id: " + session).c_str());
      headers = curl_slist_append(headers, "MCP-Protocol-Version: 2025-06-18");
    }
    body.clear();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, message.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, KeepBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, KeepSessionId);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &session);
    const CURLcode code = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    return code == CURLE_OK && body.find("error") == std::string::npos;
  };
  if (!post(R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",)"
            R"("capabilities":{},"clientInfo":{"name":"bench","version":"1"}}})")) {
    std::printf("%-40s failed: %s\n", name, body.c_str());
    curl_easy_cleanup(curl);
    return;
  }
  post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  for (int i = 1; i <= calls; ++i) {
    const auto start = Steady::now();
    if (!post(R"({"jsonrpc":"2.0","id":)" + std::to_string(i) +
              R"(,"method":"tools/call","params":{"name":"test_simple_text","arguments":{}}})")) {
      std::printf("%-40s failed: %s\n", name, body.c_str());
      latencies.clear();
      break;
    }
    latencies.push_back(std::chrono::duration<double, std::micro>(Steady::now() - start).count());
  }
  curl_easy_cleanup(curl);
  if (!latencies.empty()) Print(name, latencies);
}

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
      std::printf("%-40s failed: no answer\n", name);
      return;
    }
    latencies.push_back(std::chrono::duration<double, std::micro>(Steady::now() - start).count());
  }
  Print(name, latencies);
}

// What the proxy adds to the latencies of the direct calls.
void PrintAdded(std::vector<double> direct, std::vector<double> proxied) {
  if (direct.size() != proxied.size() || direct.empty()) return;
  std::sort(direct.begin(), direct.end());
  std::sort(proxied.begin(), proxied.end());
  const size_t n = direct.size();
  std::printf("%-40s p50 +%.1f us   p99 +%.1f us\n", "  added by the proxy", proxied[n / 2] - direct[n / 2],
              proxied[n * 99 / 100] - direct[n * 99 / 100]);
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
  PrintAdded(direct, proxied);

  // The same server over Streamable HTTP (loopback, no authentication).
  const std::string address = "127.0.0.1:" + std::to_string(mcpaudit::testing::FreePort());
  const pid_t server = mcpaudit::testing::SpawnWithPipes(
      with_dir({binary, "serve", "--toolkit", "conformance", "--http", address}, "http-upstream"), "/dev/null").pid;
  const std::string url = "http://" + address + "/mcp";
  for (int i = 0; i < 100; ++i) {  // until it listens
    CURL* curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    const bool up = curl_easy_perform(curl) == CURLE_OK;
    curl_easy_cleanup(curl);
    if (up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::vector<double> direct_http, proxied_http;
  MeasureHttp("direct (serve --http)", url, calls, direct_http);
  Measure("through mcp-audit proxy --upstream-url", with_dir({binary, "proxy", "--upstream-url", url}, "proxy-http"),
          calls, proxied_http);
  PrintAdded(direct_http, proxied_http);
  ::kill(server, SIGTERM);
  ::waitpid(server, nullptr, 0);
  fs::remove_all(dir);
  return 0;
}

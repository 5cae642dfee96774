// Raw bytes from a hostile client to the Streamable HTTP transport, over a real
// loopback connection: the HTTP parser, the Host/Origin checks, sessions, the
// JSON-RPC decoding and the server behind them. The transport runs for the
// whole fuzzing process; each input is one connection, closed by the client
// after its bytes.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <future>
#include <thread>

#include "fuzz_support.h"
#include "mcpaudit/http_transport.h"
#include "mcpaudit/server.h"
#include "mcpaudit/toolkit.h"

namespace {

uint16_t StartTransport() {
  using namespace mcpaudit;
  static fuzz::SerialisingLogger logger;
  static Toolkit toolkit(logger);
  static bool registered = [] {
    ToolDefinition echo;
    echo.name = "echo";
    // Parameters mirrored into Mcp-Param-* headers (2026-07-28), checked against the body.
    echo.input_schema = {
        {"type", "object"},
        {"properties",
         {{"region", {{"type", "string"}, {"x-mcp-header", "Region"}}},
          {"n", {{"type", "integer"}, {"x-mcp-header", "N"}}},
          {"flag", {{"type", "boolean"}, {"x-mcp-header", "Flag"}}},
          {"at",
           {{"type", "object"},
            {"properties", {{"zone", {{"type", "string"}, {"x-mcp-header", "Zone"}}}}}}}}}};
    return toolkit
        .Register(echo,
                  [](const RequestContext&, const nlohmann::json& arguments) -> Result<ToolResult> {
                    return ToolResult::Text(arguments.dump());
                  })
        .has_value();
  }();
  (void)registered;
  static Server server(ServerOptions{.name = "fuzz", .version = "1", .workers = 1}, toolkit);
  static std::promise<uint16_t> port;
  static std::thread thread([] {
    HttpOptions options;
    options.port = 0;
    options.max_body_bytes = 64 * 1024;
    options.request_timeout = std::chrono::seconds(2);
    options.on_listening = [](const std::string& url) {
      port.set_value(static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1))));
    };
    (void)ServeHttp(server, options);
  });
  thread.detach();  // serves until the fuzzing process ends
  return port.get_future().get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const uint16_t port = StartTransport();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // A refused connection is the server's limits at work (a crash would have ended this process).
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return 0;
  }
  const timeval limit{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  // Closed with a reset: neither side keeps the connection (TIME_WAIT, a stream left open) after the input.
  const linger reset{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  (void)::send(fd, data, size, MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  char buffer[4096];
  while (::recv(fd, buffer, sizeof buffer, 0) > 0) {
  }
  ::close(fd);
  return 0;
}

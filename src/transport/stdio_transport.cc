#include "mcpaudit/stdio_transport.h"

#include <poll.h>
#include <unistd.h>

#include "base/ops_log.h"

#include <cerrno>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "mcp/jsonrpc.h"

namespace mcpaudit {
namespace {

// Writes all of `data`, retrying on EINTR and short writes.
bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

Status ServeStdio(Server& server, StdioOptions options, std::stop_token stop) {
  options.connection.transport = "stdio";
  const int out_fd = options.output_fd;
  auto write_mutex = std::make_shared<std::mutex>();
  auto output_broken = std::make_shared<std::atomic<bool>>(false);
  MessageSender send = [out_fd, write_mutex, output_broken](OutgoingMessage outgoing) {
    if (outgoing.close_stream) return;  // there is only one stream, and it stays
    // MCP stdio framing: one message per line; messages never contain a raw newline.
    std::string message = std::move(outgoing.text);
    message.push_back('\n');
    std::lock_guard lock(*write_mutex);
    if (!WriteAll(out_fd, message) && !output_broken->exchange(true)) {
      OpsLog().error("stdio: cannot write to the client: {}", std::strerror(errno));
    }
  };
  auto connection = server.Connect(options.connection, send);

  std::string line;          // the message being assembled
  bool oversized = false;    // the current line passed the limit: skip to its end
  char buffer[64 * 1024];
  Status status;
  auto finish_line = [&] {
    if (oversized) {
      RefusedRequest refusal;
      refusal.code = rpc::kInvalidRequest;
      refusal.message = "Invalid Request: message larger than " + std::to_string(options.max_message_bytes) + " bytes";
      refusal.reason = "message_too_large";
      server.RecordRefusal(options.connection, refusal);
      send({jsonrpc::Error(nullptr, refusal.code, refusal.message), "", false, false});
    } else if (!line.empty() && line.find_first_not_of(" \t\r") != std::string::npos) {
      connection->Receive(line);
    }
    line.clear();
    oversized = false;
  };
  while (!stop.stop_requested()) {
    pollfd pfd{options.input_fd, POLLIN, 0};
    int ready = ::poll(&pfd, 1, 200);
    if (ready < 0) {
      if (errno == EINTR) continue;
      status = Fail(ErrorCode::kIo, std::string("stdio: poll failed: ") + std::strerror(errno));
      break;
    }
    if (ready == 0) continue;
    ssize_t n = ::read(options.input_fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      status = Fail(ErrorCode::kIo, std::string("stdio: read failed: ") + std::strerror(errno));
      break;
    }
    if (n == 0) break;  // end of input: the client is gone
    std::string_view chunk(buffer, static_cast<size_t>(n));
    while (!chunk.empty()) {
      const size_t newline = chunk.find('\n');
      const std::string_view piece = chunk.substr(0, newline);
      if (!oversized) {
        if (line.size() + piece.size() > options.max_message_bytes) {
          oversized = true;
          line.clear();
          line.shrink_to_fit();
        } else {
          line.append(piece);
        }
      }
      if (newline == std::string_view::npos) break;
      finish_line();
      chunk.remove_prefix(newline + 1);
    }
  }
  if (!line.empty() || oversized) finish_line();  // a last message without its newline
  if (stop.stop_requested()) connection->Ending(kEndShutdown);
  connection->Drain();
  return status;
}

}  // namespace mcpaudit

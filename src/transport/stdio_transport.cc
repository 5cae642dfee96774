#include "mcpaudit/stdio_transport.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "base/line_writer.h"
#include "mcp/jsonrpc.h"

namespace mcpaudit {

Status ServeStdio(Server& server, StdioOptions options, std::stop_token stop) {
  options.connection.transport = "stdio";
  // Written on a thread of its own: answers may be sent by the audit log's
  // writer (durable mode), which must not wait for a client that reads slowly.
  // A client that reads nothing while the server stops is given up on.
  auto out =
      std::make_shared<LineWriter>(options.output_fd, "stdio: cannot write to the client", stop);
  MessageSender send = [out](OutgoingMessage outgoing) {
    if (outgoing.close_stream) return;  // there is only one stream, and it stays
    // MCP stdio framing: one message per line; messages never contain a raw newline.
    (void)out->Send(std::move(outgoing.text));  // a client that is gone gets nothing more
  };
  auto connection = server.Connect(options.connection, send);

  std::string line;        // the message being assembled
  bool oversized = false;  // the current line passed the limit: skip to its end
  char buffer[64 * 1024];
  Status status;
  auto finish_line = [&] {
    if (oversized) {
      RefusedRequest refusal;
      refusal.code = rpc::kInvalidRequest;
      refusal.message = "Invalid Request: message larger than " +
                        std::to_string(options.max_message_bytes) + " bytes";
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

#include "proxy/stdio_proxy.h"

#include "base/line_writer.h"
#include "mcp/jsonrpc.h"
#include "mcpaudit/clock.h"
#include "proxy/line_reader.h"

namespace mcpaudit {

StdioProxy::StdioProxy(ProxyOptions options, const Recorder& recorder, Identity identity)
    : shared_(std::move(options), recorder), identity_(std::move(identity)) {}

int StdioProxy::Run(int client_in, int client_out, std::stop_token stop) {
  ConnectionInfo info;
  info.transport = "stdio";
  info.session_id = NewUuidV7(std::chrono::system_clock::now(), SecureRandom());
  info.identity = identity_;
  // Written on a thread of its own: answers may be sent by the audit log's
  // writer (durable mode), which must not wait for a client that reads slowly.
  // A client that reads nothing while the proxy stops is given up on.
  LineWriter out(client_out, "proxy: cannot write to the client", stop);
  UpstreamSession session(shared_, info, [&out](OutgoingMessage message) {
    if (message.text.empty()) return;  // nothing to write (a stream to close: HTTP only)
    (void)out.Send(std::move(message.text));  // a client that is gone gets nothing more
  });
  const size_t max_bytes = shared_.options.max_message_bytes;
  LineReader reader(client_in, stop, max_bytes);
  for (std::string line; reader.Next(line);) {
    if (reader.oversized()) {  // answered and recorded here, as serve does; it never reaches the
                               // upstream
      RefusedRequest refusal;
      refusal.code = -32600;
      refusal.message =
          "Invalid Request: message larger than " + std::to_string(max_bytes) + " bytes";
      refusal.reason = "message_too_large";
      shared_.refusals.Record(info, refusal);
      (void)out.Send(jsonrpc::Error(nullptr, refusal.code, refusal.message));
      continue;
    }
    session.Receive(line, MessageContext{});
  }
  if (stop.stop_requested()) session.Ending(kEndShutdown);
  return session.Finish();
}

}  // namespace mcpaudit

#include "proxy/stdio_proxy.h"

#include <mutex>

#include "base/audit_files.h"
#include "base/ops_log.h"
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
  std::mutex out_mutex;
  bool client_gone = false;
  UpstreamSession session(shared_, info, [&](OutgoingMessage message) {
    if (message.text.empty()) return;  // nothing to write (a stream to close: HTTP only)
    std::lock_guard lock(out_mutex);
    message.text += '\n';
    if (!client_gone && WriteAll(client_out, message.text) != message.text.size()) {
      client_gone = true;
      OpsLog().warn("proxy: the client is gone");
    }
  });
  const size_t max_bytes = shared_.options.max_message_bytes;
  LineReader reader(client_in, stop, max_bytes);
  for (std::string line; reader.Next(line);) {
    if (reader.oversized()) {  // answered and recorded here, as serve does; it never reaches the upstream
      RefusedRequest refusal;
      refusal.code = -32600;
      refusal.message = "Invalid Request: message larger than " + std::to_string(max_bytes) + " bytes";
      refusal.reason = "message_too_large";
      shared_.refusals.Record(info, refusal);
      std::lock_guard lock(out_mutex);
      const std::string refused = jsonrpc::Error(nullptr, refusal.code, refusal.message) + "\n";
      if (!client_gone) (void)WriteAll(client_out, refused);
      continue;
    }
    session.Receive(line, MessageContext{});
  }
  if (stop.stop_requested()) session.Ending(kEndShutdown);
  return session.Finish();
}

}  // namespace mcpaudit

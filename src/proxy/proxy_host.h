// The proxy behind the Streamable HTTP transport: each client session gets its
// own upstream (an UpstreamSession with its own child process, or its own
// session with an HTTP upstream), started when the session's initialize
// arrives and ended with the session.
#pragma once

#include "mcp/worker_pool.h"
#include "mcpaudit/server.h"
#include "proxy/upstream_session.h"

namespace mcpaudit {

class ProxyHost final : public SessionHost {
 public:
  // `recorder` must outlive the host.
  ProxyHost(ProxyOptions options, const Recorder& recorder);

  std::unique_ptr<Connection> Connect(ConnectionInfo info, MessageSender send) override;
  void RecordAuthFailure(const ConnectionInfo& info, std::string_view error, std::string_view description) override;

 private:
  ProxyShared shared_;
  // Refused authentications are recorded here, not on the transport's I/O
  // thread: in durable mode a record waits for the disk.
  WorkerPool auth_records_{1, 1024};
};

}  // namespace mcpaudit

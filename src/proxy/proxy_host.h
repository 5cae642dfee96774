// The proxy behind the Streamable HTTP transport: each client session gets its
// own upstream (an UpstreamSession with its own child process, or its own
// session with an HTTP upstream), started when the session's initialize
// arrives and ended with the session. A request of the stateless revision
// (2026-07-28) is a session of its own: it shares one child process with the
// others (a view of it), or is POSTed on to an HTTP upstream as it came.
#pragma once

#include "mcpaudit/server.h"
#include "proxy/upstream_session.h"

namespace mcpaudit {

class ProxyHost final : public SessionHost {
 public:
  // `recorder` must outlive the host.
  ProxyHost(ProxyOptions options, const Recorder& recorder);

  std::unique_ptr<Connection> Connect(ConnectionInfo info, MessageSender send) override;
  void RecordRefusal(const ConnectionInfo& info, const RefusedRequest& refusal) override;

 private:
  ProxyShared shared_;
};

}  // namespace mcpaudit

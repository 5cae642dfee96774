// StdioProxy: puts the audit in front of an MCP server, whoever wrote it, for
// one client on the proxy's own stdin and stdout (a desktop client that starts
// `mcp-audit proxy -- CMD` or `mcp-audit proxy --upstream-url URL`). The relaying, the
// policy and the records are the UpstreamSession's.
#pragma once

#include <stop_token>

#include "proxy/upstream_session.h"

namespace mcpaudit {

class StdioProxy {
 public:
  // The caller is `identity` (stdio has one).
  StdioProxy(ProxyOptions options, const Recorder& recorder, Identity identity);

  // Relays between the client on `client_in`/`client_out` and the upstream until
  // the client closes its input (then the upstream's input is closed and its
  // remaining answers relayed), or `stop` is requested. Returns the exit code
  // for the process: 0, or 1 when the upstream could not start or died.
  int Run(int client_in, int client_out, std::stop_token stop = {});

 private:
  ProxyShared shared_;
  Identity identity_;
};

}  // namespace mcpaudit

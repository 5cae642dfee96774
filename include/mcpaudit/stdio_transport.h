// MCP over stdio: newline-delimited JSON-RPC messages on a pair of file
// descriptors. Nothing but protocol messages is written to the output.
#pragma once

#include <cstddef>
#include <stop_token>

#include "mcpaudit/result.h"
#include "mcpaudit/server.h"

namespace mcpaudit {

struct StdioOptions {
  int input_fd = 0;
  int output_fd = 1;
  size_t max_message_bytes = 4 * 1024 * 1024;  // a longer line gets an error and is skipped
  ConnectionInfo connection;                   // transport is set to "stdio"
};

// Serves one session until end of input or until `stop` is requested, then
// waits for the calls in flight. Returns an error only if the descriptors fail.
[[nodiscard]] Status ServeStdio(Server& server, StdioOptions options, std::stop_token stop = {});

}  // namespace mcpaudit

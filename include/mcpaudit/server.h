// An MCP server: JSON-RPC 2.0 decoding, the MCP lifecycle (initialize, ping,
// notifications, cancellation) and method dispatch onto a Toolkit. Transports
// (stdio, HTTP) own the bytes; the Server owns the protocol.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "mcpaudit/request_context.h"
#include "mcpaudit/toolkit.h"

namespace mcpaudit {

// Protocol revisions this server speaks, newest first.
inline constexpr std::string_view kProtocolVersions[] = {"2025-11-25", "2025-06-18", "2025-03-26"};

struct ServerOptions {
  std::string name = "mcp-audit";
  std::string title;
  std::string version;
  std::string instructions;
  size_t workers = 4;            // threads that run tool calls
  size_t max_queued_calls = 256; // further calls wait for a place (back-pressure)
};

// What the transport knows about a connection before any message arrives.
struct ConnectionInfo {
  std::string transport;  // "stdio" | "http"
  std::string session_id;
  std::string client_ip;
  std::string user_agent;
  Identity identity;
};

// Sends one JSON-RPC message (without framing) to the client. Called from
// several threads; the transport serialises the writes.
using MessageSender = std::function<void(std::string message)>;

// One client's session: protocol state and its calls in flight.
class Connection {
 public:
  virtual ~Connection() = default;
  // Handles one received message text. Responses go through the sender, now or
  // later (tool calls run on the server's workers). One reader thread at a time.
  virtual void Receive(std::string_view message) = 0;
  // Waits until every call in flight has been answered (and recorded).
  virtual void Drain() = 0;
};

class Server {
 public:
  // `toolkit` must outlive the server.
  Server(ServerOptions options, const Toolkit& toolkit);
  ~Server();  // stops and joins the workers after the calls already queued
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts a session. Every Connection must be destroyed before the Server.
  std::unique_ptr<Connection> Connect(ConnectionInfo info, MessageSender send);

  struct Impl;  // internal: the protocol engine shared with the connections

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mcpaudit

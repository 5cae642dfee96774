// An MCP server: JSON-RPC 2.0 decoding, the MCP lifecycle (initialize, ping,
// notifications, cancellation) and method dispatch onto a Toolkit. Transports
// (stdio, HTTP) own the bytes; the Server owns the protocol.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mcpaudit/request_context.h"
#include "mcpaudit/toolkit.h"

namespace mcpaudit {

namespace jsonrpc {
struct Message;  // src/mcp/jsonrpc.h
}

// Protocol revisions this server speaks, newest first.
inline constexpr std::string_view kProtocolVersions[] = {"2025-11-25", "2025-06-18", "2025-03-26"};

// How refusals are recorded without letting a flood of them flood the log:
// per caller and reason, the first `per_caller` of an interval are recorded
// one by one, the rest counted in one `refusal_summary` record per interval.
struct RefusalLimits {
  size_t per_caller = 20;
  std::chrono::milliseconds interval{60000};
  size_t max_callers = 4096;  // distinct (caller, reason) counted; beyond, one count for all
  size_t queue = 1024;        // records waiting to be written; beyond, only counted
};

struct ServerOptions {
  std::string name = "mcp-audit";
  std::string title;
  std::string version;
  std::string instructions;
  size_t workers = 4;            // threads that run tool calls
  size_t max_queued_calls = 256; // further calls wait for a place (back-pressure)
  size_t max_json_depth = 64;    // a message nested deeper is refused (-32600) and recorded (too_deep)
  // Seals the requestState of 2026-07-28 multi round-trip requests (HMAC-SHA256):
  // the same secret on every instance a retry may reach; empty: a random key.
  std::string request_state_key;
  RefusalLimits refusals;
};

// What the transport knows about a connection before any message arrives.
struct ConnectionInfo {
  std::string transport;  // "stdio" | "http"
  std::string session_id;
  std::string client_ip;
  std::string user_agent;
  Identity identity;
  // One request of the stateless revision (2026-07-28 over HTTP): the
  // connection lives for that request alone, with no session around it.
  bool stateless_request = false;
};

// What a transport knows about one received message beyond its text.
struct MessageContext {
  std::string access_reason;  // HTTP: the X-Access-Reason header (HIPAA); _meta.access_reason wins
  // HTTP: the Mcp-Param-* headers (name as sent, value), which a 2026-07-28
  // tools/call carries for its x-mcp-header parameters.
  std::vector<std::pair<std::string, std::string>> param_headers;
};

// One JSON-RPC message (without framing) for the client, and the client request
// it belongs to: the response to it, or a notification or server request made
// while serving it. HTTP routes it to that request's stream; stdio ignores it.
struct OutgoingMessage {
  std::string text;
  std::string request_id;    // the request's id as JSON text (1 and "1" differ); empty if none
  bool is_response = false;  // the final answer to request_id
  // No text: end the HTTP response that carries request_id's messages now; the
  // client resumes it with GET and Last-Event-ID (SSE polling). Ignored by stdio.
  bool close_stream = false;
};

// Sends one message to the client. Called from several threads; the transport
// serialises the writes.
using MessageSender = std::function<void(OutgoingMessage message)>;

// One client's session: protocol state and its calls in flight.
class Connection {
 public:
  virtual ~Connection() = default;
  // Handles one received message text. Responses go through the sender, now or
  // later (tool calls run on the server's workers). One reader thread at a time.
  virtual void Receive(std::string_view message) { Receive(message, MessageContext{}); }
  // The same, with what the transport knows of this one message.
  virtual void Receive(std::string_view message, const MessageContext& context) = 0;
  // The same, already decoded by the transport (which read it to route it):
  // a message is decoded once. `text` is the message as received.
  virtual void Receive(jsonrpc::Message&& decoded, std::string_view text, const MessageContext& context) {
    (void)decoded;
    Receive(text, context);
  }
  // Waits until every call in flight has been answered (and recorded).
  virtual void Drain() = 0;
  // Stateless HTTP: each request stands alone, as if `initialize` had
  // negotiated `protocol_version`.
  virtual void AssumeInitialized(std::string protocol_version) = 0;
  // The transport is about to end the session, and why (kEndClosed, …): the
  // `session_end` record says it. Unset: kEndClosed.
  virtual void Ending(std::string_view reason) = 0;
};

// Why a session ended, as its `session_end` record says.
inline constexpr std::string_view kEndClosed = "closed";      // the client ended it (DELETE, end of input)
inline constexpr std::string_view kEndExpired = "expired";    // no request for the session timeout
inline constexpr std::string_view kEndShutdown = "shutdown";  // the server stopped
inline constexpr std::string_view kEndEvicted = "evicted";    // its user opened too many sessions

// A request refused before it reached a tool, resource or prompt, as its
// record says (outcome denied).
struct RefusedRequest {
  std::string event_type = "request_refused";  // auth_failure; tool_call, resource_read, prompt_get by method
  std::string method;      // the JSON-RPC method, when it could be read
  std::string tool;        // tools/call, prompts/get: the name, when it could be read
  std::string request_id;  // the JSON-RPC id as text, when it could be read
  int code = 0;            // the JSON-RPC error code answered (or the HTTP status when there was none)
  std::string message;     // what the caller was told; never a credential
  std::string reason;      // invalid_token, parse_error, too_deep, payload_too_large, unknown_session, ...
  int http_status = 0;     // the HTTP status answered; 0 on stdio
  // 2026-07-28: what the request's _meta said, when it could be read.
  std::string protocol_version;
  ClientInfo client;
};

// What a transport serves: client sessions. The Server answers them itself;
// the proxy relays each to an MCP server of its own (src/proxy).
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  // Starts a session. Every Connection must be destroyed before its host.
  virtual std::unique_ptr<Connection> Connect(ConnectionInfo info, MessageSender send) = 0;
  // Records a request refused before any session took it (a refused
  // authentication, an unreadable or oversized message, an unknown session)
  // with what the transport knows of the caller. Quick and never waits for the
  // disk: callable on an I/O thread. Floods are summarised (RefusalLimits).
  virtual void RecordRefusal(const ConnectionInfo& info, const RefusedRequest& refusal) = 0;
  // Whether a request of `method` received now would wait for a worker (all
  // are busy and their queue is full): a transport that must not wait answers
  // "busy" instead. Exact only for the one thread that hands this host its
  // requests (the HTTP I/O thread): nothing else fills the queue meanwhile.
  virtual bool WouldWait(std::string_view /*method*/) const { return false; }
  // A 2026-07-28 tools/call over HTTP: where its Mcp-Param-* headers
  // disagree with its arguments (Toolkit::ParamHeaderMismatch); nullopt when
  // they agree, or when the host checks them elsewhere (the proxy: once the
  // upstream's tools/list is known).
  virtual std::optional<std::string> ParamHeaderMismatch(
      std::string_view /*tool*/, const nlohmann::json& /*arguments*/,
      const std::function<std::optional<std::string_view>(const std::string& name)>& /*header*/)
      const {
    return std::nullopt;
  }
};

// The context of a request on the connection `info`: who calls, from where,
// over which transport, in which session; received at `received_at`.
RequestContext ContextOf(const ConnectionInfo& info, std::chrono::system_clock::time_point received_at);

class Server final : public SessionHost {
 public:
  // `toolkit` must outlive the server.
  Server(ServerOptions options, const Toolkit& toolkit);
  ~Server() override;  // stops and joins the workers after the calls already queued
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::unique_ptr<Connection> Connect(ConnectionInfo info, MessageSender send) override;
  void RecordRefusal(const ConnectionInfo& info, const RefusedRequest& refusal) override;
  bool WouldWait(std::string_view method) const override;
  std::optional<std::string> ParamHeaderMismatch(
      std::string_view tool, const nlohmann::json& arguments,
      const std::function<std::optional<std::string_view>(const std::string& name)>& header)
      const override;

  // Tells the clients that the tools they may list have changed (the
  // toolkit's policy was replaced): `notifications/tools/list_changed` to
  // each initialized 2025 session and to each 2026-07-28 subscription that
  // asked for `toolsListChanged`.
  void ToolsListChanged();

  struct Impl;  // internal: the protocol engine shared with the connections

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mcpaudit

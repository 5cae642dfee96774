#include "mcpaudit/server.h"

#include "audit/ops_log.h"

#include <condition_variable>
#include <map>
#include <mutex>

#include "mcp/jsonrpc.h"
#include "mcp/worker_pool.h"

namespace mcpaudit {

using nlohmann::json;

struct Server::Impl {
  Impl(ServerOptions o, const Toolkit& t)
      : options(std::move(o)), toolkit(t), pool(options.workers, options.max_queued_calls) {}
  ServerOptions options;
  const Toolkit& toolkit;
  WorkerPool pool;  // last: joined first, while the members above still live
};

namespace {

// The protocol state of one session. Shared with the tasks of its calls in
// flight, so that it outlives them.
class Session final : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl* server, ConnectionInfo info, MessageSender send)
      : server_(std::move(server)), info_(std::move(info)), send_(std::move(send)) {}

  void Receive(std::string_view text) {
    auto decoded = jsonrpc::Decode(text);
    if (auto* error = std::get_if<jsonrpc::DecodeError>(&decoded)) {
      Answer(error->id, jsonrpc::Error(error->id, error->code, error->message));
      return;
    }
    auto& message = std::get<jsonrpc::Message>(decoded);
    switch (message.kind) {
      case jsonrpc::Message::Kind::kResponse:
        OpsLog().debug("ignoring a response from the client to id {}", jsonrpc::IdToString(message.id));
        return;
      case jsonrpc::Message::Kind::kNotification:
        OnNotification(message);
        return;
      case jsonrpc::Message::Kind::kRequest:
        OnRequest(message);
        return;
    }
  }

  void Drain() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return in_flight_.empty(); });
  }

  void AssumeInitialized(std::string protocol_version) {
    std::lock_guard lock(mutex_);
    protocol_version_ = std::move(protocol_version);
  }

 private:
  // Sends the response to request `id` (null when the request could not be read).
  void Answer(const json& id, std::string text) const {
    send_(OutgoingMessage{std::move(text), jsonrpc::IdToString(id), !id.is_null()});
  }

  void OnNotification(const jsonrpc::Message& message) {
    if (message.method == "notifications/cancelled") {
      const json& params = message.params;
      if (!params.is_object() || !params.contains("requestId")) return;
      std::lock_guard lock(mutex_);
      if (auto it = in_flight_.find(jsonrpc::IdToString(params["requestId"])); it != in_flight_.end()) {
        it->second.request_stop();
      }
    }
    // Other notifications (initialized, progress, ...) need no action here;
    // unknown ones are ignored, as JSON-RPC asks.
  }

  void OnRequest(const jsonrpc::Message& message) {
    const json& id = message.id;
    const std::string& method = message.method;
    if (method == "initialize") return Initialize(message);
    if (method == "ping") return Answer(id, jsonrpc::Result(id, json::object()));
    {
      std::lock_guard lock(mutex_);
      if (protocol_version_.empty()) {
        return Answer(id, jsonrpc::Error(id, rpc::kInvalidRequest,
                                    "Server not initialized: send 'initialize' first"));
      }
    }
    if (method == "tools/list") {
      return Answer(id, jsonrpc::Result(id, {{"tools", server_->toolkit.ListTools()}}));
    }
    if (method == "tools/call") return CallTool(message);
    Answer(id, jsonrpc::Error(id, rpc::kMethodNotFound, "Method not found: " + method));
  }

  void Initialize(const jsonrpc::Message& message) {
    const json& params = message.params;
    if (!params.is_object() || !params.contains("protocolVersion") ||
        !params["protocolVersion"].is_string()) {
      return Answer(message.id, jsonrpc::Error(message.id, rpc::kInvalidParams,
                                  "Invalid params: 'protocolVersion' (a string) is required"));
    }
    const std::string requested = params["protocolVersion"].get<std::string>();
    std::string version(kProtocolVersions[0]);  // the newest, when we do not know the requested one
    for (std::string_view known : kProtocolVersions) {
      if (known == requested) version = requested;
    }
    {
      std::lock_guard lock(mutex_);
      if (!protocol_version_.empty()) {
        return Answer(message.id, jsonrpc::Error(message.id, rpc::kInvalidRequest,
                                    "Invalid Request: the session is already initialized"));
      }
      protocol_version_ = version;
      if (auto it = params.find("clientInfo"); it != params.end() && it->is_object()) {
        client_.name = it->value("name", "");
        client_.version = it->value("version", "");
      }
    }
    const ServerOptions& options = server_->options;
    json server_info = {{"name", options.name}, {"version", options.version}};
    if (!options.title.empty()) server_info["title"] = options.title;
    json result = {{"protocolVersion", version},
                   {"capabilities", {{"tools", {{"listChanged", false}}}}},
                   {"serverInfo", std::move(server_info)}};
    if (!options.instructions.empty()) result["instructions"] = options.instructions;
    Answer(message.id, jsonrpc::Result(message.id, result));
  }

  RequestContext MakeContext(const json& id) {
    RequestContext ctx;
    ctx.request_id = jsonrpc::IdToString(id);
    ctx.received_at = server_->toolkit.recorder().clock().Now();
    ctx.transport = info_.transport;
    ctx.session_id = info_.session_id;
    ctx.client_ip = info_.client_ip;
    ctx.user_agent = info_.user_agent;
    ctx.identity = info_.identity;
    std::lock_guard lock(mutex_);
    ctx.protocol_version = protocol_version_;
    ctx.client = client_;
    return ctx;
  }

  void CallTool(const jsonrpc::Message& message) {
    const json& params = message.params;
    RequestContext ctx = MakeContext(message.id);
    // Why the caller accesses the data (HIPAA), given in the request's _meta.
    if (params.is_object() && params.contains("_meta") && params["_meta"].is_object()) {
      const json& meta = params["_meta"];
      if (auto reason = meta.find("access_reason"); reason != meta.end() && reason->is_string())
        ctx.access_reason = reason->get<std::string>();
    }
    if (!params.is_object() || !params.contains("name") || !params["name"].is_string()) {
      // Still a tools/call that reached us: it is recorded as denied.
      const std::string text = "Invalid params: 'name' (a string) is required";
      CallRecord record;
      record.outcome = Outcome::kDenied;
      record.params = params.is_object() && params.contains("arguments") ? params["arguments"] : json();
      server_->toolkit.redactor().Apply(record.params);
      record.error = AuditError{rpc::kInvalidParams, text, "invalid_request"};
      if (auto logged = server_->toolkit.recorder().Record(ctx, record); !logged) {
        OpsLog().error("audit record of an invalid tools/call was not accepted: {}", logged.error().message);
      }
      return Answer(message.id, jsonrpc::Error(message.id, rpc::kInvalidParams, text));
    }
    std::string name = params["name"].get<std::string>();
    json arguments = params.contains("arguments") ? params["arguments"] : json::object();

    std::stop_source cancel;
    {
      std::lock_guard lock(mutex_);
      if (!in_flight_.emplace(ctx.request_id, cancel).second) {
        return Answer(message.id, jsonrpc::Error(message.id, rpc::kInvalidRequest,
                                    "Invalid Request: id " + ctx.request_id + " is already in use"));
      }
    }
    ctx.cancelled = cancel.get_token();
    auto self = shared_from_this();
    auto task = [self, ctx = std::move(ctx), id = message.id, name = std::move(name),
                 arguments = std::move(arguments)]() mutable {
      ToolCallResponse response = self->server_->toolkit.Call(ctx, name, arguments);
      if (!response.cancelled) {
        if (response.rpc_error) {
          self->Answer(id, jsonrpc::Error(id, response.rpc_error->code, response.rpc_error->message));
        } else if (!response.result_json.empty()) {
          self->Answer(id, jsonrpc::RawResult(id, response.result_json));  // serialised once, by the toolkit
        } else {
          self->Answer(id, jsonrpc::Result(id, *response.result));
        }
      }
      self->Finished(ctx.request_id);
    };
    if (!server_->pool.Submit(std::move(task))) {
      Finished(jsonrpc::IdToString(message.id));
      Answer(message.id, jsonrpc::Error(message.id, rpc::kInternalError, "Server is shutting down"));
    }
  }

  void Finished(const std::string& request_id) {
    std::lock_guard lock(mutex_);
    in_flight_.erase(request_id);
    if (in_flight_.empty()) idle_.notify_all();
  }

  Server::Impl* const server_;  // outlives every connection (Server's contract)
  const ConnectionInfo info_;
  const MessageSender send_;

  std::mutex mutex_;
  std::condition_variable idle_;
  std::string protocol_version_;                      // guarded by mutex_; empty until initialize
  ClientInfo client_;                                 // guarded by mutex_
  std::map<std::string, std::stop_source> in_flight_; // guarded by mutex_; request id → cancel
};

class SessionConnection final : public Connection {
 public:
  explicit SessionConnection(std::shared_ptr<Session> session) : session_(std::move(session)) {}
  ~SessionConnection() override { session_->Drain(); }
  void Receive(std::string_view message) override { session_->Receive(message); }
  void Drain() override { session_->Drain(); }
  void AssumeInitialized(std::string version) override { session_->AssumeInitialized(std::move(version)); }

 private:
  std::shared_ptr<Session> session_;
};

}  // namespace

Server::Server(ServerOptions options, const Toolkit& toolkit)
    : impl_(std::make_unique<Impl>(std::move(options), toolkit)) {}

Server::~Server() = default;

void Server::RecordAuthFailure(const ConnectionInfo& info, std::string_view error, std::string_view description) {
  const Recorder& recorder = impl_->toolkit.recorder();
  RequestContext ctx;
  ctx.received_at = recorder.clock().Now();
  ctx.transport = info.transport;
  ctx.session_id = info.session_id;
  ctx.client_ip = info.client_ip;
  ctx.user_agent = info.user_agent;
  CallRecord record;
  record.event_type = "auth_failure";
  record.outcome = Outcome::kDenied;
  record.error = AuditError{401, std::string(description), std::string(error)};
  if (auto logged = recorder.Record(ctx, record); !logged) {
    OpsLog().error("audit record of a refused authentication was not accepted: {}", logged.error().message);
  }
}

std::unique_ptr<Connection> Server::Connect(ConnectionInfo info, MessageSender send) {
  return std::make_unique<SessionConnection>(
      std::make_shared<Session>(impl_.get(), std::move(info), std::move(send)));
}

}  // namespace mcpaudit

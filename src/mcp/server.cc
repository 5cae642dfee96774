#include "mcpaudit/server.h"

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>

#include "audit/refusal_recorder.h"
#include "base/crypto.h"
#include "base/free_memory.h"
#include "base/ops_log.h"
#include "mcp/input_rounds.h"
#include "mcp/jsonrpc.h"
#include "mcp/modern.h"
#include "mcp/worker_pool.h"

namespace mcpaudit {

using nlohmann::json;

namespace {
class Session;
}  // namespace

struct Server::Impl {
  Impl(ServerOptions o, const Toolkit& t)
      : options(std::move(o)),
        toolkit(t),
        refusals(t.recorder(), t.redactor(), options.refusals),
        state_key(options.request_state_key.empty() ? NewStateKey() : options.request_state_key),
        pool(options.workers, options.max_queued_calls) {}
  static std::string NewStateKey() {
    std::array<uint8_t, 32> key;
    SecureRandom()(key);
    return HexEncode(key);
  }
  ServerOptions options;
  const Toolkit& toolkit;
  RefusalRecorder refusals;
  const std::string state_key;  // seals the requestState of multi round-trip requests
  // Calls whose tools have run and whose answers wait for their records (in
  // durable mode, for the sync): beyond kMaxAnswersWaiting the server is busy.
  static constexpr size_t kMaxAnswersWaiting = 1024;
  std::atomic<size_t> answers_waiting{0};
  // The sessions to tell when the tools change: 2025 sessions once
  // initialized, 2026 subscriptions that asked for toolsListChanged.
  std::mutex listeners_mutex;
  std::vector<std::weak_ptr<Session>> tools_listeners;  // guarded by listeners_mutex
  size_t purge_listeners_at = 64;                       // guarded by listeners_mutex
  void AddToolsListener(std::weak_ptr<Session> session) {
    std::lock_guard lock(listeners_mutex);
    if (tools_listeners.size() >= purge_listeners_at) {
      std::erase_if(tools_listeners, [](const auto& s) { return s.expired(); });
      purge_listeners_at = std::max<size_t>(64, 2 * tools_listeners.size());
    }
    tools_listeners.push_back(std::move(session));
  }
  WorkerPool pool;  // last: joined first, while the members above still live
};

namespace {

// The way back to the client for one request being served.
class RequestChannel final : public ClientChannel {
 public:
  // A request of 2026-07-28: its own _meta says the client's capabilities
  // and log level instead of the session; and a request that may ask the
  // client for input has its round (multi round-trip requests).
  struct Modern {
    modern::RequestMeta meta;
    std::optional<input_rounds::Round> round;
    input_rounds::Binding binding;
    std::string state_key;
    const Clock* clock = nullptr;
  };

  RequestChannel(std::weak_ptr<Session> session, std::string request_id, json progress_token,
                 std::optional<Modern> modern)
      : session_(std::move(session)),
        request_id_(std::move(request_id)),
        token_(std::move(progress_token)),
        modern_(std::move(modern)) {}
  json capabilities() const override;
  void Progress(double progress, std::optional<double> total, std::string_view message) override;
  void Log(std::string_view level, const json& data, std::string_view logger) override;
  Result<json> Request(std::string_view method, const json& params,
                       std::chrono::milliseconds timeout) override;
  void CloseStream() override;
  std::optional<InputRequired> TakeInputRequired() override;

 private:
  // Request() in a round of a multi round-trip request: the Nth question of
  // the handler is answered by the Nth answer the client's retries brought.
  Result<json> Ask(std::string_view method, const json& params);

  std::weak_ptr<Session> session_;
  std::string request_id_;
  json token_;  // null: the request asked for no progress
  const std::optional<Modern> modern_;
  std::mutex mutex_;
  uint32_t asked_ = 0;                // guarded by mutex_
  json unanswered_ = json::object();  // guarded by mutex_; key → {method, params}
};

// The protocol state of one session. Shared with the tasks of its calls in
// flight, so that it outlives them.
class Session final : public std::enable_shared_from_this<Session> {
 public:
  Session(Server::Impl* server, ConnectionInfo info, MessageSender send)
      : server_(std::move(server)), info_(std::move(info)), send_(std::move(send)) {}

  void Receive(std::string_view text, const MessageContext& context) {
    auto decoded = jsonrpc::Decode(text, server_->options.max_json_depth);
    if (auto* error = std::get_if<jsonrpc::DecodeError>(&decoded)) {
      const Receiving receiving(*this, text, context);
      return Refuse(*error);
    }
    Receive(std::get<jsonrpc::Message>(decoded), text, context);
  }

  // A message the transport has decoded.
  void Receive(jsonrpc::Message& message, std::string_view text, const MessageContext& context) {
    const Receiving receiving(*this, text, context);
    try {
      switch (message.kind) {
        case jsonrpc::Message::Kind::kResponse:
          OnResponse(text, message);
          return;
        case jsonrpc::Message::Kind::kNotification:
          OnNotification(message);
          return;
        case jsonrpc::Message::Kind::kRequest:
          OnRequest(message);
          return;
      }
    } catch (const std::exception& e) {
      // A member of a type the code did not expect: the message is refused,
      // the session goes on.
      OpsLog().warn("a message of session {} was refused: {}", info_.session_id, e.what());
      if (message.kind != jsonrpc::Message::Kind::kRequest) return;
      jsonrpc::DecodeError error{rpc::kInvalidParams, "Invalid params: a member has the wrong type",
                                 message.id,          "invalid_request",
                                 message.method,      message.params};
      Refuse(error);
    }
  }

  // Subscriptions never end by themselves: they are answered first.
  void Drain() {
    EndSubscriptions();
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [&] { return in_flight_.empty(); });
  }

 private:
  // While a message is handled: what the transport knows of it (for
  // MakeContext) and its size; its memory goes back after a huge one.
  class Receiving {
   public:
    Receiving(Session& session, std::string_view text, const MessageContext& context)
        : session_(session),
          release_(text.size() > kLargeMessageBytes,
                   /*often_at_most=*/true) {  // may be an I/O thread
      session_.receiving_ = &context;
      session_.receiving_large_ = text.size() > kLargeMessageBytes;
    }
    ~Receiving() { session_.receiving_ = nullptr; }
    Receiving(const Receiving&) = delete;
    Receiving& operator=(const Receiving&) = delete;

   private:
    Session& session_;
    const ReleaseFreeMemoryAfter release_;
  };

 public:
  void AssumeInitialized(std::string protocol_version) {
    std::lock_guard lock(mutex_);
    protocol_version_ = std::move(protocol_version);
  }

 private:
  // Answers a message that could not be decoded, and records the refusal.
  void Refuse(const jsonrpc::DecodeError& error) {
    if (!error.is_response) Answer(error.id, jsonrpc::Error(error.id, error.code, error.message));
    server_->refusals.Record(MakeContext(error.id), jsonrpc::RefusalOf(error),
                             jsonrpc::ArgumentsOf(error));
  }

  // Sends the response to request `id` (null when the request could not be read).
  void Answer(const json& id, std::string text) const {
    send_(OutgoingMessage{std::move(text), jsonrpc::IdKey(id), !id.is_null()});
  }

  void OnNotification(const jsonrpc::Message& message) {
    if (message.method == "notifications/cancelled") {
      const json& params = message.params;
      if (!params.is_object() || !params.contains("requestId")) return;
      const std::string key = jsonrpc::IdKey(params["requestId"]);
      std::lock_guard lock(mutex_);
      if (auto it = in_flight_.find(key); it != in_flight_.end()) it->second.request_stop();
      // A subscription the client cancels ends without an answer.
      if (listening_.erase(key) > 0) EndInFlight(key);
    }
    // Other notifications (initialized, progress, ...) need no action here;
    // unknown ones are ignored, as JSON-RPC asks.
  }

  void OnRequest(jsonrpc::Message& message) {
    const json& id = message.id;
    const std::string& method = message.method;
    if (modern::Declares(message.params) || method == "server/discover")
      return OnModernRequest(message);
    if (method == "initialize") return Initialize(message);
    if (method == "ping") return Answer(id, jsonrpc::Result(id, json::object()));
    {
      std::lock_guard lock(mutex_);
      if (protocol_version_.empty()) {
        return Answer(id, jsonrpc::Error(id, rpc::kInvalidRequest,
                                         "Server not initialized: send 'initialize' first"));
      }
    }
    const json& params = message.params;
    if (method == "logging/setLevel") return SetLogLevel(message);
    if (server_->toolkit.has_resources() &&
        (method == "resources/subscribe" || method == "resources/unsubscribe")) {
      if (!params.is_object() || !params.contains("uri") || !params["uri"].is_string()) {
        return Answer(id, jsonrpc::Error(id, rpc::kInvalidParams,
                                         "Invalid params: 'uri' (a string) is required"));
      }
      {
        std::lock_guard lock(mutex_);
        if (method == "resources/subscribe")
          subscriptions_.insert(params["uri"].get<std::string>());
        else
          subscriptions_.erase(params["uri"].get<std::string>());
      }
      return Answer(id, jsonrpc::Result(id, json::object()));
    }
    Dispatch(message);
  }

  // A request of the stateless revision: it says in its _meta what a session
  // would have said (version, client, capabilities); the session has no part in it.
  void OnModernRequest(jsonrpc::Message& message) {
    auto meta = modern::ReadRequestMeta(message.params);
    if (!meta) {
      const modern::MetaError& error = meta.error();
      Answer(message.id, jsonrpc::Error(message.id, error.code, error.message, error.data));
      RequestContext ctx = MakeContext(message.id);
      ctx.protocol_version.clear();  // the session's, if any, is not this request's
      ctx.client = {};
      ctx.client_capabilities.clear();
      return server_->refusals.Record(
          ctx, jsonrpc::RefusalOf(message, error.code, error.message, error.reason));
    }
    modern_ = &*meta;
    struct Reset {
      const modern::RequestMeta*& meta;
      ~Reset() { meta = nullptr; }
    } reset{modern_};
    if (message.method == "server/discover")
      return AnswerResult(message.id, Discover(), Cache::kPublic);
    if (message.method == "subscriptions/listen") return Listen(message);
    Dispatch(message);
  }

  // subscriptions/listen: a stream of the change notifications the client
  // opts in to, until it cancels (stdio: notifications/cancelled; HTTP: it
  // closes the stream) or the connection ends, which answers it. Of them, only
  // the tools' list changes while the server runs (a reload of the policy
  // that decides which tools each caller sees); prompts and resources do not,
  // so nothing is promised of them.
  void Listen(const jsonrpc::Message& message) {
    const json& params = message.params;
    const json filter = params.value("notifications", json::object());
    if (!filter.is_object() ||
        (filter.contains("toolsListChanged") && !filter["toolsListChanged"].is_boolean())) {
      return Answer(message.id, jsonrpc::Error(message.id, rpc::kInvalidParams,
                                               "Invalid params: 'notifications' must be an object "
                                               "whose 'toolsListChanged' is a boolean"));
    }
    const bool tools = filter.value("toolsListChanged", false);
    const std::string key = jsonrpc::IdKey(message.id);
    {
      std::lock_guard lock(mutex_);
      if (listening_.size() >= kMaxSubscriptions) {
        return Answer(message.id, jsonrpc::Error(message.id, rpc::kInvalidRequest,
                                                 "Invalid Request: this connection holds " +
                                                     std::to_string(kMaxSubscriptions) +
                                                     " subscriptions already"));
      }
      if (!in_flight_.emplace(key, std::stop_source()).second) {
        return Answer(message.id,
                      jsonrpc::Error(message.id, rpc::kInvalidRequest,
                                     "Invalid Request: id " + jsonrpc::IdToString(message.id) +
                                         " is already in use"));
      }
      listening_.emplace(key, Listener{message.id, tools});
      // Acknowledged before any notification can be sent on it (the lock).
      json agreed = json::object();
      if (tools) agreed["toolsListChanged"] = true;
      SendRelated(jsonrpc::Notification("notifications/subscriptions/acknowledged",
                                        {{"_meta", SubscriptionMeta(message.id)},
                                         {"notifications", std::move(agreed)}}),
                  key);
    }
    if (tools) ListenForToolsChanges();
  }

  // From now on ToolsListChanged reaches this session.
  void ListenForToolsChanges() {
    if (!tools_listener_.exchange(true)) server_->AddToolsListener(weak_from_this());
  }

  static json SubscriptionMeta(const json& id) {
    return {{"io.modelcontextprotocol/subscriptionId", id}};
  }

 public:
  // The tools a caller may list have changed (a reload of the policy): a 2025
  // session is told on its own stream, each subscription that asked on its
  // stream. Sent after the lock: a client that does not read holds up only
  // this (the reload's thread), never the session.
  void ToolsListChanged() {
    std::vector<std::pair<std::string, std::string>> messages;  // request id, message
    {
      std::lock_guard lock(mutex_);
      if (closing_) return;
      if (!protocol_version_.empty())
        messages.emplace_back(
            "", jsonrpc::Notification("notifications/tools/list_changed", json::object()));
      for (const auto& [key, listener] : listening_) {
        if (!listener.tools) continue;
        messages.emplace_back(key,
                              jsonrpc::Notification("notifications/tools/list_changed",
                                                    {{"_meta", SubscriptionMeta(listener.id)}}));
      }
    }
    for (auto& [key, text] : messages) SendRelated(std::move(text), key);
  }

 private:
  static constexpr size_t kMaxSubscriptions = 64;  // open subscriptions/listen per connection

  // The connection ends: each subscription gets its answer (a graceful end).
  void EndSubscriptions() {
    std::map<std::string, Listener> listening;
    {
      std::lock_guard lock(mutex_);
      listening.swap(listening_);
    }
    for (const auto& [key, listener] : listening) {
      json meta = SubscriptionMeta(listener.id);
      meta[std::string(modern::kServerInfoKey)] = ServerInfo();
      const json result = {{"resultType", "complete"}, {"_meta", std::move(meta)}};
      Answer(listener.id, jsonrpc::Result(listener.id, result));
      Finished(key);
    }
  }

  // How a client may cache a result of the stateless revision (CacheableResult):
  // not at all (no such result), for anyone, for this caller, or never reused
  // (a read: what it reads may change at any time).
  enum class Cache { kNone, kPublic, kPrivate, kStale };
  static constexpr int64_t kListTtlMs = 60000;  // lists change only with a reload

  // Answers request `id` with `result`, in the form of the request's revision.
  void AnswerResult(const json& id, json result, Cache cache = Cache::kNone) {
    if (modern_) Modernise(result, cache);
    Answer(id, jsonrpc::Result(id, result));
  }

  void Modernise(json& result, Cache cache) const {
    modern::Complete(result, ServerInfo());
    if (cache == Cache::kNone) return;
    result["ttlMs"] = cache == Cache::kStale ? 0 : kListTtlMs;
    result["cacheScope"] = cache == Cache::kPublic ? "public" : "private";
  }

  json ServerInfo() const {
    const ServerOptions& options = server_->options;
    json info = {{"name", options.name}, {"version", options.version}};
    if (!options.title.empty()) info["title"] = options.title;
    return info;
  }

  json Capabilities(bool modern) const {
    const Toolkit& toolkit = server_->toolkit;
    // The tools' list changes with a reload of the policy (ToolsListChanged).
    json capabilities = {{"tools", {{"listChanged", true}}}, {"logging", json::object()}};
    // 2026-07-28 has no resources/subscribe (subscriptions/listen instead).
    if (toolkit.has_resources())
      capabilities["resources"] = {{"subscribe", !modern}, {"listChanged", false}};
    if (toolkit.has_prompts()) capabilities["prompts"] = {{"listChanged", false}};
    if (toolkit.has_completion()) capabilities["completions"] = json::object();
    return capabilities;
  }

  json Discover() const {
    json result = {{"supportedVersions", modern::SupportedVersions()},
                   {"capabilities", Capabilities(true)}};
    if (!server_->options.instructions.empty())
      result["instructions"] = server_->options.instructions;
    return result;
  }

  // The requests both revisions serve.
  void Dispatch(jsonrpc::Message& message) {
    const json& id = message.id;
    const std::string& method = message.method;
    const Toolkit& toolkit = server_->toolkit;
    const json& params = message.params;
    // Tools are listed by the caller's roles: a cache is the caller's own.
    if (method == "tools/list") {
      return AnswerResult(id, {{"tools", toolkit.ListTools(info_.identity.roles)}},
                          Cache::kPrivate);
    }
    if (method == "tools/call") return CallTool(message);
    if (toolkit.has_resources()) {
      if (method == "resources/list")
        return AnswerResult(id, {{"resources", toolkit.ListResources()}}, Cache::kPrivate);
      if (method == "resources/templates/list") {
        return AnswerResult(id, {{"resourceTemplates", toolkit.ListResourceTemplates()}},
                            Cache::kPrivate);
      }
      if (method == "resources/read") {
        if (!params.is_object() || !params.contains("uri") || !params["uri"].is_string()) {
          return Answer(id, jsonrpc::Error(id, rpc::kInvalidParams,
                                           "Invalid params: 'uri' (a string) is required"));
        }
        const std::string uri = params["uri"].get<std::string>();
        return RunOnPool(
            message,
            [uri](const Toolkit& t, RequestContext& ctx, const Toolkit::Answer& answer) {
              answer(t.ReadResource(ctx, uri));
            },
            Cache::kStale);
      }
    }
    if (toolkit.has_prompts()) {
      if (method == "prompts/list")
        return AnswerResult(id, {{"prompts", toolkit.ListPrompts()}}, Cache::kPrivate);
      if (method == "prompts/get") {
        if (!params.is_object() || !params.contains("name") || !params["name"].is_string()) {
          return Answer(id, jsonrpc::Error(id, rpc::kInvalidParams,
                                           "Invalid params: 'name' (a string) is required"));
        }
        const std::string name = params["name"].get<std::string>();
        json arguments = params.value("arguments", json::object());
        return RunOnPool(message, [name, arguments](const Toolkit& t, RequestContext& ctx,
                                                    const Toolkit::Answer& answer) {
          answer(t.GetPrompt(ctx, name, arguments));
        });
      }
    }
    if (toolkit.has_completion() && method == "completion/complete") {
      if (!params.is_object() || !params.contains("ref") || !params.contains("argument") ||
          !params["argument"].is_object()) {
        return Answer(id, jsonrpc::Error(id, rpc::kInvalidParams,
                                         "Invalid params: 'ref' and 'argument' are required"));
      }
      const json& argument = params["argument"];
      return AnswerResult(id,
                          toolkit.Complete(params["ref"], jsonrpc::StringMember(argument, "name"),
                                           jsonrpc::StringMember(argument, "value")));
    }
    Answer(id, jsonrpc::Error(id, rpc::kMethodNotFound, "Method not found: " + method));
  }

  void Initialize(const jsonrpc::Message& message) {
    const json& params = message.params;
    if (!params.is_object() || !params.contains("protocolVersion") ||
        !params["protocolVersion"].is_string()) {
      return Answer(message.id,
                    jsonrpc::Error(message.id, rpc::kInvalidParams,
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
        return Answer(message.id,
                      jsonrpc::Error(message.id, rpc::kInvalidRequest,
                                     "Invalid Request: the session is already initialized"));
      }
      protocol_version_ = version;
      if (auto it = params.find("clientInfo"); it != params.end() && it->is_object()) {
        client_.name = jsonrpc::StringMember(*it, "name");
        client_.version = jsonrpc::StringMember(*it, "version");
      }
      if (auto it = params.find("capabilities"); it != params.end() && it->is_object())
        client_capabilities_ = *it;
    }
    ListenForToolsChanges();
    const ServerOptions& options = server_->options;
    json result = {{"protocolVersion", version},
                   {"capabilities", Capabilities(false)},
                   {"serverInfo", ServerInfo()}};
    if (!options.instructions.empty()) result["instructions"] = options.instructions;
    // The session's start is recorded before the client learns it has one (so
    // before any of its calls), on a worker: in durable mode that waits for the disk.
    const std::string key = jsonrpc::IdKey(message.id);
    auto recorded = std::make_shared<std::promise<void>>();
    {
      std::lock_guard lock(mutex_);
      in_flight_.emplace(key, std::stop_source());  // Drain() waits for it too
      session_recorded_ = recorded->get_future().share();
    }
    auto answer = [self = shared_from_this(), id = message.id, key, ctx = MakeContext(message.id),
                   answer = jsonrpc::Result(message.id, result), recorded]() mutable {
      if (!self->RecordSessionStart(std::move(ctx)) && self->server_->toolkit.fail_closed()) {
        // Durable mode: no session without its record. The client may try again.
        {
          std::lock_guard lock(self->mutex_);
          self->protocol_version_.clear();
          self->started_.reset();
        }
        answer = jsonrpc::Error(
            id, rpc::kInternalError,
            "the audit record of this session could not be written; the session is refused "
            "(audit_unavailable)");
      }
      recorded->set_value();
      self->Answer(id, std::move(answer));
      self->Finished(key);
    };
    if (!server_->pool.Submit(answer)) answer();
  }

  // A client may send its calls without waiting for initialize's answer: their
  // records still come after the session's start.
  void WaitForSessionStart() {
    std::shared_future<void> recorded;
    {
      std::lock_guard lock(mutex_);
      recorded = session_recorded_;
    }
    if (recorded.valid()) recorded.wait();
  }

  // Whether the record was accepted.
  bool RecordSessionStart(RequestContext ctx) {
    CallRecord record;
    record.event_type = "session_start";
    json capabilities = json::array();
    {
      std::lock_guard lock(mutex_);
      for (const auto& [name, value] : client_capabilities_.items()) capabilities.push_back(name);
      started_ = std::chrono::steady_clock::now();
    }
    record.details = {{"protocol_version", ctx.protocol_version},
                      {"client_capabilities", std::move(capabilities)}};
    if (auto logged = server_->toolkit.recorder().Record(ctx, record); !logged) {
      OpsLog().error("audit record of a session's start was not accepted: {}",
                     logged.error().message);
      return false;
    }
    return true;
  }

 public:
  // The session's end, when its start was recorded: why, and how long it lasted.
  void RecordSessionEnd() {
    std::optional<std::chrono::steady_clock::time_point> started;
    std::string reason;
    {
      std::lock_guard lock(mutex_);
      started = started_;
      reason = end_reason_;
    }
    if (!started) return;
    RequestContext ctx = MakeContext(json());
    ctx.request_id.clear();
    CallRecord record;
    record.event_type = "session_end";
    record.duration = std::chrono::steady_clock::now() - *started;
    record.details = {{"reason", reason}};
    if (auto logged = server_->toolkit.recorder().Record(ctx, record); !logged)
      OpsLog().error("audit record of a session's end was not accepted: {}",
                     logged.error().message);
  }

  void SetEndReason(std::string_view reason) {
    std::lock_guard lock(mutex_);
    end_reason_ = reason;
  }

 private:
  RequestContext MakeContext(const json& id) {
    RequestContext ctx = ContextOf(info_, server_->toolkit.recorder().clock().Now());
    ctx.request_id = jsonrpc::IdToString(id);
    if (receiving_) ctx.access_reason = receiving_->access_reason;
    if (modern_) {
      modern::Apply(*modern_, ctx);
      return ctx;
    }
    std::lock_guard lock(mutex_);
    ctx.protocol_version = protocol_version_;
    ctx.client = client_;
    return ctx;
  }

  // A request's _meta object, or nullptr.
  static const json* MetaOf(const json& params) {
    if (!params.is_object()) return nullptr;
    auto meta = params.find("_meta");
    return meta != params.end() && meta->is_object() ? &*meta : nullptr;
  }

  // MakeContext, with why the caller accesses the data (HIPAA) when the
  // request's _meta says it (it wins over the transport's header).
  RequestContext RequestContextOf(const jsonrpc::Message& message) {
    RequestContext ctx = MakeContext(message.id);
    if (const json* meta = MetaOf(message.params)) {
      if (auto reason = meta->find("access_reason"); reason != meta->end() && reason->is_string())
        ctx.access_reason = reason->get<std::string>();
    }
    return ctx;
  }

  // The arguments are moved out of `message` to the tool (decoded once, never copied).
  void CallTool(jsonrpc::Message& message) {
    json& params = message.params;
    if (!params.is_object() || !params.contains("name") || !params["name"].is_string()) {
      // Still a tools/call that reached us: it is recorded as denied (as a
      // refusal: this may be the HTTP I/O thread, which never waits for the disk).
      RequestContext ctx = RequestContextOf(message);
      const std::string text = "Invalid params: 'name' (a string) is required";
      CallRecord record;
      record.outcome = Outcome::kDenied;
      record.params =
          params.is_object() && params.contains("arguments") ? params["arguments"] : json();
      server_->toolkit.redactor().Apply(record.params);
      record.error = AuditError{rpc::kInvalidParams, text, "invalid_request"};
      WaitForSessionStart();
      server_->refusals.Record(ctx, std::move(record));
      return Answer(message.id, jsonrpc::Error(message.id, rpc::kInvalidParams, text));
    }
    std::string name = params["name"].get<std::string>();
    json arguments = params.contains("arguments") ? std::move(params["arguments"]) : json::object();
    std::optional<input_rounds::Round> round;
    input_rounds::Binding binding;
    if (modern_) {
      // Multi round-trip requests: a retry carries the state of its round.
      const Identity& who = info_.identity;
      binding = {"tools/call", name,
                 Sha256Hex({arguments.dump(-1, ' ', false, json::error_handler_t::replace)}),
                 json::array({who.user_id, who.tenant_id, who.auth_method}).dump()};
      auto resumed = input_rounds::Resume(params, binding, server_->state_key,
                                          server_->toolkit.recorder().clock().Now(),
                                          server_->options.max_json_depth);
      if (!resumed) {
        // Recorded without the arguments: the tool's audit level and schema,
        // which say what of them a record may keep, were not consulted.
        const std::string text = "Invalid params: " + resumed.error();
        RequestContext ctx = RequestContextOf(message);
        CallRecord record;
        record.tool = name;
        record.outcome = Outcome::kDenied;
        record.error = AuditError{rpc::kInvalidParams, text, "invalid_request_state"};
        server_->refusals.Record(ctx, std::move(record));
        return Answer(message.id, jsonrpc::Error(message.id, rpc::kInvalidParams, text));
      }
      round = std::move(*resumed);
    }
    RunOnPool(
        message,
        [name = std::move(name), arguments = std::move(arguments)](
            const Toolkit& toolkit, RequestContext& ctx, const Toolkit::Answer& answer) {
          toolkit.CallThen(ctx, name, arguments, answer);
        },
        Cache::kNone, std::move(round), std::move(binding));
  }

  // Serves a request and hands its response to `answer`, now or later: a tool
  // call's answer waits for its record, which in durable mode is on the
  // logger's writer thread after the sync, while the worker goes on.
  using Work = std::function<void(const Toolkit&, RequestContext&, const Toolkit::Answer& answer)>;

  // Runs a request that may take a while (a tool, a resource read, a prompt) on
  // the workers, with its context and a channel back to the client.
  void RunOnPool(const jsonrpc::Message& message, Work work, Cache cache = Cache::kNone,
                 std::optional<input_rounds::Round> round = std::nullopt,
                 input_rounds::Binding binding = {}) {
    RequestContext ctx = RequestContextOf(message);
    if (round && round->number > 1) {
      ctx.round = round->number;
      ctx.request_state_digest = round->received_digest;
    }
    json progress_token;
    if (const json* meta = MetaOf(message.params)) {
      if (auto token = meta->find("progressToken"); token != meta->end()) progress_token = *token;
    }
    std::stop_source cancel;
    const std::string key = jsonrpc::IdKey(message.id);
    {
      std::lock_guard lock(mutex_);
      if (!in_flight_.emplace(key, cancel).second) {
        return Answer(message.id, jsonrpc::Error(message.id, rpc::kInvalidRequest,
                                                 "Invalid Request: id " + ctx.request_id +
                                                     " is already in use"));
      }
    }
    ctx.cancelled = cancel.get_token();
    std::optional<RequestChannel::Modern> modern;
    if (modern_) {
      modern = RequestChannel::Modern{*modern_, std::move(round), std::move(binding),
                                      server_->state_key, &server_->toolkit.recorder().clock()};
    }
    ctx.channel = std::make_shared<RequestChannel>(weak_from_this(), key, std::move(progress_token),
                                                   std::move(modern));
    auto self = shared_from_this();
    auto task = [self, ctx = std::move(ctx), id = message.id, work = std::move(work),
                 large = receiving_large_, stateless = modern_ != nullptr, cache]() mutable {
      const ReleaseFreeMemoryAfter release(large);  // after a huge message, once its call has run
      self->WaitForSessionStart();
      self->server_->answers_waiting.fetch_add(1, std::memory_order_relaxed);
      work(self->server_->toolkit, ctx, [self, id, stateless, cache](ToolCallResponse response) {
        self->server_->answers_waiting.fetch_sub(1, std::memory_order_relaxed);
        if (!response.cancelled) {
          if (response.rpc_error) {
            self->Answer(id,
                         jsonrpc::Error(id, response.rpc_error->code, response.rpc_error->message));
          } else if (stateless && (cache != Cache::kNone || response.result_json.empty() ||
                                   !modern::Spliceable(response.result))) {
            json result =
                response.result ? std::move(*response.result) : json::parse(response.result_json);
            if (!result.is_object()) {
              OpsLog().error(
                  "a handler's result is not a JSON object; answered as an internal error");
              self->Answer(id, jsonrpc::Error(id, rpc::kInternalError, "Internal error"));
            } else {
              self->Modernise(result, cache);
              self->Answer(id, jsonrpc::Result(id, result));
            }
          } else if (!response.result_json.empty()) {
            // Serialised once, by the toolkit.
            self->Answer(
                id, jsonrpc::RawResult(
                        id, stateless ? modern::Complete(response.result_json, self->ServerInfo())
                                      : std::move(response.result_json)));
          } else {
            self->Answer(id, jsonrpc::Result(id, *response.result));
          }
        }
        self->Finished(jsonrpc::IdKey(id));
      });
    };
    if (!server_->pool.Submit(std::move(task))) {
      Finished(key);
      Answer(message.id,
             jsonrpc::Error(message.id, rpc::kInternalError, "Server is shutting down"));
    }
  }

 public:
  // For the request channels: messages that belong to one client request.
  void SendRelated(std::string text, const std::string& request_id,
                   bool close_stream = false) const {
    send_(OutgoingMessage{std::move(text), request_id, false, close_stream});
  }

  json ClientCapabilities() {
    std::lock_guard lock(mutex_);
    return client_capabilities_;
  }

  bool LogEnabled(std::string_view level) {
    std::lock_guard lock(mutex_);
    return modern::LogRank(level) >= modern::LogRank(log_level_);
  }

  Result<json> RequestClient(std::string_view method, const json& params,
                             const std::string& related, std::chrono::milliseconds timeout) {
    std::string id;
    std::future<Result<json>> answer;
    {
      std::lock_guard lock(mutex_);
      if (closing_) return Fail(ErrorCode::kUnavailable, "the session ended");
      id = "mcp-audit-" + std::to_string(++next_request_);
      answer = awaiting_client_[id].get_future();
    }
    SendRelated(json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump(),
                related);
    const bool answered = answer.wait_for(timeout) == std::future_status::ready;
    std::lock_guard lock(mutex_);
    if (!answered) {
      awaiting_client_.erase(id);
      return Fail(ErrorCode::kUnavailable, "the client did not answer " + std::string(method) +
                                               " within " + std::to_string(timeout.count()) +
                                               " ms");
    }
    return answer.get();
  }

  // The connection is going away: requests to the client will not be answered.
  void AbandonClientRequests() {
    EndSubscriptions();
    std::map<std::string, std::promise<Result<json>>> waiting;
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
      waiting.swap(awaiting_client_);
    }
    for (auto& [id, promise] : waiting)
      promise.set_value(Fail(ErrorCode::kUnavailable, "the session ended"));
  }

 private:
  void SetLogLevel(const jsonrpc::Message& message) {
    const json& params = message.params;
    if (!params.is_object() || !params.contains("level") || !params["level"].is_string() ||
        modern::LogRank(params["level"].get<std::string>()) < 0) {
      return Answer(message.id,
                    jsonrpc::Error(message.id, rpc::kInvalidParams,
                                   "Invalid params: 'level' must be one of debug, info, notice, "
                                   "warning, error, critical, alert, emergency"));
    }
    {
      std::lock_guard lock(mutex_);
      log_level_ = params["level"].get<std::string>();
    }
    Answer(message.id, jsonrpc::Result(message.id, json::object()));
  }

  // A client's answer to one of our requests (sampling, elicitation, ...).
  void OnResponse(std::string_view text, const jsonrpc::Message& message) {
    const std::string id = jsonrpc::IdToString(message.id);  // ours are strings
    std::promise<Result<json>> waiting;
    {
      std::lock_guard lock(mutex_);
      auto it = awaiting_client_.find(id);
      if (it == awaiting_client_.end()) {
        OpsLog().debug("ignoring a response from the client to id {}", id);
        return;
      }
      waiting = std::move(it->second);
      awaiting_client_.erase(it);
    }
    json response = ParseWithin(text, server_->options.max_json_depth);
    if (response.is_object() && response.contains("result")) {
      waiting.set_value(response["result"]);
    } else {
      const json error =
          response.is_object() ? response.value("error", json::object()) : json::object();
      waiting.set_value(Fail(ErrorCode::kUnavailable, "the client answered with an error: " +
                                                          jsonrpc::StringMember(error, "message")));
    }
  }

  void Finished(const std::string& request_id) {
    std::lock_guard lock(mutex_);
    EndInFlight(request_id);
  }

  // With mutex_ held.
  void EndInFlight(const std::string& request_id) {
    in_flight_.erase(request_id);
    if (in_flight_.empty()) idle_.notify_all();
  }

  Server::Impl* const server_;  // outlives every connection (Server's contract)
  const ConnectionInfo info_;
  const MessageSender send_;
  const MessageContext* receiving_ = nullptr;  // the message being received (one reader at a time)
  const modern::RequestMeta* modern_ = nullptr;  // its _meta, when it is a request of 2026-07-28
  bool receiving_large_ = false;               // it is over kLargeMessageBytes
  std::atomic<bool> tools_listener_ = false;   // ToolsListChanged reaches it

  std::mutex mutex_;
  std::condition_variable idle_;
  std::string protocol_version_;                       // guarded by mutex_; empty until initialize
  ClientInfo client_;                                  // guarded by mutex_
  std::map<std::string, std::stop_source> in_flight_;  // guarded by mutex_; request id → cancel
  json client_capabilities_ = json::object();          // guarded by mutex_
  std::string log_level_ = "info";                     // guarded by mutex_; set by logging/setLevel
  std::set<std::string> subscriptions_;                // guarded by mutex_; resources/subscribe
  struct Listener {
    json id;     // of its subscriptions/listen request
    bool tools;  // it asked for notifications/tools/list_changed
  };
  std::map<std::string, Listener> listening_;  // guarded by mutex_; subscriptions/listen by id key
  uint64_t next_request_ = 0;                          // guarded by mutex_
  bool closing_ = false;                               // guarded by mutex_
  std::optional<std::chrono::steady_clock::time_point>
      started_;                                // guarded by mutex_; set once recorded
  std::string end_reason_{kEndClosed};         // guarded by mutex_
  std::shared_future<void> session_recorded_;  // guarded by mutex_; ready once session_start is
  std::map<std::string, std::promise<Result<json>>> awaiting_client_;  // guarded by mutex_
};

void RequestChannel::Progress(double progress, std::optional<double> total,
                              std::string_view message) {
  auto session = session_.lock();
  if (!session || token_.is_null()) return;
  json params = {{"progressToken", token_}, {"progress", progress}};
  if (total) params["total"] = *total;
  if (!message.empty()) params["message"] = message;
  session->SendRelated(jsonrpc::Notification("notifications/progress", params), request_id_);
}

void RequestChannel::Log(std::string_view level, const json& data, std::string_view logger) {
  auto session = session_.lock();
  if (!session || modern::LogRank(level) < 0) return;
  // 2026-07-28: only a request that named a log level gets log messages.
  if (modern_ ? modern_->meta.log_level.empty() ||
                    modern::LogRank(level) < modern::LogRank(modern_->meta.log_level)
              : !session->LogEnabled(level))
    return;
  json params = {{"level", level}, {"data", data}};
  if (!logger.empty()) params["logger"] = logger;
  session->SendRelated(jsonrpc::Notification("notifications/message", params), request_id_);
}

Result<json> RequestChannel::Request(std::string_view method, const json& params,
                                     std::chrono::milliseconds timeout) {
  if (modern_) return Ask(method, params);
  auto session = session_.lock();
  if (!session) return Fail(ErrorCode::kUnavailable, "the session has ended");
  return session->RequestClient(method, params, request_id_, timeout);
}

Result<json> RequestChannel::Ask(std::string_view method, const json& params) {
  if (!modern_->round)
    return Fail(ErrorCode::kUnavailable,
                "this server asks the client for input in tools/call only");
  const std::string_view capability = method == "elicitation/create"       ? "elicitation"
                                      : method == "sampling/createMessage" ? "sampling"
                                      : method == "roots/list"             ? "roots"
                                                                           : "";
  if (capability.empty())
    return Fail(ErrorCode::kInvalidArgument,
                "'" + std::string(method) + "' is not asked of a client");
  std::lock_guard lock(mutex_);
  const std::string key = "input-" + std::to_string(++asked_);
  const std::string question = input_rounds::QuestionDigest(method, params);
  if (auto answer = modern_->round->answers.find(key);
      answer != modern_->round->answers.end() && (*answer)["q"] == question)
    return (*answer)["a"];
  if (!modern_->meta.capabilities.contains(capability)) {
    return Fail(ErrorCode::kUnavailable,
                "the client did not declare the capability '" + std::string(capability) + "'");
  }
  if (modern_->round->number >= input_rounds::kMaxRounds ||
      unanswered_.size() >= input_rounds::kMaxQuestions) {
    return Fail(ErrorCode::kUnavailable,
                "the call asked for more input than one call may (" +
                    std::to_string(input_rounds::kMaxRounds) + " rounds of " +
                    std::to_string(input_rounds::kMaxQuestions) + " questions)");
  }
  unanswered_[key] = {{"method", method}, {"params", params}};
  return Fail(ErrorCode::kInputRequired,
              "the client's input is required: the request ends this round");
}

std::optional<ClientChannel::InputRequired> RequestChannel::TakeInputRequired() {
  if (!modern_ || !modern_->round) return std::nullopt;
  std::lock_guard lock(mutex_);
  if (unanswered_.empty()) return std::nullopt;
  const std::string state = input_rounds::Seal(*modern_->round, unanswered_, modern_->binding,
                                               modern_->state_key, modern_->clock->Now());
  InputRequired input;
  input.requests = json::array();
  for (const auto& [key, request] : unanswered_.items())
    input.requests.push_back({{"key", key}, {"method", request["method"]}});
  input.request_state_digest = Sha256Hex({state});
  input.result = {{"resultType", "input_required"},
                  {"inputRequests", std::move(unanswered_)},
                  {"requestState", state}};
  unanswered_ = json::object();
  return input;
}

void RequestChannel::CloseStream() {
  if (auto session = session_.lock()) session->SendRelated("", request_id_, true);
}

json RequestChannel::capabilities() const {
  if (modern_) return modern_->meta.capabilities;
  auto session = session_.lock();
  return session ? session->ClientCapabilities() : json::object();
}

class SessionConnection final : public Connection {
 public:
  explicit SessionConnection(std::shared_ptr<Session> session) : session_(std::move(session)) {}
  ~SessionConnection() override {
    session_->AbandonClientRequests();  // a tool waiting for the client's answer gets an error now
    session_->Drain();
    session_->RecordSessionEnd();
  }
  void Receive(std::string_view message, const MessageContext& context) override {
    session_->Receive(message, context);
  }
  void Receive(jsonrpc::Message&& decoded, std::string_view text,
               const MessageContext& context) override {
    session_->Receive(decoded, text, context);
  }
  void Drain() override { session_->Drain(); }
  void AssumeInitialized(std::string version) override {
    session_->AssumeInitialized(std::move(version));
  }
  void Ending(std::string_view reason) override { session_->SetEndReason(reason); }

 private:
  std::shared_ptr<Session> session_;
};

}  // namespace

Server::Server(ServerOptions options, const Toolkit& toolkit)
    : impl_(std::make_unique<Impl>(std::move(options), toolkit)) {}

Server::~Server() = default;

RequestContext ContextOf(const ConnectionInfo& info,
                         std::chrono::system_clock::time_point received_at) {
  RequestContext ctx;
  ctx.received_at = received_at;
  ctx.transport = info.transport;
  ctx.session_id = info.session_id;
  ctx.client_ip = info.client_ip;
  ctx.user_agent = info.user_agent;
  ctx.identity = info.identity;
  return ctx;
}

void Server::RecordRefusal(const ConnectionInfo& info, const RefusedRequest& refusal) {
  impl_->refusals.Record(info, refusal);
}

void Server::ToolsListChanged() {
  std::vector<std::weak_ptr<Session>> listeners;
  {
    std::lock_guard lock(impl_->listeners_mutex);
    std::erase_if(impl_->tools_listeners, [](const auto& s) { return s.expired(); });
    listeners = impl_->tools_listeners;
  }
  for (const auto& weak : listeners)
    if (auto session = weak.lock()) session->ToolsListChanged();
}

std::optional<std::string> Server::ParamHeaderMismatch(
    std::string_view tool, const json& arguments,
    const std::function<std::optional<std::string_view>(const std::string& name)>& header) const {
  return impl_->toolkit.ParamHeaderMismatch(tool, arguments, header);
}

bool Server::WouldWait(std::string_view method) const {
  // The requests a worker answers (RunOnPool, Initialize); the others are answered at once.
  const bool on_a_worker = method == "initialize" || method == "tools/call" ||
                           method == "resources/read" || method == "prompts/get";
  return on_a_worker &&
         (impl_->pool.Full() ||
          impl_->answers_waiting.load(std::memory_order_relaxed) >= Impl::kMaxAnswersWaiting);
}

std::unique_ptr<Connection> Server::Connect(ConnectionInfo info, MessageSender send) {
  return std::make_unique<SessionConnection>(
      std::make_shared<Session>(impl_.get(), std::move(info), std::move(send)));
}

}  // namespace mcpaudit

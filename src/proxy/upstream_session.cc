#include "proxy/upstream_session.h"

#include <signal.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "audit/canonical_json.h"
#include "base/ascii.h"
#include "base/bounded_json.h"
#include "base/crypto.h"
#include "base/free_memory.h"
#include "base/ops_log.h"
#include "mcp/jsonrpc.h"
#include "mcp/modern.h"
#include "mcp/tool_outcome.h"

namespace mcpaudit {
namespace {

using nlohmann::json;
using Steady = std::chrono::steady_clock;

// A call on its way to the upstream.
struct PendingCall {
  RequestContext ctx;
  std::string event_type;  // tool_call, resource_read, prompt_get
  std::string tool;        // the tool or prompt
  json params;
  std::vector<std::string> resources;
  std::string sensitivity;  // from the policy's classification
  bool phi = false;
  bool stateless = false;  // a 2026-07-28 request: its answer may ask for input (input_required)
  std::string task_id;     // the upstream made it a task (the tasks extension)
  Steady::time_point started;
};

// The tasks extension (io.modelcontextprotocol/tasks) of 2026-07-28: an
// upstream may answer a call with a task (resultType "task"), whose state the
// client then polls with tasks/get until it is completed, failed or cancelled.
constexpr std::string_view kTaskCreatedEvent = "task_created";
bool IsFinalTaskStatus(std::string_view status) {
  return status == "completed" || status == "failed" || status == "cancelled";
}

std::string IdText(const json& id) { return id.is_string() ? id.get<std::string>() : id.dump(); }

json ErrorResponse(const json& id, int code, const std::string& message) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

// The record of a call as far as the proxy knows it before any answer (its
// parameters are set by the caller, redacted).
CallRecord RecordOf(const PendingCall& call) {
  CallRecord record;
  record.event_type = call.event_type;
  record.tool = call.tool;
  record.resources = call.resources;
  record.sensitivity = call.sensitivity;
  record.phi = call.phi;
  record.duration = Steady::now() - call.started;
  return record;
}

// What the upstream's answer says about the call.
CallRecord FromAnswer(const PendingCall& call, const json& answer, size_t bytes) {
  CallRecord record = RecordOf(call);
  record.response_bytes = bytes;
  if (const auto error = answer.find("error"); error != answer.end() && error->is_object()) {
    const int code = jsonrpc::IntMember(*error, "code");
    // An unknown tool or arguments the tool refuses never ran: a denial, as in serve.
    const bool refused = code == -32602 || code == -32601;
    record.outcome = refused ? Outcome::kDenied : Outcome::kFailure;
    const std::string message = jsonrpc::StringMember(*error, "message");
    const char* reason = !refused                              ? "upstream_error"
                         : message.starts_with("Unknown tool") ? "unknown_tool"
                                                               : "invalid_arguments";
    record.error = AuditError{code, message, reason};
    return record;
  }
  const json result = answer.value("result", json::object());
  record.is_error = jsonrpc::TrueMember(result, "isError");
  if (record.is_error) {
    record.outcome = Outcome::kFailure;
    record.error = ToolReportedError(result.value("content", json::array()));
  }
  for (const char* list : {"content", "contents", "messages"}) {
    if (const auto items = result.find(list); items != result.end() && items->is_array())
      record.result_count = static_cast<int64_t>(items->size());
  }
  // The resources the result names (resource links and embedded resources):
  // what the call touched, for the record and for classification.
  if (const auto content = result.find("content"); content != result.end() && content->is_array()) {
    for (const auto& item : *content) {
      if (!item.is_object()) continue;
      std::string uri = jsonrpc::StringMember(item, "uri");
      if (const auto resource = item.find("resource");
          uri.empty() && resource != item.end() && resource->is_object())
        uri = jsonrpc::StringMember(*resource, "uri");
      if (!uri.empty() && std::find(record.resources.begin(), record.resources.end(), uri) ==
                              record.resources.end())
        record.resources.push_back(uri);
    }
  }
  return record;
}

// A task the upstream created: the call that made it (its parameters as
// recorded, not as sent), the input requests last recorded of it, whether
// the record of its end is being written, and the polls that saw its end
// meanwhile (answered once that record is written).
struct Task {
  PendingCall call;
  json recorded_params;
  std::string inputs_recorded;
  bool ending = false;
  std::vector<std::function<void(bool recorded)>> polls_waiting;
};

// Whose a task is: a task id means something only to the caller that made it.
std::string TaskCaller(const RequestContext& ctx) {
  const Identity& who = ctx.identity;
  return json::array({who.user_id, who.tenant_id, who.auth_method}).dump() + "\n";
}

// A task as the proxy keeps it: its caller's, then its id.
std::string TaskKey(const RequestContext& ctx, const std::string& task_id) {
  return TaskCaller(ctx) + task_id;
}

// The proxy's own request ids: a client's request under one of them is refused.
bool IsReservedId(const json& id) {
  return id.is_string() && id.get_ref<const std::string&>().starts_with("mcp-audit");
}

// What 2026-07-28 removed, which an upstream shared by every stateless
// request must never see from one of them (it would change it for all).
bool IsSessionMethod(std::string_view method) {
  return method == "initialize" || method == "ping" || method == "logging/setLevel" ||
         method == "resources/subscribe" || method == "resources/unsubscribe";
}

constexpr const char* kRestartId = "mcp-audit-restart";  // the id of a replayed initialize
constexpr const char* kToolsListId = "mcp-audit-tools";  // the proxy's own tools/list

}  // namespace

// What outlives one request of the stateless revision (over the HTTP front
// each is a session of its own): the round of each requestState the upstream
// issued (its SHA-256), for the record of the retry, and the tasks it created
// (by task id), for the records of their questions and end; oldest first.
struct ProxyShared::RoundsAndTasks {
  static constexpr size_t kMaxRoundsKept = 1024;
  static constexpr size_t kMaxTasksKept = 4096;      // then the oldest is forgotten,
  static constexpr size_t kMaxTasksPerCaller = 256;  // or the caller's own oldest
  std::mutex mutex;  // taken with a session's mutex held, never the other way
  std::deque<std::pair<std::string, uint32_t>> rounds;  // guarded by mutex
  std::map<std::string, Task> tasks;                    // guarded by mutex; by TaskKey
  std::deque<std::string> task_order;                   // guarded by mutex

  // Keeps `task` (its call's caller's), within the bounds: the oldest task
  // (the caller's own, when the caller has its share) is forgotten, unless
  // the record of its end is being written. Mutex held.
  void Keep(Task task) {
    const std::string caller = TaskCaller(task.call.ctx);
    const std::string key = TaskKey(task.call.ctx, task.call.task_id);
    if (tasks.contains(key)) return;
    size_t callers = 0;
    for (const std::string& kept : task_order) callers += kept.starts_with(caller) ? 1 : 0;
    const bool own = callers >= kMaxTasksPerCaller;
    if (own || task_order.size() >= kMaxTasksKept) {
      auto forgotten = std::ranges::find_if(task_order, [&](const std::string& kept) {
        return (!own || kept.starts_with(caller)) && !tasks.at(kept).ending;
      });
      if (forgotten != task_order.end()) {
        tasks.erase(*forgotten);
        task_order.erase(forgotten);
      }
    }
    tasks.emplace(key, std::move(task));
    task_order.push_back(key);
  }
};

ProxyShared::ProxyShared(ProxyOptions o, const Recorder& r)
    : options(std::move(o)),
      recorder(r),
      redactor(options.redaction),
      refusals(r, redactor, options.refusals),
      rounds_and_tasks(std::make_unique<RoundsAndTasks>()),
      sampler_(options.policy.sampling),
      stateless_child_(options.command.empty()
                           ? nullptr
                           : MakeSharedChild(options.command, options.max_upstream_message_bytes,
                                             options.max_json_depth, ChildEvents(),
                                             options.stopping)) {}

SharedChildEvents ProxyShared::ChildEvents() {
  // Recorded once, by no caller's session: the child serves them all.
  auto record = [this](CallRecord record) {
    RequestContext ctx;
    ctx.received_at = recorder.clock().Now();
    ctx.transport = "http";
    if (Status recorded = recorder.Record(ctx, record); !recorded)
      OpsLog().error("proxy: the record of {} could not be written: {}", record.event_type,
                     recorded.error().message);
  };
  SharedChildEvents events;
  events.ended = [record](const UpstreamEnd& end) {
    CallRecord exited;
    exited.event_type = "upstream_exited";
    exited.outcome = Outcome::kFailure;
    exited.details = end.details;
    record(std::move(exited));
    OpsLog().error("proxy: the upstream shared by stateless requests {}", end.description);
  };
  events.restarted = [this, record](size_t restarts) {
    CallRecord restarted;
    restarted.event_type = "upstream_restarted";
    restarted.details = {{"upstream", options.command.front()}, {"restarts", restarts}};
    record(std::move(restarted));
  };
  events.tools_changed = [this] { ForgetLearntTools(); };
  return events;
}

std::unique_ptr<UpstreamLink> ProxyShared::StatelessLink() {
  if (stateless_child_) return ViewOf(*stateless_child_);
  // What another request learnt of the tools' Mcp-Param-* headers, for this one's call.
  HttpUpstream http = options.http;
  http.param_headers = [this](const std::string& tool) -> std::vector<modern::ParamHeader> {
    const std::shared_ptr<const Learnt> learnt = LearntTools();
    if (!learnt) return {};
    auto it = learnt->param_headers.find(tool);
    return it == learnt->param_headers.end() ? std::vector<modern::ParamHeader>{} : it->second;
  };
  return MakeHttpLink(std::move(http));
}

std::shared_ptr<const ProxyShared::Learnt> ProxyShared::LearntTools() const {
  std::lock_guard lock(learnt_mutex_);
  if (!learnt_ || Steady::now() - learnt_at_ > kLearntToolsFresh) return nullptr;
  return learnt_;
}

void ProxyShared::KeepLearntTools(std::shared_ptr<const Learnt> learnt) {
  std::lock_guard lock(learnt_mutex_);
  learnt_ = std::move(learnt);
  learnt_at_ = Steady::now();
}

void ProxyShared::ForgetLearntTools() {
  std::lock_guard lock(learnt_mutex_);
  learnt_.reset();
}

ProxyShared::~ProxyShared() {
  for (const auto& tool : sampler_.ToolsWithSkipped()) EmitSampleSummary(RequestContext{}, tool);
}

void ProxyShared::RecordSampled(const RequestContext& ctx, const CallRecord& record,
                                AuditLogger::Done done) {
  // A call of several rounds, or a task, is never sampled away: its earlier records are kept.
  const bool task = record.details.is_object() && record.details.contains("task_id");
  if (record.event_type == "tool_call" && record.outcome == Outcome::kSuccess && ctx.round == 0 &&
      ctx.request_state_digest.empty() && !task && sampler_.Skip(record.tool))
    return done(Status{});
  if (record.event_type == "tool_call") EmitSampleSummary(ctx, record.tool);
  recorder.RecordThen(ctx, record, std::move(done));
}

void ProxyShared::EmitSampleSummary(const RequestContext& ctx, const std::string& tool) {
  const uint64_t skipped = sampler_.TakeSkipped(tool);
  if (skipped == 0) return;
  CallRecord summary;
  summary.event_type = "sample_summary";
  summary.tool = tool;
  summary.details = {{"skipped", skipped}};
  if (Status recorded = recorder.Record(ctx, summary); !recorded)
    OpsLog().error("proxy: the sample summary for {} could not be written: {}", tool,
                   recorded.error().message);
}

struct UpstreamSession::State {
  ProxyShared& shared;
  const ProxyOptions& options;
  const Recorder& recorder;
  const Redactor& redactor;
  ConnectionInfo info;
  MessageSender send;

  std::mutex mutex;  // guards everything below but the link
  std::condition_variable changed;
  std::map<std::string, PendingCall> pending;  // audited calls, by id key
  std::set<std::string> abandoned;             // ids whose late answers are dropped
  std::vector<std::string> open_requests;      // client requests not answered yet, oldest first
  std::map<std::string, std::string> progress_tokens;  // token key -> the request that set it
  ClientInfo client;
  std::string protocol_version;
  std::string initialize_line;                        // replayed when the upstream is started again
  std::string initialize_key;                         // the client's initialize (its id key)
  std::optional<Steady::time_point> session_started;  // when its session_start was recorded
  std::string end_reason{kEndClosed};
  size_t restarts = 0;
  bool gone = false;        // the current upstream has ended (or never started)
  bool reader_done = true;  // the current upstream has told its end
  bool finished = false;

  std::unique_ptr<UpstreamLink> link;  // the child process, or the HTTP server
  bool started = false;                // the upstream started at least once
  bool clean_end = true;               // it did not end by itself
  std::thread watchdog;

  // What each tool's input schema marks sensitive and mirrors into Mcp-Param-*
  // headers, as far as known (shared by the requests of the stateless revision).
  std::shared_ptr<const ProxyShared::Learnt> known = std::make_shared<ProxyShared::Learnt>();
  // 2026-07-28 tools/call held until the tools are learnt (their records and
  // headers need the schemas): each with its id key, its line and its headers.
  struct Held {
    std::string key;
    std::string line;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  std::vector<Held> held;
  // The proxy's own tools/list has been answered to its last page: until then
  // a call's record masks every argument (its schema is not known yet).
  bool tools_learnt = false;
  bool tools_asked = false;  // the proxy's own tools/list has gone out
  std::set<std::string> tools_list_requests;  // the client's tools/list requests, by id key
  std::vector<std::string> outbox;            // the proxy's own messages for the upstream
  // 2026-07-28 (stateless) clients: the version the proxy's own tools/list
  // names (empty: the session's).
  std::string modern_version;
  static constexpr size_t kMaxQuestionsRecorded = 16;  // inputRequests named in a record
  // Open subscriptions/listen requests (id keys): they are never answered by themselves.
  std::set<std::string> listening;
  // The open tasks/get requests (id key -> task id).
  std::map<std::string, std::string> task_polls;

  // Answers waiting for their records: in durable mode the logger's writer
  // sends them after its sync. A lock of their own: the writer must never
  // wait for `mutex`, which is held while records are queued.
  static constexpr size_t kMaxAnswersWaiting = 1024;
  std::mutex answers_mutex;
  std::condition_variable answers_changed;
  size_t answers_waiting = 0;  // guarded by answers_mutex

  State(ProxyShared& s, ConnectionInfo i, MessageSender sender)
      : shared(s),
        options(s.options),
        recorder(s.recorder),
        redactor(s.redactor),
        info(std::move(i)),
        send(std::move(sender)),
        link(info.stateless_request ? shared.StatelessLink()
             : options.http.url.empty()
                 ? MakeChildLink(options.command, options.max_upstream_message_bytes,
                                 options.stopping)
                 : MakeHttpLink(options.http)) {
    // A request of the stateless revision over HTTP: what another taught is used while fresh.
    if (info.stateless_request) {
      if (auto learnt = shared.LearntTools()) {
        known = std::move(learnt);
        tools_learnt = tools_asked = true;
      }
    }
  }

  // Learns the tools' sensitive and mirrored parameters from a tools/list
  // result. A tool whose x-mcp-header annotations break the rules is not
  // learnt: it is left out of what the client is given (DropInvalidTools).
  // Mutex held.
  void LearnTools(const json& result) {
    if (!result.is_object() || !result.contains("tools") || !result["tools"].is_array()) return;
    auto next = std::make_shared<ProxyShared::Learnt>(*known);
    for (const auto& tool : result["tools"]) {
      if (!tool.is_object() || !tool.contains("name") || !tool["name"].is_string()) continue;
      const std::string name = tool["name"].get<std::string>();
      const json schema = tool.value("inputSchema", json::object());
      auto mirrored = modern::ParamHeaders(schema);
      if (!mirrored) continue;
      next->sensitive[name] = SensitiveProperties(schema);
      next->param_headers[name] = std::move(*mirrored);
    }
    known = std::move(next);
  }

  // Streamable HTTP: a tool whose x-mcp-header annotations break the rules is
  // left out of the tools/list `message` the client gets, and the log says why.
  // Whether any was.
  static bool DropInvalidTools(json& message) {
    if (!message.contains("result") || !message["result"].is_object()) return false;
    json& result = message["result"];
    if (!result.contains("tools") || !result["tools"].is_array()) return false;
    json kept = json::array();
    for (auto& tool : result["tools"]) {
      auto mirrored = modern::ParamHeaders(
          tool.is_object() ? tool.value("inputSchema", json::object()) : json::object());
      if (mirrored) {
        kept.push_back(std::move(tool));
        continue;
      }
      OpsLog().warn("proxy: the upstream's tool {} is left out of tools/list: {}",
                    jsonrpc::StringMember(tool, "name").substr(0, 128), mirrored.error());
    }
    const bool dropped = kept.size() != result["tools"].size();
    result["tools"] = std::move(kept);
    return dropped;
  }

  // The proxy's own tools/list (a page of it), answered to the proxy only. Mutex held.
  std::string ToolsRequest(const std::string& cursor = {}) const {
    json request = {{"jsonrpc", "2.0"},
                    {"id", kToolsListId},
                    {"method", "tools/list"},
                    {"params", json::object()}};
    if (!cursor.empty()) request["params"]["cursor"] = cursor;
    if (!modern_version.empty()) {
      request["params"]["_meta"] = {{std::string(modern::kVersionKey), modern_version},
                                    {std::string(modern::kCapabilitiesKey), json::object()}};
    }
    return request.dump();
  }

  // The round a retry of a multi round-trip call is, from the requestState it
  // carries (the upstream's, opaque to the proxy): one more than the round that
  // was given it; 0 when the proxy did not see that round. Mutex held.
  uint32_t RoundAfter(const std::string& state_digest) const {
    std::lock_guard lock(shared.rounds_and_tasks->mutex);
    for (const auto& [digest, round] : shared.rounds_and_tasks->rounds)
      if (digest == state_digest) return round + 1;
    return 0;
  }

  // The upstream answered a round of a multi round-trip call with
  // input_required: recorded as that, not as the call. Mutex held.
  void RecordInputRequested(PendingCall& call, const json& result, CallRecord& record) {
    // The first round, unless it was a retry of a round the proxy did not see
    // (its number then unknown: 0).
    if (call.ctx.request_state_digest.empty()) call.ctx.round = 1;
    record.event_type = std::string(kInputRequestedEvent);
    json requests = json::array();
    size_t more = 0;
    if (const auto asked = result.find("inputRequests");
        asked != result.end() && asked->is_object()) {
      for (const auto& [key, request] : asked->items()) {
        if (requests.size() == kMaxQuestionsRecorded) {
          ++more;
          continue;
        }
        requests.push_back({{"key", key.substr(0, 256)},
                            {"method", jsonrpc::StringMember(request, "method").substr(0, 256)}});
      }
    }
    record.details = {{"input_requests", std::move(requests)}};
    if (more > 0) record.details["more_input_requests"] = more;
    if (const std::string state = jsonrpc::StringMember(result, "requestState"); !state.empty()) {
      const std::string digest = Sha256Hex({state});
      record.details["issued_request_state_digest"] = digest;
      if (call.ctx.round > 0) {
        ProxyShared::RoundsAndTasks& kept = *shared.rounds_and_tasks;
        std::lock_guard lock(kept.mutex);
        kept.rounds.emplace_back(digest, call.ctx.round);
        if (kept.rounds.size() > kept.kMaxRoundsKept) kept.rounds.pop_front();
      }
    }
  }
  // The upstream answered a call with a task: recorded as its creation, and
  // remembered for the record of its end (when a tasks/get shows it). Mutex held.
  void TaskCreated(PendingCall& call, const json& result, CallRecord& record) {
    call.task_id = jsonrpc::StringMember(result, "taskId").substr(0, 256);
    record.event_type = std::string(kTaskCreatedEvent);
    record.details = {{"status", jsonrpc::StringMember(result, "status").substr(0, 64)}};
    if (call.task_id.empty()) return;
    Task task{call, record.params, {}, false, {}};
    task.call.params = json::object();  // kept as recorded, not as sent
    ProxyShared::RoundsAndTasks& kept = *shared.rounds_and_tasks;
    std::lock_guard lock(kept.mutex);
    kept.Keep(std::move(task));
  }

  // A tasks/get answered: a task of the caller's own that asks for input is
  // recorded as that (once for each set of questions), and one that has ended
  // as the call it was, once, before the client sees its end. Mutex held.
  void TaskPolled(const std::string& task_id, const json& message, std::string line,
                  const std::optional<std::string>& related) {
    const json result = message.value("result", json::object());
    const std::string status =
        result.is_object() ? jsonrpc::StringMember(result, "status") : std::string();
    const bool asks = status == "input_required" && result.contains("inputRequests");
    const std::string asked = asks ? Sha256Hex({result["inputRequests"].dump()}) : "";
    const std::string key = TaskKey(Context(), task_id);
    ProxyShared::RoundsAndTasks& kept = *shared.rounds_and_tasks;
    // Taken before the lock: it may wait for answers that need the lock.
    std::shared_ptr<void> waiting = IsFinalTaskStatus(status) ? AnswerWaiting() : nullptr;
    std::optional<Task> task;  // a copy of the task as it was created, when there is a record
    {
      std::lock_guard lock(kept.mutex);
      auto it = kept.tasks.find(key);
      if (it != kept.tasks.end() && result.is_object() && it->second.ending &&
          IsFinalTaskStatus(status)) {
        // Another poll's answer is writing the task's end: this one waits for that record.
        it->second.polls_waiting.push_back(
            WhenRecorded(message["id"], Route(std::move(line), message, related), waiting));
        return;
      }
      if (it != kept.tasks.end() && result.is_object() && !it->second.ending) {
        if (IsFinalTaskStatus(status)) {
          it->second.ending = true;  // until its record is written
          task = it->second;
        } else if (asks && asked != it->second.inputs_recorded) {
          it->second.inputs_recorded = asked;
          task = it->second;
        }
      }
    }
    if (!task) return ToClient(std::move(line), message, related);
    if (asks) {
      RecordTaskQuestions(*task, task_id, result);
      return ToClient(std::move(line), message, related);
    }
    RecordTaskEnd(*task, key, status, result, message, std::move(line), related,
                  std::move(waiting));
  }

  // A task's questions, as an input_requested record of the call that made
  // it. Mutex held.
  void RecordTaskQuestions(Task& task, const std::string& task_id, const json& result) {
    PendingCall& asking = task.call;
    CallRecord record = RecordOf(asking);
    record.params = task.recorded_params;
    RecordInputRequested(asking, result, record);
    asking.ctx.round = 0;  // a task's questions are not rounds of its call
    record.details["task_id"] = task_id;
    Record(asking.ctx, record, "a task's input request");
  }

  // A task's end (`status` and `result`, shown by the poll `message`), as the
  // record of the call that made it; the poll is answered once that record is written, and
  // so are the polls held meanwhile. The task (`key`) is forgotten once its
  // end is on record; polled again for it otherwise. Mutex held.
  void RecordTaskEnd(Task& task, const std::string& key, const std::string& status,
                     const json& result, const json& message, std::string line,
                     const std::optional<std::string>& related, std::shared_ptr<void> waiting) {
    // The call's outcome, as if the upstream had answered it so.
    json outcome = {{"jsonrpc", "2.0"}, {"id", message["id"]}};
    if (status == "completed")
      outcome["result"] = result.value("result", json::object());
    else if (status == "failed")
      outcome["error"] = result.value("error", json{{"code", -32603}, {"message", "failed"}});
    else
      outcome["error"] = {{"code", -32603}, {"message", "the task was cancelled"}};
    std::optional<CallRecord> record = RecordOfAnswer(task.call, outcome, line.size());
    ProxyShared::RoundsAndTasks& kept = *shared.rounds_and_tasks;
    auto ended = [&kept, key](bool recorded) {
      std::vector<std::function<void(bool)>> polls_waiting;
      {
        std::lock_guard lock(kept.mutex);
        auto it = kept.tasks.find(key);
        if (it == kept.tasks.end()) return;
        polls_waiting.swap(it->second.polls_waiting);
        if (recorded) {
          kept.tasks.erase(it);
          std::erase(kept.task_order, key);
        } else {
          it->second.ending = false;
        }
      }
      for (auto& answer : polls_waiting) answer(recorded);
    };
    if (!record) {
      ended(true);
      return ToClient(std::move(line), message, related);
    }
    if (!record->params.is_null()) record->params = task.recorded_params;
    if (status == "cancelled") record->error = AuditError{0, "the task was cancelled", "cancelled"};
    SendOnceRecorded(task.call.ctx, *record, message["id"], std::move(line), message, related,
                     std::move(ended), std::move(waiting));
  }

  // A call over HTTP whose Mcp-Param-* headers disagree with its arguments,
  // for a tool whose schema is known. Mutex held.
  std::optional<Refusal> ParamRefusal(
      const PendingCall& call,
      const std::vector<std::pair<std::string, std::string>>& headers) const {
    if (info.transport != "http") return std::nullopt;  // headers are HTTP's
    auto annotated = known->param_headers.find(call.tool);
    if (annotated == known->param_headers.end()) return std::nullopt;
    auto mismatch = modern::ParamHeaderMismatch(
        annotated->second, call.params,
        [&](const std::string& name) -> std::optional<std::string_view> {
          for (const auto& [sent, value] : headers)
            if (EqualsIgnoringCase(sent, name)) return value;
          return std::nullopt;
        });
    if (!mismatch) return std::nullopt;
    return Refusal{modern::kHeaderMismatch, *mismatch, "header_mismatch"};
  }

  // The tools are learnt: the calls held for them go on (from the watchdog:
  // this thread never waits on the upstream's input), or are refused when
  // their Mcp-Param-* headers disagree with their arguments. Mutex held.
  void ReleaseHeld() {
    for (Held& waiting : std::exchange(held, {})) {
      auto it = pending.find(waiting.key);
      if (it == pending.end()) continue;  // failed or cancelled meanwhile
      if (auto refusal = ParamRefusal(it->second, waiting.headers)) {
        Refuse(json::parse(waiting.key), *refusal, &it->second);
        pending.erase(it);
        continue;
      }
      outbox.push_back(std::move(waiting.line));
    }
    changed.notify_all();
  }

  // The same, sent by the watchdog. Mutex held.
  void QueueToolsRequest(const std::string& cursor = {}) {
    outbox.push_back(ToolsRequest(cursor));
    changed.notify_all();
  }

  // The parameters as the record keeps them: secrets and what the tool's
  // schema marks sensitive redacted (every argument of a tool whose schema is
  // not known, or not yet). Mutex held.
  json Redacted(const PendingCall& call) const {
    json params = call.params;
    std::vector<json::json_pointer> masked;
    if (call.event_type == "tool_call") {
      if (auto it = known->sensitive.find(call.tool);
          tools_learnt && it != known->sensitive.end()) {
        masked = it->second;
      } else if (params.is_object()) {  // its schema is not known (yet)
        for (const auto& [name, value] : params.items())
          masked.push_back(json::json_pointer() / name);
      }
    }
    redactor.Apply(params, masked);
    return params;
  }

  RequestContext Context() const {
    RequestContext ctx = ContextOf(info, recorder.clock().Now());
    ctx.client = client;
    ctx.protocol_version = protocol_version;
    return ctx;
  }

  void Record(const RequestContext& ctx, const CallRecord& record, const char* what) {
    if (Status recorded = recorder.Record(ctx, record); !recorded)
      OpsLog().error("proxy: the record of {} could not be written: {}", what,
                     recorded.error().message);
  }

  bool SendUpstream(const std::string& line) { return link->Send(line); }

  // To the client. A response closes its request; anything else goes with
  // the request it belongs to (progress by its token, else the request whose
  // stream it came on, else the newest open request), or, with none open or
  // when it came on the upstream's own stream, to the session's own stream.
  void ToClient(std::string text, const json& message,
                const std::optional<std::string>& related = {}) {  // mutex held
    send(Route(std::move(text), message, related));
  }

  // `text` addressed as ToClient says. Mutex held.
  OutgoingMessage Route(std::string text, const json& message,
                        const std::optional<std::string>& related) {
    OutgoingMessage out;
    out.text = std::move(text);
    if (message.is_object() && message.contains("id") && !message.contains("method")) {
      out.request_id = message["id"].dump();
      out.is_response = true;
      std::erase(open_requests, out.request_id);
      listening.erase(out.request_id);
      for (auto it = progress_tokens.begin(); it != progress_tokens.end();)
        it = it->second == out.request_id ? progress_tokens.erase(it) : std::next(it);
      changed.notify_all();
    } else if (message.is_object()) {
      const json params = message.value("params", json::object());
      if (params.is_object() && params.contains("progressToken")) {
        if (auto it = progress_tokens.find(params["progressToken"].dump());
            it != progress_tokens.end())
          out.request_id = it->second;
      }
      if (out.request_id.empty() && related &&
          std::ranges::find(open_requests, *related) != open_requests.end())
        out.request_id = *related;
      if (out.request_id.empty() && !related && !open_requests.empty())
        out.request_id = open_requests.back();
    }
    return out;
  }

  // Records the call and sends the client the answer once the record is
  // taken, or (fail closed, no record) an error in its place. Mutex held.
  void AnswerCall(PendingCall& call, const json& id, const json& answer, std::string line,
                  const std::optional<std::string>& related = {}) {
    std::optional<CallRecord> record = RecordOfAnswer(call, answer, line.size());
    if (!record) return send(Route(std::move(line), answer, related));
    SendOnceRecorded(call.ctx, *record, id, std::move(line), answer, related);
  }

  // The record of a call's answer (none: the policy keeps no record of it).
  // What the answer starts is kept for the requests after it: the round it
  // asked input in, the task it made (with `call` its creator). Mutex held.
  std::optional<CallRecord> RecordOfAnswer(PendingCall& call, const json& answer, size_t bytes) {
    CallRecord record = FromAnswer(call, answer, bytes);
    record.params = Redacted(call);
    const auto result = answer.find("result");
    const std::string result_type = result != answer.end() && result->is_object()
                                        ? jsonrpc::StringMember(*result, "resultType")
                                        : "";
    // Only a 2026-07-28 tools/call may be asked for input; anything else an
    // upstream says of itself is recorded as what was asked.
    const bool input_required =
        call.stateless && call.event_type == "tool_call" && result_type == "input_required";
    if (input_required) RecordInputRequested(call, *result, record);
    const bool task = call.stateless && call.event_type == "tool_call" && result_type == "task";
    if (task) TaskCreated(call, *result, record);
    for (const auto& rule :
         options.policy.classify) {  // classification by the resources the result names
      if (!options.policy.MatchesResources(rule, record.resources)) continue;
      if (!rule.sensitivity.empty()) record.sensitivity = rule.sensitivity;
      record.phi = record.phi || rule.phi;
    }
    if (call.event_type == "tool_call") {
      // The policy's level for the tool: none (successes unrecorded), metadata (no
      // parameters), request (redacted parameters), full (and a summary of the result).
      const AuditLevel level = options.policy.LevelFor(call.tool);
      if (level == AuditLevel::kNone && record.outcome == Outcome::kSuccess && !task)
        return std::nullopt;
      if (level < AuditLevel::kRequest) record.params = nullptr;
      if (level == AuditLevel::kFull && answer.contains("result") && !input_required && !task)
        record.details = {{"result", ResultSummary(answer["result"])}};
    }
    if (!call.task_id.empty()) record.details["task_id"] = call.task_id;
    return record;
  }

  // Sends `line` (the answer `answer` to request `id`) once `record` is
  // taken, or (fail closed, no record) an error in its place; `after` is told
  // first. `waiting`: the answer's AnswerWaiting, when already taken. Mutex held.
  void SendOnceRecorded(const RequestContext& ctx, const CallRecord& record, const json& id,
                        std::string line, const json& answer,
                        const std::optional<std::string>& related,
                        std::function<void(bool recorded)> after = {},
                        std::shared_ptr<void> waiting = nullptr) {
    if (!waiting) waiting = AnswerWaiting();  // counted before Route closes the request (Drain)
    auto send_answer = WhenRecorded(id, Route(std::move(line), answer, related), std::move(waiting));
    shared.RecordSampled(ctx, record,
                         [id, send_answer = std::move(send_answer),
                          after = std::move(after)](const Status& recorded) mutable {
                           if (after) after(recorded.has_value());
                           if (!recorded)
                             OpsLog().error("proxy: the record of call {} could not be written: {}",
                                            IdText(id), recorded.error().message);
                           send_answer(recorded.has_value());
                         });
  }

  // Sends `out` once the record it waits for is written; withheld (fail
  // closed) when that record could not be. `waiting` (AnswerWaiting) lives
  // until then.
  std::function<void(bool recorded)> WhenRecorded(const json& id, OutgoingMessage out,
                                                  std::shared_ptr<void> waiting) {
    return [this, id, out = std::move(out), waiting = std::move(waiting)](bool recorded) mutable {
      if (!recorded && options.fail_closed)
        out.text = ErrorResponse(id, -32603,
                                 "the audit record of this call could not be written; "
                                 "its result is withheld")
                       .dump();
      send(std::move(out));
    };
  }

  // Counts an answer as waiting for its record while the token lives (its
  // callback: sent, or dropped on the way by an exception). Waits while
  // kMaxAnswersWaiting are: the writer sends them without this session's lock.
  std::shared_ptr<void> AnswerWaiting() {
    std::unique_lock lock(answers_mutex);
    answers_changed.wait(lock, [&] { return answers_waiting < kMaxAnswersWaiting; });
    ++answers_waiting;
    return std::shared_ptr<void>(nullptr, [this](void*) {
      std::lock_guard lock(answers_mutex);  // `this` lives until the count is seen
      --answers_waiting;
      answers_changed.notify_all();
    });
  }

  // Waits until every answer waiting for its record has been sent.
  void WaitForAnswers() {
    std::unique_lock lock(answers_mutex);
    answers_changed.wait(lock, [&] { return answers_waiting == 0; });
  }

  // Fails a call with `message` (recorded) and tells the client. Mutex held.
  void FailCall(const std::string& key, PendingCall& call, const std::string& message) {
    const json id = json::parse(key);
    const json failed = ErrorResponse(id, -32603, message);
    AnswerCall(call, id, failed, failed.dump());
  }

  // Starts the upstream (again). Mutex not held.
  bool StartLink() {
    {
      std::lock_guard lock(mutex);
      gone = false;
      reader_done = false;
    }
    const bool started_now =
        link->Start({[this](std::string line, std::optional<std::string> related) {
                       FromUpstream(std::move(line), related);
                     },
                     [this](UpstreamEnd end) { UpstreamEnded(std::move(end)); }});
    std::lock_guard lock(mutex);
    if (!started_now) {
      gone = true;
      reader_done = true;
      changed.notify_all();
    }
    started = started || started_now;
    return started_now;
  }

  // One message from the upstream, on its way to the client.
  void FromUpstream(std::string line, const std::optional<std::string>& related) {
    const ReleaseFreeMemoryAfter release(line.size() >
                                         kLargeMessageBytes);  // once a huge answer is relayed
    try {
      Relay(std::move(line), related);
    } catch (const std::exception& e) {
      // A member of a type the code did not expect: the message is dropped (a call it answers times
      // out, recorded).
      OpsLog().warn("proxy: a message from the upstream was dropped: {}", e.what());
    }
  }

  void Relay(std::string line, const std::optional<std::string>& related) {
    BoundedJson parsed = ParseBounded(line, options.max_json_depth);
    if (parsed.fault == JsonFault::kSyntax) {
      // A tool's text with bytes that are not UTF-8: relayed (and recorded) with U+FFFD in their
      // place.
      std::string repaired = WellFormedUtf8(line);
      if (repaired != line) {
        OpsLog().warn("proxy: the upstream sent ill-formed UTF-8; replaced by U+FFFD");
        parsed = ParseBounded(repaired, options.max_json_depth);
        line = std::move(repaired);
      }
    }
    if (parsed.fault == JsonFault::kSyntax) {
      // Not JSON-RPC: nothing to relay (a call it was meant to answer times out, and that is
      // recorded).
      OpsLog().warn("proxy: a line from the upstream that is not JSON was dropped: {}",
                    parsed.message);
      return;
    }
    std::lock_guard lock(mutex);
    if (parsed.fault == JsonFault::kTooDeep || parsed.fault == JsonFault::kNumberOutOfRange) {
      // Not relayed: the client's parser may not survive it either. A call it answers fails.
      OpsLog().warn("proxy: a message from the upstream was dropped: {}", parsed.message);
      if (parsed.value.is_object() && parsed.value.contains("id") &&
          !parsed.value.contains("method")) {
        if (auto it = pending.find(parsed.value["id"].dump()); it != pending.end()) {
          FailCall(it->first, it->second,
                   "the MCP server's answer was refused by mcp-audit proxy: " + parsed.message);
          pending.erase(it);
        }
      }
      return;
    }
    json message = std::move(parsed.value);
    if (message.is_object() && message.contains("id") && !message.contains("method")) {
      if (message["id"] == kRestartId) return;  // the answer to a replayed initialize
      if (message["id"] == kToolsListId) {      // the proxy's own tools/list: learnt, not relayed
        const json result = message.value("result", json::object());
        LearnTools(result);
        // The next page goes out from the watchdog: this thread must never wait on the upstream's
        // input.
        if (result.is_object() && !jsonrpc::StringMember(result, "nextCursor").empty())
          QueueToolsRequest(jsonrpc::StringMember(result, "nextCursor"));
        else
          tools_learnt = true;  // an error too: then no tool's schema is known
        if (tools_learnt) ReleaseHeld();
        if (tools_learnt && info.stateless_request && !message.contains("error"))
          shared.KeepLearntTools(known);
        return;
      }
      if (abandoned.erase(message["id"].dump()) > 0) {
        OpsLog().warn("proxy: the upstream answered call {} after it was abandoned; dropped",
                      IdText(message["id"]));
        return;
      }
      if (std::ranges::find(open_requests, message["id"].dump()) == open_requests.end()) {
        // A second answer to one request, or an answer to none: never relayed
        // (the first may still wait for its record; this one has none).
        OpsLog().warn("proxy: the upstream answered {}, which no open request has; dropped",
                      IdText(message["id"]));
        return;
      }
      if (message["id"].dump() == initialize_key && message.contains("result") &&
          message["result"].is_object() && !RecordSessionStart(message["result"]) &&
          options.fail_closed) {
        // Durable mode: no session without its record.
        line = jsonrpc::Error(
            message["id"], -32603,
            "the audit record of this session could not be written; the session is refused "
            "(audit_unavailable)");
        message = json::parse(line);
      }
      if (tools_list_requests.erase(message["id"].dump()) > 0) {
        LearnTools(message.value("result", json::object()));
        if (DropInvalidTools(message))
          line = message.dump(-1, ' ', false, json::error_handler_t::replace);
        // A tool the caller's roles may not call is not offered either.
        if (!options.policy.access.empty() && message.contains("result") &&
            message["result"].is_object() && message["result"].contains("tools") &&
            message["result"]["tools"].is_array()) {
          json& tools = message["result"]["tools"];
          const size_t before = tools.size();
          json permitted = json::array();
          for (auto& tool : tools)
            if (tool.is_object() &&
                options.policy.Permits(info.identity.roles, jsonrpc::StringMember(tool, "name")))
              permitted.push_back(std::move(tool));
          if (permitted.size() != before) {
            tools = std::move(permitted);
            line = message.dump(-1, ' ', false, json::error_handler_t::replace);
          }
        }
      }
      if (auto it = pending.find(message["id"].dump()); it != pending.end()) {
        AnswerCall(it->second, message["id"], message, std::move(line), related);
        pending.erase(it);
        return;
      }
      if (auto poll = task_polls.find(message["id"].dump()); poll != task_polls.end()) {
        const std::string task_id = std::move(poll->second);
        task_polls.erase(poll);
        return TaskPolled(task_id, message, std::move(line), related);
      }
    }
    if (message.is_object() &&
        jsonrpc::StringMember(message, "method") == "notifications/tools/list_changed") {
      QueueToolsRequest();
      shared.ForgetLearntTools();
    }
    ToClient(std::move(line), message, related);
  }

  // The session is established (the upstream answered its initialize): recorded
  // with the server behind the proxy, before the client hears of it. Whether
  // the record was accepted. Mutex held.
  bool RecordSessionStart(const json& result) {
    if (const std::string version = jsonrpc::StringMember(result, "protocolVersion");
        !version.empty())
      protocol_version = version;
    json server = json::object();
    if (const auto server_info = result.find("serverInfo");
        server_info != result.end() && server_info->is_object())
      server = {{"name", jsonrpc::StringMember(*server_info, "name")},
                {"version", jsonrpc::StringMember(*server_info, "version")}};
    CallRecord record;
    record.event_type = "session_start";
    record.details = {{"protocol_version", protocol_version},
                      {"upstream", {{"address", link->name()}, {"server", std::move(server)}}}};
    RequestContext ctx = Context();
    ctx.request_id = IdText(json::parse(initialize_key));
    if (Status recorded = recorder.Record(ctx, record); !recorded) {
      OpsLog().error("proxy: the record of the session's start could not be written: {}",
                     recorded.error().message);
      return false;
    }
    session_started = Steady::now();
    return true;
  }

  // The session's end, when its start was recorded. Mutex held.
  void RecordSessionEnd() {
    if (!session_started) return;
    CallRecord record;
    record.event_type = "session_end";
    record.duration = Steady::now() - *session_started;
    record.details = {{"reason", end_reason}};
    Record(Context(), record, "the session's end");
    session_started.reset();
  }

  // The upstream has ended: the calls it left unanswered fail, and its end is
  // recorded when it was not asked to end.
  void UpstreamEnded(UpstreamEnd end) {
    std::lock_guard lock(mutex);
    const std::string why = end.failure ? ": " + end.description : "";
    for (auto& [key, call] : pending)
      FailCall(key, call, "the MCP server behind this proxy ended before it answered" + why);
    pending.clear();
    task_polls.clear();
    held.clear();
    // Other requests it will not answer either.
    for (const std::string& key : std::vector<std::string>(open_requests)) {
      const json failed = ErrorResponse(json::parse(key), -32603,
                                        "the MCP server behind this proxy has ended" + why);
      ToClient(failed.dump(), failed);
    }
    gone = true;
    clean_end = !end.failure;
    if (end.failure && !end.recorded) {
      // The upstream's own end is part of the trail.
      CallRecord record;
      record.event_type = "upstream_exited";
      record.outcome = Outcome::kFailure;
      record.details = std::move(end.details);
      Record(Context(), record, "the upstream's end");
      OpsLog().error("proxy: the upstream {}", end.description);
    }
    reader_done = true;
    changed.notify_all();
  }

  // A new upstream for a session whose upstream died: the session's
  // initialize replayed, its answer swallowed. Mutex not held.
  bool Restart() {
    link->Stop();
    if (!StartLink()) return false;
    std::unique_lock lock(mutex);
    ++restarts;
    if (!initialize_line.empty()) {
      json initialize = json::parse(initialize_line, nullptr, false);
      initialize["id"] = kRestartId;
      const std::string tools = ToolsRequest();
      lock.unlock();
      (void)SendUpstream(initialize.dump());
      (void)SendUpstream(json{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}.dump());
      (void)SendUpstream(tools);
      lock.lock();
    }
    if (info.stateless_request) return true;  // a shared child: its owner records that
    CallRecord record;
    record.event_type = "upstream_restarted";
    record.details = {{"upstream", link->name()}, {"restarts", restarts}};
    Record(Context(), record, "the upstream's restart");
    OpsLog().warn("proxy: session {}: the upstream {} started again ({} of {})", info.session_id,
                  link->name(), restarts, options.max_restarts);
    return true;
  }

  // Calls the upstream leaves unanswered too long: an error for the client, a
  // cancellation for the upstream.
  void Watchdog() {
    while (true) {
      std::vector<std::string> outgoing;  // sent after the lock: the upstream's pipe may be full
      {
        std::unique_lock lock(mutex);
        changed.wait_for(lock, std::chrono::milliseconds(100),
                         [&] { return finished || !outbox.empty(); });
        if (finished) return;
        outgoing.swap(outbox);
        for (auto it = pending.begin(); it != pending.end();) {
          if (Steady::now() - it->second.started < options.call_timeout) {
            ++it;
            continue;
          }
          char seconds[32];
          std::snprintf(seconds, sizeof seconds, "%g", options.call_timeout.count() / 1000.0);
          FailCall(it->first, it->second,
                   std::string("the MCP server behind this proxy did not answer within ") +
                       seconds + " s");
          const json cancel = {{"jsonrpc", "2.0"},
                               {"method", "notifications/cancelled"},
                               {"params",
                                {{"requestId", json::parse(it->first)},
                                 {"reason", "timed out in mcp-audit proxy"}}}};
          // A call still held never reached the upstream: nothing to cancel there.
          if (std::erase_if(held, [&](const Held& h) { return h.key == it->first; }) == 0) {
            outgoing.push_back(cancel.dump());
            abandoned.insert(it->first);
          }
          it = pending.erase(it);
        }
      }
      for (const auto& message : outgoing) (void)SendUpstream(message);
    }
  }

  // Answers a request here: refused by the policy, or the upstream is gone. Mutex held.
  void Refuse(const json& id, const Refusal& refusal, PendingCall* call) {
    if (call) {
      CallRecord record = RecordOf(*call);
      record.params = Redacted(*call);
      record.outcome = Outcome::kDenied;
      record.error = AuditError{refusal.code, refusal.message, refusal.reason};
      Record(call->ctx, record, "a refused call");
    }
    const json refused = ErrorResponse(id, refusal.code, refusal.message);
    ToClient(refused.dump(), refused);
  }

  // The policy, before a tools/call is forwarded. Mutex held.
  std::optional<Refusal> Check(PendingCall& call, const json& params) {
    if (!options.policy.Permits(call.ctx.identity.roles, call.tool))
      return Refusal{rpc::kAccessDenied, ToolNotAllowedMessage(call.tool), kToolNotAllowedReason};
    std::optional<Refusal> refusal;
    for (const auto& rule : options.policy.classify) {
      if (!options.policy.MatchesTool(rule, call.tool)) continue;
      if (!rule.sensitivity.empty()) call.sensitivity = rule.sensitivity;
      call.phi = call.phi || rule.phi;
      if (rule.require_access_reason && call.ctx.access_reason.empty())
        refusal = Refusal{rpc::kAccessDenied, kAccessReasonMessage, "access_reason_required"};
    }
    const json arguments = params.value("arguments", json::object());
    for (const auto& hook : options.middleware) {
      if (refusal) break;
      refusal = hook->Before(call.ctx, {call.tool, arguments});
    }
    return refusal;
  }

  // A client message that is not JSON, or over the budget, or (`why`) that
  // holds a member of a type the proxy cannot read: answered and recorded
  // here, never sent on.
  void RefuseUnreadable(std::string_view text, std::string_view why = {}) {
    auto decoded = jsonrpc::Decode(text, options.max_json_depth);
    if (auto* message = std::get_if<jsonrpc::Message>(&decoded)) {
      if (why.empty() || message->kind != jsonrpc::Message::Kind::kRequest) return;
      const std::string key = message->id.dump();
      {
        std::lock_guard lock(mutex);
        std::erase(open_requests, key);
        pending.erase(key);
        tools_list_requests.erase(key);
        task_polls.erase(key);
        changed.notify_all();
      }
      decoded =
          jsonrpc::DecodeError{rpc::kInvalidParams, "Invalid params: a member has the wrong type",
                               message->id,         "invalid_request",
                               message->method,     message->params};
    }
    const auto* error = std::get_if<jsonrpc::DecodeError>(&decoded);
    // The parser's message may quote the ill-formed bytes: serialised with replacements.
    const json refused = ErrorResponse(error->id, error->code, error->message);
    std::lock_guard lock(mutex);
    shared.refusals.Record(Context(), jsonrpc::RefusalOf(*error),
                           jsonrpc::ArgumentsOf(*error));  // never waits
    if (!error->is_response)
      ToClient(jsonrpc::Error(error->id, error->code, error->message), refused);
  }

  void Receive(std::string_view text, const MessageContext& context) {
    BoundedJson parsed = ParseBounded(text, options.max_json_depth);
    if (parsed.fault != JsonFault::kNone) return RefuseUnreadable(text);
    // One JSON-RPC object per message: a batch would pass the policy unchecked.
    if (!parsed.value.is_object()) return RefuseUnreadable(text, "not a single JSON-RPC message");
    json message = std::move(parsed.value);
    // What goes on is the message as the policy read it (one line, each key
    // once), never the bytes: an upstream that reads a duplicate key otherwise
    // could run another tool than the one checked and recorded.
    std::string line = message.dump(-1, ' ', false, json::error_handler_t::replace);
    const bool is_request =
        message.is_object() && message.contains("method") && message.contains("id");
    std::unique_lock lock(mutex);
    if (is_request && gone && !finished && restarts < options.max_restarts && started) {
      lock.unlock();
      (void)Restart();
      lock.lock();
    }
    std::string tools_first;  // the proxy's own tools/list, to go before this message
    bool hold = false;        // this message waits for the tools/list (ReleaseHeld)
    if (message.is_object() && message.contains("method")) {
      const std::string method = jsonrpc::StringMember(message, "method");
      const json params = message.value("params", json::object());
      const bool stateless =
          is_request && (method == "server/discover" || modern::Declares(params));
      // 2026-07-28: relayed to an upstream that speaks it too; each record
      // says what the request's _meta says.
      std::optional<std::expected<modern::RequestMeta, modern::MetaError>> meta;
      if (stateless) meta = modern::ReadRequestMeta(params);
      if (meta && !*meta) {
        // Not relayed: a _meta the upstream would refuse too.
        const modern::MetaError& refused = meta->error();
        RequestContext ctx = Context();
        ctx.protocol_version.clear();  // the session's, if any, is not this request's
        ctx.client = {};
        shared.refusals.Record(ctx, jsonrpc::RefusalOf(jsonrpc::DecodeError{
                                        refused.code, refused.message, message["id"],
                                        refused.reason, method, params}));
        const json answer = {
            {"jsonrpc", "2.0"},
            {"id", message["id"]},
            {"error",
             {{"code", refused.code}, {"message", refused.message}, {"data", refused.data}}}};
        ToClient(answer.dump(), answer);
        return;
      }
      if (stateless && modern_version.empty()) modern_version = (*meta)->protocol_version;
      if ((stateless || method == "tools/call") && !tools_asked) {
        // Learn which parameters are sensitive, in the revision the upstream is
        // spoken to, before the first call is relayed (a 2026-07-28 call waits for it).
        tools_first = ToolsRequest();
        tools_asked = true;
      }
      if (stateless && method == "subscriptions/listen") listening.insert(message["id"].dump());
      if (method == "notifications/cancelled" && params.is_object()) {
        // The client gave up on a call: recorded as such; the upstream may still answer, dropped
        // then.
        const json id = params.value("requestId", json());
        if (auto it = pending.find(id.dump()); it != pending.end()) {
          CallRecord record = RecordOf(it->second);
          record.params = Redacted(it->second);
          record.outcome = Outcome::kFailure;
          record.error = AuditError{0, "cancelled by the client", "cancelled"};
          Record(it->second.ctx, record, "a cancelled call");
          abandoned.insert(it->first);
          std::erase_if(held, [&](const Held& h) { return h.key == it->first; });
          pending.erase(it);
        }
        std::erase(open_requests, id.dump());
        listening.erase(id.dump());
        task_polls.erase(id.dump());
        changed.notify_all();
      }
      if (method == "initialize" && params.is_object()) {
        protocol_version = jsonrpc::StringMember(params, "protocolVersion");
        if (const auto client_info = params.find("clientInfo");
            client_info != params.end() && client_info->is_object())
          client = {jsonrpc::StringMember(*client_info, "name"),
                    jsonrpc::StringMember(*client_info, "version")};
        initialize_line = line;
        if (is_request) initialize_key = message["id"].dump();
      }
      if (is_request) {
        const std::string key = message["id"].dump();
        // The proxy's own ids (its tools/list, its replayed initialize), or a
        // method of sessions sent to the upstream every stateless request shares.
        std::optional<jsonrpc::DecodeError> refused;
        if (IsReservedId(message["id"]))
          refused = jsonrpc::DecodeError{rpc::kInvalidRequest,
                                         "Invalid Request: ids that begin with 'mcp-audit' are "
                                         "the proxy's own",
                                         message["id"],
                                         "reserved_id",
                                         method,
                                         params};
        else if (info.stateless_request && IsSessionMethod(method))
          refused = jsonrpc::DecodeError{
              rpc::kMethodNotFound,
              "Method not found: " + method + " is not in " + std::string(modern::kVersions[0]),
              message["id"],
              "unknown_method",
              method,
              params};
        if (refused) {
          shared.refusals.Record(Context(), jsonrpc::RefusalOf(*refused));  // never waits
          // Not through Route, which would close the request open under this id
          // (another's, still waiting for its own answer).
          send({.text = ErrorResponse(message["id"], refused->code, refused->message).dump(),
                .request_id = key,
                .is_response = true});
          return;
        }
        if (std::ranges::find(open_requests, key) != open_requests.end()) {
          // Two requests with one id: the second would be answered and recorded as the first.
          const RefusedRequest refusal = jsonrpc::RefusalOf(
              {rpc::kInvalidRequest, "Invalid Request: id " + key + " is already in use",
               message["id"], "duplicate_id", method, params});
          shared.refusals.Record(Context(), refusal);  // never waits
          // Sent past Route: the request open under this id stays open for its own answer.
          send({ErrorResponse(message["id"], refusal.code, refusal.message).dump(), key, true,
                false});
          return;
        }
        open_requests.push_back(key);
        if (method == "tools/list") tools_list_requests.insert(key);
        if (stateless && method == "tasks/get" && params.is_object())
          task_polls[key] = jsonrpc::StringMember(params, "taskId").substr(0, 256);
        if (params.is_object() && params.contains("_meta") && params["_meta"].is_object() &&
            params["_meta"].contains("progressToken"))
          progress_tokens[params["_meta"]["progressToken"].dump()] = key;
        if (const char* event_type = jsonrpc::AuditedEventType(method)) {
          PendingCall call;
          call.event_type = event_type;
          call.started = Steady::now();
          call.ctx = Context();
          call.ctx.request_id = IdText(message["id"]);
          if (stateless) {
            call.stateless = true;
            modern::Apply(**meta, call.ctx);
            if (const std::string state = jsonrpc::StringMember(params, "requestState");
                !state.empty()) {
              call.ctx.request_state_digest = Sha256Hex({state});
              call.ctx.round = RoundAfter(call.ctx.request_state_digest);
            }
          }
          call.ctx.access_reason = context.access_reason;
          if (params.is_object() && params.contains("_meta") && params["_meta"].is_object() &&
              !jsonrpc::StringMember(params["_meta"], "access_reason").empty())
            call.ctx.access_reason = jsonrpc::StringMember(params["_meta"], "access_reason");
          if (method == "resources/read") {
            const std::string uri = params.is_object() ? jsonrpc::StringMember(params, "uri") : "";
            call.params = {{"uri", uri}};
            call.resources = {uri};
          } else {
            call.tool = params.is_object() ? jsonrpc::StringMember(params, "name") : "";
            call.params =
                params.is_object() ? params.value("arguments", json::object()) : json::object();
          }
          std::optional<Refusal> refusal;
          if (method == "tools/call") refusal = Check(call, params);
          if (!refusal && stateless && method == "tools/call" && tools_learnt)
            refusal = ParamRefusal(call, context.param_headers);
          if (refusal) {
            Refuse(message["id"], *refusal, &call);
            return;
          }
          pending[key] = std::move(call);
          if (stateless && method == "tools/call" && !tools_learnt && !gone) {
            // Its record and its headers need the schemas: it goes once they are in.
            held.push_back({key, line, context.param_headers});
            hold = true;
          }
        }
      }
    }
    const bool upstream_gone = gone;
    const bool initialized = message.is_object() && jsonrpc::StringMember(message, "method") ==
                                                        "notifications/initialized";
    const std::string tools = initialized && !tools_asked ? ToolsRequest() : std::string();
    tools_asked = tools_asked || initialized;
    lock.unlock();
    if (!upstream_gone && !tools_first.empty()) (void)SendUpstream(tools_first);
    if (hold) return;
    if (!upstream_gone && SendUpstream(line)) {
      if (!tools.empty()) (void)SendUpstream(tools);  // learn the tools' schemas
      return;
    }
    if (!is_request) return;
    // Too late for the upstream: the answers thread may already have failed the others.
    lock.lock();
    const json id = message["id"];
    if (auto it = pending.find(id.dump()); it != pending.end()) {
      FailCall(it->first, it->second, "the MCP server behind this proxy has ended");
      pending.erase(it);
    } else if (std::find(open_requests.begin(), open_requests.end(), id.dump()) !=
               open_requests.end()) {
      const json failed = ErrorResponse(id, -32603, "the MCP server behind this proxy has ended");
      ToClient(failed.dump(), failed);
    }
  }
};

UpstreamSession::UpstreamSession(ProxyShared& shared, ConnectionInfo info, MessageSender send)
    : state_(std::make_unique<State>(shared, std::move(info), std::move(send))) {
  ::signal(SIGPIPE, SIG_IGN);  // a dead upstream shows as a failed write, not a dead proxy
  (void)state_->StartLink();
  state_->watchdog = std::thread([state = state_.get()] { state->Watchdog(); });
}

UpstreamSession::~UpstreamSession() { (void)Finish(); }

void UpstreamSession::Receive(std::string_view message, const MessageContext& context) {
  try {
    state_->Receive(message, context);
  } catch (const std::exception& e) {
    // A member of a type the code did not expect: refused, the session goes on.
    OpsLog().warn("proxy: a message from the client was refused: {}", e.what());
    state_->RefuseUnreadable(message, e.what());
  }
  // The memory of a huge message (its text and its JSON) goes back to the system.
  if (message.size() > kLargeMessageBytes)
    ReleaseFreeMemory(/*often_at_most=*/true);  // may be an I/O thread
}

void UpstreamSession::Drain() {
  std::unique_lock lock(state_->mutex);
  // A subscription never ends by itself: it is not waited for (its upstream ends it).
  state_->changed.wait_for(lock, state_->options.call_timeout + std::chrono::seconds(1), [&] {
    return state_->gone || std::ranges::all_of(state_->open_requests, [&](const std::string& key) {
             return state_->listening.contains(key);
           });
  });
  lock.unlock();
  state_->WaitForAnswers();
}

void UpstreamSession::Ending(std::string_view reason) {
  std::lock_guard lock(state_->mutex);
  state_->end_reason = reason;
}

void UpstreamSession::AssumeInitialized(std::string protocol_version) {
  std::lock_guard lock(state_->mutex);
  state_->protocol_version = std::move(protocol_version);
}

bool UpstreamSession::upstream_gone() const {
  std::lock_guard lock(state_->mutex);
  return state_->gone;
}

int UpstreamSession::Finish() {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->finished) return state_->started && state_->clean_end ? 0 : 1;
  }
  state_->link->Stop();
  {
    std::lock_guard lock(state_->mutex);
    state_->finished = true;
    state_->changed.notify_all();
  }
  if (state_->watchdog.joinable()) state_->watchdog.join();
  state_->WaitForAnswers();  // they use the session's sender
  std::lock_guard lock(state_->mutex);
  state_->RecordSessionEnd();
  return state_->started && state_->clean_end ? 0 : 1;
}

}  // namespace mcpaudit

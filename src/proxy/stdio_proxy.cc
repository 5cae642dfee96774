#include "proxy/stdio_proxy.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "audit/audit_files.h"
#include "audit/ops_log.h"

namespace mcpaudit {
namespace {

using nlohmann::json;
using Steady = std::chrono::steady_clock;

// Lines from a pipe, whatever their length.
class LineReader {
 public:
  explicit LineReader(int fd, std::stop_token stop = {}) : fd_(fd), stop_(std::move(stop)) {}
  bool Next(std::string& line) {
    while (true) {
      if (const size_t nl = buffer_.find('\n', scanned_); nl != std::string::npos) {
        line.assign(buffer_, 0, nl);
        buffer_.erase(0, nl + 1);
        scanned_ = 0;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return true;
      }
      scanned_ = buffer_.size();
      if (stop_.stop_possible()) {
        // Wait in short steps, so that a stop request is noticed.
        pollfd readable{fd_, POLLIN, 0};
        const int ready = ::poll(&readable, 1, 200);
        if (stop_.stop_requested()) return false;
        if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
      }
      char chunk[65536];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (buffer_.empty()) return false;
        line.swap(buffer_);  // a last line without its line break
        buffer_.clear();
        scanned_ = 0;
        return true;
      }
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
  std::stop_token stop_;
  std::string buffer_;
  size_t scanned_ = 0;
};

bool WriteLine(int fd, std::string line) {
  line += '\n';
  return WriteAll(fd, line) == line.size();
}

// A call on its way to the upstream.
struct PendingCall {
  RequestContext ctx;
  std::string event_type;  // tool_call, resource_read, prompt_get
  std::string tool;        // the tool or prompt
  json params;
  std::vector<std::string> resources;
  std::string sensitivity;  // from the policy's classification
  bool phi = false;
  Steady::time_point started;
};

// The audited methods and how their records are named.
const char* EventTypeOf(const std::string& method) {
  if (method == "tools/call") return "tool_call";
  if (method == "resources/read") return "resource_read";
  if (method == "prompts/get") return "prompt_get";
  return nullptr;
}

std::string IdText(const json& id) { return id.is_string() ? id.get<std::string>() : id.dump(); }

json ErrorResponse(const json& id, int code, const std::string& message) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

// What the upstream's answer says about the call.
CallRecord FromAnswer(const PendingCall& call, const json& answer, size_t bytes) {
  CallRecord record;
  record.event_type = call.event_type;
  record.tool = call.tool;
  record.params = call.params;
  record.resources = call.resources;
  record.sensitivity = call.sensitivity;
  record.phi = call.phi;
  record.duration = Steady::now() - call.started;
  record.response_bytes = bytes;
  if (const auto error = answer.find("error"); error != answer.end() && error->is_object()) {
    const int code = error->value("code", 0);
    // An unknown tool or arguments the tool refuses never ran: a denial, as in serve.
    const bool refused = code == -32602 || code == -32601;
    record.outcome = refused ? Outcome::kDenied : Outcome::kFailure;
    const std::string message = error->value("message", "");
    const char* reason = !refused                           ? "upstream_error"
                         : message.starts_with("Unknown tool") ? "unknown_tool"
                                                             : "invalid_arguments";
    record.error = AuditError{code, message, reason};
    return record;
  }
  const json result = answer.value("result", json::object());
  record.is_error = result.is_object() && result.value("isError", false);
  if (record.is_error) {
    record.outcome = Outcome::kFailure;
    std::string text;
    if (const auto content = result.find("content"); content != result.end() && content->is_array() &&
                                                      !content->empty() && (*content)[0].is_object())
      text = (*content)[0].value("text", "");
    record.error = AuditError{0, text.substr(0, 500), "tool_error"};
  }
  for (const char* list : {"content", "contents", "messages"}) {
    if (const auto items = result.find(list); items != result.end() && items->is_array())
      record.result_count = static_cast<int64_t>(items->size());
  }
  return record;
}

}  // namespace

StdioProxy::StdioProxy(StdioProxyOptions options, const Recorder& recorder)
    : options_(std::move(options)), recorder_(recorder), redactor_(options_.redaction) {}

int StdioProxy::Run(int client_in, int client_out, std::stop_token stop) {
  int to_child[2], from_child[2], child_err[2];
  if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0 || ::pipe2(child_err, O_CLOEXEC) != 0) {
    OpsLog().error("proxy: cannot make pipes: {}", std::strerror(errno));
    return 1;
  }
  const pid_t child = ::fork();
  if (child == 0) {
    // The server's own signals: none blocked (the proxy blocks SIGINT/SIGTERM for its watcher).
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(to_child[0], 0);
    ::dup2(from_child[1], 1);
    ::dup2(child_err[1], 2);
    std::vector<char*> argv;
    for (auto& arg : options_.command) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "cannot start %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  ::close(child_err[1]);
  if (child < 0) {
    OpsLog().error("proxy: cannot start the upstream: {}", std::strerror(errno));
    return 1;
  }
  ::signal(SIGPIPE, SIG_IGN);  // a dead upstream shows as a failed write, not a dead proxy

  std::mutex mutex;  // guards pending, abandoned, client, and writes to the client
  std::map<std::string, PendingCall> pending;
  // Ids the client no longer waits for (timed out, or cancelled by the client): late answers are dropped.
  std::set<std::string> abandoned;
  // The upstream's input: written by the client loop and the watchdog, one whole line at a time.
  std::mutex upstream_mutex;
  int upstream_in = to_child[1];
  auto send_upstream = [&](const std::string& line) {
    std::lock_guard lock(upstream_mutex);
    return upstream_in >= 0 && WriteLine(upstream_in, line);
  };
  ClientInfo client;
  std::string protocol_version;
  const std::string session = NewUuidV7(std::chrono::system_clock::now(), SecureRandom());

  // Records the call and decides what the client sees: the answer, or (fail
  // closed, no record) an error in its place.
  auto answer_call = [&](PendingCall& call, const json& id, const json& answer, std::string line) {
    CallRecord record = FromAnswer(call, answer, line.size());
    if (call.event_type == "tool_call") {
      // The policy's level for the tool: none (successes unrecorded), metadata (no
      // parameters), request (redacted parameters), full (and a summary of the result).
      const AuditLevel level = options_.policy.LevelFor(call.tool);
      if (level == AuditLevel::kNone && record.outcome == Outcome::kSuccess) return line;
      if (level < AuditLevel::kRequest) record.params = nullptr;
      if (level == AuditLevel::kFull && answer.contains("result")) record.details = {{"result", ResultSummary(answer["result"])}};
    }
    if (Status recorded = recorder_.Record(call.ctx, record); !recorded) {
      OpsLog().error("proxy: the record of call {} could not be written: {}", IdText(id), recorded.error().message);
      if (options_.fail_closed)
        line = ErrorResponse(id, -32603, "the audit record of this call could not be written; its result is withheld")
                   .dump();
    }
    return line;
  };

  std::thread errors([&] {
    LineReader reader(child_err[0]);
    for (std::string line; reader.Next(line);) OpsLog().info("upstream: {}", line);
  });

  // Upstream to client.
  std::thread answers([&] {
    LineReader reader(from_child[0]);
    for (std::string line; reader.Next(line);) {
      const json message = json::parse(line, nullptr, false);
      std::lock_guard lock(mutex);
      if (message.is_object() && message.contains("id") && !message.contains("method")) {
        if (abandoned.erase(message["id"].dump()) > 0) {
          OpsLog().warn("proxy: the upstream answered call {} after it was abandoned; dropped", IdText(message["id"]));
          continue;
        }
        if (auto it = pending.find(message["id"].dump()); it != pending.end()) {
          line = answer_call(it->second, message["id"], message, std::move(line));
          pending.erase(it);
        }
      }
      if (!WriteLine(client_out, line)) OpsLog().warn("proxy: the client is gone");
    }
    // The upstream closed its output: whatever it had not answered never will be.
    std::lock_guard lock(mutex);
    for (auto& [key, call] : pending) {
      const json id = json::parse(key);
      const json failed = ErrorResponse(id, -32603, "the MCP server behind this proxy ended before it answered");
      (void)answer_call(call, id, failed, failed.dump());
      (void)WriteLine(client_out, failed.dump());
    }
    pending.clear();
  });

  // Calls the upstream leaves unanswered too long: an error for the client, a
  // cancellation for the upstream.
  std::atomic<bool> finished = false;
  std::thread watchdog([&] {
    while (!finished) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::vector<std::string> cancellations;  // sent after the lock: the upstream's pipe may be full
      std::unique_lock lock(mutex);
      for (auto it = pending.begin(); it != pending.end();) {
        if (Steady::now() - it->second.started < options_.call_timeout) {
          ++it;
          continue;
        }
        const json id = json::parse(it->first);
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%g", options_.call_timeout.count() / 1000.0);
        const json failed = ErrorResponse(
            id, -32603, std::string("the MCP server behind this proxy did not answer within ") + seconds + " s");
        (void)answer_call(it->second, id, failed, failed.dump());
        (void)WriteLine(client_out, failed.dump());
        const json cancel = {{"jsonrpc", "2.0"},
                             {"method", "notifications/cancelled"},
                             {"params", {{"requestId", id}, {"reason", "timed out in mcp-audit proxy"}}}};
        cancellations.push_back(cancel.dump());
        abandoned.insert(it->first);
        it = pending.erase(it);
      }
      lock.unlock();
      for (const auto& cancel : cancellations) (void)send_upstream(cancel);
    }
  });

  // Client to upstream.
  bool upstream_gone = false;
  LineReader reader(client_in, stop);
  for (std::string line; reader.Next(line);) {
    const json message = json::parse(line, nullptr, false);
    if (message.is_object() && message.contains("method")) {
      const std::string method = message.value("method", "");
      std::lock_guard lock(mutex);
      if (method == "notifications/cancelled" && message.contains("params") && message["params"].is_object()) {
        // The client gave up on a call: recorded as such; the upstream may still answer, dropped then.
        const json id = message["params"].value("requestId", json());
        if (auto it = pending.find(id.dump()); it != pending.end()) {
          CallRecord record = FromAnswer(it->second, json::object(), 0);
          record.outcome = Outcome::kFailure;
          record.error = AuditError{0, "cancelled by the client", "cancelled"};
          if (Status recorded = recorder_.Record(it->second.ctx, record); !recorded)
            OpsLog().error("proxy: the record of a cancelled call could not be written: {}", recorded.error().message);
          abandoned.insert(it->first);
          pending.erase(it);
        }
      }
      if (method == "initialize" && message.contains("params") && message["params"].is_object()) {
        const json& params = message["params"];
        protocol_version = params.value("protocolVersion", "");
        if (const auto info = params.find("clientInfo"); info != params.end() && info->is_object())
          client = {info->value("name", ""), info->value("version", "")};
      }
      if (const char* event_type = EventTypeOf(method); event_type && message.contains("id")) {
        PendingCall call;
        call.event_type = event_type;
        call.started = Steady::now();
        call.ctx.request_id = IdText(message["id"]);
        call.ctx.received_at = std::chrono::system_clock::now();
        call.ctx.transport = "stdio";
        call.ctx.session_id = session;
        call.ctx.protocol_version = protocol_version;
        call.ctx.client = client;
        call.ctx.identity = options_.identity;
        const json params = message.value("params", json::object());
        if (method == "resources/read") {
          const std::string uri = params.is_object() ? params.value("uri", "") : "";
          call.params = {{"uri", uri}};
          call.resources = {uri};
        } else {
          call.tool = params.is_object() ? params.value("name", "") : "";
          call.params = params.is_object() ? params.value("arguments", json::object()) : json::object();
          if (method == "tools/call") {
            // The policy first: a refused call is answered here and never forwarded.
            const json arguments = call.params;
            std::optional<Refusal> refusal;
            if (const auto meta = params.find("_meta"); meta != params.end() && meta->is_object())
              call.ctx.access_reason = meta->value("access_reason", "");
            for (const auto& rule : options_.policy.classify) {
              if (!options_.policy.MatchesTool(rule, call.tool)) continue;
              if (!rule.sensitivity.empty()) call.sensitivity = rule.sensitivity;
              call.phi = call.phi || rule.phi;
              if (rule.require_access_reason && call.ctx.access_reason.empty())
                refusal = Refusal{rpc::kAccessDenied, kAccessReasonMessage, "access_reason_required"};
            }
            for (const auto& hook : options_.middleware) {
              if (refusal) break;
              refusal = hook->Before(call.ctx, {call.tool, arguments});
            }
            if (refusal) {
              redactor_.Apply(call.params);
              CallRecord record;
              record.tool = call.tool;
              record.params = call.params;
              record.sensitivity = call.sensitivity;
              record.phi = call.phi;
              record.outcome = Outcome::kDenied;
              record.error = AuditError{refusal->code, refusal->message, refusal->reason};
              record.duration = Steady::now() - call.started;
              const json refused = ErrorResponse(message["id"], refusal->code, refusal->message);
              if (Status recorded = recorder_.Record(call.ctx, record); !recorded)
                OpsLog().error("proxy: the record of a refused call could not be written: {}",
                               recorded.error().message);
              (void)WriteLine(client_out, refused.dump());
              continue;
            }
          }
          redactor_.Apply(call.params);
        }
        pending[message["id"].dump()] = std::move(call);
      }
    }
    if (!upstream_gone && !send_upstream(line)) upstream_gone = true;
    if (upstream_gone && message.is_object() && message.contains("id") && message.contains("method")) {
      // Too late for the upstream: the answers thread may already have failed the others.
      std::lock_guard lock(mutex);
      const json failed = ErrorResponse(message["id"], -32603, "the MCP server behind this proxy has ended");
      if (auto it = pending.find(message["id"].dump()); it != pending.end()) {
        (void)answer_call(it->second, message["id"], failed, failed.dump());
        pending.erase(it);
      }
      (void)WriteLine(client_out, failed.dump());
    }
  }
  {
    std::lock_guard lock(upstream_mutex);
    ::close(upstream_in);  // end of input: the upstream should finish and exit
    upstream_in = -1;
  }

  // Give it a few seconds, then ask it to stop, then make it.
  int status = 0;
  bool exited = false;
  for (int i = 0; i < 100 && !exited; ++i) {
    exited = ::waitpid(child, &status, WNOHANG) == child;
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!exited) {
    ::kill(child, SIGTERM);
    for (int i = 0; i < 40 && !exited; ++i) {
      exited = ::waitpid(child, &status, WNOHANG) == child;
      if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (!exited) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
  }
  answers.join();
  errors.join();
  finished = true;
  watchdog.join();
  ::close(from_child[0]);
  ::close(child_err[0]);
  const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!clean) {
    // The upstream's own end is part of the trail.
    RequestContext ctx;
    ctx.transport = "stdio";
    ctx.session_id = session;
    ctx.client = client;
    ctx.identity = options_.identity;
    ctx.received_at = std::chrono::system_clock::now();
    CallRecord record;
    record.event_type = "upstream_exited";
    record.outcome = Outcome::kFailure;
    record.details = {{"command", options_.command.front()},
                      {"exit_code", WIFEXITED(status) ? WEXITSTATUS(status) : -1},
                      {"signal", WIFSIGNALED(status) ? WTERMSIG(status) : 0}};
    (void)recorder_.Record(ctx, record);
    OpsLog().error("proxy: the upstream {} ended ({})", options_.command.front(),
                   WIFEXITED(status) ? "exit code " + std::to_string(WEXITSTATUS(status))
                                     : "signal " + std::to_string(WTERMSIG(status)));
  }
  return clean ? 0 : 1;
}

}  // namespace mcpaudit

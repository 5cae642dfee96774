// The upstream as a Streamable HTTP server (MCP 2025-06-18 and 2025-11-25),
// spoken to with libcurl from one thread per session: every message is a POST
// (its answer JSON or an SSE stream, which may carry the server's own requests
// and notifications before the response), the session id and protocol version
// travel as headers once initialize has answered, a GET stream carries what the
// server sends on its own (reopened with Last-Event-ID when it drops), a POST
// stream that breaks before its response is resumed the same way, and the
// session is DELETEd at the end. Whatever goes wrong with one request (no
// connection, an HTTP error, a stream cut short) becomes a JSON-RPC error for
// that request alone; only a session the server no longer knows (404) ends
// the link.
#include <curl/curl.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "base/ascii.h"
#include "base/bounded_json.h"
#include "base/ops_log.h"
#include "mcp/jsonrpc.h"
#include "mcp/modern.h"
#include "proxy/sse_reader.h"
#include "proxy/upstream_link.h"

namespace mcpaudit {
namespace {

using nlohmann::json;
using Steady = std::chrono::steady_clock;

constexpr int kMaxResumes = 3;  // attempts to resume one broken POST stream
constexpr auto kEndGrace = std::chrono::seconds(5);  // at Stop(): for answers still on their way

std::string Trimmed(std::string_view text) {
  while (!text.empty() && (text.back() == '\r' || text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  return std::string(text);
}

class HttpLink;

// One request to the upstream, and what has come back of it.
struct Transfer {
  enum class Kind { kPost, kGet } kind = Kind::kPost;
  HttpLink* link = nullptr;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;                    // what is POSTed
  std::optional<std::string> request;  // the id key of the client request it carries
  std::string method;                  // of the POSTed message
  bool stateless = false;              // a 2026-07-28 request: no session, its headers mirror it
  int resumes = 0;                     // a GET resuming a broken POST stream: which attempt
  // The answer.
  std::string session_id;    // Mcp-Session-Id
  std::string content_type;  // Content-Type
  std::string error_text;    // libcurl's word on a failure
  bool sse = false, decided = false, answered = false, too_large = false;
  std::string data;  // a JSON answer or an error body
  SseReader stream;
  char curl_error[CURL_ERROR_SIZE] = {};

  ~Transfer() {
    if (easy) curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
  }
};

class HttpLink final : public UpstreamLink {
 public:
  explicit HttpLink(HttpUpstream upstream) : upstream_(std::move(upstream)) {}
  ~HttpLink() override { Stop(); }

  bool Start(Events events) override {
    if (thread_.joinable()) Stop();
    CURLM* multi = curl_multi_init();
    if (multi == nullptr) {
      OpsLog().error("proxy: libcurl could not start");
      return false;
    }
    events_ = std::move(events);
    multi_ = multi;
    session_id_.clear();
    protocol_version_.clear();
    want_get_ = false;
    get_ = nullptr;
    opening_ = nullptr;
    waiting_.clear();
    resumptions_.clear();
    get_last_event_id_.clear();
    param_headers_.clear();
    get_failures_ = 0;
    {
      std::lock_guard lock(mutex_);
      accepting_ = true;
      stopping_ = false;
      queue_.clear();
    }
    thread_ = std::thread([this] { Loop(); });
    return true;
  }

  bool Send(const std::string& message) override {
    std::lock_guard lock(mutex_);
    if (!accepting_) return false;
    queue_.push_back(message);
    curl_multi_wakeup(multi_);
    return true;
  }

  void Stop() override {
    {
      std::lock_guard lock(mutex_);
      if (!thread_.joinable()) return;
      stopping_ = true;
      accepting_ = false;
      if (multi_) curl_multi_wakeup(multi_);
    }
    thread_.join();
  }

  const std::string& name() const override { return upstream_.url; }

 private:
  // The session's thread: sends what is queued, reads what comes back.
  void Loop() {
    std::optional<Steady::time_point> stop_by;
    std::optional<UpstreamEnd> lost;
    while (!lost) {
      std::vector<std::string> outgoing;
      bool stopping;
      {
        std::lock_guard lock(mutex_);
        outgoing.swap(queue_);
        stopping = stopping_;
      }
      for (auto& message : outgoing) waiting_.push_back(std::move(message));
      PostWaiting();
      if (stopping) {
        // Answers still on their way get a few seconds; the GET stream none.
        if (!stop_by) stop_by = Steady::now() + kEndGrace;
        if (get_) Remove(get_);
        const bool posts_left = std::any_of(transfers_.begin(), transfers_.end(),
                                            [](const auto& t) { return t.second->kind == Transfer::Kind::kPost; });
        if (!posts_left || Steady::now() >= *stop_by) break;
      } else {
        MaybeOpenGet();
        ResumeDue();
      }
      int running = 0;
      curl_multi_perform(multi_, &running);
      int left = 0;
      while (CURLMsg* done = curl_multi_info_read(multi_, &left)) {
        if (done->msg != CURLMSG_DONE) continue;
        if (auto ended = Finished(done->easy_handle, done->data.result)) lost = std::move(ended);
        if (lost) break;
      }
      if (lost) break;
      PostWaiting();
      int wait_ms = 1000;
      if (want_get_ && !get_) wait_ms = std::clamp<int>(ToMs(next_get_ - Steady::now()), 0, wait_ms);
      for (const auto& r : resumptions_) wait_ms = std::clamp<int>(ToMs(r.due - Steady::now()), 0, wait_ms);
      curl_multi_poll(multi_, nullptr, 0, wait_ms, nullptr);
    }
    {
      std::lock_guard lock(mutex_);
      accepting_ = false;
    }
    while (!transfers_.empty()) Remove(transfers_.begin()->first);
    if (!lost && !session_id_.empty()) DeleteSession();
    curl_multi_cleanup(multi_);
    {
      std::lock_guard lock(mutex_);
      multi_ = nullptr;
    }
    UpstreamEnd end;
    if (lost) end = std::move(*lost);
    end.details["url"] = upstream_.url;
    events_.ended(std::move(end));
  }

  static int ToMs(Steady::duration d) {
    return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  }

  // A request with the headers every request carries.
  // A 2026-07-28 request (`in_session` false) names no session and its own version.
  Transfer* NewTransfer(Transfer::Kind kind, const std::vector<std::string>& extra,
                        bool in_session = true) {
    auto transfer = std::make_unique<Transfer>();
    Transfer* t = transfer.get();
    t->kind = kind;
    t->link = this;
    t->easy = curl_easy_init();
    if (t->easy == nullptr) return nullptr;
    for (const auto& header : extra) t->headers = curl_slist_append(t->headers, header.c_str());
    if (in_session && !session_id_.empty())
      t->headers = curl_slist_append(t->headers, ("Mcp-Session-Id: " + session_id_).c_str());
    if (in_session && !protocol_version_.empty())
      t->headers = curl_slist_append(t->headers, ("MCP-Protocol-Version: " + protocol_version_).c_str());
    for (const auto& header : upstream_.headers) t->headers = curl_slist_append(t->headers, header.c_str());
    t->headers = curl_slist_append(t->headers, "Expect:");
    CURL* easy = t->easy;
    curl_easy_setopt(easy, CURLOPT_URL, upstream_.url.c_str());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "mcp-audit-proxy");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(upstream_.connect_timeout.count()));
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!upstream_.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, upstream_.ca_file.c_str());
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->curl_error);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &HttpLink::OnHeader);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &HttpLink::OnData);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
    t->stream.set_max_bytes(upstream_.max_message_bytes);
    transfers_[easy] = std::move(transfer);
    return t;
  }

  void Add(Transfer* t) {
    if (curl_multi_add_handle(multi_, t->easy) != CURLM_OK) {
      t->error_text = "libcurl refused the request";
      (void)Finished(t->easy, CURLE_FAILED_INIT);
    }
  }

  void Remove(Transfer* t) { Remove(t->easy); }
  void Remove(CURL* easy) {
    curl_multi_remove_handle(multi_, easy);
    auto it = transfers_.find(easy);
    if (it == transfers_.end()) return;
    if (it->second.get() == get_) get_ = nullptr;
    if (it->second.get() == opening_) opening_ = nullptr;
    transfers_.erase(it);
  }

  // The messages that wait their turn. The session's opening is in order:
  // nothing goes out while initialize (whose answer names the session) or
  // notifications/initialized is on its way.
  void PostWaiting() {
    while (!waiting_.empty() && opening_ == nullptr) {
      std::string message = std::move(waiting_.front());
      waiting_.pop_front();
      Post(std::move(message));
    }
  }

  // One message to the upstream.
  void Post(std::string message) {
    const json parsed = ParseWithin(message, kMaxMessageDepth);
    std::optional<std::string> request;
    std::string method;
    if (parsed.is_object()) {
      method = jsonrpc::StringMember(parsed, "method");
      if (parsed.contains("method") && parsed.contains("id")) request = parsed["id"].dump();
    }
    std::vector<std::string> headers = {"Content-Type: application/json",
                                        "Accept: application/json, text/event-stream"};
    const bool stateless =
        parsed.is_object() && parsed.contains("params") && modern::Declares(parsed["params"]);
    if (stateless) {
      const std::vector<modern::ParamHeader> params =
          method == "tools/call" ? ParamHeadersOf(jsonrpc::StringMember(parsed["params"], "name"))
                                 : std::vector<modern::ParamHeader>{};
      auto mirrored = modern::MirroredHeaders(parsed, params);
      if (!mirrored) {
        if (request)
          Answer(*request, "cannot be sent a method or version that is not a header value", {});
        return;
      }
      headers.insert(headers.end(), mirrored->begin(), mirrored->end());
    }
    Transfer* t = NewTransfer(Transfer::Kind::kPost, headers, !stateless);
    if (t == nullptr) {
      if (request) Answer(*request, "libcurl could not start a request", {});
      return;
    }
    t->stateless = stateless;
    t->request = std::move(request);
    t->method = std::move(method);
    t->body = std::move(message);
    curl_easy_setopt(t->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->body.data());
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body.size()));
    if (upstream_.request_timeout.count() > 0)
      curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, static_cast<long>(upstream_.request_timeout.count()));
    if (t->method == "initialize" || t->method == "notifications/initialized") opening_ = t;
    Add(t);
  }

  // The GET stream: once the session is initialized, unless the server has none.
  void MaybeOpenGet() {
    if (!want_get_ || get_ || Steady::now() < next_get_) return;
    get_ = OpenGet(get_last_event_id_);
  }

  Transfer* OpenGet(const std::string& last_event_id) {
    Transfer* t = last_event_id.empty() ? NewTransfer(Transfer::Kind::kGet, {"Accept: text/event-stream"})
                                        : NewTransfer(Transfer::Kind::kGet, {"Accept: text/event-stream",
                                                                             "Last-Event-ID: " + last_event_id});
    if (t == nullptr) return nullptr;
    curl_easy_setopt(t->easy, CURLOPT_HTTPGET, 1L);
    CURL* easy = t->easy;
    Add(t);  // on failure, `t` is gone
    return transfers_.contains(easy) ? t : nullptr;
  }

  static size_t OnHeader(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) {  // a new response (after an interim one)
      t->session_id.clear();
      t->content_type.clear();
    } else if (StartsWithIgnoringCase(line, "mcp-session-id:")) {
      t->session_id = Trimmed(line.substr(15));
    } else if (StartsWithIgnoringCase(line, "content-type:")) {
      t->content_type = Trimmed(line.substr(13));
    }
    return size * count;
  }

  static size_t OnData(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t bytes = size * count;
    return t->link->Received(t, std::string_view(data, bytes)) ? bytes : 0;
  }

  // A piece of an answer; false stops the transfer.
  bool Received(Transfer* t, std::string_view bytes) {
    if (!t->decided) {
      long status = 0;
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
      t->sse = status == 200 && StartsWithIgnoringCase(t->content_type, "text/event-stream");
      t->decided = true;
    }
    if (!t->sse) {
      if (t->data.size() + bytes.size() > upstream_.max_message_bytes) {
        t->too_large = true;
        return false;
      }
      t->data.append(bytes);
      return true;
    }
    const bool fits = t->stream.Feed(bytes, [&](std::string event) { Deliver(*t, std::move(event)); });
    if (!fits) t->too_large = true;
    if (t == get_) get_last_event_id_ = t->stream.last_event_id();
    return fits;
  }

  // Which parameters each listed tool mirrors into Mcp-Param-* headers.
  void LearnParamHeaders(const json& result) {
    if (!result.is_object() || !result.contains("tools") || !result["tools"].is_array()) return;
    for (const json& tool : result["tools"]) {
      const std::string name = jsonrpc::StringMember(tool, "name");
      if (name.empty() || !tool.contains("inputSchema")) continue;
      if (param_headers_.size() >= kMaxToolsKnown && !param_headers_.contains(name)) return;
      param_headers_[name] =
          modern::ParamHeaders(tool["inputSchema"]).value_or(std::vector<modern::ParamHeader>{});
    }
  }

  // The parameters tool `name` mirrors: as listed to this link, else as known elsewhere.
  std::vector<modern::ParamHeader> ParamHeadersOf(const std::string& name) const {
    if (auto it = param_headers_.find(name); it != param_headers_.end()) return it->second;
    return upstream_.param_headers ? upstream_.param_headers(name)
                                   : std::vector<modern::ParamHeader>{};
  }

  // A message from the upstream, on its way to the session.
  void Deliver(Transfer& t, std::string text) {
    const json message = ParseWithin(text, kMaxMessageDepth);
    if (message.is_object() && message.contains("id") && !message.contains("method") && t.request &&
        message["id"].dump() == *t.request) {
      t.answered = true;
      if (t.method == "initialize") {
        const json result = message.value("result", json::object());
        if (result.is_object()) protocol_version_ = jsonrpc::StringMember(result, "protocolVersion");
        if (!t.session_id.empty()) session_id_ = t.session_id;
      }
      if (t.method == "tools/list") LearnParamHeaders(message.value("result", json::object()));
    }
    events_.message(std::move(text), t.request.value_or(""));
  }

  // Whether `body` is the JSON-RPC response to the request `t` carries.
  static bool IsAnswerTo(const Transfer& t, std::string_view body) {
    const json answer = ParseWithin(body, kMaxMessageDepth);
    return answer.is_object() && answer.contains("id") && answer.contains("error") &&
           answer["id"].dump() == *t.request;
  }

  // A JSON-RPC error in place of the upstream's answer to `request`.
  void Answer(const std::string& request, const std::string& what, const std::string& body) {
    std::string message = "the MCP server behind this proxy (" + upstream_.url + ") " + what;
    // The server's own word, when its error body is JSON-RPC.
    const json parsed = ParseWithin(body, kMaxMessageDepth);
    if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_object() &&
        parsed["error"].contains("message") && parsed["error"]["message"].is_string())
      message += ": " + parsed["error"]["message"].get<std::string>();
    const json error = {{"jsonrpc", "2.0"},
                        {"id", ParseWithin(request, kMaxMessageDepth)},
                        {"error", {{"code", -32603}, {"message", message}}}};
    events_.message(error.dump(), request);
  }

  // A transfer has ended. Returns how the link ends when the session is gone.
  std::optional<UpstreamEnd> Finished(CURL* easy, CURLcode code) {
    auto it = transfers_.find(easy);
    if (it == transfers_.end()) return std::nullopt;
    Transfer& t = *it->second;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    std::optional<UpstreamEnd> lost;
    std::string failure;  // why the request got no answer
    if (code != CURLE_OK) {
      if (t.too_large) {
        failure = "answered with a message larger than " + std::to_string(upstream_.max_message_bytes) + " bytes";
      } else if (t.request && !t.answered && t.sse && !t.stream.last_event_id().empty() && t.resumes < kMaxResumes) {
        Resume(t);  // the stream broke: the rest is asked for
      } else {
        failure = "could not be reached: " + std::string(t.curl_error[0] ? t.curl_error : curl_easy_strerror(code));
        if (t.kind == Transfer::Kind::kGet && !t.request) GetEnded(t, 0);  // opened again, later
      }
    } else if (status == 404 && !session_id_.empty() && t.method != "initialize") {
      // The session's calls fail when the link has ended: the session knows then that
      // the next request must start a new one.
      lost = UpstreamEnd{true, {{"http_status", 404}}, upstream_.url + " ended the session (HTTP 404)"};
    } else if (t.kind == Transfer::Kind::kGet && t.request) {
      // A resumed POST stream that ended.
      if (!t.answered && status == 200 && !t.stream.last_event_id().empty() && t.resumes < kMaxResumes) Resume(t);
      else if (!t.answered) failure = "ended its stream before it answered";
    } else if (t.kind == Transfer::Kind::kGet) {
      GetEnded(t, status);
    } else if (status == 200 && !t.sse) {
      const json answer = ParseWithin(t.data, kMaxMessageDepth);
      if (std::string line = Trimmed(t.data); answer.is_object() && line.find_first_of("\r\n") == std::string::npos) {
        Deliver(t, std::move(line));  // one line as it came
      } else {
        for (const json& message : answer.is_array() ? answer : json::array({answer})) {
          if (message.is_object()) Deliver(t, message.dump(-1, ' ', false, json::error_handler_t::replace));
        }
      }
      if (t.request && !t.answered) failure = "answered with something that is not its JSON-RPC response";
    } else if (status == 200 && t.sse) {
      if (t.request && !t.answered && !t.stream.last_event_id().empty() && t.resumes < kMaxResumes) Resume(t);
      else if (t.request && !t.answered) failure = "ended its stream before it answered";
    } else if (status == 202 || status == 204) {
      if (t.request) failure = "accepted the request but sent no answer";
      if (t.method == "notifications/initialized") {
        want_get_ = true;  // the session is ready: open the stream for what the server sends on its own
        next_get_ = Steady::now();
      }
    } else if (t.stateless && t.request && status >= 400 && status < 500 && IsAnswerTo(t, t.data)) {
      // 2026-07-28 answers a request it refuses with its JSON-RPC error and a 4xx
      // (-32020, -32022, -32601, ...): the client gets that error as it is.
      Deliver(t, Trimmed(t.data));
    } else if (status == 401 || status == 403) {
      failure = "refused the proxy's credentials (HTTP " + std::to_string(status) +
                "); see [upstream] bearer_token_env or headers";
    } else {
      failure = "answered HTTP " + std::to_string(status);
    }
    if (!failure.empty()) {
      if (t.request && !t.answered) {
        Answer(*t.request, failure, t.data);
      } else {
        OpsLog().warn("proxy: {} {} to {}: {}", t.kind == Transfer::Kind::kGet ? "GET" : "POST",
                      t.method.empty() ? "stream" : t.method, upstream_.url, failure);
      }
    }
    Remove(easy);
    return lost;
  }

  // A POST stream (or a resumption of it) broke before its response: a GET
  // with Last-Event-ID asks the server for the rest, after the delay its
  // `retry:` field asked for (the stream was closed on purpose: SSE polling).
  void Resume(const Transfer& broken) {
    const auto delay = broken.stream.retry().value_or(std::chrono::milliseconds(broken.resumes == 0 ? 0 : 1000));
    resumptions_.push_back({Steady::now() + std::min<Steady::duration>(delay, std::chrono::seconds(30)),
                            *broken.request, broken.method, broken.stream.last_event_id(), broken.resumes + 1});
  }

  // The resumptions that are due now.
  void ResumeDue() {
    const auto now = Steady::now();
    for (auto it = resumptions_.begin(); it != resumptions_.end();) {
      if (it->due > now) {
        ++it;
        continue;
      }
      const Resumption due = std::move(*it);
      it = resumptions_.erase(it);
      Transfer* t = OpenGet(due.last_event_id);
      if (t == nullptr) {
        Answer(due.request, "broke its stream before it answered", {});
        continue;
      }
      t->request = due.request;
      t->method = due.method;
      t->resumes = due.attempt;
      t->stream.set_last_event_id(due.last_event_id);
    }
  }

  // The GET stream ended: reopened later, or never when the server has none.
  void GetEnded(const Transfer& t, long status) {
    if (status == 405) {
      want_get_ = false;  // this server sends nothing on its own
      OpsLog().debug("proxy: {} offers no GET stream", upstream_.url);
      return;
    }
    const bool clean = status == 200;
    get_failures_ = clean ? 0 : std::min(get_failures_ + 1, 5);
    auto delay = t.stream.retry().value_or(std::chrono::milliseconds(1000)) * (1 << get_failures_);
    next_get_ = Steady::now() + std::min<Steady::duration>(delay, std::chrono::seconds(30));
    if (!clean && status != 0)  // (no answer at all was logged as such)
      OpsLog().warn("proxy: the GET stream of {} failed (HTTP {}); opening it again later", upstream_.url, status);
  }

  // The end of the session, told to the server (it may not support it: 405).
  void DeleteSession() {
    Transfer* t = NewTransfer(Transfer::Kind::kPost, {});
    if (t == nullptr) return;
    curl_easy_setopt(t->easy, CURLOPT_CUSTOMREQUEST, "DELETE");
    curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, static_cast<long>(ToMs(kEndGrace)));
    curl_easy_perform(t->easy);
    transfers_.erase(t->easy);
  }

  const HttpUpstream upstream_;
  Events events_;
  std::thread thread_;

  std::mutex mutex_;  // guards the three below and multi_ for wakeups
  std::vector<std::string> queue_;  // messages for the upstream, in order
  bool accepting_ = false;
  bool stopping_ = false;
  CURLM* multi_ = nullptr;

  // The thread's own.
  struct Resumption {
    Steady::time_point due;
    std::string request, method, last_event_id;
    int attempt;
  };
  std::vector<Resumption> resumptions_;  // broken POST streams to ask for again
  std::map<CURL*, std::unique_ptr<Transfer>> transfers_;
  std::deque<std::string> waiting_;  // messages not posted yet, in order
  Transfer* opening_ = nullptr;       // initialize or notifications/initialized on its way
  std::string session_id_, protocol_version_;
  bool want_get_ = false;
  Transfer* get_ = nullptr;
  std::string get_last_event_id_;
  static constexpr size_t kMaxToolsKnown = 4096;  // tools whose Mcp-Param-* headers are kept
  std::map<std::string, std::vector<modern::ParamHeader>> param_headers_;  // by tool, as listed
  int get_failures_ = 0;
  Steady::time_point next_get_;
};

}  // namespace

std::unique_ptr<UpstreamLink> MakeHttpLink(HttpUpstream upstream) {
  return std::make_unique<HttpLink>(std::move(upstream));
}

}  // namespace mcpaudit

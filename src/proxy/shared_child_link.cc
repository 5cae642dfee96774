// One child process shared by the sessions of the stateless revision: over the
// HTTP front each 2026-07-28 request is a session of its own, and a process
// started for each would cost more than the request. Each session sees its
// own link (a view) with its own ids. Every request goes up under an id of the
// child's own, never used twice ("mcp-audit:<n>/<the view's id>"), so that a
// late answer to a request its view gave up on reaches no one; progress tokens
// are tagged with the view's number. On the way down an answer (or a
// subscription's notification) finds its view by the id it answers, a
// progress notification by its tag, and goes to the view as the view knows it.
#include <atomic>
#include <bit>
#include <charconv>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "audit/canonical_json.h"
#include "base/bounded_json.h"
#include "base/bounded_queue.h"
#include "base/ops_log.h"
#include "mcp/jsonrpc.h"
#include "proxy/upstream_link.h"

namespace mcpaudit {
namespace {

using nlohmann::json;

constexpr std::string_view kTag = "mcp-audit:";
constexpr std::string_view kSubscriptionKey = "io.modelcontextprotocol/subscriptionId";

// `value` marked with `number` (a view's, or a request's counter).
json Tagged(uint64_t number, const json& value) {
  return std::string(kTag) + std::to_string(number) + "/" + value.dump();
}

// The number a tagged value carries, and the value as its view knows it.
std::optional<std::pair<uint64_t, json>> Untagged(const json& value) {
  if (!value.is_string()) return std::nullopt;
  const std::string& text = value.get_ref<const std::string&>();
  const size_t slash = text.find('/', kTag.size());
  if (!text.starts_with(kTag) || slash == std::string::npos) return std::nullopt;
  uint64_t number = 0;
  const char* end = text.data() + slash;
  if (auto [at, error] = std::from_chars(text.data() + kTag.size(), end, number);
      error != std::errc() || at != end)
    return std::nullopt;
  json original = json::parse(text.substr(slash + 1), nullptr, false);
  if (original.is_discarded()) return std::nullopt;
  return std::pair{number, std::move(original)};
}

// The member `key` of `object` when `object` is an object that has it.
json* MemberOf(json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

}  // namespace

class SharedChild : public std::enable_shared_from_this<SharedChild> {
 public:
  SharedChild(std::vector<std::string> command, size_t max_message_bytes, size_t max_json_depth,
              SharedChildEvents events, std::stop_token stopping)
      : child_(MakeChildLink(std::move(command), max_message_bytes, std::move(stopping))),
        max_json_depth_(max_json_depth),
        events_(std::move(events)),
        refuser_([this] { SendRefusals(); }) {}
  ~SharedChild() {
    refusals_.Close();
    child_->Stop();  // ends a refusal that waits for a child that reads nothing
    refuser_.join();
  }

  std::unique_ptr<UpstreamLink> View();

  // The view's events from now on; the child is started when it is not running.
  bool Attach(uint64_t number, UpstreamLink::Events events) {
    std::lock_guard starting(start_mutex_);
    auto view = std::make_shared<Attached>();
    view->events = std::move(events);
    {
      std::lock_guard lock(mutex_);
      views_[number] = view;
      if (running_) return true;
      running_ = true;
    }
    child_->Stop();  // joins what the child that ended left (nothing the first time)
    const bool started =
        child_->Start({[this](std::string line, std::optional<std::string>) { Deliver(line); },
                       [this](UpstreamEnd end) { Ended(std::move(end)); }});
    if (!started) {
      std::lock_guard lock(mutex_);
      running_ = false;
      views_.erase(number);
      return false;
    }
    ++starts_;
    if (starts_ > 1 && events_.restarted) events_.restarted(starts_ - 1);
    return true;
  }

  // No event reaches the view after this; what it left unanswered is cancelled.
  void Detach(uint64_t number) {
    std::shared_ptr<Attached> view;
    std::vector<std::string> open;
    {
      std::lock_guard lock(mutex_);
      auto it = views_.find(number);
      if (it == views_.end()) return;
      view = std::move(it->second);
      views_.erase(it);
      for (const auto& [own, upstream] : view->open) {
        in_flight_.erase(upstream);
        open.push_back(upstream);
      }
    }
    {
      std::lock_guard told(view->mutex);  // a message being told to it is told first
      view->detached = true;
    }
    for (const std::string& id : open) {
      const json cancel = {{"jsonrpc", "2.0"},
                           {"method", "notifications/cancelled"},
                           {"params", {{"requestId", id}, {"reason", "the client has gone"}}}};
      (void)child_->Send(cancel.dump());
    }
  }

  // One message of view `number` (a single JSON-RPC message, as its session wrote it).
  bool Send(uint64_t number, const std::string& message) {
    json parsed = json::parse(message, nullptr, false);
    if (!parsed.is_object()) return false;
    const std::string method = jsonrpc::StringMember(parsed, "method");
    json* params = MemberOf(parsed, "params");
    {
      std::lock_guard lock(mutex_);
      auto it = views_.find(number);
      if (it == views_.end()) return false;  // the child it was attached to has ended
      Attached& view = *it->second;
      if (json* id = MemberOf(parsed, "id"); id && !method.empty()) {
        json own = *id;
        *id = Tagged(++next_id_, own);  // the child's own id, never used twice
        view.open[own.dump()] = id->get<std::string>();
        in_flight_[id->get<std::string>()] = InFlight{number, std::move(own)};
      } else if (json* cancelled = params ? MemberOf(*params, "requestId") : nullptr;
                 cancelled && method == "notifications/cancelled") {
        // Only a request of its own that is still open: the child's id of one
        // answered meanwhile may never name another's.
        auto open = view.open.find(cancelled->dump());
        if (open == view.open.end()) return true;
        *cancelled = open->second;
        in_flight_.erase(open->second);
        view.open.erase(open);
      } else if (method.empty()) {
        return true;  // an answer to a request of the child's: those reach no view
      }
    }
    if (params) {
      // Tagged with the view's number: the child's progress notifications find it by that.
      if (json* token = MemberOf(*params, "progressToken")) *token = Tagged(number, *token);
      if (json* meta = MemberOf(*params, "_meta"))
        if (json* token = MemberOf(*meta, "progressToken")) *token = Tagged(number, *token);
    }
    return child_->Send(parsed.dump(-1, ' ', false, json::error_handler_t::replace));
  }

  const std::string& name() const { return child_->name(); }

 private:
  struct Attached {
    UpstreamLink::Events events;
    // Its requests not answered yet: its own id (as JSON text) -> the child's.
    std::map<std::string, std::string> open;  // guarded by SharedChild::mutex_
    std::mutex mutex;                         // held while it is told anything
    bool detached = false;                    // guarded by mutex; nothing is told after
  };
  struct InFlight {
    uint64_t view;
    json id;  // as the view knows it
  };

  // A message of the child, to the view it belongs to. What belongs to none
  // (a notification of no request) is dropped; a request of the child's own
  // is refused.
  void Deliver(std::string_view line) {
    BoundedJson parsed = ParseBounded(line, max_json_depth_);
    std::string repaired;
    if (parsed.fault == JsonFault::kSyntax) {
      repaired = WellFormedUtf8(line);  // as the session itself repairs it
      parsed = ParseBounded(repaired, max_json_depth_);
    }
    if (parsed.fault == JsonFault::kSyntax || !parsed.value.is_object()) {
      OpsLog().warn("proxy: a line from the upstream {} that is not JSON-RPC was dropped", name());
      return;
    }
    json& message = parsed.value;
    if (message.contains("method") && message.contains("id")) {
      Refuse(message["id"]);
      return;
    }
    json* params = MemberOf(message, "params");
    json* meta = params ? MemberOf(*params, "_meta") : nullptr;
    json* answered = message.contains("method") ? nullptr : MemberOf(message, "id");
    json* subscription = meta ? MemberOf(*meta, kSubscriptionKey) : nullptr;
    json* token = params ? MemberOf(*params, "progressToken") : nullptr;
    std::shared_ptr<Attached> view;
    {
      std::lock_guard lock(mutex_);
      std::optional<uint64_t> number;
      if (json* request = answered ? answered : subscription; request && request->is_string()) {
        if (auto it = in_flight_.find(request->get<std::string>()); it != in_flight_.end()) {
          number = it->second.view;
          *request = it->second.id;
          if (answered) {
            if (auto found = views_.find(*number); found != views_.end())
              found->second->open.erase(request->dump());
            in_flight_.erase(it);
          }
        }
      } else if (auto route = token ? Untagged(*token) : std::nullopt) {
        number = route->first;
        *token = std::move(route->second);
      }
      if (auto found = number ? views_.find(*number) : views_.end(); found != views_.end())
        view = found->second;
    }
    if (!view) {
      if (jsonrpc::StringMember(message, "method") == "notifications/tools/list_changed" &&
          events_.tools_changed)
        events_.tools_changed();
      OpsLog().debug("proxy: a message from the upstream {} belongs to no open request; dropped",
                     name());
      return;
    }
    std::string text;
    if (parsed.fault != JsonFault::kNone) {
      // Not relayed (the client's parser may not survive it either): its call fails.
      if (!answered) return;
      text = jsonrpc::Error(
          *answered, -32603,
          "the MCP server's answer was refused by mcp-audit proxy: " + parsed.message);
    } else {
      text = message.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    std::lock_guard told(view->mutex);
    if (!view->detached) view->events.message(std::move(text), std::nullopt);
  }

  // A request of the child's own, which no view can answer: 2026-07-28 has
  // none (a server asks for input by rounds). Answered on a thread of its own:
  // the reader that found it must not wait for a child that waits to be read.
  void Refuse(const json& id) {
    const std::string refusal =
        jsonrpc::Error(id, rpc::kMethodNotFound,
                       "Method not found: mcp-audit proxy relays no request of the MCP server to "
                       "2026-07-28 clients (a server asks them for input by rounds)");
    if (refusals_.Push(refusal, /*wait=*/false) == PushResult::kOk) return;
    // Logged at the 1st, 2nd, 4th, 8th… drop: a child that floods cannot flood the log.
    const uint64_t dropped = ++refusals_dropped_;
    if (std::has_single_bit(dropped))
      OpsLog().warn("proxy: the upstream {} sent more requests than can be refused; {} dropped",
                    name(), dropped);
  }

  void SendRefusals() {
    std::vector<std::string> batch;
    while (refusals_.PopBatch(batch, 64)) {
      for (const std::string& refusal : batch) (void)child_->Send(refusal);
      batch.clear();
    }
  }

  // The child has ended: told once (to the owner), then to every view; the
  // next Attach starts another.
  void Ended(UpstreamEnd end) {
    std::map<uint64_t, std::shared_ptr<Attached>> views;
    {
      std::lock_guard lock(mutex_);
      running_ = false;
      views.swap(views_);
      in_flight_.clear();
    }
    if (end.failure && events_.ended) events_.ended(end);
    end.recorded = true;
    for (auto& [number, view] : views) {
      std::lock_guard told(view->mutex);
      if (!view->detached) view->events.ended(end);
      view->detached = true;
    }
  }

  const std::unique_ptr<UpstreamLink> child_;
  const size_t max_json_depth_;
  const SharedChildEvents events_;
  std::mutex start_mutex_;  // one Attach starts the child at a time
  size_t starts_ = 0;       // guarded by start_mutex_
  std::mutex mutex_;        // guards what follows; never held while a view is told anything
  std::map<uint64_t, std::shared_ptr<Attached>> views_;
  std::map<std::string, InFlight> in_flight_;  // by the child's id
  bool running_ = false;
  uint64_t next_view_ = 0;
  uint64_t next_id_ = 0;  // the child's ids are never used twice
  BoundedQueue<std::string> refusals_{256};  // to the child's own requests
  std::atomic<uint64_t> refusals_dropped_ = 0;
  std::thread refuser_;                      // last: sends them
};

namespace {

class SharedChildLink final : public UpstreamLink {
 public:
  SharedChildLink(std::shared_ptr<SharedChild> child, uint64_t number)
      : child_(std::move(child)), number_(number) {}
  ~SharedChildLink() override { Stop(); }

  bool Start(Events events) override { return child_->Attach(number_, std::move(events)); }
  bool Send(const std::string& message) override { return child_->Send(number_, message); }
  // The child goes on for the other views.
  void Stop() override { child_->Detach(number_); }
  const std::string& name() const override { return child_->name(); }

 private:
  const std::shared_ptr<SharedChild> child_;
  const uint64_t number_;
};

}  // namespace

std::unique_ptr<UpstreamLink> SharedChild::View() {
  uint64_t number;
  {
    std::lock_guard lock(mutex_);
    number = ++next_view_;
  }
  return std::make_unique<SharedChildLink>(shared_from_this(), number);
}

std::shared_ptr<SharedChild> MakeSharedChild(std::vector<std::string> command,
                                             size_t max_message_bytes, size_t max_json_depth,
                                             SharedChildEvents events, std::stop_token stopping) {
  return std::make_shared<SharedChild>(std::move(command), max_message_bytes, max_json_depth,
                                       std::move(events), std::move(stopping));
}

std::unique_ptr<UpstreamLink> ViewOf(SharedChild& child) { return child.View(); }

}  // namespace mcpaudit

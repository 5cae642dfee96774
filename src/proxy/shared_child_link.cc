// One child process shared by the sessions of the stateless revision: over the
// HTTP front each 2026-07-28 request is a session of its own, and a process
// started for each would cost more than the request. Each session sees its
// own link (a view) with its own ids. A request goes up with its own id unless
// another view's request holds that id, when it is tagged with the view's
// number; progress tokens are always tagged. On the way down an answer (or a
// subscription's notification) finds its view by the id it answers, a
// progress notification by its tag, and goes to the view as the view knows it.
#include <charconv>
#include <map>
#include <mutex>

#include "audit/canonical_json.h"
#include "base/bounded_json.h"
#include "base/ops_log.h"
#include "mcp/jsonrpc.h"
#include "proxy/upstream_link.h"

namespace mcpaudit {
namespace {

using nlohmann::json;

constexpr std::string_view kTag = "mcp-audit:";  // "mcp-audit:<view>/<the value as JSON>"
constexpr std::string_view kSubscriptionKey = "io.modelcontextprotocol/subscriptionId";

json Tagged(uint64_t view, const json& value) {
  return std::string(kTag) + std::to_string(view) + "/" + value.dump();
}

// The view a tagged value belongs to, and the value as the view knows it.
std::optional<std::pair<uint64_t, json>> Untagged(const json& value) {
  if (!value.is_string()) return std::nullopt;
  const std::string& text = value.get_ref<const std::string&>();
  const size_t slash = text.find('/', kTag.size());
  if (!text.starts_with(kTag) || slash == std::string::npos) return std::nullopt;
  uint64_t view = 0;
  const char* end = text.data() + slash;
  if (auto [at, error] = std::from_chars(text.data() + kTag.size(), end, view);
      error != std::errc() || at != end)
    return std::nullopt;
  json original = json::parse(text.substr(slash + 1), nullptr, false);
  if (original.is_discarded()) return std::nullopt;
  return std::pair{view, std::move(original)};
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
  SharedChild(std::vector<std::string> command, size_t max_message_bytes, size_t max_json_depth)
      : child_(MakeChildLink(std::move(command), max_message_bytes)),
        max_json_depth_(max_json_depth) {}
  ~SharedChild() { child_->Stop(); }

  std::unique_ptr<UpstreamLink> View();

  // The view's events from now on; the child is started when it is not running.
  bool Attach(uint64_t view, UpstreamLink::Events events) {
    std::lock_guard starting(start_mutex_);
    {
      std::lock_guard lock(mutex_);
      views_[view] = Attached{std::move(events), {}};
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
      views_.erase(view);
    }
    return started;
  }

  // No event reaches the view after this; what it left unanswered is cancelled.
  void Detach(uint64_t view) {
    std::vector<std::string> open;
    {
      std::lock_guard lock(mutex_);
      auto it = views_.find(view);
      if (it == views_.end()) return;
      for (const auto& [own, upstream] : it->second.open) {
        in_flight_.erase(upstream);
        open.push_back(upstream);
      }
      views_.erase(it);
    }
    for (const std::string& id : open) {
      const json cancel = {
          {"jsonrpc", "2.0"},
          {"method", "notifications/cancelled"},
          {"params", {{"requestId", json::parse(id)}, {"reason", "the client has gone"}}}};
      (void)child_->Send(cancel.dump());
    }
  }

  // One message of `view` (a single JSON-RPC message, as its session wrote it).
  bool Send(uint64_t view, const std::string& message) {
    json parsed = json::parse(message, nullptr, false);
    if (!parsed.is_object()) return child_->Send(message);
    const std::string method = jsonrpc::StringMember(parsed, "method");
    json* params = MemberOf(parsed, "params");
    {
      std::lock_guard lock(mutex_);
      auto attached = views_.find(view);
      if (attached == views_.end()) return false;  // the child it was attached to has ended
      if (json* id = MemberOf(parsed, "id"); id && !method.empty()) {
        const json own = *id;
        if (in_flight_.contains(id->dump())) *id = Tagged(view, own);
        in_flight_[id->dump()] = InFlight{view, own};
        attached->second.open[own.dump()] = id->dump();
      }
      json* cancelled = params ? MemberOf(*params, "requestId") : nullptr;
      if (cancelled && method == "notifications/cancelled") {
        if (auto it = attached->second.open.find(cancelled->dump());
            it != attached->second.open.end()) {
          *cancelled = json::parse(it->second);
          in_flight_.erase(it->second);
          attached->second.open.erase(it);
        }
      }
    }
    if (params) {
      if (json* token = MemberOf(*params, "progressToken")) *token = Tagged(view, *token);
      if (json* meta = MemberOf(*params, "_meta"))
        if (json* token = MemberOf(*meta, "progressToken")) *token = Tagged(view, *token);
    }
    return child_->Send(parsed.dump(-1, ' ', false, json::error_handler_t::replace));
  }

  const std::string& name() const { return child_->name(); }

 private:
  struct Attached {
    UpstreamLink::Events events;
    // Its requests not answered yet: its own id -> the child's (both as JSON text).
    std::map<std::string, std::string> open;
  };
  struct InFlight {
    uint64_t view;
    json id;  // as the view knows it
  };

  // A message of the child, to the view it belongs to. What belongs to none
  // (a notification of no request, a request of the server's own) is dropped.
  void Deliver(std::string_view line) {
    BoundedJson parsed = ParseBounded(line, max_json_depth_);
    std::string repaired;
    if (parsed.fault == JsonFault::kSyntax) {
      repaired = WellFormedUtf8(line);  // as the session itself repairs it
      parsed = ParseBounded(repaired, max_json_depth_);
    }
    if (parsed.fault != JsonFault::kNone || !parsed.value.is_object()) {
      OpsLog().warn("proxy: a message from the upstream {} belongs to no request; dropped", name());
      return;
    }
    json& message = parsed.value;
    json* params = MemberOf(message, "params");
    json* meta = params ? MemberOf(*params, "_meta") : nullptr;
    json* answered = message.contains("method") ? nullptr : MemberOf(message, "id");
    json* subscription = meta ? MemberOf(*meta, kSubscriptionKey) : nullptr;
    json* token = params ? MemberOf(*params, "progressToken") : nullptr;
    std::lock_guard lock(mutex_);  // the view is not detached while it is told
    std::optional<uint64_t> view;
    if (json* request = answered ? answered : subscription) {
      if (auto it = in_flight_.find(request->dump()); it != in_flight_.end()) {
        view = it->second.view;
        *request = it->second.id;
        if (answered) {
          if (auto attached = views_.find(*view); attached != views_.end())
            attached->second.open.erase(request->dump());
          in_flight_.erase(it);
        }
      }
    } else if (auto route = token ? Untagged(*token) : std::nullopt) {
      view = route->first;
      *token = std::move(route->second);
    }
    auto attached = view ? views_.find(*view) : views_.end();
    if (attached == views_.end()) {
      OpsLog().debug("proxy: a message from the upstream {} belongs to no request open; dropped",
                     name());
      return;
    }
    attached->second.events.message(message.dump(-1, ' ', false, json::error_handler_t::replace),
                                    std::nullopt);
  }

  // The child has ended: every view is told, and the next Attach starts another.
  void Ended(UpstreamEnd end) {
    std::lock_guard lock(mutex_);
    running_ = false;
    for (auto& [view, attached] : views_) attached.events.ended(end);
    views_.clear();
    in_flight_.clear();
  }

  const std::unique_ptr<UpstreamLink> child_;
  const size_t max_json_depth_;
  std::mutex start_mutex_;  // one Attach starts the child at a time
  std::mutex mutex_;        // guards what follows; held while a view is told anything
  std::map<uint64_t, Attached> views_;
  std::map<std::string, InFlight> in_flight_;  // by the id the child knows (as JSON text)
  bool running_ = false;
  uint64_t next_view_ = 0;
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
                                             size_t max_message_bytes, size_t max_json_depth) {
  return std::make_shared<SharedChild>(std::move(command), max_message_bytes, max_json_depth);
}

std::unique_ptr<UpstreamLink> ViewOf(SharedChild& child) { return child.View(); }

}  // namespace mcpaudit

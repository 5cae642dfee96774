// How one proxy session reaches its upstream MCP server: a child process that
// speaks stdio (ChildLink), or a Streamable HTTP server (HttpLink). The session
// sees only messages: it sends one JSON-RPC message at a time, and gets the
// upstream's messages and, once, the news that the upstream has ended.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "mcp/modern.h"

namespace mcpaudit {

// A Streamable HTTP upstream: where it is and how the proxy identifies itself to it.
struct HttpUpstream {
  std::string url;                   // http://127.0.0.1:9000/mcp, https://mcp.example.com/mcp
  std::vector<std::string> headers;  // "Name: value" on every request (credentials: never logged)
  std::string ca_file;               // TLS: this CA bundle instead of the system's
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  size_t max_message_bytes = 16 * 1024 * 1024;  // a longer answer is refused
  // A POST not answered by then is given up (its call has long failed); 0: never.
  std::chrono::milliseconds request_timeout{0};
  // The parameters tool `name` mirrors into Mcp-Param-* headers, as known
  // elsewhere, for a tool the link has not seen listed itself.
  std::function<std::vector<modern::ParamHeader>(const std::string& name)> param_headers;
};

// How an upstream ended.
struct UpstreamEnd {
  bool failure = false;  // it ended by itself (not when asked to): recorded as upstream_exited
  nlohmann::json details;  // for the record: the command and exit code, or the URL and HTTP status
  std::string description;  // for the log and the client: "<upstream> ended (exit code 3)"
  bool recorded = false;    // a shared child's end, recorded once already by its owner
};

class UpstreamLink {
 public:
  struct Events {
    // One message from the upstream. `related`: the client request it came
    // with (an id key, as json::dump() writes it), "" when it came on its own
    // (an HTTP GET stream), nullopt when the link cannot tell (stdio).
    std::function<void(std::string message, std::optional<std::string> related)> message;
    // The upstream has ended; no message follows. Called once per Start().
    std::function<void(UpstreamEnd end)> ended;
  };

  virtual ~UpstreamLink() = default;
  // Starts the upstream (again, after Stop()); false when it cannot be started
  // (then `ended` is not called).
  virtual bool Start(Events events) = 0;
  // Sends one message (a single line of JSON); false when the upstream is gone.
  // Safe from any thread; waits for the upstream to read only when it is far
  // behind (a child: LineWriter::kMaxQueuedLines messages).
  virtual bool Send(const std::string& message) = 0;
  // Ends the upstream (a child's input closed, then signals; an HTTP session
  // deleted) and waits until `ended` has been called. Never call it from an event.
  virtual void Stop() = 0;
  // The upstream as records and logs name it: the program, or the URL.
  virtual const std::string& name() const = 0;
};

// The upstream `command` (program and arguments), started as a child process;
// its stderr goes to the operational log. A line it writes longer than
// `max_message_bytes` is dropped (and logged). Once `stopping` is requested (or
// the link stops), a child that takes no input for LineWriter::kStopGrace is
// given up on: what waits for it is dropped, and Send no longer waits.
std::unique_ptr<UpstreamLink> MakeChildLink(std::vector<std::string> command,
                                            size_t max_message_bytes,
                                            std::stop_token stopping = {});

// The Streamable HTTP server `upstream`: every message is POSTed (JSON or SSE
// answers), a GET stream carries what the server sends on its own, the session
// is deleted at the end. A session the server no longer knows (404) ends the link.
std::unique_ptr<UpstreamLink> MakeHttpLink(HttpUpstream upstream);

// What the owner of a shared child hears of it (once, not once per view).
struct SharedChildEvents {
  std::function<void(const UpstreamEnd& end)> ended;  // it ended by itself
  std::function<void(size_t restarts)> restarted;     // it started again after an end
  std::function<void()> tools_changed;  // it said its tools changed, to no subscription
};

// One child process `command` shared by many links (views), for the requests
// of the stateless revision that the HTTP front makes sessions of their own:
// each request goes up under an id of the child's own (never used twice) and
// each progress token tagged with its view, and both are given back on the
// way down, so views never see each other's messages. The child starts with
// the first view (and again after it ended); Stop() on a view cancels what it
// left unanswered and leaves the child running.
class SharedChild;
std::shared_ptr<SharedChild> MakeSharedChild(std::vector<std::string> command,
                                             size_t max_message_bytes, size_t max_json_depth,
                                             SharedChildEvents events,
                                             std::stop_token stopping = {});
std::unique_ptr<UpstreamLink> ViewOf(SharedChild& child);

}  // namespace mcpaudit

// MCP Streamable HTTP (protocol revisions 2025-03-26 to 2025-11-25): one endpoint
// that takes POST (client messages), GET (a stream of server messages) and
// DELETE (end of session), with sessions, JSON or SSE responses, resumable
// streams, Host/Origin checks against DNS rebinding, and authentication.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mcpaudit/auth.h"
#include "mcpaudit/result.h"
#include "mcpaudit/server.h"

namespace mcpaudit {

// A request to the read API or the console, and its answer.
struct ReadApiRequest {
  std::string method;  // GET, POST, ...
  std::string target;  // path and query, as sent
  Identity identity;   // the read API's caller (the console's pages are served unauthenticated)
  std::string client_ip;
  std::string body;          // of a POST (at most max_body_bytes)
  std::string cookie;        // the Cookie header
  bool secure = false;       // over HTTPS, as the client sees it
};
struct ReadApiResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // more header fields (Set-Cookie, Location, …)
  // Set: the body is streamed (chunked) after `body`, one call at a time on
  // the read API's threads: each call returns the next piece, "" when there is
  // none yet (asked again a second later), nullopt at the end. What it throws
  // cuts the transfer short (no last chunk): the client sees it incomplete.
  std::function<std::optional<std::string>()> next_chunk;
};
// What GET /readyz answers: 200 when ready, else 503, with this JSON body.
struct Readiness {
  bool ready = true;
  std::string body;
};

inline constexpr const char* kReadApiPrefix = "/api/v1/";
inline constexpr const char* kConsoleCookie = "mcpaudit_console";  // the console's session

struct HttpOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (on_listening says which)
  std::string path = "/mcp";
  bool serve_mcp = true;   // false: the MCP endpoint is not served (a listener for the read API alone)
  bool stateless = false;  // no sessions: every POST stands alone, GET and DELETE are refused

  // Host header names (without port) that are served. Empty: the loopback names
  // (localhost, 127.0.0.1, [::1]) when bound to loopback; no check otherwise.
  std::vector<std::string> allowed_hosts;
  // Origins (scheme://host[:port]) whose browser requests are served. Empty:
  // any origin whose host is an allowed Host name. Requests without an Origin
  // header (not from a browser) pass.
  std::vector<std::string> allowed_origins;

  size_t max_body_bytes = 4 * 1024 * 1024;           // a larger body gets 413
  size_t max_json_depth = 64;                         // a message nested deeper gets 400 (-32600)
  std::chrono::seconds request_timeout{30};           // to receive one request, headers and body
  std::chrono::seconds idle_timeout{120};             // a keep-alive connection without a request is closed
  std::chrono::seconds session_timeout{3600};         // a session without requests ends
  // What callers can make the server hold. A user (anonymous callers: an
  // address) who opens more sessions than `max_sessions_per_user` loses their
  // least recently used idle one; past
  // `max_sessions` in all, initialize gets 503. Past `max_connections`, new
  // connections wait in the kernel's backlog.
  size_t max_sessions = 10000;
  size_t max_sessions_per_user = 256;
  size_t max_connections = 4096;
  std::chrono::milliseconds sse_retry{1000};          // reconnection delay advised to SSE clients
  std::chrono::seconds shutdown_grace{10};            // to finish answering the calls in flight

  // Null: requests are not authenticated and callers get `anonymous` as identity.
  std::shared_ptr<const Authenticator> authenticator;
  Identity anonymous = {"anonymous", "", "", {}, "none"};
  // Peers whose X-Forwarded-For header names the client (reverse proxies).
  std::vector<std::string> trusted_proxies;
  // RFC 9728 protected-resource metadata, served when an authenticator is set.
  std::string resource_url;  // this endpoint's public URL; default http://host:port/path
  std::vector<std::string> authorization_servers;

  // Set: GET /metrics answers with what it returns (Prometheus text format),
  // to callers the MCP endpoint would accept. Called on the I/O thread: keep it quick.
  std::function<std::string()> metrics;

  // Set: requests under /api/v1/ (the auditor's read API) go to it, from
  // callers the MCP endpoint would accept. It runs on a thread of its own,
  // never on the I/O thread: it may take as long as a database does.
  std::function<ReadApiResponse(const ReadApiRequest&)> read_api;
  // Set: a read API request that sends no credential but the console's
  // session cookie (kConsoleCookie) is from the caller this returns; nullopt
  // gets 401. Called on the I/O thread: keep it quick. A request so
  // authenticated that changes anything (not GET), and any POST under
  // /console/, must come from a page of this very origin (Origin, or
  // Sec-Fetch-Site: same-origin), or it gets 403.
  std::function<std::optional<Identity>(std::string_view cookie_header)> session_caller;
  // Set: requests under /console (the web dashboard: pages, sign-in) go to it,
  // unauthenticated: a GET on the I/O thread (keep it quick), a POST on the
  // read API's threads.
  std::function<ReadApiResponse(const ReadApiRequest&)> console;

  // GET /healthz answers 200 while the server serves. Set: GET /readyz
  // answers what this returns. Both are unauthenticated and exempt from the
  // Host check (load balancers and orchestrators ask them by address): say
  // nothing sensitive. Called on the I/O thread: keep it quick.
  std::function<Readiness()> readiness;

  // Called once the socket listens, with the endpoint's URL.
  std::function<void(const std::string& url)> on_listening;
};

inline constexpr const char* kMetricsPath = "/metrics";
inline constexpr const char* kHealthPath = "/healthz";
inline constexpr const char* kReadyPath = "/readyz";

// Serves until `stop` is requested, then stops accepting, lets the calls in
// flight finish (their responses and audit records included, for at most
// shutdown_grace) and returns. Fails if the address cannot be bound.
[[nodiscard]] Status ServeHttp(SessionHost& host, HttpOptions options, std::stop_token stop = {});

}  // namespace mcpaudit

#include "console/web_console.h"

#include <algorithm>

#include "audit/crypto.h"
#include "mcpaudit/clock.h"

namespace mcpaudit {

namespace {

// What every page of the console is sent with: its own files only, nothing inline, never in a frame.
const std::pair<std::string, std::string> kPageHeaders[] = {
    {"Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
     "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    // Not no-referrer: with it a browser sends "Origin: null" on the sign-in form's POST, which is refused.
    {"Referrer-Policy", "same-origin"},
};

ReadApiResponse Page(unsigned status, std::string content_type, std::string body) {
  ReadApiResponse answer{status, std::move(content_type), std::move(body), {}};
  answer.headers.assign(std::begin(kPageHeaders), std::end(kPageHeaders));
  return answer;
}

// A redirect to the console's start page, `query` telling it what happened.
ReadApiResponse BackToConsole(const std::string& query) {
  ReadApiResponse answer = Page(303, "text/plain; charset=utf-8", "See " + std::string(kConsolePrefix) + query);
  answer.headers.emplace_back("Location", std::string(kConsolePrefix) + query);
  return answer;
}

std::string CookieHeader(const std::string& value, std::chrono::seconds max_age, bool secure) {
  return std::string(kConsoleCookie) + "=" + value + "; Path=/; Max-Age=" + std::to_string(max_age.count()) +
         "; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "");
}

// The value of the console's cookie in a Cookie header ("a=1; b=2").
std::string_view CookieValue(std::string_view header) {
  while (!header.empty()) {
    const size_t semicolon = header.find(';');
    std::string_view pair = header.substr(0, semicolon);
    header = semicolon == std::string_view::npos ? std::string_view() : header.substr(semicolon + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == kConsoleCookie) return pair.substr(eq + 1);
  }
  return {};
}

// The form field `name` of an application/x-www-form-urlencoded body.
std::optional<std::string> FormField(std::string_view body, std::string_view name) {
  while (!body.empty()) {
    const size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return UrlDecode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

std::string NewSessionId() {
  std::string bytes(32, '\0');
  SecureRandom()(std::span(reinterpret_cast<uint8_t*>(bytes.data()), bytes.size()));
  return Base64UrlEncode(bytes);
}

}  // namespace

WebConsole::WebConsole(WebConsoleOptions options, const ReadApiOptions& api) : options_(std::move(options)), api_(api) {}

std::expected<Identity, AuthFailure> WebConsole::Check(const std::string& credential) const {
  if (!options_.authenticator) return std::unexpected(AuthFailure{"invalid_request", "this server authenticates nobody"});
  // An API key, else a bearer token.
  auto caller = options_.authenticator->Authenticate({.authorization = {}, .api_key = credential});
  if (caller) return caller;
  const std::string bearer = "Bearer " + credential;
  auto as_token = options_.authenticator->Authenticate({.authorization = bearer, .api_key = {}});
  return as_token ? as_token : caller;
}

ReadApiResponse WebConsole::SignIn(const ReadApiRequest& request) {
  auto credential = FormField(request.body, "credential");
  if (!credential || credential->empty() || credential->size() > 16384) return BackToConsole("?login=failed");
  auto caller = Check(*credential);
  const bool auditor = caller && std::ranges::find(caller->roles, api_.auditor_role) != caller->roles.end();
  AuditEvent e = ReadApiEvent(api_, caller ? *caller : Identity{}, request.client_ip, "console/login");
  if (!caller) {
    e.event_type = "auth_failure";
    e.outcome = Outcome::kDenied;
    e.error = AuditError{401, caller.error().description, caller.error().error};
  } else if (!auditor) {
    e.outcome = Outcome::kDenied;
    e.error = AuditError{403, "signing in to the console needs the '" + api_.auditor_role + "' role",
                         "auditor_role_required"};
  }
  if (api_.logger != nullptr && !api_.logger->Log(e)) return BackToConsole("?login=unavailable");
  if (!caller) return BackToConsole("?login=failed");
  if (!auditor) return BackToConsole("?login=forbidden");
  const std::string id = NewSessionId();
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(sessions_, [&](const auto& entry) { return entry.second.expires <= now; });
    if (sessions_.size() >= options_.max_sessions) {
      sessions_.erase(std::ranges::min_element(sessions_, {}, [](const auto& entry) { return entry.second.expires; }));
    }
    sessions_[id] = {std::move(*credential), now + options_.session_lifetime};
  }
  ReadApiResponse answer = BackToConsole("");
  answer.headers.emplace_back("Set-Cookie", CookieHeader(id, options_.session_lifetime, request.secure));
  return answer;
}

ReadApiResponse WebConsole::SignOut(const ReadApiRequest& request) {
  {
    std::lock_guard lock(mutex_);
    sessions_.erase(std::string(CookieValue(request.cookie)));
  }
  ReadApiResponse answer = BackToConsole("?login=out");
  answer.headers.emplace_back("Set-Cookie", CookieHeader("", std::chrono::seconds(0), request.secure));
  return answer;
}

std::optional<std::string> WebConsole::SessionCredential(std::string_view cookie_header) {
  const std::string_view value = CookieValue(cookie_header);
  if (value.empty()) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(std::string(value));
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires <= std::chrono::steady_clock::now()) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return it->second.credential;
}

std::optional<Identity> WebConsole::SessionCaller(std::string_view cookie_header) {
  auto credential = SessionCredential(cookie_header);
  if (!credential) return std::nullopt;
  auto caller = Check(*credential);
  if (!caller) return std::nullopt;
  return std::move(*caller);
}

ReadApiResponse WebConsole::Answer(const ReadApiRequest& request) {
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  if (path == "/console") return BackToConsole("");
  path.remove_prefix(std::min(path.size(), std::string_view(kConsolePrefix).size()));
  if (path == "login" || path == "logout") {
    if (request.method != "POST") return Page(405, "text/plain; charset=utf-8", "Method Not Allowed: POST a form here");
    return path == "login" ? SignIn(request) : SignOut(request);
  }
  if (request.method != "GET")
    return Page(405, "text/plain; charset=utf-8", "Method Not Allowed");
  if (path.empty()) path = "index.html";
  for (const ConsoleFile& file : ConsoleFiles())
    if (path == file.name) return Page(200, file.content_type, std::string(file.bytes));
  return Page(404, "text/plain; charset=utf-8", "Not Found: no such page of the console");
}

}  // namespace mcpaudit

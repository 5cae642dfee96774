#include "console/web_console.h"

#include <algorithm>
#include <ranges>
#include <nlohmann/json.hpp>

#include "base/bounded_json.h"
#include "base/crypto.h"
#include "base/ops_log.h"
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
  ReadApiResponse answer{status, std::move(content_type), std::move(body), {}, {}};
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

// How long a bearer token has left by its "exp" (its signature was checked by
// the authenticator); nullopt: no such claim, or longer than `bound`.
std::optional<std::chrono::seconds> TokenLeft(std::string_view credential, std::chrono::seconds bound) {
  const size_t first = credential.find('.'), second = credential.find('.', first + 1);
  if (first == std::string_view::npos || second == std::string_view::npos) return std::nullopt;
  auto payload = Base64UrlDecode(credential.substr(first + 1, second - first - 1));
  if (!payload) return std::nullopt;
  const auto claims = ParseWithin(*payload, 8);
  if (!claims.is_object() || !claims.contains("exp") || !claims["exp"].is_number_integer()) return std::nullopt;
  if (claims["exp"].is_number_unsigned() && claims["exp"].get<uint64_t>() > INT64_MAX) return std::nullopt;
  // In seconds since the epoch: an absurd exp cannot overflow a clock's nanoseconds.
  const int64_t now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()).time_since_epoch().count();
  const int64_t exp = claims["exp"].get<int64_t>();
  if (exp - now >= bound.count()) return std::nullopt;
  return std::chrono::seconds(exp - now);
}

constexpr size_t kMaxCredential = 16384;

bool LooksLikeToken(std::string_view credential) { return std::ranges::count(credential, '.') == 2; }

}  // namespace

WebConsole::WebConsole(WebConsoleOptions options, const ReadApiOptions& api) : options_(std::move(options)), api_(api) {}

std::expected<Identity, AuthFailure> WebConsole::Authenticate(const std::string& credential) const {
  if (!options_.authenticator) return std::unexpected(AuthFailure{"invalid_request", "this server authenticates nobody"});
  if (LooksLikeToken(credential)) {
    const std::string bearer = "Bearer " + credential;
    return options_.authenticator->Authenticate({.authorization = bearer, .api_key = {}});
  }
  return options_.authenticator->Authenticate({.authorization = {}, .api_key = credential});
}

ReadApiResponse WebConsole::SignIn(const ReadApiRequest& request) {
  auto credential = FormField(request.body, "credential");
  std::expected<Identity, AuthFailure> caller =
      std::unexpected(AuthFailure{"invalid_request", "the form has no credential (field 'credential', at most 16 KiB)"});
  if (credential && !credential->empty() && credential->size() <= kMaxCredential) caller = Authenticate(*credential);
  // The session would end with its lifetime, or with the token, whichever comes first.
  const auto lifetime = caller ? TokenLeft(*credential, options_.session_lifetime).value_or(options_.session_lifetime)
                               : std::chrono::seconds(0);
  if (caller && lifetime <= std::chrono::seconds(0))
    caller = std::unexpected(AuthFailure{"invalid_token", "the token has expired"});
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
  const std::string id = Open(std::move(*caller), lifetime);
  ReadApiResponse answer = BackToConsole("");
  answer.headers.emplace_back("Set-Cookie", CookieHeader(id, lifetime, request.secure));
  return answer;
}

std::string WebConsole::Open(Identity caller, std::chrono::seconds lifetime) {
  const std::string id = NewSessionId();
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(sessions_, [&](const auto& entry) { return entry.second.expires <= now; });
  // Past a bound (for the caller, or in all), the session that would end first ends now.
  const auto ends_first = [](auto&& sessions) {
    return std::ranges::min_element(sessions, {}, [](const auto& entry) { return entry.second.expires; });
  };
  auto own = sessions_ | std::views::filter([&](const auto& entry) {
               return entry.second.caller.user_id == caller.user_id;
             });
  if (std::ranges::distance(own) >= static_cast<std::ptrdiff_t>(options_.max_sessions_per_user))
    sessions_.erase(ends_first(own).base());
  if (sessions_.size() >= options_.max_sessions) sessions_.erase(ends_first(sessions_));
  sessions_[Sha256Hex({id})] = {std::move(caller), now + lifetime};
  return id;
}

ReadApiResponse WebConsole::SignOut(const ReadApiRequest& request) {
  std::optional<Identity> caller;
  {
    std::lock_guard lock(mutex_);
    if (auto it = sessions_.find(Sha256Hex({CookieValue(request.cookie)})); it != sessions_.end()) {
      caller = std::move(it->second.caller);
      sessions_.erase(it);
    }
  }
  if (caller && api_.logger != nullptr) {
    AuditEvent e = ReadApiEvent(api_, *caller, request.client_ip, "console/logout");
    if (Status logged = api_.logger->Log(e); !logged)
      OpsLog().error("a console sign-out is not recorded: {}", logged.error().message);
  }
  ReadApiResponse answer = BackToConsole("?login=out");
  answer.headers.emplace_back("Set-Cookie", CookieHeader("", std::chrono::seconds(0), request.secure));
  return answer;
}

std::optional<Identity> WebConsole::SessionCaller(std::string_view cookie_header) {
  const std::string_view value = CookieValue(cookie_header);
  if (value.empty()) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(Sha256Hex({value}));
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires <= std::chrono::steady_clock::now()) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return it->second.caller;
}

ReadApiResponse WebConsole::Answer(const ReadApiRequest& request) {
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  if (path == "/console") return BackToConsole("");
  path.remove_prefix(std::min(path.size(), std::string_view(kConsolePrefix).size()));
  if (path == "session" && request.method == "GET") {  // for the page: signed in or not (nothing of the log)
    const auto caller = SessionCaller(request.cookie);
    return Page(200, "application/json",
                nlohmann::json{{"signed_in", caller.has_value()}, {"user", caller ? caller->user_id : ""}}.dump(
                    -1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
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

// The auditor's web dashboard, served at /console/: its pages (web/, compiled
// in), and its sign-in. A credential (an API key or a bearer token) posted as
// the form field `credential` to /console/login becomes a session cookie
// (HttpOnly, SameSite=Strict, Secure over HTTPS) that the read API accepts in
// place of the credential, until it expires (after session_lifetime, or when
// the token does) or /console/logout ends it. The server keeps the caller's
// identity under a hash of the cookie, never the credential. Sign-ins are
// recorded (auth_failure when refused). GET /console/session says whether the
// browser's cookie names a session, without touching the log.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <span>
#include <string_view>

#include "console/read_api.h"
#include "mcpaudit/auth.h"

namespace mcpaudit {

inline constexpr const char* kConsolePrefix = "/console/";

struct WebConsoleOptions {
  std::shared_ptr<const Authenticator> authenticator;  // null: nobody can sign in
  std::chrono::seconds session_lifetime{8 * 3600};
  // Past these (in all, or for one user), the session that would expire first ends.
  size_t max_sessions = 10000;
  size_t max_sessions_per_user = 16;
};

class WebConsole {
 public:
  // `api` names the auditor role and where sign-ins are recorded.
  WebConsole(WebConsoleOptions options, const ReadApiOptions& api);

  // A request under /console (pages, sign-in, sign-out). Thread-safe.
  ReadApiResponse Answer(const ReadApiRequest& request);

  // The caller the session in `cookie_header` stands for; nullopt when it
  // names none, or one that has ended. Thread-safe, quick (a map lookup).
  std::optional<Identity> SessionCaller(std::string_view cookie_header);

 private:
  struct Session {
    Identity caller;
    std::chrono::steady_clock::time_point expires;
  };
  ReadApiResponse SignIn(const ReadApiRequest& request);
  std::string Open(Identity caller, std::chrono::seconds lifetime);  // a new session; its cookie value
  ReadApiResponse SignOut(const ReadApiRequest& request);
  std::expected<Identity, AuthFailure> Authenticate(const std::string& credential) const;

  WebConsoleOptions options_;
  const ReadApiOptions& api_;
  std::mutex mutex_;
  std::map<std::string, Session> sessions_;  // by SHA-256 of the cookie value; guarded by mutex_
};

// The compiled-in files of web/: content type and bytes, by name ("index.html").
struct ConsoleFile {
  const char* name;
  const char* content_type;
  std::string_view bytes;
};
std::span<const ConsoleFile> ConsoleFiles();

}  // namespace mcpaudit

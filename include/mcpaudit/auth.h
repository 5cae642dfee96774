// Who is calling over HTTP: the credentials a request carries, checked by an
// Authenticator (API keys, JWT bearer tokens, or a chain of both).
#pragma once

#include <expected>
#include <string>
#include <string_view>

#include "mcpaudit/request_context.h"

namespace mcpaudit {

// The credentials of one HTTP request, as received.
struct Credentials {
  std::string_view authorization;  // the Authorization header ("Bearer …"), or empty
  std::string_view api_key;        // the X-API-Key header, or empty
};

// Why a request was not authenticated. Never contains the credential itself.
struct AuthFailure {
  std::string error;        // RFC 6750 code: "invalid_request" (none given) or "invalid_token"
  std::string description;  // for the client and the audit record, e.g. "token expired"
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Thread-safe.
  virtual std::expected<Identity, AuthFailure> Authenticate(const Credentials& credentials) const = 0;
};

}  // namespace mcpaudit

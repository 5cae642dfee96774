// The authenticators mcp-audit ships: API keys (the config holds only their
// SHA-256), JWT bearer tokens (HS256, RS256, ES256; keys from PEM, a JWKS file
// or a JWKS URL), and a chain that picks by the credential's shape.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "mcpaudit/auth.h"
#include "mcpaudit/result.h"

namespace mcpaudit {

// One API key, as the config holds it: the SHA-256 of the key, never the key.
struct ApiKeyEntry {
  std::string sha256;  // 64 hex digits
  Identity identity;   // auth_method is set to "api_key"
};

struct JwtOptions {
  std::vector<std::string> algorithms = {"RS256", "ES256"};  // accepted "alg" values; never "none"
  std::string public_key_file;  // PEM public key (RS256 or ES256)
  std::string secret_file;      // shared secret (HS256), mode 0600
  std::string jwks_file;        // JSON Web Key Set on disk
  std::string jwks_url;         // or fetched (TLS verified) and cached
  std::chrono::seconds jwks_cache{300};
  // A token naming a key id the set lacks (a rotated key) makes the set be
  // fetched again, in the background, at most this often.
  std::chrono::milliseconds jwks_refetch_after{10000};
  std::string issuer;                  // required "iss" when set
  std::vector<std::string> audience;   // "aud" must name one of these when set
  std::chrono::seconds leeway{60};     // clock skew allowed for exp and nbf
  bool require_exp = true;
  // Which claims name the caller.
  std::string user_claim = "sub";
  std::string email_claim = "email";
  std::string tenant_claim = "tenant_id";
  std::string roles_claim = "roles";  // a list of strings, or one space-separated string
};

// Checks the options (keys readable, algorithms known, a key for each family).
[[nodiscard]] Result<std::shared_ptr<const Authenticator>> MakeApiKeyAuthenticator(
    std::vector<ApiKeyEntry> keys);
[[nodiscard]] Result<std::shared_ptr<const Authenticator>> MakeJwtAuthenticator(JwtOptions options);

// X-API-Key goes to `api_keys`; "Authorization: Bearer <JWT>" (three dot-separated
// parts) to `jwt`; any other bearer value is tried as an API key. Either may be null.
std::shared_ptr<const Authenticator> ChainAuthenticators(std::shared_ptr<const Authenticator> api_keys,
                                                         std::shared_ptr<const Authenticator> jwt);

// A new random API key ("mcpa_" + 32 bytes base64url) and its SHA-256 hex.
struct NewApiKey {
  std::string key;
  std::string sha256;
};
NewApiKey GenerateApiKey();

}  // namespace mcpaudit

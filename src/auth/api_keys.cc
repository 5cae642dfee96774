// API keys: the config holds the SHA-256 of each key, so a leaked config file
// gives no one a working key.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <map>

#include "auth/credentials.h"
#include "base/ascii.h"
#include "base/crypto.h"
#include "mcpaudit/authenticators.h"
#include "mcpaudit/clock.h"

namespace mcpaudit {
namespace {

bool LooksLikeJwt(std::string_view token) { return std::ranges::count(token, '.') == 2; }

class ApiKeyAuthenticator final : public Authenticator {
 public:
  explicit ApiKeyAuthenticator(std::map<std::string, Identity> by_hash) : by_hash_(std::move(by_hash)) {}

  std::expected<Identity, AuthFailure> Authenticate(const Credentials& credentials) const override {
    std::string_view key = Trim(credentials.api_key);
    if (key.empty()) key = BearerValue(credentials.authorization);
    if (key.empty()) {
      return std::unexpected(AuthFailure{"invalid_request", "no credentials: send an API key (X-API-Key header)"});
    }
    // The lookup is by hash: timing reveals nothing about the key itself.
    auto it = by_hash_.find(Sha256Hex({key}));
    if (it == by_hash_.end()) return std::unexpected(AuthFailure{"invalid_token", "unknown API key"});
    return it->second;
  }

 private:
  std::map<std::string, Identity> by_hash_;
};

class ChainAuthenticator final : public Authenticator {
 public:
  ChainAuthenticator(std::shared_ptr<const Authenticator> api_keys, std::shared_ptr<const Authenticator> jwt)
      : api_keys_(std::move(api_keys)), jwt_(std::move(jwt)) {}

  std::expected<Identity, AuthFailure> Authenticate(const Credentials& credentials) const override {
    if (!Trim(credentials.api_key).empty()) {
      if (api_keys_) return api_keys_->Authenticate(credentials);
      return std::unexpected(AuthFailure{"invalid_request", "API keys are not accepted here: send a bearer token"});
    }
    const std::string_view bearer = BearerValue(credentials.authorization);
    if (bearer.empty()) {
      return std::unexpected(AuthFailure{"invalid_request", jwt_ && api_keys_
                                                                ? "no credentials: send a bearer token or an API key"
                                                            : jwt_ ? "no credentials: send a bearer token"
                                                                   : "no credentials: send an API key"});
    }
    if (LooksLikeJwt(bearer) && jwt_) return jwt_->Authenticate(credentials);
    if (api_keys_) return api_keys_->Authenticate(credentials);
    return jwt_->Authenticate(credentials);
  }

 private:
  std::shared_ptr<const Authenticator> api_keys_;
  std::shared_ptr<const Authenticator> jwt_;
};

}  // namespace

Result<std::shared_ptr<const Authenticator>> MakeApiKeyAuthenticator(std::vector<ApiKeyEntry> keys) {
  std::map<std::string, Identity> by_hash;
  for (auto& entry : keys) {
    const std::string hash = AsciiLower(entry.sha256);
    if (hash.size() != 64 || hash.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return Fail(ErrorCode::kInvalidArgument, "API key of user '" + entry.identity.user_id +
                                                   "': sha256 must be 64 hex digits (see `mcp-audit apikey`)");
    }
    if (entry.identity.user_id.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "API key " + hash.substr(0, 8) + "…: user_id is required");
    }
    entry.identity.auth_method = "api_key";
    if (!by_hash.emplace(hash, std::move(entry.identity)).second) {
      return Fail(ErrorCode::kInvalidArgument, "API key " + hash.substr(0, 8) + "… is listed twice");
    }
  }
  return std::make_shared<const ApiKeyAuthenticator>(std::move(by_hash));
}

std::shared_ptr<const Authenticator> ChainAuthenticators(std::shared_ptr<const Authenticator> api_keys,
                                                         std::shared_ptr<const Authenticator> jwt) {
  if (!api_keys && !jwt) return nullptr;
  return std::make_shared<const ChainAuthenticator>(std::move(api_keys), std::move(jwt));
}

NewApiKey GenerateApiKey() {
  std::array<uint8_t, 32> bytes;
  SecureRandom()(bytes);
  NewApiKey out;
  out.key = "mcpa_" + Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  out.sha256 = Sha256Hex({out.key});
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return out;
}

}  // namespace mcpaudit

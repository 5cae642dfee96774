// JWT bearer tokens (RFC 7519), their signatures (RFC 7515/7518: HS256, RS256,
// ES256) checked with OpenSSL and their claims read within the JSON budget.
// The algorithm is never taken on the token's word: it must be one the
// operator accepts and it must match the kind of key that verifies it (an RSA
// public key is never used as an HMAC secret; "none" is never accepted).
// libjwt is not used here: its JSON reader refuses valid claims (integers
// beyond 64 bits, a NUL in a string) and reports them as bad signatures.
#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <optional>
#include <stop_token>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "auth/credentials.h"
#include "base/audit_files.h"
#include "base/bounded_json.h"
#include "base/crypto.h"
#include "base/ops_log.h"
#include "mcpaudit/authenticators.h"

namespace mcpaudit {
namespace {

using nlohmann::json;

// Tokens and key sets come from outside: their JSON never nests deeper than this.
constexpr size_t kJwtDepth = 32;

enum class KeyKind { kHmac, kRsa, kEcP256 };

Result<KeyKind> KindOf(std::string_view alg) {
  if (alg == "HS256") return KeyKind::kHmac;
  if (alg == "RS256") return KeyKind::kRsa;
  if (alg == "ES256") return KeyKind::kEcP256;
  return Fail(ErrorCode::kInvalidArgument, "algorithm '" + std::string(alg) +
                                               "' is not supported (use HS256, RS256 or ES256)");
}

// An OpenSSL public key, parsed once and shared by every thread that verifies
// with it (read only).
using PublicKey = std::shared_ptr<EVP_PKEY>;
PublicKey Own(EVP_PKEY* key) { return PublicKey(key, EVP_PKEY_free); }

// A key that can verify tokens: a public key for RSA/EC, a secret for HMAC.
struct VerifyKey {
  KeyKind kind;
  std::string kid;  // empty when unnamed
  std::string secret;
  PublicKey public_key;
};

// A PEM public key, checked to be RSA or EC P-256.
Result<VerifyKey> PemKey(const std::string& pem, const std::string& where) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  PublicKey key = Own(PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  if (!key) return Fail(ErrorCode::kInvalidArgument, where + ": not a PEM public key");
  if (EVP_PKEY_is_a(key.get(), "RSA")) return VerifyKey{KeyKind::kRsa, "", "", key};
  char group[64] = {};
  size_t length = 0;
  if (EVP_PKEY_is_a(key.get(), "EC") &&
      EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &length) &&
      std::string_view(group) == "prime256v1")
    return VerifyKey{KeyKind::kEcP256, "", "", key};
  return Fail(ErrorCode::kInvalidArgument, where + ": only RSA and EC P-256 keys are supported");
}

// One JSON Web Key (RFC 7517) as a verify key; nullopt for keys of other kinds.
std::optional<VerifyKey> FromJwk(const json& jwk) {
  if (!jwk.is_object()) return std::nullopt;
  // A key set comes from outside: a member of another type is not a key this reads.
  for (const char* member : {"kty", "use", "crv", "kid", "n", "e", "x", "y"})
    if (jwk.contains(member) && !jwk[member].is_string()) return std::nullopt;
  const std::string kty = jwk.value("kty", "");
  const std::string use = jwk.value("use", "sig");
  if (use != "sig") return std::nullopt;
  OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
  const char* type = nullptr;
  KeyKind kind;
  std::vector<BIGNUM*> numbers;
  std::string point;
  auto big = [&](const std::string& field) -> BIGNUM* {
    auto bytes = Base64UrlDecode(jwk.value(field, ""));
    if (!bytes || bytes->empty()) return nullptr;
    BIGNUM* n = BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes->data()), static_cast<int>(bytes->size()),
                          nullptr);
    numbers.push_back(n);
    return n;
  };
  bool ok = false;
  if (kty == "RSA") {
    type = "RSA";
    kind = KeyKind::kRsa;
    BIGNUM* n = big("n");
    BIGNUM* e = big("e");
    ok = n && e && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_N, n) &&
         OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_E, e);
  } else if (kty == "EC" && jwk.value("crv", "") == "P-256") {
    type = "EC";
    kind = KeyKind::kEcP256;
    auto x = Base64UrlDecode(jwk.value("x", ""));
    auto y = Base64UrlDecode(jwk.value("y", ""));
    if (x && y && x->size() == 32 && y->size() == 32) {
      point = std::string(1, '\x04') + *x + *y;  // uncompressed point
      ok = OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
           OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    }
  }
  std::optional<VerifyKey> out;
  if (ok) {
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(build);
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
    EVP_PKEY* key = nullptr;
    if (params && ctx && EVP_PKEY_fromdata_init(ctx) > 0 &&
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) > 0) {
      out = VerifyKey{kind, jwk.value("kid", ""), "", Own(key)};
    } else {
      EVP_PKEY_free(key);
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
  }
  for (BIGNUM* n : numbers) BN_free(n);
  OSSL_PARAM_BLD_free(build);
  return out;
}

Result<std::vector<VerifyKey>> ParseJwks(const std::string& text, const std::string& where) {
  json document = ParseWithin(text, kJwtDepth);
  if (!document.is_object() || !document.contains("keys") || !document["keys"].is_array()) {
    return Fail(ErrorCode::kInvalidArgument, where + ": not a JSON Web Key Set ({\"keys\": [...]})");
  }
  std::vector<VerifyKey> keys;
  for (const auto& jwk : document["keys"]) {
    if (auto key = FromJwk(jwk)) keys.push_back(std::move(*key));
  }
  if (keys.empty()) return Fail(ErrorCode::kInvalidArgument, where + ": no RSA or EC P-256 signing key in it");
  return keys;
}

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() > 1024 * 1024) return 0;  // no key set is that large
  body->append(data, size * count);
  return size * count;
}

// Aborts a transfer once its stop is requested (libcurl's progress callback).
int StopRequested(void* stop, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::stop_token*>(stop)->stop_requested() ? 1 : 0;
}

Result<std::string> Fetch(const std::string& url, std::stop_token stop = {}) {
  CURL* curl = curl_easy_init();
  if (!curl) return Fail(ErrorCode::kInternal, "libcurl could not start");
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, StopRequested);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &stop);
  const CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK) return Fail(ErrorCode::kIo, "JWKS " + url + ": " + curl_easy_strerror(code));
  if (status != 200) return Fail(ErrorCode::kIo, "JWKS " + url + ": HTTP " + std::to_string(status));
  return body;
}

AuthFailure Invalid(std::string description) { return AuthFailure{"invalid_token", std::move(description)}; }

// Whether `signature` (the token's third part, decoded) is the SHA-256 based
// signature of `input` (header.payload, as sent) by `key`.
bool SignatureVerifies(const VerifyKey& key, std::string_view input, std::string_view signature) {
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (key.kind == KeyKind::kHmac) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!HMAC(EVP_sha256(), key.secret.data(), static_cast<int>(key.secret.size()), data, input.size(), mac,
              &length))
      return false;
    return length == signature.size() && CRYPTO_memcmp(mac, signature.data(), length) == 0;
  }
  std::string der;  // ES256 sends r ‖ s (32 bytes each); OpenSSL verifies DER
  if (key.kind == KeyKind::kEcP256) {
    if (signature.size() != 64) return false;
    ECDSA_SIG* ecdsa = ECDSA_SIG_new();
    const auto* bytes = reinterpret_cast<const unsigned char*>(signature.data());
    ECDSA_SIG_set0(ecdsa, BN_bin2bn(bytes, 32, nullptr), BN_bin2bn(bytes + 32, 32, nullptr));
    unsigned char* out = nullptr;
    const int length = i2d_ECDSA_SIG(ecdsa, &out);
    if (length > 0) der.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(length));
    OPENSSL_free(out);
    ECDSA_SIG_free(ecdsa);
    if (der.empty()) return false;
    signature = der;
  }
  if (!key.public_key) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key.public_key.get()) == 1 &&
                  EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                                   data, input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// The keys published at a JWKS URL, fetched on a thread of its own: a caller
// (the HTTP I/O thread) never waits for the network. Fetched at start, again
// when the cache ages, and when a token names a key id not seen yet (a rotated
// key) — at most one fetch in flight and one per `min_interval` (10 s), so
// unknown key ids sent on purpose cost nothing.
class JwksCache {
 public:
  JwksCache(std::string url, std::chrono::seconds max_age, std::chrono::milliseconds min_interval)
      : url_(std::move(url)), max_age_(max_age), min_interval_(min_interval) {
    Refresh({});  // the first set before any token is checked
    thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
  }

  std::vector<VerifyKey> keys() const {
    std::lock_guard lock(mutex_);
    return keys_;
  }

  // A token named a key the set does not have: fetch again soon.
  void Missed() {
    std::lock_guard lock(mutex_);
    wanted_ = true;
    wake_.notify_all();
  }

 private:
  void Run(std::stop_token stop) {
    std::unique_lock lock(mutex_);
    while (!stop.stop_requested()) {
      const std::chrono::steady_clock::duration wait =
          wanted_ ? min_interval_ : std::max<std::chrono::steady_clock::duration>(max_age_, min_interval_);
      if (std::chrono::steady_clock::now() < fetched_at_ + wait) {
        wake_.wait_until(lock, stop, fetched_at_ + wait, [&, was = wanted_] { return wanted_ != was; });
        continue;
      }
      wanted_ = false;
      lock.unlock();
      Refresh(stop);
      lock.lock();
      wanted_ = false;  // the tokens that missed meanwhile are answered by this fetch
    }
  }

  void Refresh(std::stop_token stop) {
    {
      std::lock_guard lock(mutex_);
      fetched_at_ = std::chrono::steady_clock::now();
    }
    auto text = Fetch(url_, stop);
    auto parsed = text ? ParseJwks(*text, url_) : std::unexpected(text.error());
    std::lock_guard lock(mutex_);
    if (parsed) {
      keys_ = std::move(*parsed);
    } else {
      OpsLog().warn("auth: {} (keeping the {} keys fetched before)", parsed.error().message, keys_.size());
    }
  }

  const std::string url_;
  const std::chrono::seconds max_age_;
  const std::chrono::milliseconds min_interval_;
  mutable std::mutex mutex_;
  std::condition_variable_any wake_;
  std::vector<VerifyKey> keys_;                       // guarded by mutex_
  std::chrono::steady_clock::time_point fetched_at_;  // guarded by mutex_; the last attempt
  bool wanted_ = false;                               // guarded by mutex_; a token missed a key
  std::jthread thread_;                               // last: stopped and joined first
};

// When a token may be used: its exp and nbf claims, in seconds.
struct TokenTimes {
  std::optional<double> exp, nbf;
};

// Tokens accepted before, by the token's SHA-256: a client sends the same
// token with every request, and its signature (an RSA or ECDSA verification)
// need not be checked again while it is held. A hit counts only while the key
// that verified it is still the one its header names (a key rotated out of the
// key set takes its tokens with it), and its times are checked each time. At
// most kMaxTokens: when full, the expired go, and if that is not enough, all.
class AcceptedTokens {
 public:
  static constexpr size_t kMaxTokens = 4096;
  struct Entry {
    Identity identity;
    TokenTimes times;
    KeyKind kind;
    std::string kid;
    PublicKey key;  // null for an HMAC secret (from a file: it never changes)
  };

  std::optional<Entry> Find(const std::string& digest) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(digest);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }
  void Add(std::string digest, Entry entry, double now) {
    std::lock_guard lock(mutex_);
    if (entries_.size() >= kMaxTokens)
      std::erase_if(entries_, [&](const auto& item) { return item.second.times.exp && *item.second.times.exp < now; });
    if (entries_.size() >= kMaxTokens) entries_.clear();
    entries_.insert_or_assign(std::move(digest), std::move(entry));
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mutex_
};

class JwtAuthenticator final : public Authenticator {
 public:
  JwtAuthenticator(JwtOptions options, std::vector<VerifyKey> keys)
      : options_(std::move(options)), keys_(std::move(keys)) {
    if (!options_.jwks_url.empty()) jwks_.emplace(options_.jwks_url, options_.jwks_cache, options_.jwks_refetch_after);
  }

  std::expected<Identity, AuthFailure> Authenticate(const Credentials& credentials) const override {
    const std::string token(BearerValue(credentials.authorization));
    if (token.empty()) return std::unexpected(AuthFailure{"invalid_request", "no credentials: send a bearer token"});
    const std::string digest = Sha256Hex({token});
    if (auto seen = accepted_.Find(digest)) {
      auto key = FindKey(seen->kind, seen->kid);
      if (key && key->public_key == seen->key) {
        if (auto late = CheckTimes(seen->times)) return std::unexpected(*late);
        return seen->identity;
      }
    }
    const size_t dot = token.find('.');
    if (dot == std::string::npos || std::ranges::count(token, '.') != 2) {
      return std::unexpected(Invalid("malformed token"));
    }
    auto header_text = Base64UrlDecode(std::string_view(token).substr(0, dot));
    json header = header_text ? ParseWithin(*header_text, kJwtDepth) : json();
    if (!header.is_object() || !header.contains("alg") || !header["alg"].is_string()) {
      return std::unexpected(Invalid("malformed token header"));
    }
    const std::string alg = header["alg"].get<std::string>();
    if (std::ranges::find(options_.algorithms, alg) == options_.algorithms.end()) {
      return std::unexpected(Invalid("algorithm '" + alg + "' is not accepted"));
    }
    const KeyKind kind = *KindOf(alg);  // accepted algorithms were checked at start
    const std::string kid = header.contains("kid") && header["kid"].is_string() ? header["kid"].get<std::string>()
                                                                                : std::string();
    auto key = FindKey(kind, kid);
    if (!key) return std::unexpected(Invalid(kid.empty() ? "no key for algorithm " + alg
                                                         : "unknown key id '" + kid + "'"));
    const size_t second_dot = token.find('.', dot + 1);
    const auto signature = Base64UrlDecode(std::string_view(token).substr(second_dot + 1));
    if (!signature || !SignatureVerifies(*key, std::string_view(token).substr(0, second_dot), *signature))
      return std::unexpected(Invalid("signature does not verify"));
    const auto payload = Base64UrlDecode(std::string_view(token).substr(dot + 1, second_dot - dot - 1));
    const json claims = payload ? ParseWithin(*payload, kJwtDepth) : json();
    if (!claims.is_object()) {
      return std::unexpected(Invalid("the claims are not a JSON object nested at most " + std::to_string(kJwtDepth) +
                                     " levels"));
    }
    auto times = TimesOf(claims);
    if (!times) return std::unexpected(times.error());
    if (auto late = CheckTimes(*times)) return std::unexpected(*late);
    auto identity = CheckClaims(claims);
    if (identity) accepted_.Add(digest, {*identity, *times, kind, kid, key->public_key}, Now());
    return identity;
  }

 private:
  // Seconds since the epoch, as a double: claims of any magnitude compare without overflow.
  static double Now() {
    return static_cast<double>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  }

  std::expected<TokenTimes, AuthFailure> TimesOf(const json& claims) const {
    TokenTimes times;
    if (auto exp = claims.find("exp"); exp != claims.end()) {
      if (!exp->is_number()) return std::unexpected(Invalid("exp is not a number"));
      times.exp = exp->get<double>();
    } else if (options_.require_exp) {
      return std::unexpected(Invalid("token has no expiry (exp)"));
    }
    if (auto nbf = claims.find("nbf"); nbf != claims.end()) {
      if (!nbf->is_number()) return std::unexpected(Invalid("nbf is not a number"));
      times.nbf = nbf->get<double>();
    }
    return times;
  }

  // Why a token cannot be used now (expired, not yet valid), if it cannot.
  std::optional<AuthFailure> CheckTimes(const TokenTimes& times) const {
    const double now = Now(), leeway = static_cast<double>(options_.leeway.count());
    if (times.exp && now > *times.exp + leeway) return Invalid("token expired");
    if (times.nbf && now + leeway < *times.nbf) return Invalid("token not valid yet (nbf)");
    return std::nullopt;
  }

  // The caller a token's claims name, when the issuer and audience are the accepted ones.
  std::expected<Identity, AuthFailure> CheckClaims(const json& claims) const {
    if (!options_.issuer.empty() && claims.value("iss", json()) != options_.issuer) {
      return std::unexpected(Invalid("wrong issuer"));
    }
    if (!options_.audience.empty()) {
      const json aud = claims.value("aud", json());
      bool match = false;
      for (const auto& accepted : options_.audience) {
        if ((aud.is_string() && aud == accepted) ||
            (aud.is_array() && std::ranges::find(aud, json(accepted)) != aud.end())) {
          match = true;
        }
      }
      if (!match) return std::unexpected(Invalid("wrong audience"));
    }
    Identity identity;
    identity.auth_method = "jwt";
    auto text = [&](const std::string& claim) {
      auto it = claims.find(claim);
      return it != claims.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    identity.user_id = text(options_.user_claim);
    if (identity.user_id.empty()) {
      return std::unexpected(Invalid("token names no user (claim '" + options_.user_claim + "')"));
    }
    identity.email = text(options_.email_claim);
    identity.tenant_id = text(options_.tenant_claim);
    if (auto roles = claims.find(options_.roles_claim); roles != claims.end()) {
      if (roles->is_array()) {
        for (const auto& role : *roles)
          if (role.is_string()) identity.roles.push_back(role.get<std::string>());
      } else if (roles->is_string()) {
        std::istringstream words(roles->get<std::string>());
        for (std::string role; words >> role;) identity.roles.push_back(role);
      }
    }
    return identity;
  }

  std::optional<VerifyKey> FindKey(KeyKind kind, const std::string& kid) const {
    auto pick = [&](const std::vector<VerifyKey>& keys) -> std::optional<VerifyKey> {
      std::optional<VerifyKey> only;
      size_t candidates = 0;
      for (const auto& key : keys) {
        if (key.kind != kind) continue;
        if (!kid.empty() && key.kid == kid) return key;
        ++candidates;
        only = key;
      }
      // Without a kid, a single key of the right kind is unambiguous.
      if (kid.empty() && candidates == 1) return only;
      return std::nullopt;
    };
    if (auto key = pick(keys_)) return key;
    if (!jwks_) return std::nullopt;
    if (auto key = pick(jwks_->keys())) return key;
    jwks_->Missed();  // perhaps a rotated key: the next tokens may find it
    return std::nullopt;
  }

  JwtOptions options_;
  std::vector<VerifyKey> keys_;  // from files
  mutable std::optional<JwksCache> jwks_;  // from jwks_url
  mutable AcceptedTokens accepted_;
};

}  // namespace

Result<std::shared_ptr<const Authenticator>> MakeJwtAuthenticator(JwtOptions options) {
  std::set<KeyKind> kinds;
  for (const auto& alg : options.algorithms) {
    auto kind = KindOf(alg);
    if (!kind) return std::unexpected(kind.error());
    kinds.insert(*kind);
  }
  if (kinds.empty()) return Fail(ErrorCode::kInvalidArgument, "jwt: no algorithm is accepted");
  std::vector<VerifyKey> keys;
  if (!options.public_key_file.empty()) {
    auto pem = ReadWholeFile(options.public_key_file);
    if (!pem) return std::unexpected(pem.error());
    auto key = PemKey(*pem, options.public_key_file);
    if (!key) return std::unexpected(key.error());
    keys.push_back(std::move(*key));
  }
  if (!options.secret_file.empty()) {
    if (auto owner_only = CheckOwnerOnly(options.secret_file, "the JWT secret"); !owner_only) {
      return std::unexpected(owner_only.error());
    }
    auto secret = ReadWholeFile(options.secret_file);
    if (!secret) return std::unexpected(secret.error());
    while (!secret->empty() && (secret->back() == '\n' || secret->back() == '\r')) secret->pop_back();
    if (secret->size() < 32) {
      return Fail(ErrorCode::kInvalidArgument, "the JWT secret " + options.secret_file +
                                                   " is shorter than 32 bytes: HS256 needs at least 256 bits");
    }
    keys.push_back({KeyKind::kHmac, "", *secret, nullptr});
  }
  if (!options.jwks_file.empty()) {
    auto text = ReadWholeFile(options.jwks_file);
    if (!text) return std::unexpected(text.error());
    auto parsed = ParseJwks(*text, options.jwks_file);
    if (!parsed) return std::unexpected(parsed.error());
    keys.insert(keys.end(), parsed->begin(), parsed->end());
  }
  if (keys.empty() && options.jwks_url.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "jwt: no key to verify tokens with (set public_key_file, secret_file, jwks_file or jwks_url)");
  }
  if (kinds.contains(KeyKind::kHmac) && std::ranges::none_of(keys, [](auto& k) { return k.kind == KeyKind::kHmac; })) {
    return Fail(ErrorCode::kInvalidArgument, "jwt: HS256 is accepted but no secret_file is set");
  }
  return std::make_shared<const JwtAuthenticator>(std::move(options), std::move(keys));
}

}  // namespace mcpaudit

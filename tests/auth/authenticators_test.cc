// API keys and JWT bearer tokens: who gets in, who does not, and what each
// refusal says.
#include "mcpaudit/authenticators.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <jwt.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/crypto.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

using nlohmann::json;

// A key pair made for the test, with its PEM texts and its JWK.
struct TestKey {
  std::string private_pem, public_pem;
  json jwk;
};

TestKey MakeKey(const char* type, const std::string& kid) {
  EVP_PKEY* key = std::string_view(type) == "RSA"
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  TestKey out;
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  auto take = [](BIO* b) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(b, &data);
    std::string text(data, static_cast<size_t>(size));
    BIO_free(b);
    return text;
  };
  out.private_pem = take(bio);
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  out.public_pem = take(bio);
  auto bn = [&](const char* name) {
    BIGNUM* n = nullptr;
    EVP_PKEY_get_bn_param(key, name, &n);
    std::string bytes(static_cast<size_t>(BN_num_bytes(n)), '\0');
    BN_bn2bin(n, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(n);
    return Base64UrlEncode(bytes);
  };
  if (std::string_view(type) == "RSA") {
    out.jwk = {{"kty", "RSA"},
               {"kid", kid},
               {"use", "sig"},
               {"n", bn(OSSL_PKEY_PARAM_RSA_N)},
               {"e", bn(OSSL_PKEY_PARAM_RSA_E)}};
  } else {
    unsigned char point[65];
    size_t length = 0;
    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &length);
    std::string_view p(reinterpret_cast<const char*>(point), length);
    out.jwk = {{"kty", "EC"},
               {"kid", kid},
               {"crv", "P-256"},
               {"x", Base64UrlEncode(p.substr(1, 32))},
               {"y", Base64UrlEncode(p.substr(33, 32))}};
  }
  EVP_PKEY_free(key);
  return out;
}

// Signs `claims` with libjwt; `kid` goes into the header when not empty.
std::string Sign(jwt_alg_t alg, const std::string& key, const json& claims,
                 const std::string& kid = "") {
  jwt_t* jwt = nullptr;
  jwt_new(&jwt);
  jwt_add_grants_json(jwt, claims.dump().c_str());
  if (!kid.empty()) jwt_add_header(jwt, "kid", kid.c_str());
  jwt_set_alg(jwt, alg, reinterpret_cast<const unsigned char*>(key.data()),
              static_cast<int>(key.size()));
  char* text = jwt_encode_str(jwt);
  std::string token = text ? text : "";
  std::free(text);
  jwt_free(jwt);
  return token;
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json GoodClaims() {
  return {{"sub", "dana"},
          {"email", "dana@example.com"},
          {"tenant_id", "acme"},
          {"roles", {"analyst", "admin"}},
          {"iss", "https://idp.example.com"},
          {"aud", "mcp-audit"},
          {"exp", Now() + 600},
          {"nbf", Now() - 10}};
}

class JwtTest : public ::testing::Test {
 protected:
  JwtTest() : rsa_(MakeKey("RSA", "rsa-1")), ec_(MakeKey("EC", "ec-1")) {
    Write("rsa.pem", rsa_.public_pem);
    Write("jwks.json", json{{"keys", {rsa_.jwk, ec_.jwk}}}.dump());
    Write("secret", std::string(40, 's'));
    std::filesystem::permissions(
        dir_.path() / "secret",
        std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
        std::filesystem::perm_options::replace);
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.path() / name) << text;
  }
  std::string Path(const std::string& name) const { return (dir_.path() / name).string(); }

  JwtOptions Options() const {
    JwtOptions options;
    options.issuer = "https://idp.example.com";
    options.audience = {"mcp-audit"};
    return options;
  }
  std::shared_ptr<const Authenticator> Make(JwtOptions options) {
    auto made = MakeJwtAuthenticator(std::move(options));
    EXPECT_TRUE(made.has_value()) << made.error().message;
    return made ? *made : nullptr;
  }
  static std::expected<Identity, AuthFailure> Check(const Authenticator& auth,
                                                    const std::string& token) {
    const std::string header = "Bearer " + token;
    return auth.Authenticate({header, ""});
  }
  static std::string Refusal(const Authenticator& auth, const std::string& token) {
    auto result = Check(auth, token);
    EXPECT_FALSE(result.has_value());
    return result ? "accepted" : result.error().description;
  }

  testing::TempDir dir_;
  TestKey rsa_, ec_;
};

TEST_F(JwtTest, AcceptsRs256FromAPemKeyAndMapsTheClaims) {
  JwtOptions options = Options();
  options.public_key_file = Path("rsa.pem");
  auto auth = Make(options);
  auto identity = Check(*auth, Sign(JWT_ALG_RS256, rsa_.private_pem, GoodClaims()));
  ASSERT_TRUE(identity.has_value()) << identity.error().description;
  EXPECT_EQ(identity->user_id, "dana");
  EXPECT_EQ(identity->email, "dana@example.com");
  EXPECT_EQ(identity->tenant_id, "acme");
  EXPECT_EQ(identity->roles, (std::vector<std::string>{"analyst", "admin"}));
  EXPECT_EQ(identity->auth_method, "jwt");
}

TEST_F(JwtTest, PicksTheJwksKeyByKidForRs256AndEs256) {
  JwtOptions options = Options();
  options.jwks_file = Path("jwks.json");
  auto auth = Make(options);
  EXPECT_TRUE(
      Check(*auth, Sign(JWT_ALG_RS256, rsa_.private_pem, GoodClaims(), "rsa-1")).has_value());
  EXPECT_TRUE(Check(*auth, Sign(JWT_ALG_ES256, ec_.private_pem, GoodClaims(), "ec-1")).has_value());
  EXPECT_EQ(Refusal(*auth, Sign(JWT_ALG_RS256, rsa_.private_pem, GoodClaims(), "rotated-away")),
            "unknown key id 'rotated-away'");
  // A key the set does not hold.
  TestKey stranger = MakeKey("RSA", "rsa-1");
  EXPECT_EQ(Refusal(*auth, Sign(JWT_ALG_RS256, stranger.private_pem, GoodClaims(), "rsa-1")),
            "signature does not verify");
}

TEST_F(JwtTest, RefusesExpiredEarlyWrongIssuerWrongAudienceAndNoUser) {
  JwtOptions options = Options();
  options.public_key_file = Path("rsa.pem");
  auto auth = Make(options);
  auto with = [&](const std::string& key, const json& value) {
    json claims = GoodClaims();
    if (value.is_null())
      claims.erase(key);
    else
      claims[key] = value;
    return Sign(JWT_ALG_RS256, rsa_.private_pem, claims);
  };
  EXPECT_EQ(Refusal(*auth, with("exp", Now() - 120)), "token expired");
  EXPECT_TRUE(Check(*auth, with("exp", Now() - 30)).has_value());  // within the 60 s leeway
  EXPECT_EQ(Refusal(*auth, with("nbf", Now() + 300)), "token not valid yet (nbf)");
  EXPECT_EQ(Refusal(*auth, with("iss", "https://evil.example.com")), "wrong issuer");
  EXPECT_EQ(Refusal(*auth, with("aud", "another-service")), "wrong audience");
  EXPECT_TRUE(Check(*auth, with("aud", json::array({"x", "mcp-audit"}))).has_value());
  EXPECT_EQ(Refusal(*auth, with("exp", nullptr)), "token has no expiry (exp)");
  EXPECT_EQ(Refusal(*auth, with("sub", nullptr)), "token names no user (claim 'sub')");
}

TEST_F(JwtTest, ATokenSeenBeforeStillExpiresAndAnotherSignatureOnItsClaimsIsRefused) {
  JwtOptions options = Options();
  options.public_key_file = Path("rsa.pem");
  options.leeway = std::chrono::seconds(0);
  auto auth = Make(options);
  json claims = GoodClaims();
  claims["exp"] = Now() + 3;  // valid for 2 s at least: a loaded machine's pauses stay shorter
  const std::string token = Sign(JWT_ALG_RS256, rsa_.private_pem, claims);
  ASSERT_TRUE(Check(*auth, token).has_value());
  // The same header and claims under a signature that is not the key's.
  const std::string forged = token.substr(0, token.rfind('.') + 1) + std::string(342, 'A');
  EXPECT_EQ(Refusal(*auth, forged), "signature does not verify");
  ASSERT_TRUE(Check(*auth, token).has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(4100));
  EXPECT_EQ(Refusal(*auth, token), "token expired");
}

TEST_F(JwtTest, RefusesAlgNoneAndAlgorithmConfusion) {
  JwtOptions options = Options();
  options.public_key_file = Path("rsa.pem");
  auto auth = Make(options);
  // alg none: no signature at all.
  const std::string unsigned_token = Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." +
                                     Base64UrlEncode(GoodClaims().dump()) + ".";
  EXPECT_EQ(Refusal(*auth, unsigned_token), "algorithm 'none' is not accepted");
  // HS256 "signed" with the RSA public key, hoping it is used as the HMAC secret.
  const std::string confused = Sign(JWT_ALG_HS256, rsa_.public_pem, GoodClaims());
  EXPECT_EQ(Refusal(*auth, confused), "algorithm 'HS256' is not accepted");
  // Even where HS256 is accepted, only the configured secret verifies it.
  options.algorithms = {"RS256", "HS256"};
  options.secret_file = Path("secret");
  auto both = Make(options);
  EXPECT_EQ(Refusal(*both, confused), "signature does not verify");
  EXPECT_TRUE(Check(*both, Sign(JWT_ALG_HS256, std::string(40, 's'), GoodClaims())).has_value());
  // A token whose payload was changed after signing.
  std::string token = Sign(JWT_ALG_RS256, rsa_.private_pem, GoodClaims());
  json admin = GoodClaims();
  admin["sub"] = "root";
  const size_t first = token.find('.'), second = token.rfind('.');
  token = token.substr(0, first + 1) + Base64UrlEncode(admin.dump()) + token.substr(second);
  EXPECT_EQ(Refusal(*auth, token), "signature does not verify");
  EXPECT_EQ(Refusal(*auth, "not-a-token"), "malformed token");
  // Padding and characters base64url does not have (found by fuzzing: "=" crashed the decoder).
  for (const char* odd : {"=.=.", "=.=.=", "a.b.c", "eyJ=.e30.x", "..", "A.A.A"})
    EXPECT_EQ(Refusal(*auth, odd), "malformed token header") << odd;
}

TEST_F(JwtTest, BadOptionsSayWhatIsWrong) {
  JwtOptions none = Options();
  EXPECT_NE(MakeJwtAuthenticator(none).error().message.find("no key to verify tokens with"),
            std::string::npos);
  JwtOptions algorithm = Options();
  algorithm.public_key_file = Path("rsa.pem");
  algorithm.algorithms = {"none"};
  EXPECT_NE(MakeJwtAuthenticator(algorithm).error().message.find("'none' is not supported"),
            std::string::npos);
  JwtOptions open_secret = Options();
  open_secret.algorithms = {"HS256"};
  Write("open-secret", std::string(40, 's'));
  std::filesystem::permissions(dir_.path() / "open-secret", std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  open_secret.secret_file = Path("open-secret");
  EXPECT_NE(MakeJwtAuthenticator(open_secret).error().message.find("chmod 600"), std::string::npos);
}

// Serves one fixed body to every HTTP request on a loopback port; counts them.
class JwksServer {
 public:
  explicit JwksServer(std::string body) : body_(std::move(body)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(fd_, 8);
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::jthread([this] {
      for (;;) {
        int client = ::accept(fd_, nullptr, nullptr);
        if (client < 0) return;
        char buffer[4096];
        (void)::recv(client, buffer, sizeof buffer, 0);
        ++hits_;
        std::string body;
        std::chrono::milliseconds delay;
        {
          std::lock_guard lock(mutex_);
          body = body_;
          delay = delay_;
        }
        std::this_thread::sleep_for(delay);
        const std::string response =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        (void)::send(client, response.data(), response.size(), 0);
        ::close(client);
      }
    });
  }
  ~JwksServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/jwks.json"; }
  int hits() const { return hits_; }
  // What later requests get, and how long each waits for it.
  void Change(std::string body, std::chrono::milliseconds delay) {
    std::lock_guard lock(mutex_);
    body_ = std::move(body);
    delay_ = delay;
  }

 private:
  std::mutex mutex_;
  std::string body_;                    // guarded by mutex_
  std::chrono::milliseconds delay_{0};  // guarded by mutex_
  int fd_ = -1;
  unsigned short port_ = 0;
  std::atomic<int> hits_{0};
  std::jthread thread_;
};

TEST_F(JwtTest, FetchesTheKeySetFromAUrlOnceAndCachesIt) {
  JwksServer jwks(json{{"keys", {rsa_.jwk, ec_.jwk}}}.dump());
  JwtOptions options = Options();
  options.jwks_url = jwks.url();
  auto auth = Make(options);
  EXPECT_TRUE(Check(*auth, Sign(JWT_ALG_ES256, ec_.private_pem, GoodClaims(), "ec-1")).has_value());
  EXPECT_TRUE(
      Check(*auth, Sign(JWT_ALG_RS256, rsa_.private_pem, GoodClaims(), "rsa-1")).has_value());
  EXPECT_EQ(jwks.hits(), 1);  // cached for jwks_cache_seconds
  // An unknown kid does not make every request fetch again.
  EXPECT_EQ(Refusal(*auth, Sign(JWT_ALG_RS256, rsa_.private_pem, GoodClaims(), "new-key")),
            "unknown key id 'new-key'");
  EXPECT_EQ(jwks.hits(), 1);
}

TEST_F(JwtTest, ATokenAcceptedBeforeIsRefusedOnceItsKeyLeavesTheKeySet) {
  JwksServer jwks(json{{"keys", {rsa_.jwk, ec_.jwk}}}.dump());
  JwtOptions options = Options();
  options.jwks_url = jwks.url();
  options.jwks_cache = std::chrono::seconds(1);
  options.jwks_refetch_after = std::chrono::milliseconds(100);
  auto auth = Make(options);
  const std::string token = Sign(JWT_ALG_ES256, ec_.private_pem, GoodClaims(), "ec-1");
  for (int i = 0; i < 100 && !Check(*auth, token).has_value();
       ++i)  // the key set is fetched in the background
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(Check(*auth, token).has_value());
  // The identity provider withdraws the key (say, it leaked).
  jwks.Change(json{{"keys", {rsa_.jwk}}}.dump(), std::chrono::milliseconds(0));
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) {
    refused = !Check(*auth, token).has_value();
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(refused) << "a token of a withdrawn key is still accepted";
  EXPECT_EQ(Refusal(*auth, token), "unknown key id 'ec-1'");
}

TEST_F(JwtTest, AnUnknownKeyIdNeverMakesTheCallerWaitAndARotatedKeyIsFoundSoonAfter) {
  JwksServer jwks(json{{"keys", {rsa_.jwk}}}.dump());
  JwtOptions options = Options();
  options.jwks_url = jwks.url();
  options.jwks_refetch_after = std::chrono::milliseconds(100);
  auto auth = Make(options);
  // The identity provider rotates to a new key, and is slow to serve the new set.
  jwks.Change(json{{"keys", {rsa_.jwk, ec_.jwk}}}.dump(), std::chrono::milliseconds(4000));
  const std::string token = Sign(JWT_ALG_ES256, ec_.private_pem, GoodClaims(), "ec-1");
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(Refusal(*auth, token), "unknown key id 'ec-1'");
  // The caller (the HTTP I/O thread) did not wait for the fetch.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(2000));
  for (int i = 0; i < 300 && !Check(*auth, token).has_value(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(Check(*auth, token).has_value()) << "the rotated key was fetched in the background";
  // One fetch for all those tokens (a token that read the old set just before it changed may ask
  // once more).
  EXPECT_GE(jwks.hits(), 2);
  EXPECT_LE(jwks.hits(), 3);
}

TEST_F(JwtTest, ValidTokensWithOddClaimsAreAcceptedAndUnreadableOnesSaySo) {
  JwtOptions options = Options();
  options.algorithms = {"HS256"};
  options.secret_file = Path("secret");
  auto auth = Make(options);
  // Signed here by hand (libjwt cannot write these claims).
  auto hs256 = [](const std::string& claims) {
    const std::string input =
        Base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})") + "." + Base64UrlEncode(claims);
    const std::string secret(40, 's');
    unsigned char mac[32];
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
    return input + "." +
           Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac), length));
  };
  json claims = GoodClaims();
  claims["exp"] = static_cast<double>(Now() + 600) + 0.5;  // a fraction of a second
  std::string odd = claims.dump();
  odd.insert(
      odd.size() - 1,
      R"(,"session_counter":123456789012345678901234567890,"note":"a\u0000b","x":{"y":[[]]})");
  const auto accepted = Check(*auth, hs256(odd));
  ASSERT_TRUE(accepted.has_value()) << accepted.error().description;
  EXPECT_EQ(accepted->user_id, "dana");
  // An expiry no clock reaches, and one in the past written as a huge negative number.
  claims["exp"] = 1e300;
  EXPECT_TRUE(Check(*auth, hs256(claims.dump())).has_value());
  claims["exp"] = -1e300;
  EXPECT_EQ(Refusal(*auth, hs256(claims.dump())), "token expired");
  // Claims that are not an object, or nested beyond reason: named as such, not as a bad signature.
  EXPECT_EQ(Refusal(*auth, hs256("[1]")),
            "the claims are not a JSON object nested at most 32 levels");
  EXPECT_EQ(Refusal(*auth, hs256(R"({"sub":"dana","x":)" + std::string(40, '[') +
                                 std::string(40, ']') + "}")),
            "the claims are not a JSON object nested at most 32 levels");
}

TEST_F(JwtTest, AKeySetUrlThatIsDownRefusesTokensAndSaysSo) {
  JwtOptions options = Options();
  options.jwks_url = "http://127.0.0.1:9/jwks.json";  // discard port: nothing answers
  auto auth = Make(options);
  EXPECT_EQ(Refusal(*auth, Sign(JWT_ALG_RS256, rsa_.private_pem, GoodClaims(), "rsa-1")),
            "unknown key id 'rsa-1'");
}

TEST(ApiKeyTest, KnowsAKeyOnlyByItsHash) {
  NewApiKey key = GenerateApiKey();
  EXPECT_TRUE(key.key.starts_with("mcpa_"));
  EXPECT_EQ(key.sha256, Sha256Hex({key.key}));
  auto auth =
      MakeApiKeyAuthenticator({{key.sha256, {"erin", "erin@example.com", "globex", {"ops"}, ""}}});
  ASSERT_TRUE(auth.has_value());
  auto identity = (*auth)->Authenticate({"", key.key});
  ASSERT_TRUE(identity.has_value());
  EXPECT_EQ(identity->user_id, "erin");
  EXPECT_EQ(identity->tenant_id, "globex");
  EXPECT_EQ(identity->auth_method, "api_key");
  // Also as a bearer value.
  const std::string bearer = "Bearer " + key.key;
  EXPECT_TRUE((*auth)->Authenticate({bearer, ""}).has_value());
  EXPECT_EQ((*auth)->Authenticate({"", "mcpa_guess"}).error().description, "unknown API key");
  EXPECT_EQ((*auth)->Authenticate({"", ""}).error().error, "invalid_request");
  EXPECT_FALSE(MakeApiKeyAuthenticator({{"abc", {"x"}}}).has_value());
}

TEST(ApiKeyTest, TheChainSendsJwtsToJwtAndKeysToKeys) {
  NewApiKey key = GenerateApiKey();
  auto keys = *MakeApiKeyAuthenticator({{key.sha256, {"erin"}}});
  auto chain = ChainAuthenticators(keys, nullptr);
  EXPECT_EQ(chain->Authenticate({"Bearer a.b.c", ""}).error().description, "unknown API key");
  EXPECT_EQ(chain->Authenticate({"", ""}).error().description, "no credentials: send an API key");
  EXPECT_TRUE(chain->Authenticate({"", key.key}).has_value());
}

}  // namespace
}  // namespace mcpaudit

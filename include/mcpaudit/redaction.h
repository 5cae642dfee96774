// Secrets never reach the audit log: parameters whose names look like secrets
// (password, token, api_key, authorization, ...) and parameters that a tool's
// input schema marks sensitive are masked before the record is built.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mcpaudit/result.h"

namespace mcpaudit {

// The value that stands in for a redacted one.
inline constexpr const char* kRedacted = "[REDACTED]";

// What becomes of a value that must not reach the log as it is.
enum class RedactionMode {
  kMask,      // replaced by "[REDACTED]"
  kDrop,      // the key is left out
  kHmac,      // "hmac-sha256:<hex>" with the deployment key: equal values still correlate
  kTruncate,  // strings cut to max_value_bytes: {"truncated_from": bytes, "value": "<prefix>"}
};

// A value named by a JSON pointer into the parameters, and what becomes of it.
struct PointerRule {
  nlohmann::json::json_pointer pointer;
  RedactionMode mode = RedactionMode::kMask;

  bool operator==(const PointerRule&) const = default;
};

struct RedactionOptions {
  RedactionMode mode = RedactionMode::kMask;  // for secret-looking keys and schema-sensitive values
  std::string hmac_key;                       // required when any mode is kHmac; never written to records
  std::vector<PointerRule> pointers;
  size_t max_value_bytes = 0;  // 0: no limit; longer strings anywhere in the parameters are truncated
  // Matched against object keys at any depth, ignoring case, '-' and '_':
  // a key is secret when it contains one of these ("db_password", "X-Api-Key").
  std::vector<std::string> key_patterns = {"password", "passwd",     "secret",     "token",     "apikey",
                                           "authorization", "credential", "privatekey", "accesskey", "cookie",
                                           "sessionkey", "clientsecret"};

  bool operator==(const RedactionOptions&) const = default;
};

class Redactor {
 public:
  explicit Redactor(RedactionOptions options = {});

  // Masks, in place, every value whose key matches a pattern, and every value
  // at one of `sensitive` (JSON pointers from the tool's schema).
  void Apply(nlohmann::json& value, const std::vector<nlohmann::json::json_pointer>& sensitive = {}) const;

  bool IsSecretKey(std::string_view key) const;

 private:
  void Replace(nlohmann::json& value, RedactionMode mode) const;
  void Walk(nlohmann::json& value, std::string& path, const std::set<std::string>& handled,
            size_t depth = 1) const;
  std::vector<std::string> patterns_;  // normalised
  RedactionMode mode_;
  std::string hmac_key_;
  std::vector<PointerRule> pointers_;
  size_t max_value_bytes_;
};

// Checks options before use: an HMAC mode needs a key of 32 bytes or more.
[[nodiscard]] Status CheckRedaction(const RedactionOptions& options);
Result<RedactionMode> ParseRedactionMode(std::string_view text);

// The properties an input schema marks sensitive, as pointers into the
// arguments: `"writeOnly": true`, `"format": "password"` or
// `"x-sensitive": true` on a property (nested objects included).
std::vector<nlohmann::json::json_pointer> SensitiveProperties(const nlohmann::json& input_schema);

}  // namespace mcpaudit

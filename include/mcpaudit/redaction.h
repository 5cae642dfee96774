// Secrets never reach the audit log: parameters whose names look like secrets
// (password, token, api_key, authorization, ...) and parameters that a tool's
// input schema marks sensitive are masked before the record is built.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mcpaudit {

// The value that stands in for a redacted one.
inline constexpr const char* kRedacted = "[REDACTED]";

struct RedactionOptions {
  // Matched against object keys at any depth, ignoring case, '-' and '_':
  // a key is secret when it contains one of these ("db_password", "X-Api-Key").
  std::vector<std::string> key_patterns = {"password", "passwd",     "secret",     "token",     "apikey",
                                           "authorization", "credential", "privatekey", "accesskey", "cookie",
                                           "sessionkey", "clientsecret"};
};

class Redactor {
 public:
  explicit Redactor(RedactionOptions options = {});

  // Masks, in place, every value whose key matches a pattern, and every value
  // at one of `sensitive` (JSON pointers from the tool's schema).
  void Apply(nlohmann::json& value, const std::vector<nlohmann::json::json_pointer>& sensitive = {}) const;

  bool IsSecretKey(std::string_view key) const;

 private:
  std::vector<std::string> patterns_;  // normalised
};

// The properties an input schema marks sensitive, as pointers into the
// arguments: `"writeOnly": true`, `"format": "password"` or
// `"x-sensitive": true` on a property (nested objects included).
std::vector<nlohmann::json::json_pointer> SensitiveProperties(const nlohmann::json& input_schema);

}  // namespace mcpaudit

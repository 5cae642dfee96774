#include "mcpaudit/redaction.h"

#include <cctype>

namespace mcpaudit {
namespace {

std::string Normalise(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '-' || c == '_' || c == ' ') continue;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

void CollectSensitive(const nlohmann::json& schema, const nlohmann::json::json_pointer& at,
                      std::vector<nlohmann::json::json_pointer>& out) {
  if (!schema.is_object()) return;
  auto properties = schema.find("properties");
  if (properties == schema.end() || !properties->is_object()) return;
  for (auto it = properties->begin(); it != properties->end(); ++it) {
    const nlohmann::json& property = it.value();
    if (!property.is_object()) continue;
    const nlohmann::json::json_pointer path = at / it.key();
    const bool sensitive = property.value("writeOnly", false) == true || property.value("format", "") == "password" ||
                           property.value("x-sensitive", false) == true;
    if (sensitive) {
      out.push_back(path);
    } else {
      CollectSensitive(property, path, out);
    }
  }
}

}  // namespace

Redactor::Redactor(RedactionOptions options) {
  for (const auto& pattern : options.key_patterns) patterns_.push_back(Normalise(pattern));
}

bool Redactor::IsSecretKey(std::string_view key) const {
  const std::string normal = Normalise(key);
  for (const auto& pattern : patterns_)
    if (!pattern.empty() && normal.find(pattern) != std::string::npos) return true;
  return false;
}

void Redactor::Apply(nlohmann::json& value, const std::vector<nlohmann::json::json_pointer>& sensitive) const {
  for (const auto& pointer : sensitive)
    if (value.contains(pointer)) value[pointer] = kRedacted;
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (IsSecretKey(it.key())) {
        it.value() = kRedacted;
      } else {
        Apply(it.value());
      }
    }
  } else if (value.is_array()) {
    for (auto& item : value) Apply(item);
  }
}

std::vector<nlohmann::json::json_pointer> SensitiveProperties(const nlohmann::json& input_schema) {
  std::vector<nlohmann::json::json_pointer> out;
  CollectSensitive(input_schema, nlohmann::json::json_pointer(), out);
  return out;
}

}  // namespace mcpaudit

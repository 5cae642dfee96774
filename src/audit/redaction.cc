#include "mcpaudit/redaction.h"

#include <set>

#include "base/ascii.h"
#include "base/bounded_json.h"
#include "base/crypto.h"

namespace mcpaudit {
namespace {

std::string Normalise(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '-' || c == '_' || c == ' ') continue;
    out.push_back(AsciiLower(c));
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
    const bool sensitive = property.value("writeOnly", false) == true ||
                           property.value("format", "") == "password" ||
                           property.value("x-sensitive", false) == true;
    if (sensitive) {
      out.push_back(path);
    } else {
      CollectSensitive(property, path, out);
    }
  }
}

// Appends "/" and `key` as a JSON pointer's reference token (RFC 6901: "~" is
// "~0", "/" is "~1"), as json_pointer::to_string writes it.
void AppendPointerToken(std::string& path, std::string_view key) {
  path.push_back('/');
  for (char c : key) {
    if (c == '~') {
      path += "~0";
    } else if (c == '/') {
      path += "~1";
    } else {
      path.push_back(c);
    }
  }
}

}  // namespace

Redactor::Redactor(RedactionOptions options)
    : mode_(options.mode),
      hmac_key_(std::move(options.hmac_key)),
      pointers_(std::move(options.pointers)),
      max_value_bytes_(options.max_value_bytes) {
  for (const auto& pattern : options.key_patterns) patterns_.push_back(Normalise(pattern));
}

Status CheckRedaction(const RedactionOptions& options) {
  bool hmac = options.mode == RedactionMode::kHmac;
  for (const auto& rule : options.pointers) {
    hmac = hmac || rule.mode == RedactionMode::kHmac;
    if (rule.mode == RedactionMode::kTruncate && options.max_value_bytes == 0) {
      return Fail(ErrorCode::kInvalidArgument, "pointer " + rule.pointer.to_string() +
                                                   ": truncate needs max_value_bytes (1 or more)");
    }
  }
  if (options.mode == RedactionMode::kTruncate) {
    return Fail(ErrorCode::kInvalidArgument,
                "mode: truncate shortens values; secrets need mask, drop or hmac");
  }
  if (hmac && options.hmac_key.size() < 32) {
    return Fail(ErrorCode::kInvalidArgument,
                options.hmac_key.empty()
                    ? "hmac needs a key: set hmac_key_file (32 bytes or more, mode 0600)"
                    : "the HMAC key is shorter than 32 bytes");
  }
  return {};
}

Result<RedactionMode> ParseRedactionMode(std::string_view text) {
  if (text == "mask") return RedactionMode::kMask;
  if (text == "drop") return RedactionMode::kDrop;
  if (text == "hmac") return RedactionMode::kHmac;
  if (text == "truncate") return RedactionMode::kTruncate;
  return Fail(ErrorCode::kInvalidArgument, "unknown redaction mode '" + std::string(text) +
                                               "' (expected mask, drop, hmac, truncate)");
}

void Redactor::Replace(nlohmann::json& value, RedactionMode mode) const {
  switch (mode) {
    case RedactionMode::kMask:
    case RedactionMode::kDrop:  // a value that cannot be left out (array item, root) is masked
      value = kRedacted;
      return;
    case RedactionMode::kHmac: {
      const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
      value = "hmac-sha256:" + HmacSha256Hex(hmac_key_, text);
      return;
    }
    case RedactionMode::kTruncate: {
      if (!value.is_string()) return;
      const std::string& text = value.get_ref<const std::string&>();
      if (max_value_bytes_ == 0 || text.size() <= max_value_bytes_) return;
      size_t cut = max_value_bytes_;
      while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
        --cut;  // whole UTF-8 characters
      value = {{"truncated_from", text.size()}, {"value", text.substr(0, cut)}};
      return;
    }
  }
}

bool Redactor::IsSecretKey(std::string_view key) const {
  const std::string normal = Normalise(key);
  for (const auto& pattern : patterns_)
    if (!pattern.empty() && normal.find(pattern) != std::string::npos) return true;
  return false;
}

void Redactor::Apply(nlohmann::json& value,
                     const std::vector<nlohmann::json::json_pointer>& sensitive) const {
  // Rules by pointer first (the operator named them), then what the schema
  // marks, then secret-looking keys and the size limit everywhere else.
  auto apply_at = [&](const nlohmann::json::json_pointer& pointer, RedactionMode mode) {
    if (pointer.empty() || !value.contains(pointer)) return;
    nlohmann::json& parent = value[pointer.parent_pointer()];
    if (mode == RedactionMode::kDrop && parent.is_object()) {
      parent.erase(pointer.back());
    } else {
      Replace(value[pointer], mode);
    }
  };
  // What a rule replaced whole (mask, drop, hmac) is left as the rule made
  // it. A truncate rule cuts strings only: below it, secret-looking keys and
  // the size limit still apply (an object there is walked as any other).
  std::set<std::string> handled;
  for (const auto& rule : pointers_) {
    apply_at(rule.pointer, rule.mode);
    if (rule.mode != RedactionMode::kTruncate) handled.insert(rule.pointer.to_string());
  }
  for (const auto& pointer : sensitive) {
    if (handled.insert(pointer.to_string()).second) apply_at(pointer, mode_);
  }
  std::string path;  // of the value walked, as JSON pointer text
  Walk(value, path, handled);
}

void Redactor::Walk(nlohmann::json& value, std::string& path, const std::set<std::string>& handled,
                    size_t depth) const {
  if (!path.empty() && handled.contains(path)) return;  // already what a rule made it
  if (depth > kMaxRecordDepth) {
    // Only a value built in code can get here (parsed ones are bounded): it is
    // not walked, nor recorded.
    value = "[nested too deep]";
    return;
  }
  const size_t mark = path.size();  // `path` grows by a token per level and is cut back
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end();) {
      AppendPointerToken(path, it.key());
      if (IsSecretKey(it.key()) && !handled.contains(path)) {
        path.resize(mark);
        if (mode_ == RedactionMode::kDrop) {
          it = value.erase(it);
          continue;
        }
        Replace(it.value(), mode_);
      } else {
        Walk(it.value(), path, handled, depth + 1);
        path.resize(mark);
      }
      ++it;
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      AppendPointerToken(path, std::to_string(i));
      Walk(value[i], path, handled, depth + 1);
      path.resize(mark);
    }
  } else if (value.is_string() && max_value_bytes_ > 0) {
    Replace(value, RedactionMode::kTruncate);
  }
}

std::vector<nlohmann::json::json_pointer> SensitiveProperties(const nlohmann::json& input_schema) {
  std::vector<nlohmann::json::json_pointer> out;
  CollectSensitive(input_schema, nlohmann::json::json_pointer(), out);
  return out;
}

}  // namespace mcpaudit

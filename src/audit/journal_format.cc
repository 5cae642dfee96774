#include "audit/journal_format.h"

#include <cstdio>

#include "audit/canonical_json.h"
#include "audit/crypto.h"

namespace mcpaudit::journal {

std::string SegmentName(uint64_t first_seq) {
  char name[64];
  std::snprintf(name, sizeof name, "segment-%020llu.jsonl", static_cast<unsigned long long>(first_seq));
  return name;
}

bool IsSegmentName(std::string_view name) {
  return name.size() == 8 + 20 + 6 && name.starts_with("segment-") && name.ends_with(".jsonl");
}

nlohmann::json Commitment(std::string_view salt, const nlohmann::json& value) {
  return {{std::string(kErasedKey), Sha256Hex({salt, CanonicalJson(value)})}};
}

bool IsErased(const nlohmann::json& value) {
  return value.is_object() && value.size() == 1 && value.contains(kErasedKey) && value[std::string(kErasedKey)].is_string();
}

template <typename Json>
Result<std::string> CanonicalForHash(const Json& record, const nlohmann::json& salts) {
  Json copy = record;
  if (copy.is_object()) copy.erase("integrity");
  if (salts.is_object()) {
    for (auto it = salts.begin(); it != salts.end(); ++it) {
      if (!it.value().is_string())
        return Fail(ErrorCode::kInvalidArgument, "the salt of " + it.key() + " is not a string");
      typename Json::json_pointer pointer;
      try {
        pointer = typename Json::json_pointer(it.key());
      } catch (const std::exception&) {
        return Fail(ErrorCode::kInvalidArgument, "'" + it.key() + "' is not a JSON pointer");
      }
      if (!copy.contains(pointer)) continue;
      Json& value = copy[pointer];
      nlohmann::json plain = value;  // commitments are computed on the plain value
      if (!IsErased(plain)) value = Json(Commitment(it.value().template get<std::string>(), plain));
    }
  }
  return CanonicalJson(copy);
}

template Result<std::string> CanonicalForHash(const nlohmann::json&, const nlohmann::json&);
template Result<std::string> CanonicalForHash(const nlohmann::ordered_json&, const nlohmann::json&);

std::string ChainHash(std::string_view prev, std::string_view canonical) { return Sha256Hex({prev, canonical}); }

}  // namespace mcpaudit::journal

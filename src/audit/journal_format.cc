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

bool IsSegmentFile(const std::filesystem::directory_entry& entry) {
  std::error_code ec;
  return IsSegmentName(entry.path().filename().string()) && entry.is_regular_file(ec) && !entry.is_symlink(ec);
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
  if (!salts.is_object() && !salts.is_null()) return Fail(ErrorCode::kInvalidArgument, "salts must be an object");
  std::string out;
  AppendCanonical(out, record, salts.is_object() ? salts : nlohmann::json::object(), "integrity");
  return out;
}

template Result<std::string> CanonicalForHash(const nlohmann::json&, const nlohmann::json&);
template Result<std::string> CanonicalForHash(const nlohmann::ordered_json&, const nlohmann::json&);

std::string ChainHash(std::string_view prev, std::string_view canonical) { return Sha256Hex({prev, canonical}); }

}  // namespace mcpaudit::journal

#include "audit/journal_format.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "audit/canonical_json.h"
#include "base/crypto.h"
#include "base/json_text.h"
#include "mcpaudit/audit_event.h"

namespace mcpaudit::journal {

std::string SegmentName(uint64_t first_seq) {
  char name[64];
  std::snprintf(name, sizeof name, "segment-%020llu.jsonl",
                static_cast<unsigned long long>(first_seq));
  return name;
}

bool IsSegmentFile(const std::filesystem::directory_entry& entry) {
  std::error_code ec;
  return IsSegmentName(entry.path().filename().string()) && entry.is_regular_file(ec) &&
         !entry.is_symlink(ec);
}

bool IsSegmentName(std::string_view name) {
  return name.size() == 8 + 20 + 6 && name.starts_with("segment-") && name.ends_with(".jsonl");
}

std::optional<uint64_t> SegmentFirstSeq(std::string_view name) {
  if (!IsSegmentName(name)) return std::nullopt;
  uint64_t seq = 0;
  const auto digits = name.substr(8, 20);
  if (std::from_chars(digits.data(), digits.data() + digits.size(), seq).ec != std::errc()) return std::nullopt;
  return seq;
}

nlohmann::json Commitment(std::string_view salt, const nlohmann::json& value) {
  return {{std::string(kErasedKey), Sha256Hex({salt, CanonicalJson(value)})}};
}

bool IsErased(const nlohmann::json& value) {
  return value.is_object() && value.size() == 1 && value.contains(kErasedKey) &&
         value[std::string(kErasedKey)].is_string();
}

bool IsSalt(std::string_view text) { return IsLowerHex(text, kSaltDigits); }

template <typename Json>
Result<std::string> CanonicalForHash(const Json& record, const nlohmann::json& salts) {
  if (!salts.is_object() && !salts.is_null())
    return Fail(ErrorCode::kInvalidArgument, "salts must be an object");
  // A salt of another length would let bytes move between it and its value.
  if (salts.is_object()) {
    for (auto it = salts.begin(); it != salts.end(); ++it)
      if (!it->is_string() || !IsSalt(it->template get_ref<const std::string&>()))
        return Fail(ErrorCode::kInvalidArgument, "the salt of " + it.key() + " is not " +
                                                     std::to_string(kSaltDigits) +
                                                     " lowercase hex digits");
  }
  std::string out;
  AppendCanonical(out, record, salts.is_object() ? salts : nlohmann::json::object(), "integrity");
  return out;
}

template Result<std::string> CanonicalForHash(const nlohmann::json&, const nlohmann::json&);
template Result<std::string> CanonicalForHash(const nlohmann::ordered_json&, const nlohmann::json&);

std::string_view LastLine(std::string_view text) {
  if (text.empty() || text.back() != '\n') return {};
  text.remove_suffix(1);
  const size_t newline = text.rfind('\n');
  return newline == std::string_view::npos ? text : text.substr(newline + 1);
}

void Widen(std::optional<TimeSpan>& span, std::chrono::system_clock::time_point time) {
  if (span) {
    span->Widen(time);
  } else {
    span = TimeSpan{time, time};
  }
}

void Widen(std::optional<TimeSpan>& span, const std::optional<TimeSpan>& other) {
  if (!other) return;
  Widen(span, other->earliest);
  span->Widen(other->latest);
}

nlohmann::json SpanJson(const TimeSpan& span) {
  return {{"earliest", FormatTimestamp(span.earliest)}, {"latest", FormatTimestamp(span.latest)}};
}

template <typename Json>
std::optional<TimeSpan> DeclaredSpan(const Json& record) {
  if (!record.is_object()) return std::nullopt;
  auto type = record.find("event_type");
  auto details = record.find("details");
  if (type == record.end() || *type != "checkpoint" || details == record.end() ||
      !details->is_object())
    return std::nullopt;
  auto segment = details->find("segment");
  if (segment == details->end() || !segment->is_object()) return std::nullopt;
  auto earliest = segment->find("earliest"), latest = segment->find("latest");
  if (earliest == segment->end() || latest == segment->end() || !earliest->is_string() ||
      !latest->is_string())
    return std::nullopt;
  auto from = ParseTimestamp(earliest->template get_ref<const std::string&>());
  auto to = ParseTimestamp(latest->template get_ref<const std::string&>());
  if (!from || !to || *to < *from) return std::nullopt;
  return TimeSpan{*from, *to};
}

template std::optional<TimeSpan> DeclaredSpan(const nlohmann::json&);
template std::optional<TimeSpan> DeclaredSpan(const nlohmann::ordered_json&);

void AppendIntegrity(std::string& out, std::string_view stream_json, uint64_t seq,
                     std::string_view prev, std::string_view hash, std::string_view salts_json) {
  AppendParts(out, {"{\"v\":", std::to_string(kFormat), ",\"stream\":", stream_json, ",\"seq\":",
                    std::to_string(seq), ",\"prev\":\"", prev, "\",\"hash\":\"", hash, "\""});
  if (!salts_json.empty()) AppendParts(out, {",\"salts\":", salts_json});
  out += '}';
}

std::string RecordLine(const nlohmann::json& record) {
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  const auto integrity = record.find("integrity");
  if (integrity == record.end() || !integrity->is_object() || integrity->value("v", 0) != kFormat)
    return record.dump(-1, ' ', false, kReplace);
  std::string line;
  AppendCanonical(line, record, nlohmann::json::object(), "integrity");
  line.pop_back();  // the closing brace: integrity comes last
  line += line.size() > 1 ? ",\"integrity\":" : "\"integrity\":";
  const auto stream = integrity->find("stream"), seq = integrity->find("seq"),
             prev = integrity->find("prev"), hash = integrity->find("hash"),
             salts = integrity->find("salts");
  const size_t expected = salts == integrity->end() ? 5 : 6;
  if (integrity->size() == expected && stream != integrity->end() && stream->is_string() &&
      seq != integrity->end() && seq->is_number_unsigned() && prev != integrity->end() &&
      prev->is_string() && hash != integrity->end() && hash->is_string() &&
      (salts == integrity->end() || salts->is_object())) {
    std::string stream_json;
    AppendJsonString(stream_json, stream->get_ref<const std::string&>());
    AppendIntegrity(
        line, stream_json, seq->get<uint64_t>(), prev->get_ref<const std::string&>(),
        hash->get_ref<const std::string&>(),
        salts == integrity->end() ? std::string() : salts->dump(-1, ' ', false, kReplace));
  } else {
    line += integrity->dump(-1, ' ', false, kReplace);  // as it is: verify reads it with a parser
  }
  line += '}';
  return line;
}

Sha256Digest LeafHash(std::string_view canonical) {
  return Sha256().Update(std::string_view("\0", 1)).Update(canonical).Digest();
}

std::optional<Sha256Digest> RecordLeaf(std::string_view record, const nlohmann::json& salts) {
  std::vector<SaltedValue> values;
  values.reserve(salts.size());
  for (const auto& [pointer, salt] : salts.items()) {
    if (!salt.is_string() || !IsSalt(salt.get_ref<const std::string&>())) return std::nullopt;
    // A pointer to nothing (or to the root) commits nothing, in CanonicalForHash too.
    auto value = pointer.empty() ? std::nullopt : json_text::ValueAt(record, pointer);
    if (value) values.push_back({*value, salt.get_ref<const std::string&>()});
  }
  return LeafWithCommitments(record, values);
}

Sha256Digest LeafWithCommitments(std::string_view record, std::span<SaltedValue> values) {
  std::sort(values.begin(), values.end(), [](const SaltedValue& a, const SaltedValue& b) {
    return a.value.data() < b.value.data();
  });
  Sha256 leaf;
  leaf.Update(std::string_view("\0", 1));
  const char* done = record.data();  // what is hashed so far
  for (const SaltedValue& salted : values) {
    if (salted.value.data() < done) continue;  // inside a value committed already
    leaf.Update(std::string_view(done, static_cast<size_t>(salted.value.data() - done)));
    leaf.Update("{\"$erased\":\"").Update(Sha256Hex({salted.salt, salted.value})).Update("\"}");
    done = salted.value.data() + salted.value.size();
  }
  leaf.Update(std::string_view(done, static_cast<size_t>(record.data() + record.size() - done)));
  return leaf.Digest();
}

std::string ChainHash(std::string_view prev, const Sha256Digest& leaf) {
  uint8_t prev_bytes[32];
  const bool digest = prev.size() == 64 && HexDecodeTo(prev, prev_bytes);
  Sha256 hash;
  if (digest) {
    hash.Update(prev_bytes);
  } else {
    hash.Update(prev);
  }
  return HexEncode(hash.Update(leaf).Digest());
}

std::string ChainHashV1(std::string_view prev, std::string_view canonical) {
  return Sha256Hex({prev, canonical});
}

}  // namespace mcpaudit::journal

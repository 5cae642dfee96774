// RFC 8785 JSON Canonicalization Scheme (JCS): the one byte sequence of a JSON
// value that the audit chain hashes. Object members sorted by their UTF-16 code
// units, no white space, ECMAScript number formatting, minimal string escapes.
#pragma once

#include <cstring>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mcpaudit {

// Integers are written exactly; the RFC reads every number as an IEEE double,
// which agrees for every integer of magnitude up to 2^53 (all that records hold).
std::string CanonicalJson(const nlohmann::json& value);
std::string CanonicalJson(const nlohmann::ordered_json& value);

// ECMAScript Number.prototype.toString for a finite double (RFC 8785 §3.2.2.3).
std::string CanonicalNumber(double value);

// Appends the parts with one size change: the record writers build records out
// of many short pieces, and a call per piece would cost more than the bytes.
inline void AppendParts(std::string& out, std::initializer_list<std::string_view> parts) {
  size_t total = 0;
  for (auto part : parts) total += part.size();
  const size_t old = out.size();
  if (out.capacity() < old + total) out.reserve(std::max(2 * out.capacity(), old + total));
  out.resize_and_overwrite(old + total, [&](char* data, size_t size) {
    char* p = data + old;
    for (auto part : parts) {
      std::memcpy(p, part.data(), part.size());
      p += part.size();
    }
    return size;
  });
}

// A JSON string literal with RFC 8785's escapes (which are also what records
// use). Ill-formed UTF-8 is replaced by U+FFFD, as the record writer does, so
// that a record and its canonical form always agree.
void AppendJsonString(std::string& out, std::string_view text);

// `text` with each byte that is not part of well-formed UTF-8 replaced by U+FFFD.
std::string WellFormedUtf8(std::string_view text);

// Canonical JSON of `value` with the erasable fields replaced by commitments:
// the value at every JSON pointer named in `salts` (pointer → salt), whatever
// it looks like, becomes {"$erased": SHA-256(salt ‖ canonical(value))}.
// (Erasure drops a field's salt when it writes the commitment.)
// `skip_top_level` names one top-level member to leave out ("integrity").
template <typename Json>
void AppendCanonical(std::string& out, const Json& value, const nlohmann::json& salts,
                     std::string_view skip_top_level = {});
// The same for a value that sits at `base_path` inside a larger document.
void AppendCanonicalAt(std::string& out, const nlohmann::json& value, const nlohmann::json& salts,
                       std::string_view base_path);

}  // namespace mcpaudit

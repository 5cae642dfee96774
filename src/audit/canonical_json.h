// RFC 8785 JSON Canonicalization Scheme (JCS): the one byte sequence of a JSON
// value that the audit chain hashes. Object members sorted by their UTF-16 code
// units, no white space, ECMAScript number formatting, minimal string escapes.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mcpaudit {

// Integers are written exactly; the RFC reads every number as an IEEE double,
// which agrees for every integer of magnitude up to 2^53 (all that records hold).
std::string CanonicalJson(const nlohmann::json& value);
std::string CanonicalJson(const nlohmann::ordered_json& value);

// ECMAScript Number.prototype.toString for a finite double (RFC 8785 §3.2.2.3).
std::string CanonicalNumber(double value);

// A JSON string literal with RFC 8785's escapes (which are also what records
// use). Ill-formed UTF-8 is replaced by U+FFFD, as the record writer does, so
// that a record and its canonical form always agree.
void AppendJsonString(std::string& out, std::string_view text);

// Canonical JSON of `value` with the erasable fields replaced by commitments:
// every JSON pointer named in `salts` (pointer → salt) whose value is not
// already a commitment becomes {"$erased": SHA-256(salt ‖ canonical(value))}.
// `skip_top_level` names one top-level member to leave out ("integrity").
template <typename Json>
void AppendCanonical(std::string& out, const Json& value, const nlohmann::json& salts,
                     std::string_view skip_top_level = {});
// The same for a value that sits at `base_path` inside a larger document.
void AppendCanonicalAt(std::string& out, const nlohmann::json& value, const nlohmann::json& salts,
                       std::string_view base_path);

}  // namespace mcpaudit

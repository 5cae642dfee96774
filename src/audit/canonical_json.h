// RFC 8785 JSON Canonicalization Scheme (JCS): the one byte sequence of a JSON
// value that the audit chain hashes. Object members sorted by their UTF-16 code
// units, no white space, ECMAScript number formatting, minimal string escapes.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace mcpaudit {

// Integers are written exactly; the RFC reads every number as an IEEE double,
// which agrees for every integer of magnitude up to 2^53 (all that records hold).
std::string CanonicalJson(const nlohmann::json& value);
std::string CanonicalJson(const nlohmann::ordered_json& value);

// ECMAScript Number.prototype.toString for a finite double (RFC 8785 §3.2.2.3).
std::string CanonicalNumber(double value);

}  // namespace mcpaudit

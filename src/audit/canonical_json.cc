#include "audit/canonical_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

namespace mcpaudit {
namespace {

// The UTF-16 code units of a UTF-8 string, for RFC 8785's member ordering.
std::u16string Utf16(const std::string& s) {
  std::u16string out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) cp = c, len = 1;
    else if ((c >> 5) == 6) cp = c & 0x1f, len = 2;
    else if ((c >> 4) == 14) cp = c & 0x0f, len = 3;
    else cp = c & 0x07, len = 4;
    for (size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xd800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

void AppendString(std::string& out, const std::string& s) {
  out.push_back('"');
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

template <typename Json>
void Append(std::string& out, const Json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: out += "null"; return;
    case nlohmann::json::value_t::boolean: out += value.template get<bool>() ? "true" : "false"; return;
    case nlohmann::json::value_t::number_integer: out += std::to_string(value.template get<int64_t>()); return;
    case nlohmann::json::value_t::number_unsigned: out += std::to_string(value.template get<uint64_t>()); return;
    case nlohmann::json::value_t::number_float: out += CanonicalNumber(value.template get<double>()); return;
    case nlohmann::json::value_t::string: AppendString(out, value.template get_ref<const std::string&>()); return;
    case nlohmann::json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& item : value) {
        if (!first) out.push_back(',');
        first = false;
        Append(out, item);
      }
      out.push_back(']');
      return;
    }
    case nlohmann::json::value_t::object: {
      std::vector<std::pair<std::u16string, typename Json::const_iterator>> members;
      members.reserve(value.size());
      for (auto it = value.begin(); it != value.end(); ++it) members.emplace_back(Utf16(it.key()), it);
      std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      out.push_back('{');
      bool first = true;
      for (const auto& [key, it] : members) {
        if (!first) out.push_back(',');
        first = false;
        AppendString(out, it.key());
        out.push_back(':');
        Append(out, it.value());
      }
      out.push_back('}');
      return;
    }
    case nlohmann::json::value_t::binary:
    case nlohmann::json::value_t::discarded: out += "null"; return;
  }
}

}  // namespace

std::string CanonicalNumber(double value) {
  if (value == 0 || !std::isfinite(value)) return "0";  // -0 is "0"; JSON has no NaN/Infinity
  // The shortest digits that round-trip, then ECMAScript's layout rules.
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, std::fabs(value), std::chars_format::scientific);
  (void)ec;
  std::string sci(buffer, end);  // d.ddde±xx
  const size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exponent = std::stoi(sci.substr(e + 1));
  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1;  // the decimal point sits after n digits
  std::string out = value < 0 ? "-" : "";
  if (k <= n && n <= 21) {
    out += digits + std::string(n - k, '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, n) + "." + digits.substr(n);
  } else if (-6 < n && n <= 0) {
    out += "0." + std::string(-n, '0') + digits;
  } else {
    out += digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += (n - 1 >= 0 ? "e+" : "e-") + std::to_string(std::abs(n - 1));
  }
  return out;
}

std::string CanonicalJson(const nlohmann::json& value) {
  std::string out;
  Append(out, value);
  return out;
}

std::string CanonicalJson(const nlohmann::ordered_json& value) {
  std::string out;
  Append(out, value);
  return out;
}

}  // namespace mcpaudit

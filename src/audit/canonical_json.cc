#include "audit/canonical_json.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <type_traits>
#include <vector>

#include "base/crypto.h"

namespace mcpaudit {
namespace {

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// The UTF-16 code units of a UTF-8 string, for RFC 8785's member ordering.
std::u16string Utf16(std::string_view s) {
  std::u16string out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80)
      cp = c, len = 1;
    else if ((c >> 5) == 6)
      cp = c & 0x1f, len = 2;
    else if ((c >> 4) == 14)
      cp = c & 0x0f, len = 3;
    else
      cp = c & 0x07, len = 4;
    for (size_t k = 1; k < len && i + k < s.size(); ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
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

bool Utf16Less(std::string_view a, std::string_view b) {
  if (IsAscii(a) && IsAscii(b)) return a < b;  // the common case: code unit order is byte order
  return Utf16(a) < Utf16(b);
}

// Length of the well-formed UTF-8 sequence at s[i], or 0 if ill-formed.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len;
  uint32_t min;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, min = 0x10000;
  else
    return 0;
  if (i + len > s.size()) return 0;
  uint32_t cp = c & (0xff >> (len + 1));
  for (size_t k = 1; k < len; ++k) {
    const unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

// A pointer path being walked, for the salts lookup.
class Walk {
 public:
  Walk(std::string& out, const nlohmann::json& salts)
      : out_(out), salts_(salts), active_(!salts.empty()) {}

  template <typename Json>
  void Value(const Json& value) {
    if (active_ && !path_.empty()) {
      if (auto it = salts_.find(path_); it != salts_.end() && it->is_string()) {
        std::string inner;
        AppendCanonical(inner, value, nlohmann::json::object());
        out_ += "{\"$erased\":\"";
        out_ += Sha256Hex({it->template get_ref<const std::string&>(), inner});
        out_ += "\"}";
        return;
      }
    }
    switch (value.type()) {
      case nlohmann::json::value_t::null:
        out_ += "null";
        return;
      case nlohmann::json::value_t::boolean:
        out_ += value.template get<bool>() ? "true" : "false";
        return;
      case nlohmann::json::value_t::number_integer:
        out_ += std::to_string(value.template get<int64_t>());
        return;
      case nlohmann::json::value_t::number_unsigned:
        out_ += std::to_string(value.template get<uint64_t>());
        return;
      case nlohmann::json::value_t::number_float:
        out_ += CanonicalNumber(value.template get<double>());
        return;
      case nlohmann::json::value_t::string:
        AppendJsonString(out_, value.template get_ref<const std::string&>());
        return;
      case nlohmann::json::value_t::array: {
        out_.push_back('[');
        size_t index = 0;
        for (const auto& item : value) {
          if (index > 0) out_.push_back(',');
          Descend(std::to_string(index++), item);
        }
        out_.push_back(']');
        return;
      }
      case nlohmann::json::value_t::object: {
        out_.push_back('{');
        bool first = true;
        auto member = [&](const auto& it) {
          if (path_.empty() && !skip_.empty() && it.key() == skip_) return;
          if (!first) out_.push_back(',');
          first = false;
          AppendJsonString(out_, it.key());
          out_.push_back(':');
          Descend(it.key(), it.value());
        };
        // A std::map-backed object with ASCII keys is already in RFC 8785 order
        // (UTF-16 code unit order is byte order there): no sorting needed.
        constexpr bool kSorted = std::is_same_v<Json, nlohmann::json>;
        if (kSorted && std::all_of(value.items().begin(), value.items().end(),
                                   [](const auto& item) { return IsAscii(item.key()); })) {
          for (auto it = value.begin(); it != value.end(); ++it) member(it);
        } else {
          std::vector<typename Json::const_iterator> members;
          members.reserve(value.size());
          for (auto it = value.begin(); it != value.end(); ++it) members.push_back(it);
          std::sort(members.begin(), members.end(),
                    [](const auto& a, const auto& b) { return Utf16Less(a.key(), b.key()); });
          for (const auto& it : members) member(it);
        }
        out_.push_back('}');
        return;
      }
      case nlohmann::json::value_t::binary:
      case nlohmann::json::value_t::discarded:
        out_ += "null";
        return;
    }
  }

  std::string_view skip_;
  void SetBase(std::string_view base) { path_ = std::string(base); }

 private:
  template <typename Json>
  void Descend(const std::string& key, const Json& value) {
    if (!active_) return Value(value);
    const size_t mark = path_.size();
    path_.push_back('/');
    for (char c : key) {
      if (c == '~')
        path_ += "~0";
      else if (c == '/')
        path_ += "~1";
      else
        path_.push_back(c);
    }
    Value(value);
    path_.resize(mark);
  }

  std::string& out_;
  const nlohmann::json& salts_;
  bool active_;
  std::string path_;
};

}  // namespace

// Bytes that a JSON string cannot hold as they are: control characters, '"',
// '\\', and every non-ASCII byte (its UTF-8 sequence must be checked).
constexpr auto kNeedsCare = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) table[c] = c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
  return table;
}();

void AppendJsonString(std::string& out, std::string_view s) {
  size_t plain = 0;
  while (plain < s.size() && !kNeedsCare[static_cast<unsigned char>(s[plain])]) ++plain;
  if (plain == s.size()) return AppendParts(out, {"\"", s, "\""});  // the common case
  out.push_back('"');
  size_t run = 0;  // start of the bytes that need no escape, appended in one go
  for (size_t i = plain; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (!kNeedsCare[c]) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const size_t len = Utf8SequenceLength(s, i);
      if (len > 0) {
        i += len;
        continue;
      }
    }
    out.append(s.data() + run, i - run);
    ++i;
    run = i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c >= 0x80) {
          out += "\xef\xbf\xbd";  // U+FFFD for each ill-formed byte
        } else {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

std::string WellFormedUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      out += "\xef\xbf\xbd";
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

std::string CanonicalNumber(double value) {
  if (value == 0 || !std::isfinite(value)) return "0";  // -0 is "0"; JSON has no NaN/Infinity
  // The shortest digits that round-trip, then ECMAScript's layout rules.
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, std::fabs(value),
                                 std::chars_format::scientific);
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

template <typename Json>
void AppendCanonical(std::string& out, const Json& value, const nlohmann::json& salts,
                     std::string_view skip_top_level) {
  Walk walk(out, salts);
  walk.skip_ = skip_top_level;
  walk.Value(value);
}

template void AppendCanonical(std::string&, const nlohmann::json&, const nlohmann::json&,
                              std::string_view);

void AppendCanonicalAt(std::string& out, const nlohmann::json& value, const nlohmann::json& salts,
                       std::string_view base_path) {
  Walk walk(out, salts);
  walk.SetBase(base_path);
  walk.Value(value);
}
template void AppendCanonical(std::string&, const nlohmann::ordered_json&, const nlohmann::json&,
                              std::string_view);

std::string CanonicalJson(const nlohmann::json& value) {
  std::string out;
  AppendCanonical(out, value, nlohmann::json::object());
  return out;
}

std::string CanonicalJson(const nlohmann::ordered_json& value) {
  std::string out;
  AppendCanonical(out, value, nlohmann::json::object());
  return out;
}

}  // namespace mcpaudit

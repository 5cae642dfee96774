#include "base/json_text.h"

#include <array>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

namespace mcpaudit::json_text {
namespace {

constexpr size_t kNone = std::string_view::npos;

size_t SkipSpace(std::string_view text, size_t at) {
  while (at < text.size() &&
         (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' || text[at] == '\r'))
    ++at;
  return at;
}

// The index after the string that starts (with its quote) at `at`, or kNone.
size_t SkipString(std::string_view text, size_t at) {
  for (size_t i = at + 1; i < text.size();) {
    const void* quote = std::memchr(text.data() + i, '"', text.size() - i);
    if (quote == nullptr) return kNone;
    const size_t q = static_cast<size_t>(static_cast<const char*>(quote) - text.data());
    size_t backslashes = 0;  // an odd number before it escapes the quote
    while (q - backslashes > at + 1 && text[q - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return q + 1;
    i = q + 1;
  }
  return kNone;
}

// The index after the value that starts at `at`, or kNone.
size_t SkipValue(std::string_view text, size_t at) {
  if (at >= text.size()) return kNone;
  if (text[at] == '"') return SkipString(text, at);
  if (text[at] != '{' && text[at] != '[') {
    size_t end = at;
    while (end < text.size() && text[end] != ',' && text[end] != '}' && text[end] != ']' &&
           text[end] != ' ' && text[end] != '\n' && text[end] != '\t' && text[end] != '\r')
      ++end;
    return end > at ? end : kNone;
  }
  size_t depth = 0;
  for (size_t i = at; i < text.size(); ++i) {
    switch (text[i]) {
      case '"':
        i = SkipString(text, i);
        if (i == kNone) return kNone;
        --i;
        break;
      case '{':
      case '[':
        ++depth;
        break;
      case '}':
      case ']':
        if (--depth == 0) return i + 1;
        break;
      default:
        break;
    }
  }
  return kNone;
}

// The start of the item after the value that starts at `at` in an object or
// array (past its comma), or kNone when no comma follows.
size_t NextItem(std::string_view text, size_t at) {
  const size_t end = SkipValue(text, at);
  if (end == kNone) return kNone;
  const size_t i = SkipSpace(text, end);
  if (i >= text.size() || text[i] != ',') return kNone;
  return SkipSpace(text, i + 1);
}

// One reference token of a pointer, unescaped (~1 is '/', ~0 is '~').
std::string Token(std::string_view escaped) {
  std::string token;
  for (size_t i = 0; i < escaped.size(); ++i) {
    if (escaped[i] == '~' && i + 1 < escaped.size() &&
        (escaped[i + 1] == '0' || escaped[i + 1] == '1')) {
      token.push_back(escaped[i + 1] == '0' ? '~' : '/');
      ++i;
    } else {
      token.push_back(escaped[i]);
    }
  }
  return token;
}

// The characters of a JSON string with escapes (rare in keys), or nullopt.
std::optional<std::string> Unescaped(std::string_view quoted) {
  const auto parsed = nlohmann::json::parse(quoted, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_string()) return std::nullopt;
  return parsed.get<std::string>();
}

// The start of the member `key`'s value in the object that starts at `at`, or kNone.
size_t MemberValue(std::string_view text, size_t at, std::string_view key) {
  size_t i = SkipSpace(text, at + 1);
  if (i < text.size() && text[i] == '}') return kNone;
  while (i < text.size() && text[i] == '"') {
    const size_t key_start = i;
    const size_t key_end = SkipString(text, i);
    if (key_end == kNone) return kNone;
    const std::string_view name = text.substr(i + 1, key_end - i - 2);
    i = SkipSpace(text, key_end);
    if (i >= text.size() || text[i] != ':') return kNone;
    i = SkipSpace(text, i + 1);
    if (name == key || (name.find('\\') != std::string_view::npos &&
                        Unescaped(text.substr(key_start, key_end - key_start)) == key))
      return i;
    i = NextItem(text, i);
  }
  return kNone;
}

// The start of element `index` of the array that starts at `at`, or kNone.
size_t ElementValue(std::string_view text, size_t at, std::string_view index) {
  if (index.empty() || index.size() > 9 ||
      index.find_first_not_of("0123456789") != std::string_view::npos ||
      (index.size() > 1 && index[0] == '0'))
    return kNone;
  size_t wanted = std::stoul(std::string(index));
  size_t i = SkipSpace(text, at + 1);
  if (i < text.size() && text[i] == ']') return kNone;
  while (i < text.size()) {
    if (wanted-- == 0) return i;
    i = NextItem(text, i);
  }
  return kNone;
}

}  // namespace

std::optional<std::string_view> ValueAt(std::string_view text, std::string_view pointer) {
  size_t at = SkipSpace(text, 0);
  while (!pointer.empty()) {
    if (pointer[0] != '/' || at >= text.size()) return std::nullopt;
    const size_t next = pointer.find('/', 1);
    const std::string token = Token(pointer.substr(1, next == kNone ? kNone : next - 1));
    pointer = next == kNone ? std::string_view() : pointer.substr(next);
    if (text[at] == '{') {
      at = MemberValue(text, at, token);
    } else if (text[at] == '[') {
      at = ElementValue(text, at, token);
    } else {
      return std::nullopt;
    }
    if (at == kNone) return std::nullopt;
  }
  const size_t end = SkipValue(text, at);
  if (end == kNone) return std::nullopt;
  return text.substr(at, end - at);
}

Object::Object(std::string_view text) {
  size_t i = SkipSpace(text, 0);
  if (i >= text.size() || text[i] != '{') return;
  i = SkipSpace(text, i + 1);
  members_.reserve(16);
  if (i < text.size() && text[i] == '}') {
    valid_ = true;
    end_ = i + 1;
    return;
  }
  while (i < text.size() && text[i] == '"') {
    const size_t key_end = SkipString(text, i);
    if (key_end == kNone) return;
    const std::string_view key = text.substr(i + 1, key_end - i - 2);
    i = SkipSpace(text, key_end);
    if (i >= text.size() || text[i] != ':') return;
    i = SkipSpace(text, i + 1);
    const size_t end = SkipValue(text, i);
    if (end == kNone) return;
    members_.emplace_back(key, text.substr(i, end - i));
    i = SkipSpace(text, end);
    if (i < text.size() && text[i] == '}') {
      valid_ = true;
      end_ = i + 1;
      return;
    }
    if (i >= text.size() || text[i] != ',') return;
    i = SkipSpace(text, i + 1);
  }
}

std::optional<std::string_view> Object::Get(std::string_view key) const {
  for (const auto& [name, value] : members_) {
    if (name == key) return value;
    if (name.find('\\') != std::string_view::npos) {
      const std::string quoted = "\"" + std::string(name) + "\"";
      if (Unescaped(quoted) == key) return value;
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> Object::ValueAt(std::string_view pointer) const {
  if (pointer.empty() || pointer[0] != '/') return std::nullopt;
  const size_t next = pointer.find('/', 1);
  auto member = Get(Token(pointer.substr(1, next == kNone ? kNone : next - 1)));
  if (!member || next == kNone) return member;
  return json_text::ValueAt(*member, pointer.substr(next));
}

std::optional<std::string_view> PlainString(std::string_view value) {
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::nullopt;
  const std::string_view inside = value.substr(1, value.size() - 2);
  static constexpr auto kPlain = [] {
    std::array<bool, 256> table{};
    for (int c = 0x20; c < 256; ++c) table[c] = c != '\\' && c != '"';
    return table;
  }();
  for (char c : inside)
    if (!kPlain[static_cast<unsigned char>(c)]) return std::nullopt;
  return inside;
}

}  // namespace mcpaudit::json_text

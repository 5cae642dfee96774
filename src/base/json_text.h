// Finding values in JSON text without building a tree: for readers that need a
// few members of a long record (verify hashes the record's own bytes). The
// scan is linear, needs no recursion, and never reads past the text; it does
// not validate what it skips, so use what it finds only where a later check
// (a hash) would catch text that is not what it seems.
#pragma once

#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpaudit::json_text {

// The bytes of the value at `pointer` (RFC 6901; "" is the whole text) in the
// JSON text `text`, or nullopt when there is none or the text is not JSON of
// the expected shape. Whitespace around values is allowed.
std::optional<std::string_view> ValueAt(std::string_view text, std::string_view pointer);

// The members of a JSON object, found in one pass: for a reader that looks up
// several of them.
class Object {
 public:
  // Not valid() when `text` is not an object of the expected shape.
  explicit Object(std::string_view text);
  bool valid() const { return valid_; }
  // Where the object ends in `text` (after its closing brace).
  size_t end() const { return end_; }
  // The bytes of member `key`'s value (the first one of that name), or nullopt.
  std::optional<std::string_view> Get(std::string_view key) const;
  // The bytes of the value at `pointer` (RFC 6901) below this object.
  std::optional<std::string_view> ValueAt(std::string_view pointer) const;
  // Each member: its key as written between the quotes (escapes and all), its value's bytes.
  const std::vector<std::pair<std::string_view, std::string_view>>& members() const {
    return members_;
  }

 private:
  std::vector<std::pair<std::string_view, std::string_view>> members_;
  bool valid_ = false;
  size_t end_ = 0;
};

// The characters of a JSON string value written without escapes or control
// characters (`"abc"` → `abc`), or nullopt for any other value.
std::optional<std::string_view> PlainString(std::string_view value);

}  // namespace mcpaudit::json_text

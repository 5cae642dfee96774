#include "base/bounded_json.h"

#include <cmath>
#include <optional>

namespace mcpaudit {
namespace {

using nlohmann::json;

// nlohmann's DOM builder behind a gate: what nests deeper than the budget is
// read (the parser itself is iterative) but not built, and stands as one null.
class BoundedSax {
 public:
  BoundedSax(json& root, size_t max_depth)
      : dom_(root, /*allow_exceptions=*/false), max_depth_(max_depth) {}

  bool null() { return Skipped() || dom_.null(); }
  bool boolean(bool value) { return Skipped() || dom_.boolean(value); }
  bool number_integer(json::number_integer_t value) {
    return Skipped() || dom_.number_integer(value);
  }
  bool number_unsigned(json::number_unsigned_t value) {
    return Skipped() || dom_.number_unsigned(value);
  }
  bool number_float(json::number_float_t value, const json::string_t& text) {
    if (Skipped()) return true;
    if (!std::isfinite(value)) {
      Fault(JsonFault::kNumberOutOfRange, "the number " + text.substr(0, 40) + " is out of range");
      return dom_.null();
    }
    return dom_.number_float(value, text);
  }
  bool string(json::string_t& value) { return Skipped() || dom_.string(value); }
  bool binary(json::binary_t& value) { return Skipped() || dom_.binary(value); }
  bool key(json::string_t& value) { return Skipped() || dom_.key(value); }

  bool start_object(size_t size) { return Enter() ? dom_.start_object(size) : true; }
  bool end_object() { return Leave() ? dom_.end_object() : true; }
  bool start_array(size_t size) { return Enter() ? dom_.start_array(size) : true; }
  bool end_array() { return Leave() ? dom_.end_array() : true; }

  bool parse_error(size_t position, const std::string& token,
                   const nlohmann::detail::exception& error) {
    // nlohmann stops at a number out of range; the caller patches it out and reads again.
    if (error.id == kNumberOverflow) {
      overflow_ = Overflow{position, token};
    } else {
      std::string what = error.what();
      if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
      fault_ = JsonFault::kSyntax;  // wins over the faults found before it
      message_ = std::move(what);
    }
    return dom_.parse_error(position, token, error);
  }

  // nlohmann's "number overflow" (out_of_range.406): where, and the number's text.
  static constexpr int kNumberOverflow = 406;
  struct Overflow {
    size_t end;
    std::string token;
  };

  JsonFault fault() const { return fault_; }
  std::string& message() { return message_; }
  const std::optional<Overflow>& overflow() const { return overflow_; }

 private:
  bool Skipped() const { return depth_ > max_depth_; }

  // Whether the container that starts is built.
  bool Enter() {
    ++depth_;
    if (depth_ == max_depth_ + 1)
      Fault(JsonFault::kTooDeep, "nested deeper than " + std::to_string(max_depth_) + " levels");
    return depth_ <= max_depth_;
  }
  // Whether the container that ends was built; one that was not stands as null.
  bool Leave() {
    const bool built = depth_ <= max_depth_;
    --depth_;
    if (!built && depth_ == max_depth_) (void)dom_.null();
    return built;
  }

  void Fault(JsonFault fault, std::string message) {
    if (fault_ != JsonFault::kNone) return;  // the first one says it
    fault_ = fault;
    message_ = std::move(message);
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  const size_t max_depth_;
  size_t depth_ = 0;
  JsonFault fault_ = JsonFault::kNone;
  std::string message_;
  std::optional<Overflow> overflow_;
};

}  // namespace

std::string_view FaultReason(JsonFault fault) {
  switch (fault) {
    case JsonFault::kNone:
      return "";
    case JsonFault::kSyntax:
      return "parse_error";
    case JsonFault::kTooDeep:
      return "too_deep";
    case JsonFault::kNumberOutOfRange:
      return "number_out_of_range";
  }
  return "";
}

BoundedJson ParseBounded(std::string_view text, size_t max_depth) {
  BoundedJson parsed;
  // No JSON text holds a NUL byte (a string escapes it), and nlohmann's reader
  // takes one for the end of the input: whatever followed it would pass unread.
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
    parsed.fault = JsonFault::kSyntax;
    parsed.message = "a NUL byte at offset " + std::to_string(nul) + " (JSON text holds none)";
    parsed.value = json(json::value_t::discarded);
    return parsed;
  }
  std::string patched;  // the text with the numbers out of range replaced by null, once one is met
  for (int attempt = 0;; ++attempt) {
    parsed.value = json();
    BoundedSax sax(parsed.value, max_depth);
    const std::string_view input = patched.empty() ? text : std::string_view(patched);
    const bool ok = json::sax_parse(input, &sax, json::input_format_t::json, /*strict=*/true);
    if (const auto& overflow = sax.overflow()) {
      if (parsed.fault == JsonFault::kNone) {
        parsed.fault = JsonFault::kNumberOutOfRange;
        parsed.message = "the number " + overflow->token.substr(0, 40) + " is out of range";
      }
      // A number no double holds has at least five characters ("1e309"): "null" and
      // spaces take its place, and the rest of the message is read again (so that a
      // refusal can name its id). Messages full of such numbers are not read further.
      const size_t at = std::string_view(input).rfind(overflow->token, overflow->end);
      if (attempt < 8 && at != std::string_view::npos && overflow->token.size() >= 4) {
        if (patched.empty()) patched = std::string(text);
        patched.replace(at, overflow->token.size(),
                        "null" + std::string(overflow->token.size() - 4, ' '));
        continue;
      }
      parsed.value = json(json::value_t::discarded);
      return parsed;
    }
    if (parsed.fault == JsonFault::kNone || sax.fault() == JsonFault::kSyntax) {
      parsed.fault = sax.fault();
      parsed.message = std::move(sax.message());
    }
    if (!ok && parsed.fault == JsonFault::kNone) parsed.fault = JsonFault::kSyntax;
    if (parsed.fault == JsonFault::kSyntax) parsed.value = json(json::value_t::discarded);
    return parsed;
  }
}

json ParseWithin(std::string_view text, size_t max_depth) {
  BoundedJson parsed = ParseBounded(text, max_depth);
  if (parsed.fault != JsonFault::kNone) return json(json::value_t::discarded);
  return std::move(parsed.value);
}

}  // namespace mcpaudit

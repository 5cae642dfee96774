// Any bytes as JSON within the message budget, then what the audit does with
// a value: redaction, the canonical form the chain hashes, a dump.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "mcpaudit/redaction.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mcpaudit;
  static const Redactor redactor(RedactionOptions{});
  BoundedJson parsed = ParseBounded(std::string_view(reinterpret_cast<const char*>(data), size), kDefaultMessageDepth);
  if (parsed.fault == JsonFault::kSyntax) return 0;
  (void)CanonicalJson(parsed.value);
  redactor.Apply(parsed.value);
  const std::string canonical = CanonicalJson(parsed.value);
  // The canonical form is JSON that reads back to a value with the same canonical form.
  const nlohmann::json again = ParseWithin(canonical, kMaxRecordDepth);
  if (again.is_discarded() || CanonicalJson(again) != canonical) __builtin_trap();
  (void)parsed.value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}

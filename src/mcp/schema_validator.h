// Validates tool arguments against the tool's JSON Schema (valijson).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mcpaudit/result.h"

namespace mcpaudit {

class SchemaValidator {
 public:
  // Fails when `schema` is not a JSON Schema object valijson can compile.
  [[nodiscard]] static Result<std::unique_ptr<SchemaValidator>> Compile(const nlohmann::json& schema);
  ~SchemaValidator();

  // Empty when `instance` is valid; otherwise one line per violation, each
  // naming where in the instance it is ("/limit: ..."). Thread-safe.
  std::string Validate(const nlohmann::json& instance) const;

 private:
  struct Compiled;
  explicit SchemaValidator(std::unique_ptr<Compiled> compiled);
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace mcpaudit

#define VALIJSON_USE_EXCEPTIONS 1
#include "mcp/schema_validator.h"

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <stdexcept>

namespace mcpaudit {

struct SchemaValidator::Compiled {
  nlohmann::json document;  // valijson's adapters point into it
  valijson::Schema schema;
};

SchemaValidator::SchemaValidator(std::unique_ptr<Compiled> compiled) : compiled_(std::move(compiled)) {}
SchemaValidator::~SchemaValidator() = default;

Result<std::unique_ptr<SchemaValidator>> SchemaValidator::Compile(const nlohmann::json& schema) {
  if (!schema.is_object()) return Fail(ErrorCode::kInvalidArgument, "a JSON Schema must be an object");
  auto compiled = std::make_unique<Compiled>();
  compiled->document = schema;
  // The MCP default dialect is 2020-12; valijson knows draft 7, which agrees on
  // every keyword tool schemas use. The $schema marker itself is not needed.
  compiled->document.erase("$schema");
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(compiled->document);
    parser.populateSchema(adapter, compiled->schema);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, std::string("invalid JSON Schema: ") + e.what());
  }
  return std::unique_ptr<SchemaValidator>(new SchemaValidator(std::move(compiled)));
}

std::string SchemaValidator::Validate(const nlohmann::json& instance) const {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(instance);
  try {
    if (validator.validate(compiled_->schema, adapter, &results)) return {};
  } catch (const std::exception& e) {
    return std::string("the arguments could not be validated: ") + e.what();
  }
  // valijson reports each failure together with its enclosing contexts
  // ("failed to validate against schema associated with property 'limit'").
  // Only the innermost failures say what is wrong: keep an error only when no
  // other error lies deeper below its path.
  std::vector<std::pair<std::string, std::string>> errors;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    std::string path;
    for (const auto& part : error.context) {
      if (part == "<root>") continue;
      std::string p = part;
      if (p.size() >= 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
      if (p.size() >= 2 && p.front() == '"' && p.back() == '"') p = p.substr(1, p.size() - 2);
      path += "/" + p;
    }
    errors.emplace_back(path, error.description);
  }
  std::string out;
  for (const auto& [path, description] : errors) {
    bool has_deeper = false;
    for (const auto& other : errors) has_deeper |= other.first.size() > path.size() && other.first.starts_with(path + "/");
    if (has_deeper) continue;
    if (!out.empty()) out += "\n";
    out += (path.empty() ? "/" : path) + ": " + description;
  }
  return out;
}

}  // namespace mcpaudit

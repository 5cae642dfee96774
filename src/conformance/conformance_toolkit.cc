// The fixtures of the official MCP conformance suite
// (@modelcontextprotocol/conformance, server scenarios): tools that return each
// content type, report progress and log messages, ask the client for sampling
// and elicitation, close their SSE stream; resources, a template, prompts and
// completions. Every call goes through the same recorder as any other toolkit.
#include "conformance/conformance_toolkit.h"

#include <thread>

namespace mcpaudit {
namespace {

using nlohmann::json;

// A 1x1 red pixel, and a WAV file with no samples: the smallest valid media.
constexpr const char* kPng =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
constexpr const char* kWav = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=";

json Text(const std::string& text) { return {{"type", "text"}, {"text", text}}; }
json Image() { return {{"type", "image"}, {"data", kPng}, {"mimeType", "image/png"}}; }

ToolResult Content(json content) {
  ToolResult result;
  result.content = std::move(content);
  return result;
}

ToolDefinition Tool(std::string name, std::string description, json properties = json::object(),
                    std::vector<std::string> required = {}) {
  ToolDefinition tool;
  tool.name = std::move(name);
  tool.description = std::move(description);
  tool.input_schema = {{"type", "object"}, {"properties", std::move(properties)}};
  if (!required.empty()) tool.input_schema["required"] = required;
  return tool;
}

void Sleep(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Asks the client through elicitation/create and words its answer.
Result<ToolResult> Elicit(const RequestContext& ctx, const std::string& message, const json& schema,
                          const std::string& prefix) {
  if (!ctx.channel->capabilities().contains("elicitation")) {
    return Fail(ErrorCode::kInvalidArgument, "the client does not support elicitation");
  }
  auto answer = ctx.channel->Request("elicitation/create", {{"message", message}, {"requestedSchema", schema}});
  if (!answer) return std::unexpected(answer.error());
  return ToolResult::Text(prefix + "action=" + answer->value("action", "") +
                          ", content=" + answer->value("content", json::object()).dump());
}

Status RegisterTools(Toolkit& toolkit) {
  auto add = [&](ToolDefinition definition, ToolHandler handler) { return toolkit.Register(definition, handler); };
  std::vector<Status> done;
  done.push_back(add(Tool("test_simple_text", "Returns a simple text"), [](auto&, auto&) -> Result<ToolResult> {
    return ToolResult::Text("This is a simple text response for testing.");
  }));
  done.push_back(add(Tool("test_image_content", "Returns an image"), [](auto&, auto&) -> Result<ToolResult> {
    return Content(json::array({Image()}));
  }));
  done.push_back(add(Tool("test_audio_content", "Returns audio"), [](auto&, auto&) -> Result<ToolResult> {
    return Content(json::array({{{"type", "audio"}, {"data", kWav}, {"mimeType", "audio/wav"}}}));
  }));
  done.push_back(add(Tool("test_embedded_resource", "Returns an embedded resource"),
                     [](auto&, auto&) -> Result<ToolResult> {
                       return Content(json::array({{{"type", "resource"},
                                                    {"resource",
                                                     {{"uri", "test://embedded-resource"},
                                                      {"mimeType", "text/plain"},
                                                      {"text", "This is an embedded resource content."}}}}}));
                     }));
  done.push_back(add(Tool("test_multiple_content_types", "Returns text, an image and a resource"),
                     [](auto&, auto&) -> Result<ToolResult> {
                       return Content(json::array(
                           {Text("Multiple content types test:"), Image(),
                            {{"type", "resource"},
                             {"resource",
                              {{"uri", "test://mixed-content-resource"},
                               {"mimeType", "application/json"},
                               {"text", R"({"test":"data","value":123})"}}}}}));
                     }));
  done.push_back(add(Tool("test_tool_with_logging", "Sends log messages while it runs"),
                     [](const RequestContext& ctx, auto&) -> Result<ToolResult> {
                       ctx.channel->Log("info", "Tool execution started");
                       Sleep(50);
                       ctx.channel->Log("info", "Tool processing data");
                       Sleep(50);
                       ctx.channel->Log("info", "Tool execution completed");
                       return ToolResult::Text("Tool with logging executed successfully");
                     }));
  done.push_back(add(Tool("test_tool_with_progress", "Reports progress while it runs"),
                     [](const RequestContext& ctx, auto&) -> Result<ToolResult> {
                       ctx.channel->Progress(0, 100);
                       Sleep(50);
                       ctx.channel->Progress(50, 100);
                       Sleep(50);
                       ctx.channel->Progress(100, 100);
                       return ToolResult::Text("Tool with progress executed successfully");
                     }));
  done.push_back(add(Tool("test_error_handling", "Always fails"), [](auto&, auto&) -> Result<ToolResult> {
    return Fail(ErrorCode::kInternal, "This tool intentionally returns an error for testing");
  }));
  done.push_back(add(Tool("test_sampling", "Asks the client's model", {{"prompt", {{"type", "string"}}}}, {"prompt"}),
                     [](const RequestContext& ctx, const json& args) -> Result<ToolResult> {
                       if (!ctx.channel->capabilities().contains("sampling")) {
                         return Fail(ErrorCode::kInvalidArgument, "the client does not support sampling");
                       }
                       json request = {{"messages", json::array({{{"role", "user"},
                                                                   {"content", Text(args.value("prompt", ""))}}})},
                                       {"maxTokens", 100}};
                       auto answer = ctx.channel->Request("sampling/createMessage", request);
                       if (!answer) return std::unexpected(answer.error());
                       const json content = answer->value("content", json::object());
                       return ToolResult::Text("LLM response: " + content.value("text", std::string()));
                     }));
  done.push_back(add(Tool("test_elicitation", "Asks the user", {{"message", {{"type", "string"}}}}, {"message"}),
                     [](const RequestContext& ctx, const json& args) -> Result<ToolResult> {
                       json schema = {{"type", "object"},
                                      {"properties",
                                       {{"username", {{"type", "string"}, {"description", "User's response"}}},
                                        {"email", {{"type", "string"}, {"description", "User's email address"}}}}},
                                      {"required", {"username", "email"}}};
                       return Elicit(ctx, args.value("message", ""), schema, "User response: ");
                     }));
  done.push_back(add(Tool("test_elicitation_sep1034_defaults", "Asks the user, with defaults"),
                     [](const RequestContext& ctx, auto&) -> Result<ToolResult> {
                       json schema = {
                           {"type", "object"},
                           {"properties",
                            {{"name", {{"type", "string"}, {"default", "John Doe"}}},
                             {"age", {{"type", "integer"}, {"default", 30}}},
                             {"score", {{"type", "number"}, {"default", 95.5}}},
                             {"status",
                              {{"type", "string"}, {"enum", {"active", "inactive", "pending"}}, {"default", "active"}}},
                             {"verified", {{"type", "boolean"}, {"default", true}}}}}};
                       return Elicit(ctx, "Please review and update the form fields with defaults", schema,
                                     "Elicitation completed: ");
                     }));
  done.push_back(add(Tool("test_elicitation_sep1330_enums", "Asks the user to choose"),
                     [](const RequestContext& ctx, auto&) -> Result<ToolResult> {
                       auto titled = [](const char* prefix, const char* word) {
                         json options = json::array();
                         const char* ordinals[] = {"First", "Second", "Third"};
                         for (int i = 0; i < 3; ++i) {
                           options.push_back({{"const", std::string(prefix) + std::to_string(i + 1)},
                                              {"title", std::string(ordinals[i]) + " " + word}});
                         }
                         return options;
                       };
                       json schema = {
                           {"type", "object"},
                           {"properties",
                            {{"untitledSingle", {{"type", "string"}, {"enum", {"option1", "option2", "option3"}}}},
                             {"titledSingle", {{"type", "string"}, {"oneOf", titled("value", "Option")}}},
                             {"legacyEnum",
                              {{"type", "string"},
                               {"enum", {"opt1", "opt2", "opt3"}},
                               {"enumNames", {"Option One", "Option Two", "Option Three"}}}},
                             {"untitledMulti",
                              {{"type", "array"},
                               {"items", {{"type", "string"}, {"enum", {"option1", "option2", "option3"}}}}}},
                             {"titledMulti",
                              {{"type", "array"}, {"items", {{"anyOf", titled("value", "Choice")}}}}}}}};
                       return Elicit(ctx, "Please choose", schema, "Elicitation completed: ");
                     }));
  ToolDefinition schema_2020 = Tool("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features");
  schema_2020.input_schema = {
      {"$schema", "https://json-schema.org/draft/2020-12/schema"},
      {"type", "object"},
      {"$defs",
       {{"address",
         {{"type", "object"},
          {"properties", {{"street", {{"type", "string"}}}, {"city", {{"type", "string"}}}}}}}}},
      {"properties", {{"name", {{"type", "string"}}}, {"address", {{"$ref", "#/$defs/address"}}}}},
      {"additionalProperties", false}};
  done.push_back(add(schema_2020, [](auto&, const json& args) -> Result<ToolResult> {
    return ToolResult::Text("Received: " + args.dump());
  }));
  done.push_back(add(Tool("test_reconnection", "Closes its SSE stream mid-call; the client resumes it"),
                     [](const RequestContext& ctx, auto&) -> Result<ToolResult> {
                       Sleep(50);
                       ctx.channel->CloseStream();
                       Sleep(200);  // the answer comes after the client reconnected
                       return ToolResult::Text("Reconnection test completed");
                     }));
  for (auto& status : done)
    if (!status) return status;
  return {};
}

Status RegisterContent(Toolkit& toolkit) {
  std::vector<Status> done;
  done.push_back(toolkit.RegisterResource(
      {"test://static-text", "static-text", "", "A static text resource", "text/plain"},
      [](auto&, const std::string& uri, auto&) -> Result<json> {
        return json::array({{{"uri", uri},
                             {"mimeType", "text/plain"},
                             {"text", "This is the content of the static text resource."}}});
      }));
  done.push_back(toolkit.RegisterResource(
      {"test://static-binary", "static-binary", "", "A static binary resource", "image/png"},
      [](auto&, const std::string& uri, auto&) -> Result<json> {
        return json::array({{{"uri", uri}, {"mimeType", "image/png"}, {"blob", kPng}}});
      }));
  done.push_back(toolkit.RegisterResource(
      {"test://watched-resource", "watched-resource", "", "A resource to subscribe to", "text/plain"},
      [](auto&, const std::string& uri, auto&) -> Result<json> {
        return json::array({{{"uri", uri}, {"mimeType", "text/plain"}, {"text", "Watched resource content"}}});
      }));
  done.push_back(toolkit.RegisterResourceTemplate(
      {"test://template/{id}/data", "template", "", "Data for an id", "application/json"},
      [](auto&, const std::string& uri, const std::map<std::string, std::string>& vars) -> Result<json> {
        const std::string id = vars.at("id");
        json data = {{"id", id}, {"templateTest", true}, {"data", "Data for ID: " + id}};
        return json::array({{{"uri", uri}, {"mimeType", "application/json"}, {"text", data.dump()}}});
      }));
  done.push_back(toolkit.RegisterPrompt({"test_simple_prompt", "", "A prompt without arguments", {}},
                                        [](auto&, auto&) -> Result<json> {
                                          return json{{"messages", json::array({{{"role", "user"},
                                                                                 {"content", Text("This is a simple prompt for testing.")}}})}};
                                        }));
  done.push_back(toolkit.RegisterPrompt(
      {"test_prompt_with_arguments", "", "A prompt with arguments",
       {{"arg1", "First test argument", true}, {"arg2", "Second test argument", true}}},
      [](auto&, const json& args) -> Result<json> {
        const std::string text = "Prompt with arguments: arg1='" + args.value("arg1", "") + "', arg2='" +
                                 args.value("arg2", "") + "'";
        return json{{"messages", json::array({{{"role", "user"}, {"content", Text(text)}}})}};
      }));
  done.push_back(toolkit.RegisterPrompt(
      {"test_prompt_with_embedded_resource", "", "A prompt that embeds a resource",
       {{"resourceUri", "URI of the resource to embed", true}}},
      [](auto&, const json& args) -> Result<json> {
        json resource = {{"type", "resource"},
                         {"resource",
                          {{"uri", args.value("resourceUri", "")},
                           {"mimeType", "text/plain"},
                           {"text", "Embedded resource content for testing."}}}};
        return json{{"messages", json::array({{{"role", "user"}, {"content", resource}},
                                              {{"role", "user"},
                                               {"content", Text("Please process the embedded resource above.")}}})}};
      }));
  done.push_back(toolkit.RegisterPrompt({"test_prompt_with_image", "", "A prompt with an image", {}},
                                        [](auto&, auto&) -> Result<json> {
                                          return json{{"messages",
                                                       json::array({{{"role", "user"}, {"content", Image()}},
                                                                    {{"role", "user"},
                                                                     {"content", Text("Please analyze the image above.")}}})}};
                                        }));
  toolkit.SetCompletion([](const json&, const std::string&, const std::string& value) {
    std::vector<std::string> out;
    for (const char* word : {"paris", "park", "party"})
      if (std::string_view(word).starts_with(value)) out.emplace_back(word);
    return out;
  });
  for (auto& status : done)
    if (!status) return status;
  return {};
}

}  // namespace

Status RegisterConformanceToolkit(Toolkit& toolkit) {
  if (auto tools = RegisterTools(toolkit); !tools) return tools;
  return RegisterContent(toolkit);
}

}  // namespace mcpaudit

#include "mcp/jsonrpc.h"

#include <gtest/gtest.h>

#include "mcpaudit/toolkit.h"

namespace mcpaudit::jsonrpc {
namespace {

DecodeError ExpectError(std::string_view text) {
  auto decoded = Decode(text);
  EXPECT_TRUE(std::holds_alternative<DecodeError>(decoded)) << text;
  return std::holds_alternative<DecodeError>(decoded) ? std::get<DecodeError>(decoded) : DecodeError{};
}

TEST(JsonRpcTest, DecodesRequestsNotificationsAndResponses) {
  auto request = std::get<Message>(Decode(R"({"jsonrpc":"2.0","id":7,"method":"ping"})"));
  EXPECT_EQ(request.kind, Message::Kind::kRequest);
  EXPECT_EQ(request.id, 7);
  EXPECT_EQ(request.method, "ping");
  auto notification = std::get<Message>(Decode(R"({"jsonrpc":"2.0","method":"notifications/initialized"})"));
  EXPECT_EQ(notification.kind, Message::Kind::kNotification);
  auto response = std::get<Message>(Decode(R"({"jsonrpc":"2.0","id":"a","result":{}})"));
  EXPECT_EQ(response.kind, Message::Kind::kResponse);
}

TEST(JsonRpcTest, BrokenJsonIsAParseError) {
  EXPECT_EQ(ExpectError("{\"jsonrpc\": \"2.0\", ").code, rpc::kParseError);
  EXPECT_EQ(ExpectError("garbage").code, rpc::kParseError);
  EXPECT_EQ(ExpectError("").code, rpc::kParseError);
}

TEST(JsonRpcTest, InvalidUtf8IsAParseError) {
  const std::string text = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xff\xfe\"}";
  EXPECT_EQ(ExpectError(text).code, rpc::kParseError);
}

TEST(JsonRpcTest, BatchesAndNonObjectsAreInvalidRequests) {
  DecodeError batch = ExpectError(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])");
  EXPECT_EQ(batch.code, rpc::kInvalidRequest);
  EXPECT_NE(batch.message.find("batch"), std::string::npos);
  EXPECT_EQ(ExpectError("[]").code, rpc::kInvalidRequest);
  EXPECT_EQ(ExpectError("42").code, rpc::kInvalidRequest);
  EXPECT_EQ(ExpectError("\"text\"").code, rpc::kInvalidRequest);
}

TEST(JsonRpcTest, WrongFieldsAreInvalidRequestsThatKeepTheId) {
  DecodeError version = ExpectError(R"({"jsonrpc":"1.0","id":3,"method":"ping"})");
  EXPECT_EQ(version.code, rpc::kInvalidRequest);
  EXPECT_EQ(version.id, 3);
  EXPECT_EQ(ExpectError(R"({"jsonrpc":"2.0","id":3})").code, rpc::kInvalidRequest);
  EXPECT_EQ(ExpectError(R"({"jsonrpc":"2.0","id":3,"method":5})").code, rpc::kInvalidRequest);
  // MCP ids are strings or integers: null, floats, objects are refused.
  EXPECT_EQ(ExpectError(R"({"jsonrpc":"2.0","id":null,"method":"ping"})").code, rpc::kInvalidRequest);
  EXPECT_EQ(ExpectError(R"({"jsonrpc":"2.0","id":1.5,"method":"ping"})").code, rpc::kInvalidRequest);
  EXPECT_EQ(ExpectError(R"({"jsonrpc":"2.0","id":{},"method":"ping"})").code, rpc::kInvalidRequest);
  DecodeError params = ExpectError(R"({"jsonrpc":"2.0","id":4,"method":"tools/list","params":[1]})");
  EXPECT_EQ(params.code, rpc::kInvalidParams);
  EXPECT_EQ(params.id, 4);
}

TEST(JsonRpcTest, EncodesResultsAndErrors) {
  EXPECT_EQ(nlohmann::json::parse(Result(1, {{"a", 1}})),
            nlohmann::json::parse(R"({"jsonrpc":"2.0","id":1,"result":{"a":1}})"));
  EXPECT_EQ(nlohmann::json::parse(Error(nullptr, -32700, "Parse error")),
            nlohmann::json::parse(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}})"));
  EXPECT_EQ(nlohmann::json::parse(RawResult("r", R"({"content":[]})")),
            nlohmann::json::parse(R"({"jsonrpc":"2.0","id":"r","result":{"content":[]}})"));
  EXPECT_EQ(IdToString(12), "12");
  EXPECT_EQ(IdToString("x"), "x");
}

}  // namespace
}  // namespace mcpaudit::jsonrpc

#include "base/bounded_json.h"

#include <gtest/gtest.h>

namespace mcpaudit {
namespace {

std::string Nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(BoundedJsonTest, AValueWithinTheBudgetIsReadWhole) {
  const BoundedJson parsed = ParseBounded(R"({"a":{"b":[1,2.5,"x",null,true]}})", 3);
  EXPECT_EQ(parsed.fault, JsonFault::kNone);
  EXPECT_EQ(parsed.value["a"]["b"][1], 2.5);
  EXPECT_EQ(ParseBounded(Nested(64), 64).fault, JsonFault::kNone);
}

TEST(BoundedJsonTest, APartNestedTooDeepIsNullAndTheRestIsStillRead) {
  const std::string text =
      R"({"id":7,"params":{"arguments":)" + Nested(1000000) + R"(,"name":"t"},"method":"m"})";
  const BoundedJson parsed = ParseBounded(text, 4);
  EXPECT_EQ(parsed.fault, JsonFault::kTooDeep);
  EXPECT_EQ(parsed.message, "nested deeper than 4 levels");
  EXPECT_EQ(parsed.value["id"], 7);
  EXPECT_EQ(parsed.value["method"], "m");
  EXPECT_EQ(parsed.value["params"]["name"], "t");
  // Two levels of the arguments fit in the budget (the message and params take two).
  EXPECT_EQ(parsed.value["params"]["arguments"], nlohmann::json::parse("[[null]]"));
  EXPECT_TRUE(ParseWithin(text, 64).is_discarded());
  EXPECT_EQ(ParseBounded(text, 64).value["params"]["name"], "t");
}

TEST(BoundedJsonTest, ANumberNoDoubleHoldsIsOutOfRange) {
  for (const char* text : {R"({"n":1e400})", R"({"n":-1e400})",
                           R"({"n":1000000000000000000000000000000000000000e300})"}) {
    const BoundedJson parsed = ParseBounded(text, 8);
    EXPECT_EQ(parsed.fault, JsonFault::kNumberOutOfRange) << text;
    EXPECT_TRUE(parsed.value["n"].is_null()) << text;
  }
  // The rest of the message is still read, each such number null.
  const BoundedJson two = ParseBounded(R"({"id":3,"a":[1e400,2,-9e999],"b":"x"})", 8);
  EXPECT_EQ(two.fault, JsonFault::kNumberOutOfRange);
  EXPECT_EQ(two.value, nlohmann::json::parse(R"({"id":3,"a":[null,2,null],"b":"x"})"));
  EXPECT_EQ(ParseBounded("1e308", 8).fault, JsonFault::kNone);
  EXPECT_EQ(ParseBounded("1e-400", 8).fault, JsonFault::kNone);  // underflows to 0: still a number
}

TEST(BoundedJsonTest, ANulByteAnywhereIsASyntaxFaultNotTheEndOfTheText) {
  const BoundedJson after = ParseBounded("{\"a\":1}" + std::string(1, '\0') + "{\"b\":2}", 8);
  EXPECT_EQ(after.fault, JsonFault::kSyntax) << "what follows the NUL would go unread";
  EXPECT_TRUE(after.value.is_discarded());
  EXPECT_NE(after.message.find("NUL"), std::string::npos) << after.message;
  EXPECT_EQ(ParseBounded("{\"a\":\"x" + std::string(1, '\0') + "y\"}", 8).fault,
            JsonFault::kSyntax);
  EXPECT_EQ(ParseBounded("{\"a\":\"x\\u0000y\"}", 8).value["a"], std::string("x\0y", 3))
      << "an escaped NUL is a character like any other";
}

TEST(BoundedJsonTest, TextThatIsNotJsonIsASyntaxFault) {
  for (const std::string& text :
       {std::string("{\"a\":"), std::string("\"\xc3\x28\""), std::string(R"("\ud800")"),
        std::string("[1] [2]"), std::string("")}) {
    const BoundedJson parsed = ParseBounded(text, 8);
    EXPECT_EQ(parsed.fault, JsonFault::kSyntax) << text;
    EXPECT_TRUE(parsed.value.is_discarded()) << text;
    EXPECT_FALSE(parsed.message.empty());
  }
  // A syntax error after too deep a part is still a syntax error: nothing to answer an id with.
  EXPECT_EQ(ParseBounded(Nested(100) + ",", 8).fault, JsonFault::kSyntax);
}

}  // namespace
}  // namespace mcpaudit

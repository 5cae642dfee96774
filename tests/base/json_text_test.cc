// Values found in JSON text without a parser: what verify relies on to hash a
// record's own bytes. Each answer is held against nlohmann's reading.
#include "base/json_text.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace mcpaudit::json_text {
namespace {

using nlohmann::json;

TEST(JsonTextTest, AValueIsFoundByPointerAsAParserFindsIt) {
  const std::string text =
      R"({"a":{"b~c":[10,{"d/e":"x\"y}"}],"k\u0065y":true},"s":"a\\","n":-1.5e3, "w" : [ 1 , 2 ] })";
  const json parsed = json::parse(text);
  for (const char* pointer : {"/a", "/a/b~0c", "/a/b~0c/0", "/a/b~0c/1", "/a/b~0c/1/d~1e", "/a/key", "/s", "/n",
                              "/w", "/w/1"}) {
    const auto value = ValueAt(text, pointer);
    ASSERT_TRUE(value.has_value()) << pointer;
    EXPECT_EQ(json::parse(*value), parsed.at(json::json_pointer(pointer))) << pointer;
  }
  for (const char* absent : {"/b", "/a/b~0c/2", "/a/b~0c/01", "/s/0", "/n/x", "a", "/w/-1"})
    EXPECT_FALSE(ValueAt(text, absent).has_value()) << absent;
  EXPECT_EQ(ValueAt(text, ""), text);
}

TEST(JsonTextTest, AnObjectListsItsMembersAndWhereItEnds) {
  const std::string text = R"({"v":2,"s":"x","e\"":{"in":"}"}} tail)";
  const Object object(text);
  ASSERT_TRUE(object.valid());
  EXPECT_EQ(object.end(), text.size() - 5);
  ASSERT_EQ(object.members().size(), 3u);
  EXPECT_EQ(object.members()[2].first, R"(e\")");
  EXPECT_EQ(object.Get("e\""), R"({"in":"}"})");
  EXPECT_EQ(object.ValueAt("/e\"/in"), R"("}")");
  EXPECT_EQ(object.Get("v"), "2");
  EXPECT_FALSE(object.Get("w").has_value());
}

TEST(JsonTextTest, TextThatIsNotAnObjectOfTheExpectedShapeFindsNothing) {
  for (const std::string text : {"", "[1]", "{", R"({"a")", R"({"a":)", R"({"a":1,)", R"({"a" 1})", R"({"a":"1)",
                                 R"({"a":[1,2})", "{\"a\":1}"}) {
    const Object object(text);
    EXPECT_EQ(object.valid(), text == "{\"a\":1}") << text;
    (void)ValueAt(text, "/a");  // never reads past the text (ASan)
  }
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(ValueAt(deep, ""), deep);  // no recursion, however deep
}

TEST(JsonTextTest, OnlyAStringWithoutEscapesOrControlCharactersIsPlain) {
  EXPECT_EQ(PlainString(R"("abc")"), "abc");
  EXPECT_EQ(PlainString(R"("")"), "");
  EXPECT_FALSE(PlainString(R"("a\"b")").has_value());
  EXPECT_FALSE(PlainString("\"a\tb\"").has_value());
  EXPECT_FALSE(PlainString("12").has_value());
  EXPECT_FALSE(PlainString("\"").has_value());
}

}  // namespace
}  // namespace mcpaudit::json_text

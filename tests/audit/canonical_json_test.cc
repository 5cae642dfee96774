#include "audit/canonical_json.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>

namespace mcpaudit {
namespace {

// RFC 8785 §3.2.3 (the example) and Appendix B (number serialisation samples).
TEST(CanonicalJsonTest, TheRfcExample) {
  const auto input = nlohmann::json::parse(R"({
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    "literals": [null, true, false]
  })");
  EXPECT_EQ(CanonicalJson(input),
            "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
            "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}

TEST(CanonicalJsonTest, SortsMembersByUtf16CodeUnits) {
  const auto input = nlohmann::json::parse(R"({
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\ud83d\ude00": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis"
  })");
  std::string canonical = CanonicalJson(input);
  std::vector<std::string> order = {"Carriage Return", "One", "Control", "Latin Small Letter O With Diaeresis",
                                    "Euro Sign", "Emoji: Grinning Face", "Hebrew Letter Dalet With Dagesh"};
  size_t last = 0;
  for (const auto& value : order) {
    size_t at = canonical.find(value);
    ASSERT_NE(at, std::string::npos) << value;
    EXPECT_GT(at, last) << value;
    last = at;
  }
}

TEST(CanonicalJsonTest, NumbersAsInAppendixB) {
  const std::pair<uint64_t, const char*> samples[] = {
      {0x0000000000000000, "0"},
      {0x8000000000000000, "0"},
      {0x0000000000000001, "5e-324"},
      {0x8000000000000001, "-5e-324"},
      {0x7fefffffffffffff, "1.7976931348623157e+308"},
      {0xffefffffffffffff, "-1.7976931348623157e+308"},
      {0x4340000000000000, "9007199254740992"},
      {0xc340000000000000, "-9007199254740992"},
      {0x4430000000000000, "295147905179352830000"},
      {0x44b52d02c7e14af5, "9.999999999999997e+22"},
      {0x44b52d02c7e14af6, "1e+23"},
      {0x44b52d02c7e14af7, "1.0000000000000001e+23"},
      {0x444b1ae4d6e2ef4e, "999999999999999700000"},
      {0x444b1ae4d6e2ef4f, "999999999999999900000"},
      {0x444b1ae4d6e2ef50, "1e+21"},
      {0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
      {0x3eb0c6f7a0b5ed8d, "0.000001"},
      {0x41b3de4355555553, "333333333.3333332"},
      {0x41b3de4355555554, "333333333.33333325"},
      {0x41b3de4355555555, "333333333.3333333"},
      {0x41b3de4355555556, "333333333.3333334"},
      {0x41b3de4355555557, "333333333.33333343"},
      {0xbecbf647612f3696, "-0.0000033333333333333333"},
      {0x43143ff3c1cb0959, "1424953923781206.2"},
  };
  for (const auto& [bits, expected] : samples) {
    EXPECT_EQ(CanonicalNumber(std::bit_cast<double>(bits)), expected) << std::hex << bits;
  }
}

TEST(CanonicalJsonTest, IntegersAndNestingWithoutWhiteSpace) {
  EXPECT_EQ(CanonicalJson(nlohmann::json::parse(R"({"b":[1,{"z":-2,"a":null}],"a":"x"})")),
            R"({"a":"x","b":[1,{"a":null,"z":-2}]})");
  EXPECT_EQ(CanonicalJson(nlohmann::json::parse("18446744073709551615")), "18446744073709551615");
}

}  // namespace
}  // namespace mcpaudit

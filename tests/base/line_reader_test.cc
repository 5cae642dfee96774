#include "base/line_reader.h"

#include <gtest/gtest.h>

#include <sstream>
#include <vector>

namespace mcpaudit {
namespace {

struct Line {
  std::string text;
  LineRead read;
};

std::vector<Line> ReadAll(const std::string& input, size_t max) {
  std::istringstream in(input);
  std::vector<Line> lines;
  while (true) {
    Line line;
    line.read = ReadLineWithin(in, line.text, max);
    if (line.read.bytes == 0) return lines;
    lines.push_back(line);
  }
}

TEST(LineReaderTest, ReadsLinesAsGetlineDoesAndSaysWhichEndedWithALineBreak) {
  const auto lines = ReadAll("one\n\nthree\nfour", 100);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].text, "one");
  EXPECT_EQ(lines[0].read.bytes, 4u);
  EXPECT_TRUE(lines[0].read.complete);
  EXPECT_EQ(lines[1].text, "");
  EXPECT_TRUE(lines[1].read.complete);
  EXPECT_EQ(lines[2].text, "three");
  EXPECT_EQ(lines[3].text, "four");
  EXPECT_EQ(lines[3].read.bytes, 4u);
  EXPECT_FALSE(lines[3].read.complete)
      << "no line break yet: the writer may be in the middle of it";
}

TEST(LineReaderTest, ALineLongerThanTheBoundIsReadToItsEndButNotKept) {
  // Longer than the reader's chunk too, and exactly a chunk's size around it.
  const std::string huge(200 * 1024, 'x'), edge(64 * 1024 - 1, 'y');
  const auto lines = ReadAll("a\n" + huge + "\n" + edge + "\nb\n", 100 * 1024);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].text, "a");
  EXPECT_TRUE(lines[1].read.too_long);
  EXPECT_TRUE(lines[1].read.complete);
  EXPECT_EQ(lines[1].text, "");
  EXPECT_EQ(lines[1].read.bytes, huge.size() + 1);
  EXPECT_FALSE(lines[2].read.too_long);
  EXPECT_EQ(lines[2].text, edge);
  EXPECT_EQ(lines[2].read.bytes, edge.size() + 1);
  EXPECT_EQ(lines[3].text, "b");
}

}  // namespace
}  // namespace mcpaudit

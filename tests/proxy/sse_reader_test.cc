#include "proxy/sse_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mcpaudit {
namespace {

// The events of `stream` fed in pieces of `piece` bytes.
std::vector<std::string> Events(SseReader& reader, std::string_view stream, size_t piece) {
  std::vector<std::string> events;
  for (size_t at = 0; at < stream.size(); at += piece) {
    EXPECT_TRUE(reader.Feed(stream.substr(at, piece), [&](std::string data) { events.push_back(std::move(data)); }));
  }
  return events;
}

TEST(SseReaderTest, EventsArriveWholeHoweverTheBytesAreCut) {
  const std::string stream =
      ": keep-alive\n\n"
      "id: 1\ndata: {\"a\":1}\n\n"
      "event: message\r\nid: 2\r\ndata:{\"b\":2}\r\n\r\n"
      "data: first line\rdata: second line\r\r"
      "event: endpoint\ndata: /legacy\n\n"
      "retry: 2500\nid: 3\n\n";
  for (size_t piece : {1, 2, 3, 7, 64, 4096}) {
    SseReader reader;
    EXPECT_EQ(Events(reader, stream, piece),
              (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "first line\nsecond line"}))
        << "pieces of " << piece;
    EXPECT_EQ(reader.last_event_id(), "3");
    EXPECT_EQ(reader.retry(), std::chrono::milliseconds(2500));
  }
}

TEST(SseReaderTest, AnEventWithoutItsEmptyLineIsNotDispatched) {
  SseReader reader;
  EXPECT_TRUE(Events(reader, "id: 9\ndata: {\"cut\":true}\n", 5).empty()) << "a stream cut short mid-event";
  EXPECT_EQ(reader.last_event_id(), "9");
}

TEST(SseReaderTest, AnEventLargerThanTheLimitStopsTheStream) {
  SseReader reader;
  reader.set_max_bytes(10);
  std::vector<std::string> events;
  auto keep = [&](std::string data) { events.push_back(std::move(data)); };
  EXPECT_TRUE(reader.Feed("data: short\n\n", keep));
  EXPECT_FALSE(reader.Feed("data: 0123456789abcdef\n\n", keep));
  EXPECT_EQ(events, std::vector<std::string>{"short"});
  SseReader unterminated;
  unterminated.set_max_bytes(10);
  EXPECT_FALSE(unterminated.Feed("data: a line that never ends", keep)) << "a line without end is held only so long";
}

}  // namespace
}  // namespace mcpaudit

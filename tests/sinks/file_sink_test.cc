#include "mcpaudit/file_sink.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <thread>

#include "store/journal_reader.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;

AuditEvent Event(int n) {
  AuditEvent e;
  e.id = "id-" + std::to_string(n);
  e.timestamp = std::chrono::system_clock::time_point(std::chrono::milliseconds(1705314600000 + n));
  e.tool = "tool";
  e.params = {{"n", n}};
  return e;
}

std::vector<std::string> ReadIds(const fs::path& dir) {
  std::vector<std::string> ids;
  auto status = ForEachRecord(
      dir, [&](const AuditEvent& e) { ids.push_back(e.id); return true; },
      [](const BadLine& bad) { ADD_FAILURE() << bad.file << ":" << bad.line_number << " " << bad.reason; });
  EXPECT_TRUE(status.has_value());
  return ids;
}

unsigned Mode(const fs::path& path) {
  struct stat st{};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

TEST(FileSinkTest, WritesOneLinePerEventWithMode0600) {
  testing::TempDir dir;
  auto sink = FileSink::Open({.directory = dir.path() / "audit"});
  ASSERT_TRUE(sink.has_value()) << sink.error().message;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*sink)->Log(Event(i)).has_value());
  ASSERT_TRUE((*sink)->Flush().get().has_value());
  EXPECT_EQ(Mode((*sink)->active_path()), 0600u);
  EXPECT_EQ(Mode(dir.path() / "audit"), 0700u);
  auto ids = ReadIds(dir.path() / "audit");
  ASSERT_EQ(ids.size(), 100u);
  EXPECT_EQ(ids.front(), "id-0");
  EXPECT_EQ(ids.back(), "id-99");
  EXPECT_EQ((*sink)->counters().written, 100u);
}

TEST(FileSinkTest, NarrowsTheModeOfAnExistingFile) {
  testing::TempDir dir;
  const fs::path file = dir.path() / "audit.jsonl";
  std::ofstream(file) << "";
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  auto sink = FileSink::Open({.directory = dir.path()});
  ASSERT_TRUE(sink.has_value());
  EXPECT_EQ(Mode(file), 0600u);
}

TEST(FileSinkTest, DestructionWritesEverythingQueued) {
  testing::TempDir dir;
  {
    auto sink = FileSink::Open({.directory = dir.path()});
    ASSERT_TRUE(sink.has_value());
    for (int i = 0; i < 5000; ++i) ASSERT_TRUE((*sink)->Log(Event(i)).has_value());
  }
  EXPECT_EQ(ReadIds(dir.path()).size(), 5000u);
}

TEST(FileSinkTest, ConcurrentProducersLoseNothing) {
  testing::TempDir dir;
  {
    auto sink = FileSink::Open({.directory = dir.path(), .queue_capacity = 64});
    ASSERT_TRUE(sink.has_value());
    std::vector<std::jthread> producers;
    for (int t = 0; t < 8; ++t)
      producers.emplace_back([&, t] {
        for (int i = 0; i < 1000; ++i) EXPECT_TRUE((*sink)->Log(Event(t * 1000 + i)).has_value());
      });
  }
  auto ids = ReadIds(dir.path());
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 8000u);
}

TEST(FileSinkTest, RotatesBySizeAndKeepsEveryRecordInOrder) {
  testing::TempDir dir;
  auto sink = FileSink::Open({.directory = dir.path(), .max_file_bytes = 4096});
  ASSERT_TRUE(sink.has_value());
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE((*sink)->Log(Event(i)).has_value());
    if (i % 10 == 9) {
      ASSERT_TRUE((*sink)->Flush().get().has_value());  // batches of 10
    }
  }
  ASSERT_TRUE((*sink)->Flush().get().has_value());
  auto files = ListAuditFiles(dir.path());
  ASSERT_TRUE(files.has_value());
  EXPECT_GT(files->size(), 3u);
  EXPECT_EQ(files->back().filename(), "audit.jsonl");
  for (const auto& file : *files) {
    EXPECT_LE(fs::file_size(file), 4096u) << file;
    EXPECT_EQ(Mode(file), 0600u) << file;
  }
  EXPECT_EQ((*sink)->counters().rotations, files->size() - 1);
  auto ids = ReadIds(dir.path());
  ASSERT_EQ(ids.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(ids[i], "id-" + std::to_string(i));
}

TEST(FileSinkTest, ReopensTheFileAfterAnExternalRotation) {
  testing::TempDir dir;
  auto sink = FileSink::Open({.directory = dir.path()});
  ASSERT_TRUE(sink.has_value());
  ASSERT_TRUE((*sink)->Log(Event(1)).has_value());
  ASSERT_TRUE((*sink)->Flush().get().has_value());
  fs::rename(dir.path() / "audit.jsonl", dir.path() / "moved-by-logrotate");
  (*sink)->RequestReopen();
  ASSERT_TRUE((*sink)->Log(Event(2)).has_value());
  ASSERT_TRUE((*sink)->Flush().get().has_value());
  EXPECT_EQ(ReadIds(dir.path()), std::vector<std::string>{"id-2"});
  EXPECT_EQ(Mode(dir.path() / "audit.jsonl"), 0600u);
  std::ifstream moved(dir.path() / "moved-by-logrotate");
  std::string line;
  std::getline(moved, line);
  EXPECT_NE(line.find("id-1"), std::string::npos);
}

TEST(FileSinkTest, DropPolicyCountsDropsAndWritesTheCountIntoTheLog) {
  testing::TempDir dir;
  auto sink = FileSink::Open({.directory = dir.path(), .queue_capacity = 1, .overflow = OverflowPolicy::kDrop});
  ASSERT_TRUE(sink.has_value());
  int refused = 0;
  for (int i = 0; i < 20000; ++i)
    if (!(*sink)->Log(Event(i)).has_value()) ++refused;
  ASSERT_TRUE((*sink)->Flush().get().has_value());
  ASSERT_TRUE((*sink)->Log(Event(-1)).has_value());  // room again: the report is written with the next batch
  ASSERT_TRUE((*sink)->Flush().get().has_value());
  ASSERT_GT(refused, 0);  // a one-place queue cannot keep up with 20,000 events
  EXPECT_EQ((*sink)->counters().dropped, static_cast<uint64_t>(refused));
  uint64_t reported = 0;
  size_t records = 0;
  ASSERT_TRUE(ForEachRecord(
                  dir.path(),
                  [&](const AuditEvent& e) {
                    if (e.event_type == "audit_dropped") {
                      reported += e.details["dropped"].get<uint64_t>();
                    } else {
                      ++records;
                    }
                    return true;
                  },
                  [](const BadLine&) { ADD_FAILURE(); })
                  .has_value());
  EXPECT_EQ(reported, static_cast<uint64_t>(refused));
  EXPECT_EQ(records + refused, 20001u);
}

TEST(FileSinkTest, OpenFailsClearlyWhenTheDirectoryCannotBeCreated) {
  auto sink = FileSink::Open({.directory = "/proc/mcp-audit-cannot-be-here"});
  ASSERT_FALSE(sink.has_value());
  EXPECT_NE(sink.error().message.find("/proc/mcp-audit-cannot-be-here"), std::string::npos);
}

}  // namespace
}  // namespace mcpaudit

#include "mcpaudit/shipper.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <set>
#include <thread>

#include "audit/journal_format.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/pipeline.h"
#include "support/journal_files.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;

// A test double for a destination: keeps what it is sent in memory, and fails
// every batch while `down` is set (a database that is stopped).
class InMemorySinkDouble final : public Sink {
 public:
  struct Shared {
    std::mutex mutex;
    std::vector<std::string> ids;  // in the order stored, with repeats
    bool down = false;
    int batches = 0;   // Store calls so far
    int fail_at = -1;  // the Store call (1, 2, ...) that fails once
  };
  explicit InMemorySinkDouble(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  Status Store(std::span<const SinkRecord> batch) override {
    std::lock_guard lock(shared_->mutex);
    if (shared_->down || ++shared_->batches == shared_->fail_at)
      return Fail(ErrorCode::kUnavailable, "connection refused");
    for (const auto& record : batch) shared_->ids.push_back(record.event.id);
    return {};
  }

 private:
  std::shared_ptr<Shared> shared_;
};

std::vector<std::string> LogEvents(const fs::path& dir, int count) {
  PipelineOptions options;
  options.directory = dir;
  options.stream = "s1";
  options.max_segment_bytes = 4096;  // several segments
  options.space_left_bytes = options.admin_space_left_bytes = 0;
  auto pipeline = Pipeline::Open(options);
  EXPECT_TRUE(pipeline.has_value()) << pipeline.error().message;
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) {
    AuditEvent e;
    e.timestamp = std::chrono::system_clock::now();
    e.id = NewUuidV7(e.timestamp, SecureRandom());
    e.tool = "catalog_search";
    e.params = {{"query", "q" + std::to_string(i)}};
    EXPECT_TRUE((*pipeline)->Log(e).has_value());
    ids.push_back(e.id);
  }
  return ids;
}

// The records in the first `count` batches of at most `size` the shipper
// reads from the journal in `dir`: a batch ends where its segment ends, and
// how many records a segment holds depends on how the writer grouped them.
size_t FirstBatches(const fs::path& dir, size_t count, size_t size) {
  size_t records = 0;
  for (const auto& segment : testing::SegmentPaths(dir)) {
    for (size_t lines = testing::ReadLines(segment).size(); lines > 0 && count > 0; --count) {
      const size_t batch = std::min(lines, size);
      records += batch;
      lines -= batch;
    }
  }
  return records;
}

ShipperOptions Options(const fs::path& dir) {
  ShipperOptions options;
  options.journal_dir = dir;
  options.name = "test";
  options.batch_records = 7;
  options.poll_interval = std::chrono::hours(1);  // the tests ship with ShipAll
  options.drain_timeout = std::chrono::milliseconds(0);
  return options;
}

TEST(ShipperTest, ASinkThatIsDownLosesNothingAndGetsEachRecordOnceWhenItIsBack) {
  testing::TempDir dir;
  const std::vector<std::string> logged = LogEvents(dir.path(), 60);
  auto shared = std::make_shared<InMemorySinkDouble::Shared>();
  shared->down = true;
  {
    ShipperOptions options = Options(dir.path());
    options.min_backoff = options.max_backoff = std::chrono::hours(1);  // ShipAll retries
    auto shipper = Shipper::Start(options, std::make_unique<InMemorySinkDouble>(shared));
    ASSERT_TRUE(shipper.has_value()) << shipper.error().message;
    auto failed = (*shipper)->ShipAll();
    ASSERT_FALSE(failed.has_value());
    EXPECT_NE(failed.error().message.find("connection refused"), std::string::npos);
    EXPECT_TRUE((*shipper)->counters().failing);
    auto backlog = ReadShipperBacklogs(dir.path());
    ASSERT_TRUE(backlog.has_value());
    ASSERT_EQ(backlog->size(), 1u);
    EXPECT_GE((*backlog)[0].records_behind, 60u);  // plus audit_started, audit_stopped, checkpoints

    {
      std::lock_guard lock(shared->mutex);
      shared->down = false;
    }
    ASSERT_TRUE((*shipper)->ShipAll().has_value());
    EXPECT_FALSE((*shipper)->counters().failing);
  }
  std::set<std::string> stored(shared->ids.begin(), shared->ids.end());
  EXPECT_EQ(stored.size(), shared->ids.size()) << "a record was stored twice";
  for (const auto& id : logged) EXPECT_TRUE(stored.contains(id)) << id;
  auto backlog = ReadShipperBacklogs(dir.path());
  ASSERT_TRUE(backlog.has_value());
  EXPECT_EQ((*backlog)[0].records_behind, 0u);
}

// A destination that does not answer while `down`, and says so when asked;
// with `batches_time_out` it answers a probe but never takes a batch.
class ProbedSinkDouble final : public Sink {
 public:
  struct Shared {
    std::mutex mutex;
    bool down = true;
    bool batches_time_out = false;
    int attempts = 0;  // Store calls
    int probes = 0;    // Answers calls
    size_t stored = 0;
  };
  explicit ProbedSinkDouble(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  Status Store(std::span<const SinkRecord> batch) override {
    std::lock_guard lock(shared_->mutex);
    ++shared_->attempts;
    if (shared_->down || shared_->batches_time_out)
      return Fail(ErrorCode::kUnavailable, "Operation timed out after 10001 ms");
    shared_->stored += batch.size();
    return {};
  }
  std::optional<bool> Answers() override {
    std::lock_guard lock(shared_->mutex);
    ++shared_->probes;
    return !shared_->down;
  }

 private:
  std::shared_ptr<Shared> shared_;
};

// A shipper of its own thread whose backoff is an hour: only a probe retries sooner.
std::unique_ptr<Shipper> ProbingShipper(const fs::path& dir,
                                        std::shared_ptr<ProbedSinkDouble::Shared> shared) {
  ShipperOptions options = Options(dir);
  options.poll_interval = std::chrono::milliseconds(50);
  options.min_backoff = options.max_backoff = std::chrono::hours(1);
  options.probe_interval = std::chrono::milliseconds(20);
  auto shipper = Shipper::Start(options, std::make_unique<ProbedSinkDouble>(std::move(shared)));
  EXPECT_TRUE(shipper.has_value()) << shipper.error().message;
  return shipper ? std::move(*shipper) : nullptr;
}

template <typename Shared, typename Condition>
bool WaitFor(Shared& shared, Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(shared.mutex);
      if (condition()) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(ShipperTest, ADestinationThatAnswersAgainIsRetriedAtOnceNotAfterTheBackoff) {
  testing::TempDir dir;
  const size_t logged = LogEvents(dir.path(), 30).size();
  auto shared = std::make_shared<ProbedSinkDouble::Shared>();
  auto shipper = ProbingShipper(dir.path(), shared);
  ASSERT_NE(shipper, nullptr);
  // Down: it is asked, again and again, and not sent the batch again meanwhile.
  ASSERT_TRUE(WaitFor(*shared, [&] { return shared->probes >= 10; }));
  {
    std::lock_guard lock(shared->mutex);
    EXPECT_EQ(shared->attempts, 1);
    shared->down = false;
  }
  // Back: everything arrives, an hour of backoff notwithstanding.
  EXPECT_TRUE(WaitFor(*shared, [&] { return shared->stored >= logged + 3; }))
      << "stored " << shared->stored << " of " << logged + 3;
  // The pass that stored them notes its success once it is over.
  bool failing = true;
  for (int i = 0; i < 2000 && (failing = shipper->counters().failing); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(failing);
}

TEST(ShipperTest, AnEarlyRetryThatFailsAgainWaitsOutTheBackoffWhole) {
  testing::TempDir dir;
  LogEvents(dir.path(), 5);
  auto shared = std::make_shared<ProbedSinkDouble::Shared>();
  shared->down = false;             // it answers a probe...
  shared->batches_time_out = true;  // ...but never takes a batch
  auto shipper = ProbingShipper(dir.path(), shared);
  ASSERT_NE(shipper, nullptr);
  // The first failure, a probe that answers, the early retry, which fails too.
  ASSERT_TRUE(WaitFor(*shared, [&] { return shared->attempts >= 2; }));
  // Then no more probes and no more attempts: the hour of backoff is waited out.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::lock_guard lock(shared->mutex);
  EXPECT_EQ(shared->attempts, 2);
  EXPECT_EQ(shared->probes, 1);
}

TEST(ShipperTest, ABatchThatFailsWhileTheNextIsReadAheadIsSentAgainInOrder) {
  testing::TempDir dir;
  const std::vector<std::string> logged = LogEvents(dir.path(), 60);
  auto shared = std::make_shared<InMemorySinkDouble::Shared>();
  shared->fail_at = 3;  // batches of 7: the fourth is being read when the third fails
  ShipperOptions options = Options(dir.path());
  options.min_backoff = options.max_backoff = std::chrono::hours(1);  // ShipAll sends it again
  auto shipper = Shipper::Start(options, std::make_unique<InMemorySinkDouble>(shared));
  ASSERT_TRUE(shipper.has_value()) << shipper.error().message;
  // The shipping thread's first pass, at its start, meets the failure.
  for (int i = 0; i < 500 && (*shipper)->counters().failures == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ((*shipper)->counters().failures, 1u);
  {
    std::lock_guard lock(shared->mutex);
    EXPECT_EQ(shared->ids.size(), FirstBatches(dir.path(), 2, 7));  // the first two batches
  }
  ASSERT_TRUE((*shipper)->ShipAll().has_value());
  EXPECT_EQ((*shipper)->counters().shipped, shared->ids.size());
  // Each record once, in the journal's order.
  std::set<std::string> stored(shared->ids.begin(), shared->ids.end());
  EXPECT_EQ(stored.size(), shared->ids.size()) << "a record was stored twice";
  std::vector<std::string> calls;
  for (const auto& id : shared->ids)
    if (std::find(logged.begin(), logged.end(), id) != logged.end()) calls.push_back(id);
  EXPECT_EQ(calls, logged);
}

// The writer adds lines to a segment and moves on to a new one while the sink
// stores a batch and the next is read ahead (and finds nothing yet): the lines
// added are shipped before the shipper moves on.
TEST(ShipperTest, LinesAddedWhileTheNextBatchIsReadAheadAreShippedBeforeTheNextSegment) {
  testing::TempDir dir;
  PipelineOptions options;
  options.directory = dir.path();
  options.stream = "s1";
  options.max_segment_bytes = 64 << 10;  // a large record starts a new segment
  options.space_left_bytes = options.admin_space_left_bytes = 0;
  auto pipeline = Pipeline::Open(options);
  ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
  std::vector<std::string> logged;
  auto log = [&](size_t param_bytes = 0) {
    AuditEvent e;
    e.timestamp = std::chrono::system_clock::now();
    e.id = NewUuidV7(e.timestamp, SecureRandom());
    e.tool = "catalog_search";
    if (param_bytes > 0) e.params = {{"text", std::string(param_bytes, 'x')}};
    ASSERT_TRUE((*pipeline)->Log(e).has_value());
    ASSERT_TRUE((*pipeline)->Flush().has_value());
    logged.push_back(e.id);
  };
  for (int i = 0; i < 5; ++i) log();
  std::vector<fs::path> segments;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    if (entry.path().extension() == ".jsonl") segments.push_back(entry.path());
  ASSERT_EQ(segments.size(), 1u);
  std::ifstream in(segments[0]);
  const size_t lines =
      static_cast<size_t>(std::count(std::istreambuf_iterator<char>(in), {}, '\n'));

  class SlowFirstBatch final : public Sink {
   public:
    SlowFirstBatch(std::shared_ptr<InMemorySinkDouble::Shared> shared,
                   std::function<void()> meanwhile)
        : shared_(std::move(shared)), meanwhile_(std::move(meanwhile)) {}
    Status Store(std::span<const SinkRecord> batch) override {
      if (meanwhile_) {
        std::this_thread::sleep_for(
            std::chrono::milliseconds(300));  // the read ahead finds nothing
        std::exchange(meanwhile_, nullptr)();
      }
      std::lock_guard lock(shared_->mutex);
      for (const auto& record : batch) shared_->ids.push_back(record.event.id);
      return {};
    }

   private:
    std::shared_ptr<InMemorySinkDouble::Shared> shared_;
    std::function<void()> meanwhile_;
  };
  auto shared = std::make_shared<InMemorySinkDouble::Shared>();
  auto meanwhile = [&] {
    log();          // into the first segment
    log(70 << 10);  // into a new one: it does not fit in the first
  };
  ShipperOptions shipping = Options(dir.path());
  shipping.batch_records = lines;  // the first batch is the whole segment as it is now
  auto shipper = Shipper::Start(shipping, std::make_unique<SlowFirstBatch>(shared, meanwhile));
  ASSERT_TRUE(shipper.has_value()) << shipper.error().message;
  ASSERT_TRUE((*shipper)->ShipAll().has_value());  // after the thread's own first pass
  size_t segments_now = 0;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    segments_now += entry.path().extension() == ".jsonl";
  EXPECT_EQ(segments_now, 2u);
  std::lock_guard lock(shared->mutex);
  std::set<std::string> stored(shared->ids.begin(), shared->ids.end());
  for (const auto& id : logged) EXPECT_TRUE(stored.contains(id)) << id << " was not shipped";
}

// A line longer than any record (here a sparse file's 65 MiB without a line
// break) is passed over without being held in memory; the records after it go.
TEST(ShipperTest, ALineLongerThanAnyRecordIsPassedOverAndTheRestIsShipped) {
  testing::TempDir dir;
  const std::vector<std::string> logged = LogEvents(dir.path(), 20);
  const fs::path segment = testing::SegmentPaths(dir.path()).front();
  const std::vector<std::string> lines = testing::ReadLines(segment);
  ASSERT_GE(lines.size(), 2u);
  std::string rest = "\n";
  for (size_t i = 1; i < lines.size(); ++i) rest += lines[i] + "\n";
  const std::string first = lines[0] + "\n";
  const int fd = ::open(segment.c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, first.data(), first.size()), static_cast<ssize_t>(first.size()));
  ASSERT_GE(::lseek(fd, static_cast<off_t>(journal::kMaxLineBytes + (1 << 20)), SEEK_CUR), 0);
  ASSERT_EQ(::write(fd, rest.data(), rest.size()), static_cast<ssize_t>(rest.size()));
  ::close(fd);
  auto shared = std::make_shared<InMemorySinkDouble::Shared>();
  auto shipper = Shipper::Start(Options(dir.path()), std::make_unique<InMemorySinkDouble>(shared));
  ASSERT_TRUE(shipper.has_value()) << shipper.error().message;
  ASSERT_TRUE((*shipper)->ShipAll().has_value());
  EXPECT_EQ((*shipper)->counters().unreadable, 1u);
  std::lock_guard lock(shared->mutex);
  const std::set<std::string> stored(shared->ids.begin(), shared->ids.end());
  for (const auto& id : logged) EXPECT_TRUE(stored.contains(id)) << id;
}

TEST(ShipperTest, ARestartedShipperGoesOnFromItsCursor) {
  testing::TempDir dir;
  LogEvents(dir.path(), 20);
  auto shared = std::make_shared<InMemorySinkDouble::Shared>();
  {
    auto shipper =
        Shipper::Start(Options(dir.path()), std::make_unique<InMemorySinkDouble>(shared));
    ASSERT_TRUE(shipper.has_value());
    ASSERT_TRUE((*shipper)->ShipAll().has_value());
  }
  const size_t first = shared->ids.size();
  const std::vector<std::string> later = LogEvents(dir.path(), 10);
  auto shipper = Shipper::Start(Options(dir.path()), std::make_unique<InMemorySinkDouble>(shared));
  ASSERT_TRUE(shipper.has_value());
  ASSERT_TRUE((*shipper)->ShipAll().has_value());
  std::set<std::string> stored(shared->ids.begin(), shared->ids.end());
  EXPECT_EQ(stored.size(), shared->ids.size()) << "records before the restart were sent again";
  EXPECT_GT(shared->ids.size(), first + later.size() - 1);
  for (const auto& id : later) EXPECT_TRUE(stored.contains(id)) << id;
}

TEST(ShipperTest, ASinkNameThatIsNotAPlainWordIsRefused) {
  testing::TempDir dir;
  auto options = Options(dir.path());
  options.name = "../escape";
  auto shipper = Shipper::Start(options, std::make_unique<InMemorySinkDouble>(
                                             std::make_shared<InMemorySinkDouble::Shared>()));
  ASSERT_FALSE(shipper.has_value());
  EXPECT_NE(shipper.error().message.find("plain word"), std::string::npos);
}

}  // namespace
}  // namespace mcpaudit

// Journal benchmarks, printed side by side in one run:
//   (a) events/s into the Pipeline, 1 and 8 producers, async and durable;
//   (b) the same load through a naive logger (a mutex, serialise, one write()
//       per event; in durable mode one fdatasync per event too);
//   (c) the latency a tool call pays for its audit record (p50/p99), audit off
//       (a logger that discards) vs async vs durable.
// Usage: journal_bench [scale] [only]   (scale multiplies the event counts,
// default 1; `only` runs just the rows whose name contains it)
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "mcpaudit/clock.h"
#include "mcpaudit/pipeline.h"
#include "mcpaudit/toolkit.h"
#include "sample_event.h"

namespace {

using namespace mcpaudit;
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

fs::path ScratchDir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("mcp-audit-bench-" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir.parent_path());
  return dir;
}

using bench::SampleEvent;

// The design of the documents this project grew from.
class NaiveLogger final : public AuditLogger {
 public:
  NaiveLogger(const fs::path& dir, bool sync) : sync_(sync) {
    fs::create_directories(dir);
    fd_ = ::open((dir / "audit.jsonl").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  }
  ~NaiveLogger() override { ::close(fd_); }
  Status Log(const AuditEvent& event) override {
    std::lock_guard lock(mutex_);
    std::string line = ToJsonLine(event) + "\n";
    if (::write(fd_, line.data(), line.size()) < 0) return Fail(ErrorCode::kIo, "write failed");
    if (sync_ && ::fdatasync(fd_) != 0) return Fail(ErrorCode::kIo, "sync failed");
    return {};
  }

 private:
  std::mutex mutex_;
  int fd_;
  bool sync_;
};

class DiscardLogger final : public AuditLogger {
 public:
  Status Log(const AuditEvent&) override { return {}; }
};

// Events per second with `threads` producers each logging `per_thread` events;
// the clock stops when everything is written (durable: synced).
double Throughput(AuditLogger& logger, int threads, int per_thread,
                  const std::function<void()>& drain) {
  std::vector<AuditEvent> events;
  for (int i = 0; i < 64; ++i) events.push_back(SampleEvent(i));
  const auto start = Steady::now();
  {
    std::vector<std::jthread> producers;
    for (int t = 0; t < threads; ++t)
      producers.emplace_back([&] {
        for (int i = 0; i < per_thread; ++i) (void)logger.Log(events[i % events.size()]);
      });
  }
  drain();
  const double seconds = std::chrono::duration<double>(Steady::now() - start).count();
  return threads * static_cast<double>(per_thread) / seconds;
}

constexpr int kInFlight = 256;

// Events/s with up to kInFlight records waiting for their sync at any time,
// all submitted from this thread; the clock stops when the last is on disk.
double InFlight(AuditLogger& logger, int events) {
  std::vector<AuditEvent> samples;
  for (int i = 0; i < 64; ++i) samples.push_back(SampleEvent(i));
  std::counting_semaphore<kInFlight> room(kInFlight);
  std::atomic<int> failed{0};
  const auto start = Steady::now();
  for (int i = 0; i < events; ++i) {
    room.acquire();
    logger.LogThen(samples[i % samples.size()], [&](const Status& status) {
      if (!status) failed.fetch_add(1);
      room.release();
    });
  }
  for (int i = 0; i < kInFlight; ++i) room.acquire();  // the last ones are on disk
  const double seconds = std::chrono::duration<double>(Steady::now() - start).count();
  if (failed > 0) std::fprintf(stderr, "%d records failed\n", failed.load());
  return events / seconds;
}

PipelineOptions Options(const fs::path& dir, DeliveryMode mode) {
  PipelineOptions o;
  o.directory = dir;
  o.mode = mode;
  o.stream = "bench";
  o.queue_capacity = 4096;
  o.space_left_bytes = o.admin_space_left_bytes = 0;
  return o;
}

struct Latency {
  double p50_us, p99_us;
};

// One tool call at a time through the toolkit: what the caller waits for.
Latency CallLatency(AuditLogger& logger, int calls) {
  Toolkit toolkit(logger);
  (void)toolkit.Register({.name = "noop", .input_schema = {{"type", "object"}}},
                         [](const RequestContext&, const nlohmann::json&) -> Result<ToolResult> {
                           return ToolResult::Text("ok");
                         });
  const nlohmann::json args = nlohmann::json::object();
  std::vector<double> samples;
  samples.reserve(calls);
  for (int i = 0; i < calls; ++i) {
    RequestContext ctx;
    ctx.request_id = std::to_string(i);
    ctx.identity.user_id = "user123";
    const auto start = Steady::now();
    (void)toolkit.Call(ctx, "noop", args);
    samples.push_back(std::chrono::duration<double, std::micro>(Steady::now() - start).count());
  }
  std::sort(samples.begin(), samples.end());
  return {samples[samples.size() / 2], samples[samples.size() * 99 / 100]};
}

}  // namespace

int main(int argc, char** argv) {
  const int scale = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1;
  const std::string only = argc > 2 ? argv[2] : "";
  std::printf("mcp-audit journal benchmark (%u hardware threads)\n\n",
              std::thread::hardware_concurrency());
  std::printf("(a)+(b) events/s into the log, until written (durable: synced)\n");
  // 64 producers: what group commit does for a server with many calls in flight.
  std::printf("%-34s %13s %13s %13s\n", "logger", "1 producer", "8 producers", "64 producers");
  struct Row {
    const char* name;
    DeliveryMode mode;
    bool naive;
    int events;  // in all, shared among the producers
  };
  const Row rows[] = {
      {"pipeline async", DeliveryMode::kAsync, false, 400000 * scale},
      {"naive async (mutex+write)", DeliveryMode::kAsync, true, 400000 * scale},
      {"pipeline durable (group commit)", DeliveryMode::kDurable, false, 16000 * scale},
      {"naive durable (write+fdatasync)", DeliveryMode::kDurable, true, 3200 * scale},
  };
  for (const Row& row : rows) {
    if (!std::string(row.name).contains(only)) continue;
    std::printf("%-34s", row.name);
    for (int threads : {1, 8, 64}) {
      const int per_thread = row.events / threads;
      const fs::path dir = ScratchDir(std::string(row.name) + std::to_string(threads));
      double rate = 0;
      if (row.naive) {
        NaiveLogger logger(dir, row.mode == DeliveryMode::kDurable);
        rate = Throughput(logger, threads, per_thread, [] {});
      } else {
        auto pipeline = Pipeline::Open(Options(dir, row.mode));
        if (!pipeline) {
          std::fprintf(stderr, "%s\n", pipeline.error().message.c_str());
          return 1;
        }
        rate = Throughput(**pipeline, threads, per_thread, [&] { (void)(*pipeline)->Flush(); });
      }
      fs::remove_all(dir);
      std::printf(" %13.0f", rate);
      std::fflush(stdout);
    }
    std::printf("\n");
  }

  // (d) Durable with many calls in flight, the way a server keeps them: one
  // thread submits and is told when each record is on disk (LogThen).
  if (std::string("durable in flight").contains(only) || only.empty()) {
    std::printf(
        "\n(d) durable, %d calls in flight (LogThen, one submitting thread) vs async, 8 "
        "producers\n",
        kInFlight);
    const fs::path async_dir = ScratchDir("inflight-async");
    double async_rate = 0;
    {
      auto pipeline = Pipeline::Open(Options(async_dir, DeliveryMode::kAsync));
      async_rate =
          Throughput(**pipeline, 8, 400000 * scale / 8, [&] { (void)(*pipeline)->Flush(); });
    }
    const fs::path dir = ScratchDir("inflight-durable");
    auto pipeline = Pipeline::Open(Options(dir, DeliveryMode::kDurable));
    const double rate = InFlight(**pipeline, 200000 * scale);
    std::printf("%-34s %13.0f\n%-34s %13.0f   (%.0f %% of async)\n", "pipeline async, 8 producers",
                async_rate, "pipeline durable, in flight", rate, 100 * rate / async_rate);
    pipeline->reset();
    fs::remove_all(dir);
    fs::remove_all(async_dir);
  }

  std::printf("\n(c) tool call latency through the toolkit, one call at a time (microseconds)\n");
  std::printf("%-34s %10s %10s\n", "audit", "p50", "p99");
  {
    DiscardLogger off;
    Latency l = CallLatency(off, 20000 * scale);
    std::printf("%-34s %10.2f %10.2f\n", "off (discarding logger)", l.p50_us, l.p99_us);
  }
  for (DeliveryMode mode : {DeliveryMode::kAsync, DeliveryMode::kDurable}) {
    const fs::path dir = ScratchDir(mode == DeliveryMode::kAsync ? "lat-async" : "lat-durable");
    auto pipeline = Pipeline::Open(Options(dir, mode));
    Latency l =
        CallLatency(**pipeline, mode == DeliveryMode::kAsync ? 20000 * scale : 2000 * scale);
    std::printf("%-34s %10.2f %10.2f\n",
                mode == DeliveryMode::kAsync ? "pipeline async" : "pipeline durable", l.p50_us,
                l.p99_us);
    pipeline->reset();
    fs::remove_all(dir);
  }
  fs::remove_all(ScratchDir("x").parent_path());
  return 0;
}

// What an auditor's questions cost on a large store, printed side by side in
// one run: p50/p99 of the indexed reads (store/store_query.h) — the newest
// page, a user's week, the newest denials, one record by id, 30 days of hourly
// counts — beside the full scan every read was before (all records in chain
// order, each parsed and matched in C++, as `query --store` did).
// A generated store of 10 million records in SQLite and 1 million in
// PostgreSQL (times `scale`), spread over 90 days; and a journal of 1 million
// read by time, beside the read of all its segments.
// Usage: console_bench [scale]; bench/store_bench.sh build/console_bench starts
// PostgreSQL on loopback and sets MCPAUDIT_BENCH_POSTGRES_URL. With
// MCPAUDIT_BENCH_SQLITE_STORE=<path of a store it filled before>, it measures
// that store's reads again (without the full scan) and generates nothing; with
// MCPAUDIT_BENCH_ONLY=postgres (or journal), it measures that alone.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audit/journal_format.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/pipeline.h"
#include "mcpaudit/sink.h"
#include "sample_event.h"
#include "store/journal_reader.h"
#include "store/record_store.h"
#include "store/store_query.h"

namespace {

using namespace mcpaudit;
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;
using std::chrono::system_clock;

constexpr size_t kBatch = 2000;
constexpr size_t kUsers = 1000;
constexpr size_t kPage = 50;

struct Generated {
  system_clock::time_point now;
  std::vector<std::string> sample_ids;  // one id in every thousand
};

// `count` calls over the 90 days before now: 1000 users, 40 tools (a few
// used far more than the rest), 90 % succeed, 7 % fail, 3 % are denied.
Generated Fill(const SinkConfig& store, size_t count) {
  Generated g;
  g.now = system_clock::now();
  auto sink = OpenSink(store);
  if (!sink) {
    std::fprintf(stderr, "%s: %s\n", store.name.c_str(), sink.error().message.c_str());
    std::exit(1);
  }
  const auto span = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::days(90));
  std::vector<SinkRecord> batch;
  const auto start = Steady::now();
  for (size_t i = 0; i < count; ++i) {
    AuditEvent e = bench::SampleEvent(i);
    e.timestamp = g.now - span + span * static_cast<int64_t>(i) / static_cast<int64_t>(count);
    e.id = NewUuidV7(e.timestamp, SecureRandom());
    e.user.id = "user-" + std::to_string((i * 7919) % kUsers);
    e.tool = "tool-" + std::to_string((i * i) % 40);
    e.request.session_id = "session-" + std::to_string(i / 20);
    const size_t roll = (i * 2654435761u) % 100;
    e.outcome = roll < 90 ? Outcome::kSuccess : roll < 97 ? Outcome::kFailure : Outcome::kDenied;
    if (e.outcome != Outcome::kSuccess) e.error = AuditError{-32000, "refused", roll < 97 ? "tool_error" : "forbidden"};
    e.integrity = AuditIntegrity{"bench", i + 1, std::string(64, '0'), std::string(64, 'f')};
    if (i % 1000 == 0) g.sample_ids.push_back(e.id);
    SinkRecord r;
    r.line = ToJsonLine(e);
    r.event = std::move(e);
    batch.push_back(std::move(r));
    if (batch.size() == kBatch || i + 1 == count) {
      if (auto s = (*sink)->Store(batch); !s) {
        std::fprintf(stderr, "%s: %s\n", store.name.c_str(), s.error().message.c_str());
        std::exit(1);
      }
      batch.clear();
    }
  }
  std::printf("%-9s %zu records written in %.0f s\n", store.name.c_str(), count,
              std::chrono::duration<double>(Steady::now() - start).count());
  return g;
}

double Milliseconds(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// p50 and p99 of `runs` calls of `read` (which gets the run's number).
template <typename Read>
std::pair<double, double> Percentiles(size_t runs, Read read) {
  std::vector<double> times;
  for (size_t i = 0; i < runs; ++i) {
    const auto start = Steady::now();
    read(i);
    times.push_back(Milliseconds(Steady::now() - start));
  }
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], times[std::min(times.size() - 1, times.size() * 99 / 100)]};
}

void Fail(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::exit(1);
}

size_t Page(const SinkConfig& store, const QueryFilter& filter) {
  size_t n = 0;
  auto page = SelectStoredRecords(
      store, {.filter = filter, .newest_first = true, .after = std::nullopt, .max_rows = 0},
      [&](const AuditEvent&, const std::string&) { return ++n, true; }, [](size_t, const std::string&) {});
  if (!page) Fail(page.error().message);
  return n;
}

// Every record in chain order, parsed and matched: how every read went before.
double FullScan(const SinkConfig& store, const QueryFilter& filter) {
  size_t matched = 0;
  const auto start = Steady::now();
  auto read = ForEachStoredLine(store, [&](size_t, const std::string& line) {
    auto event = AuditEventFromLine(line);
    if (event && Matches(filter, *event)) ++matched;
    return true;
  });
  if (!read) Fail(read.error().message);
  return Milliseconds(Steady::now() - start);
}

// A store this bench filled before (MCPAUDIT_BENCH_SQLITE_STORE): its newest
// time, and one id in every thousand found through the (stream, seq) index.
Generated Existing(const SinkConfig& store, size_t& count) {
  Generated g;
  std::string newest;
  if (auto s = RunStoreQuery(store, {"SELECT max(seq), max(timestamp) FROM audit_events WHERE stream = 'bench'", {}},
                             [&](std::span<const std::string_view> row) {
                               count = std::stoull(std::string(row[0]));
                               newest = row[1];
                               return false;
                             });
      !s)
    Fail(s.error().message);
  g.now = *ParseTimestamp(newest);
  std::string seqs;
  for (size_t seq = 1; seq <= count; seq += 1000) seqs += (seqs.empty() ? "" : ",") + std::to_string(seq);
  if (auto s = RunStoreQuery(store, {"SELECT id FROM audit_events WHERE stream = 'bench' AND seq IN (" + seqs + ")", {}},
                             [&](std::span<const std::string_view> row) {
                               g.sample_ids.emplace_back(row[0]);
                               return true;
                             });
      !s)
    Fail(s.error().message);
  return g;
}

void Measure(const SinkConfig& store, size_t count, bool existing = false) {
  const Generated g = existing ? Existing(store, count) : Fill(store, count);
  const size_t runs = 200;
  std::mt19937 random(42);
  QueryFilter week;
  week.since = g.now - std::chrono::days(7);
  week.user = "user-17";
  // The old read of an existing store is left out (at 10 million records it takes minutes): 0.
  const double scan = existing ? 0 : FullScan(store, week);
  auto row = [&](const char* what, std::pair<double, double> p, const char* target) {
    std::printf("%-9s %-36s %10zu %9.2f %9.2f %12.0f %9.0fx   %s\n", store.name.c_str(), what, count, p.first, p.second,
                scan, scan / p.second, target);
    std::fflush(stdout);
  };
  std::printf("%-9s %-36s %10s %9s %9s %12s %10s   %s\n", "store", "read", "records", "p50 ms", "p99 ms",
              "full scan ms", "scan/p99", "target (p99)");
  row("newest page (50)", Percentiles(runs, [&](size_t) {
        QueryFilter f;
        f.limit = kPage;
        if (Page(store, f) != kPage) Fail("short page");
      }),
      "<= 20 ms");
  row("a user's week, first page (50)", Percentiles(runs, [&](size_t i) {
        QueryFilter f = week;
        f.user = "user-" + std::to_string((i * 37) % kUsers);
        f.limit = kPage;
        Page(store, f);
      }),
      "<= 20 ms");
  row("newest denials of a tool (50)", Percentiles(runs / 10, [&](size_t i) {
        QueryFilter f;
        f.outcome = Outcome::kDenied;
        f.tool = "tool-" + std::to_string(i % 40);
        f.limit = kPage;
        Page(store, f);
      }),
      "<= 20 ms");
  row("one record by id", Percentiles(runs, [&](size_t) {
        const std::string& id = g.sample_ids[random() % g.sample_ids.size()];
        auto found = FindStoredRecord(store, id);
        if (!found || !*found) Fail("record " + id + " not found");
      }),
      "<= 5 ms");
  row("30 days of hourly counts", Percentiles(std::max<size_t>(5, runs / 20), [&](size_t) {
        QueryFilter f;
        f.since = g.now - std::chrono::days(30);
        auto stats = CountStoredRecords(store, f, Bucket::kHour);
        if (!stats || stats->buckets.size() < 700) Fail("not 30 days of hours");
      }),
      "<= 500 ms");
}

// The journal read without a store (`query --audit-dir`): a week of one user
// read through the segments whose time bounds meet the week, beside the read
// of every segment. `count` calls over 90 days, in 64 MiB segments. The
// writer stamps its checkpoints now (it writes the 90 days in seconds), so
// every segment's bounds reach today: the week asked is the first one.
void MeasureJournal(const fs::path& dir, size_t count) {
  PipelineOptions options;
  options.directory = dir;
  options.stream = "bench";
  options.admin_space_left_bytes = options.space_left_bytes = 0;
  const auto now = system_clock::now();
  const auto span = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::days(90));
  const auto start = Steady::now();
  {
    auto pipeline = Pipeline::Open(options);
    if (!pipeline) Fail(pipeline.error().message);
    for (size_t i = 0; i < count; ++i) {
      AuditEvent e = bench::SampleEvent(i);
      e.timestamp = now - span + span * static_cast<int64_t>(i) / static_cast<int64_t>(count);
      e.user.id = "user-" + std::to_string((i * 7919) % kUsers);
      if (auto logged = (*pipeline)->Log(e); !logged) Fail(logged.error().message);
    }
  }
  size_t segments = 0;
  for (const auto& entry : fs::directory_iterator(dir)) segments += journal::IsSegmentFile(entry);
  std::printf("journal   %zu records written in %.0f s, %zu segments\n", count,
              std::chrono::duration<double>(Steady::now() - start).count(), segments);
  const TimeWindow week{now - span, now - span + std::chrono::days(7)};
  auto read = [&](const TimeWindow& window) {
    size_t matched = 0;
    const auto begin = Steady::now();
    auto status = ForEachRecordLineIn(
        dir, {},
        [&](const AuditEvent& e, const std::string&) {
          matched += e.user.id == "user-17" && e.timestamp >= *week.since && e.timestamp < *week.until;
          return true;
        },
        [](const BadLine&) {}, window);
    if (!status) Fail(status.error().message);
    if (matched == 0) Fail("no record of user-17 in the week");
    return Milliseconds(Steady::now() - begin);
  };
  const double all = read({}), skipping = read(week);
  std::printf("%-9s %-36s %10zu %9.0f %9s %12.0f %9.1fx   %s\n", "journal", "a user's week (segments by time)", count,
              skipping, "", all, all / skipping, "reads only the week's segments");
}

// The PostgreSQL that bench/store_bench.sh started (MCPAUDIT_BENCH_POSTGRES_URL).
void MeasurePostgres(double scale) {
  const char* url = std::getenv("MCPAUDIT_BENCH_POSTGRES_URL");
  if (url == nullptr || *url == 0) {
    std::printf("postgres  (not measured: MCPAUDIT_BENCH_POSTGRES_URL is not set; bench/store_bench.sh sets it)\n");
    return;
  }
  const char* password = std::getenv("MCPAUDIT_BENCH_POSTGRES_PASSWORD_FILE");
  SinkConfig postgres;
  postgres.name = "postgres";
  postgres.url = url;
  postgres.password_file = password ? password : "";
  Measure(postgres, std::max<size_t>(kBatch, static_cast<size_t>(1'000'000 * scale)));
}

}  // namespace

int main(int argc, char** argv) {
  const double scale = argc > 1 ? std::atof(argv[1]) : 1.0;
  const fs::path dir = fs::temp_directory_path() / ("mcp-audit-console-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  SinkConfig sqlite;
  sqlite.name = "sqlite";
  sqlite.url = "sqlite://" + (dir / "audit.db").string();
  if (const char* existing = std::getenv("MCPAUDIT_BENCH_SQLITE_STORE"); existing && *existing) {
    sqlite.url = std::string("sqlite://") + existing;
    Measure(sqlite, 0, /*existing=*/true);
    fs::remove_all(dir);
    return 0;
  }
  // MCPAUDIT_BENCH_ONLY=postgres or journal: that one alone (the SQLite fill takes the longest).
  const std::string_view only = std::getenv("MCPAUDIT_BENCH_ONLY") ? std::getenv("MCPAUDIT_BENCH_ONLY") : "";
  if (only.empty() || only == "journal") {
    MeasureJournal(dir / "journal", std::max<size_t>(kBatch, static_cast<size_t>(1'000'000 * scale)));
    fs::remove_all(dir / "journal");
  }
  if (only.empty()) Measure(sqlite, std::max<size_t>(kBatch, static_cast<size_t>(10'000'000 * scale)));
  if (only.empty() || only == "postgres") MeasurePostgres(scale);
  fs::remove_all(dir);
}

// Sink benchmarks, printed side by side in one run: events/s written into
// SQLite, PostgreSQL and MariaDB
//   (a) by the sink, in batches of 2000 (what the Shipper sends);
//   (b) by the Shipper from a journal on disk (read, parse, send, move the cursor);
//   (c) by a naive writer that inserts one row per event in autocommit;
//   and into PostgreSQL by 1, 2 and 3 shippers at once (scale-out instances);
// events/s into each HTTP sink against a local receiver that answers at once
// (tests/support/http_receiver.h), and the shipper's memory while its
// destination is down and the backlog grows (it stays on disk).
// Usage: store_bench [scale] [only] (`only`: just the rows of kind batched,
// shipper, instances, naive, http or backlog). PostgreSQL and MariaDB are measured when
// MCPAUDIT_BENCH_POSTGRES_URL / MCPAUDIT_BENCH_MYSQL_URL (with *_PASSWORD_FILE)
// are set, which bench/store_bench.sh does after starting both on loopback.
#include <libpq-fe.h>
#include <mysql.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <string>
#include <vector>

#include "mcpaudit/shipper.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/pipeline.h"
#include "mcpaudit/sink.h"
#include "sample_event.h"
#include "sinks/mysql_sink.h"
#include "sinks/postgres_sink.h"
#include "sinks/sql_columns.h"
#include "sinks/sqlite_sink.h"
#include "support/http_receiver.h"

namespace {

using namespace mcpaudit;
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

constexpr size_t kBatch = 2000;

fs::path ScratchDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("mcp-audit-store-bench-" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir.parent_path());
  return dir;
}

// A call whose id starts with `prefix` and whose chain position is its number.
AuditEvent SampleEvent(const std::string& prefix, size_t n) {
  AuditEvent e = bench::SampleEvent(n, prefix + "-");
  e.integrity = AuditIntegrity{prefix, n + 1, std::string(64, '0'), std::string(64, 'f')};
  return e;
}

std::vector<SinkRecord> SampleRecords(const std::string& prefix, size_t count) {
  std::vector<SinkRecord> records;
  records.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    SinkRecord r;
    r.event = SampleEvent(prefix, i);
    r.line = ToJsonLine(r.event);
    records.push_back(std::move(r));
  }
  return records;
}

void Row(const char* store, const char* how, size_t events, Steady::duration elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  std::printf("%-10s %-44s %9zu %8.2f s %11.0f events/s\n", store, how, events, seconds, events / seconds);
  std::fflush(stdout);
}

void Failed(const char* store, const char* how, const std::string& why) {
  std::printf("%-10s %-44s failed: %s\n", store, how, why.c_str());
}

// (a) the sink, batch after batch.
void BatchedSink(const char* store, const SinkConfig& config, size_t count,
                 const char* how = "sink, batches of 2000 (one transaction each)") {
  auto sink = OpenSink(config);
  if (!sink) return Failed(store, how, sink.error().message);
  const auto records = SampleRecords(std::string(store) + "-batched", count);
  const auto start = Steady::now();
  for (size_t at = 0; at < records.size(); at += kBatch) {
    const size_t n = std::min(kBatch, records.size() - at);
    if (auto s = (*sink)->Store({records.data() + at, n}); !s) return Failed(store, "sink", s.error().message);
  }
  Row(store, how, count, Steady::now() - start);
}

// A journal of `count` sample records in stream `stream`, written beforehand.
Status WriteJournal(const fs::path& journal, const std::string& stream, size_t count) {
  PipelineOptions options;
  options.directory = journal;
  options.stream = stream;
  options.space_left_bytes = options.admin_space_left_bytes = 0;
  auto pipeline = Pipeline::Open(options);
  if (!pipeline) return std::unexpected(pipeline.error());
  for (size_t i = 0; i < count; ++i) {
    AuditEvent e = SampleEvent("shipped", i);
    e.id = NewUuidV7(e.timestamp, SecureRandom());
    e.integrity.reset();
    (void)(*pipeline)->Log(e);
  }
  return {};
}

// (b) the shipper, from a journal written beforehand.
void Shipping(const char* store, const SinkConfig& config, size_t count) {
  const fs::path journal = ScratchDir(std::string("journal-") + store);
  if (Status written = WriteJournal(journal, std::string(store) + "-shipped", count); !written)
    return Failed(store, "shipper", written.error().message);
  auto sink = OpenSink(config);
  if (!sink) return Failed(store, "shipper", sink.error().message);
  auto shipper = Shipper::Start({.journal_dir = journal, .name = store, .batch_records = kBatch,
                                 .poll_interval = std::chrono::hours(1), .drain_timeout = {}},
                                std::move(*sink));
  if (!shipper) return Failed(store, "shipper", shipper.error().message);
  const auto start = Steady::now();
  if (auto s = (*shipper)->ShipAll(); !s) return Failed(store, "shipper", s.error().message);
  Row(store, "shipper: journal -> store, batches of 2000", (*shipper)->counters().shipped, Steady::now() - start);
}

// Scale-out: 1, 2 and 3 instances (each its journal, stream and shipper)
// shipping into one store at once; the rows/s the store takes in all.
void Instances(const char* store, const SinkConfig& config, size_t count) {
  for (int instances = 1; instances <= 3; ++instances) {
    std::vector<fs::path> journals;
    for (int i = 0; i < instances; ++i) {
      const std::string name = "instance" + std::to_string(instances) + "-" + std::to_string(i);
      journals.push_back(ScratchDir(std::string("journal-") + store + "-" + name));
      if (Status written = WriteJournal(journals.back(), name, count); !written)
        return Failed(store, "instances", written.error().message);
    }
    // Timed from the first shipper's start: each begins shipping at once.
    const auto start = Steady::now();
    std::vector<std::unique_ptr<Shipper>> shippers;
    for (const fs::path& journal : journals) {
      auto sink = OpenSink(config);
      if (!sink) return Failed(store, "instances", sink.error().message);
      auto shipper =
          Shipper::Start({.journal_dir = journal, .name = "store", .batch_records = kBatch,
                          .poll_interval = std::chrono::hours(1), .drain_timeout = {}},
                         std::move(*sink));
      if (!shipper) return Failed(store, "instances", shipper.error().message);
      shippers.push_back(std::move(*shipper));
    }
    std::vector<std::thread> threads;
    std::atomic<bool> failed{false};
    for (auto& shipper : shippers)
      threads.emplace_back([&failed, &shipper] {
        if (!shipper->ShipAll()) failed = true;
      });
    for (auto& t : threads) t.join();
    const auto elapsed = Steady::now() - start;
    if (failed) return Failed(store, "instances", "a shipper failed");
    uint64_t shipped = 0;
    for (const auto& shipper : shippers) shipped += shipper->counters().shipped;
    const std::string how = std::to_string(instances) + " instance" + (instances > 1 ? "s" : "") +
                            " shipping at once (journal -> store)";
    Row(store, how.c_str(), shipped, elapsed);
  }
}

// (c) the naive writer: one INSERT per event, each its own transaction.
constexpr const char* kNaiveInsert =
    "INSERT INTO %s (id, stream, seq, %s, event_type, outcome, record) VALUES (%s)";

void NaiveSqlite(const fs::path& db, size_t count) {
  sqlite3* handle = nullptr;
  sqlite3_open(db.c_str(), &handle);
  sqlite3_exec(handle, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
  char sql[256];
  std::snprintf(sql, sizeof sql, kNaiveInsert, kAuditTable, "timestamp", "?,?,?,?,?,?,?");
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(handle, sql, -1, &insert, nullptr);
  const auto records = SampleRecords("sqlite-naive", count);
  const auto start = Steady::now();
  for (const SinkRecord& r : records) {
    const RecordColumns c = ColumnsOf(r);
    sqlite3_reset(insert);
    sqlite3_bind_text(insert, 1, c.id.data(), static_cast<int>(c.id.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert, 2, c.stream.data(), static_cast<int>(c.stream.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert, 3, static_cast<sqlite3_int64>(c.seq));
    sqlite3_bind_text(insert, 4, c.timestamp.data(), static_cast<int>(c.timestamp.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(insert, 5, c.event_type.data(), static_cast<int>(c.event_type.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert, 6, c.outcome.data(), static_cast<int>(c.outcome.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert, 7, r.line.data(), static_cast<int>(r.line.size()), SQLITE_STATIC);
    if (sqlite3_step(insert) != SQLITE_DONE) return Failed("sqlite", "naive", sqlite3_errmsg(handle));
  }
  Row("sqlite", "naive: one INSERT per event, autocommit", count, Steady::now() - start);
  sqlite3_finalize(insert);
  sqlite3_close(handle);
}

std::string PasswordOf(const SinkConfig& config) {
  auto password = ReadSinkPassword(config);
  return password ? *password : "";
}

void NaivePostgres(const SinkConfig& config, size_t count) {
  const std::string password = PasswordOf(config);
  const char* keys[] = {"dbname", "password", nullptr};
  const char* values[] = {config.url.c_str(), password.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  if (PQstatus(conn) != CONNECTION_OK) return Failed("postgres", "naive", PQerrorMessage(conn)), PQfinish(conn);
  char sql[256];
  std::snprintf(sql, sizeof sql, kNaiveInsert, "audit_events", "\"timestamp\"", "$1,$2,$3,$4,$5,$6,$7");
  const auto records = SampleRecords("postgres-naive", count);
  const auto start = Steady::now();
  for (const SinkRecord& r : records) {
    const RecordColumns c = ColumnsOf(r);
    const std::string id(c.id), stream(c.stream), seq = std::to_string(c.seq), type(c.event_type),
        outcome(c.outcome);
    const char* params[] = {id.c_str(), stream.c_str(), seq.c_str(), c.timestamp.c_str(),
                            type.c_str(), outcome.c_str(), r.line.c_str()};
    PGresult* result = PQexecParams(conn, sql, 7, nullptr, params, nullptr, nullptr, 0);
    const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    if (!ok) return Failed("postgres", "naive", PQerrorMessage(conn)), PQfinish(conn);
  }
  Row("postgres", "naive: one INSERT per event, autocommit", count, Steady::now() - start);
  PQfinish(conn);
}

void NaiveMysql(const SinkConfig& config, size_t count) {
  // mysql://user@host:port/db, as the benchmark script writes it.
  const std::string rest = config.url.substr(config.url.find("://") + 3);
  const std::string user = rest.substr(0, rest.find('@'));
  const std::string host_port = rest.substr(rest.find('@') + 1, rest.find('/') - rest.find('@') - 1);
  const std::string host = host_port.substr(0, host_port.find(':'));
  const unsigned port = static_cast<unsigned>(std::stoul(host_port.substr(host_port.find(':') + 1)));
  const std::string database = rest.substr(rest.find('/') + 1);
  MYSQL* m = mysql_init(nullptr);
  mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (!mysql_real_connect(m, host.c_str(), user.c_str(), PasswordOf(config).c_str(), database.c_str(), port, nullptr, 0))
    return Failed("mariadb", "naive", mysql_error(m)), mysql_close(m);
  const auto records = SampleRecords("mariadb-naive", count);
  const auto start = Steady::now();
  std::string escaped;
  for (const SinkRecord& r : records) {
    const RecordColumns c = ColumnsOf(r);
    escaped.resize(r.line.size() * 2 + 1);
    escaped.resize(mysql_real_escape_string(m, escaped.data(), r.line.data(), r.line.size()));
    std::string when = c.timestamp;
    when[10] = ' ';
    when.pop_back();
    const std::string values = "'" + std::string(c.id) + "','" + when + "','" + std::string(c.stream) + "'," +
                               std::to_string(c.seq) + ",'" + std::string(c.event_type) + "','" +
                               std::string(c.outcome) + "','{}','" + escaped + "'";
    const std::string sql = std::string("INSERT INTO ") + kMysqlAuditTable +
                            " (id, `timestamp`, stream, seq, event_type, outcome, integrity, record) VALUES (" +
                            values + ")";
    if (mysql_real_query(m, sql.data(), sql.size()) != 0) return Failed("mariadb", "naive", mysql_error(m)), mysql_close(m);
  }
  Row("mariadb", "naive: one INSERT per event, autocommit", count, Steady::now() - start);
  mysql_close(m);
}

// Resident memory of this process, in KiB.
long ResidentKib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::atol(line.c_str() + 6);
  }
  return 0;
}

void HttpSinks(size_t count) {
  testing::HttpReceiver receiver;
  ::setenv("MCPAUDIT_BENCH_SECRET", "bench-secret", 1);
  for (const char* type : {"webhook", "splunk", "datadog", "elastic", "otlp"}) {
    SinkConfig config;
    config.name = type;
    config.type = type;
    config.url = receiver.url();
    config.password_env = "MCPAUDIT_BENCH_SECRET";
    BatchedSink(type, config, count, "sink, batches of 2000, gzip");
  }
  // Syslog over TCP to a collector that reads and discards (a stand-in for
  // rsyslog, whose own speed is not what is measured here).
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  std::thread collector([&] {
    boost::asio::ip::tcp::socket socket(io);
    boost::system::error_code ec;
    acceptor.accept(socket, ec);
    char buffer[1 << 16];
    while (!ec) socket.read_some(boost::asio::buffer(buffer), ec);
  });
  {
    SinkConfig config;
    config.name = "syslog";
    config.type = "syslog";
    config.url = "tcp://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    BatchedSink("syslog", config, count, "sink, batches of 2000, tcp");
  }  // the sink closes its connection: the collector sees the end
  collector.join();
}

// The shipper while its destination refuses connections: the backlog is the
// journal on disk, so memory stays flat however many records wait.
void BacklogMemory(size_t count) {
  const fs::path journal = ScratchDir("backlog");
  SinkConfig config;
  config.name = "down";
  config.type = "webhook";
  config.url = "http://127.0.0.1:1/";
  ::setenv("MCPAUDIT_BENCH_SECRET", "bench-secret", 1);
  config.password_env = "MCPAUDIT_BENCH_SECRET";
  auto sink = OpenSink(config);
  PipelineOptions options;
  options.directory = journal;
  options.space_left_bytes = options.admin_space_left_bytes = 0;
  auto pipeline = Pipeline::Open(options);
  if (!sink || !pipeline) return Failed("webhook", "backlog", "cannot open");
  auto shipper = Shipper::Start({.journal_dir = journal, .name = "down", .poll_interval = std::chrono::milliseconds(50),
                                 .max_backoff = std::chrono::milliseconds(200), .drain_timeout = {}},
                                std::move(*sink));
  // Memory after each half: the pipeline's buffers grow once, the backlog must not.
  long resident[2] = {0, 0};
  for (int half = 0; half < 2; ++half) {
    for (size_t i = 0; i < count / 2; ++i) {
      AuditEvent e = SampleEvent("backlog", i);
      e.id = NewUuidV7(e.timestamp, SecureRandom());
      e.integrity.reset();
      (void)(*pipeline)->Log(e);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    resident[half] = ResidentKib();
  }
  auto backlog = ReadShipperBacklogs(journal);
  std::printf("%-10s %-44s %9zu waiting; RSS %ld MiB at half, %ld MiB at all\n", "webhook",
              "shipper, destination down", backlog && !backlog->empty() ? size_t(backlog->front().records_behind) : 0,
              resident[0] / 1024, resident[1] / 1024);
}

std::optional<SinkConfig> FromEnvironment(const char* name, const char* url_env, const char* password_env) {
  const char* url = std::getenv(url_env);
  if (url == nullptr || *url == '\0') return std::nullopt;
  const char* password_file = std::getenv(password_env);
  return SinkConfig{name, url, "", password_file ? password_file : ""};
}

}  // namespace

int main(int argc, char** argv) {
  const double scale = argc > 1 ? std::atof(argv[1]) : 1.0;
  const std::string only = argc > 2 ? argv[2] : "";
  auto wanted = [&](const char* kind) { return only.empty() || only == kind; };
  auto n = [&](size_t base) { return std::max<size_t>(kBatch, static_cast<size_t>(base * scale)); };
  std::printf("%-10s %-44s %9s %10s %18s\n", "store", "how", "events", "time", "rate");

  // First, while this process is small: memory while a destination is down.
  if (wanted("backlog")) BacklogMemory(n(200000));
  const fs::path sqlite_dir = ScratchDir("sqlite");
  const SinkConfig sqlite{"sqlite", "sqlite://" + (sqlite_dir / "audit.db").string(), "", ""};
  if (wanted("batched")) BatchedSink("sqlite", sqlite, n(300000));
  if (wanted("shipper")) Shipping("sqlite", sqlite, n(100000));
  if (wanted("naive")) NaiveSqlite(sqlite_dir / "audit.db", 2000);

  if (auto postgres = FromEnvironment("postgres", "MCPAUDIT_BENCH_POSTGRES_URL", "MCPAUDIT_BENCH_POSTGRES_PASSWORD_FILE")) {
    if (wanted("batched")) BatchedSink("postgres", *postgres, n(200000));
    if (wanted("shipper")) Shipping("postgres", *postgres, n(100000));
    if (wanted("instances")) Instances("postgres", *postgres, n(100000));
    if (wanted("naive")) NaivePostgres(*postgres, 2000);
  } else if (wanted("batched") || wanted("shipper") || wanted("naive")) {
    std::printf("postgres   (not measured: MCPAUDIT_BENCH_POSTGRES_URL is not set; bench/store_bench.sh sets it)\n");
  }
  if (auto mysql = FromEnvironment("mariadb", "MCPAUDIT_BENCH_MYSQL_URL", "MCPAUDIT_BENCH_MYSQL_PASSWORD_FILE")) {
    if (wanted("batched")) BatchedSink("mariadb", *mysql, n(100000));
    if (wanted("shipper")) Shipping("mariadb", *mysql, n(50000));
    if (wanted("naive")) NaiveMysql(*mysql, 2000);
  } else if (wanted("batched") || wanted("shipper") || wanted("naive")) {
    std::printf("mariadb    (not measured: MCPAUDIT_BENCH_MYSQL_URL is not set; bench/store_bench.sh sets it)\n");
  }
  if (wanted("http")) HttpSinks(n(100000));
  fs::remove_all(sqlite_dir.parent_path());
  return 0;
}

// The soak: `mcp-audit serve --http` for SOAK_MINUTES at a steady rate of
// tools/call (default 5,000 a second), shipping to SQLite and to a webhook
// receiver that goes away for a tenth of every period (60 s every 10 minutes
// in the hour-long run). Every 10 s it samples the server's RSS, open fds,
// threads, journal bytes and each sink's backlog into soak.csv; at the end it
// checks what a service must hold for months:
//   RSS grows less than 10 % after the warm-up (the first fifth of the run),
//   fds and threads stay flat, every backlog drains,
//   calls acknowledged = tool_call records in the journal = rows in SQLite,
//   and the receiver got every record at least once.
//   soak MCP_AUDIT_BINARY OUT_DIR MINUTES [CALLS_PER_SECOND]
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// clang-format off: Boost.Asio 1.74 needs <utility> first
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
// clang-format on

namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

namespace {

// Occurrences of `needle` in `text`.
size_t Count(std::string_view text, std::string_view needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

constexpr std::string_view kToolCall = R"("event_type":"tool_call")";

// The webhook's receiver: counts the tool_call records it is sent; while
// `down`, drops every connection without an answer (the receiver is gone).
class Receiver {
 public:
  Receiver() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { Accept(); });
  }
  ~Receiver() {
    stopping_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    thread_.join();
    for (auto& t : connections_) t.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  std::atomic<bool> down{false};
  std::atomic<uint64_t> records{0};

 private:
  void Accept() {
    while (!stopping_) {
      asio::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec) continue;
      connections_.emplace_back([this, s = std::move(socket)]() mutable { Serve(s); });
    }
  }
  void Serve(asio::ip::tcp::socket& socket) {
    beast::flat_buffer buffer;
    while (!stopping_) {
      http::request<http::string_body> request;
      boost::system::error_code ec;
      http::read(socket, buffer, request, ec);
      if (ec || down) return;  // gone: the connection closes unanswered
      if (request[http::field::content_encoding] == "gzip") return;  // the config turns gzip off
      records += Count(request.body(), kToolCall);
      http::response<http::string_body> response(http::status::ok, request.version());
      response.body() = "{}";
      response.prepare_payload();
      http::write(socket, response, ec);
      if (ec) return;
    }
  }
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::vector<std::thread> connections_;
};

// One keep-alive connection to the server, with a session of its own.
class Caller {
 public:
  Caller(unsigned short port, std::string key) : stream_(io_), key_(std::move(key)) {
    stream_.connect({asio::ip::make_address("127.0.0.1"), port});
    auto opened = Post(
        R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"soak","version":"1"}}})");
    session_ = std::string(opened["Mcp-Session-Id"]);
    Post(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  }
  // True when the call was answered with its result.
  bool Call(uint64_t id) {
    auto answer = Post(
        R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
        R"(,"method":"tools/call","params":{"name":"catalog_search","arguments":{"query":"soak"}}})");
    return answer.result() == http::status::ok &&
           answer.body().find("\"result\"") != std::string::npos;
  }

 private:
  http::response<http::string_body> Post(const std::string& body) {
    http::request<http::string_body> request(http::verb::post, "/mcp", 11);
    request.set(http::field::host, "127.0.0.1");
    request.set(http::field::content_type, "application/json");
    request.set(http::field::accept, "application/json, text/event-stream");
    request.set("X-API-Key", key_);
    if (!session_.empty()) request.set("Mcp-Session-Id", session_);
    request.body() = body;
    request.prepare_payload();
    http::write(stream_, request);
    http::response<http::string_body> response;
    http::read(stream_, buffer_, response);
    return response;
  }
  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::string key_, session_;
};

std::string Get(unsigned short port, const std::string& target, const std::string& key) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect({asio::ip::make_address("127.0.0.1"), port});
  http::request<http::empty_body> request(http::verb::get, target, 11);
  request.set(http::field::host, "127.0.0.1");
  request.set("X-API-Key", key);
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  return response.body();
}

// A gauge of /metrics text, e.g. mcpaudit_sink_backlog_bytes{sink="local"}; -1 when absent.
long long Metric(const std::string& text, const std::string& name) {
  const size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stoll(text.substr(at + name.size() + 2));
}

long long ProcStatus(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(field + ":")) return std::stoll(line.substr(field.size() + 1));
  return -1;
}

uint64_t JournalBytes(const fs::path& dir) {
  uint64_t bytes = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().filename().string().starts_with("segment-")) bytes += entry.file_size(ec);
  return bytes;
}

uint64_t JournalToolCalls(const fs::path& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.path().filename().string().starts_with("segment-")) continue;
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) n += line.find(kToolCall) != std::string::npos;
  }
  return n;
}

uint64_t SqliteToolCalls(const fs::path& db) {
  sqlite3* handle = nullptr;
  uint64_t n = 0;
  if (sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* statement = nullptr;
    sqlite3_prepare_v2(handle, "SELECT count(*) FROM audit_events WHERE event_type = 'tool_call'",
                       -1, &statement, nullptr);
    if (statement && sqlite3_step(statement) == SQLITE_ROW) n = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
  }
  sqlite3_close(handle);
  return n;
}

struct Sample {
  double seconds;
  long long rss_kb, fds, threads;
  uint64_t journal_bytes;
  long long backlog_local, backlog_hook;
  uint64_t acknowledged;
  bool receiver_down;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: soak MCP_AUDIT_BINARY OUT_DIR MINUTES [CALLS_PER_SECOND]\n";
    return 2;
  }
  const std::string binary = argv[1];
  const fs::path out = fs::absolute(argv[2]);
  const double minutes = std::stod(argv[3]);
  const double rate = argc > 4 ? std::stod(argv[4]) : 5000;
  const auto total = std::chrono::duration<double>(minutes * 60);
  // The receiver goes away for a tenth of each period: 60 s of every 10 minutes in an hour.
  const double period = std::min(600.0, total.count() / 6);
  const double outage = period / 10;
  const auto sample_every = std::chrono::seconds(10);
  fs::remove_all(out);
  fs::create_directories(out);
  ::signal(SIGPIPE, SIG_IGN);

  Receiver receiver;
  std::ofstream(out / "hook.key") << "soak-webhook-signing-key-0123456789abcdef\n";
  fs::permissions(out / "hook.key", fs::perms::owner_read | fs::perms::owner_write);
  std::ofstream(out / "soak.toml")
      << "[[sinks]]\nname = \"local\"\nurl = \"sqlite://" << (out / "audit.db").string()
      << "\"\n[[sinks]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:"
      << receiver.port() << "/hook\"\npassword_file = \"" << (out / "hook.key").string()
      << "\"\ngzip = false\ntimeout_seconds = 5\n";
  const fs::path audit = out / "audit";
  const fs::path log = out / "serve.log";
  const pid_t server = ::fork();
  if (server == 0) {
    std::freopen(log.c_str(), "w", stderr);
    ::execl(binary.c_str(), binary.c_str(), "serve", "--http", "127.0.0.1:0", "--dev-api-key",
            "--config", (out / "soak.toml").c_str(), "--audit-dir", audit.c_str(), nullptr);
    _exit(127);
  }
  unsigned short port = 0;
  std::string key;
  for (int i = 0; i < 300 && (port == 0 || key.empty()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    if (auto at = text.find("endpoint:      http://127.0.0.1:"); at != std::string::npos)
      port = static_cast<unsigned short>(std::stoi(text.substr(at + 32)));
    if (auto at = text.find("dev API key:   "); at != std::string::npos)
      key = text.substr(at + 15, text.find(' ', at + 15) - at - 15);
  }
  if (port == 0 || key.empty()) {
    std::cerr << "soak: the server did not start (see " << log << ")\n";
    ::kill(server, SIGKILL);
    return 1;
  }

  // The load: callers each paced to their share of the rate.
  const unsigned callers = 32;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> acknowledged{0}, failed{0};
  std::vector<std::thread> load;
  const auto started = Clock::now();
  for (unsigned c = 0; c < callers; ++c) {
    load.emplace_back([&, c] {
      try {
        Caller caller(port, key);
        const auto interval = std::chrono::duration<double>(callers / rate);
        auto next = Clock::now();
        for (uint64_t id = 1; !stop; ++id) {
          next += std::chrono::duration_cast<Clock::duration>(interval);
          std::this_thread::sleep_until(next);
          (caller.Call(c * 1'000'000'000ull + id) ? acknowledged : failed)++;
        }
      } catch (const std::exception& e) {
        std::cerr << "soak: caller " << c << ": " << e.what() << "\n";
        failed++;
      }
    });
  }

  std::vector<Sample> samples;
  std::ofstream csv(out / "soak.csv");
  csv << "seconds,rss_kb,fds,threads,journal_bytes,backlog_local_bytes,backlog_hook_bytes,"
         "acknowledged,receiver_down\n";
  auto take_sample = [&] {
    Sample s{};
    s.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    s.rss_kb = ProcStatus(server, "VmRSS");
    s.threads = ProcStatus(server, "Threads");
    std::error_code ec;
    s.fds = std::distance(fs::directory_iterator("/proc/" + std::to_string(server) + "/fd", ec),
                          fs::directory_iterator());
    s.journal_bytes = JournalBytes(audit);
    const std::string metrics = Get(port, "/metrics", key);
    s.backlog_local = Metric(metrics, "mcpaudit_sink_backlog_bytes{sink=\"local\"}");
    s.backlog_hook = Metric(metrics, "mcpaudit_sink_backlog_bytes{sink=\"hook\"}");
    s.acknowledged = acknowledged;
    s.receiver_down = receiver.down;
    csv << s.seconds << ',' << s.rss_kb << ',' << s.fds << ',' << s.threads << ','
        << s.journal_bytes << ',' << s.backlog_local << ',' << s.backlog_hook << ','
        << s.acknowledged << ',' << s.receiver_down << std::endl;
    samples.push_back(s);
  };
  auto next_sample = started + sample_every;
  while (Clock::now() - started < total) {
    const double t = std::chrono::duration<double>(Clock::now() - started).count();
    receiver.down = std::fmod(t, period) >= period - outage;
    if (Clock::now() >= next_sample) {
      take_sample();
      next_sample += sample_every;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop = true;
  for (auto& t : load) t.join();
  receiver.down = false;
  // Drained: both backlogs at zero (the hook's retries wait out their backoff).
  const auto drain_deadline = Clock::now() + std::chrono::seconds(120);
  std::string metrics;
  while (Clock::now() < drain_deadline) {
    metrics = Get(port, "/metrics", key);
    if (Metric(metrics, "mcpaudit_sink_backlog_bytes{sink=\"local\"}") == 0 &&
        Metric(metrics, "mcpaudit_sink_backlog_bytes{sink=\"hook\"}") == 0)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const size_t under_load = samples.size();
  take_sample();
  const double drained_after =
      std::chrono::duration<double>(Clock::now() - started).count() - total.count();
  ::kill(server, SIGTERM);
  int status = 0;
  ::waitpid(server, &status, 0);

  // The verdicts, on the samples taken under load after the warm-up (the
  // first fifth of the run, at least 30 s): growth is the highest RSS of their
  // last third over the highest of their first third (not one sample's noise).
  const size_t warm = std::max<size_t>(3, under_load / 5);
  bool pass = true;
  auto check = [&](bool ok, const std::string& what) {
    std::cout << (ok ? "  ok    " : "  FAIL  ") << what << "\n";
    pass = pass && ok;
  };
  std::cout << "soak: " << minutes << " min at " << rate << " calls/s asked, "
            << static_cast<uint64_t>(acknowledged / total.count()) << " answered; receiver away "
            << outage << " s of every " << period << " s; " << samples.size() << " samples in "
            << (out / "soak.csv").string() << "\n";
  if (under_load < warm + 3) {
    check(false, "enough samples after the warm-up");
    return 1;
  }
  const size_t third = (under_load - warm) / 3;
  long long rss_warm = 0, rss_max = 0;
  long long fds_min = LLONG_MAX, fds_max = 0, threads_min = LLONG_MAX, threads_max = 0;
  for (size_t i = warm; i < under_load; ++i) {
    if (i < warm + third) rss_warm = std::max(rss_warm, samples[i].rss_kb);
    if (i >= under_load - third) rss_max = std::max(rss_max, samples[i].rss_kb);
    fds_min = std::min(fds_min, samples[i].fds), fds_max = std::max(fds_max, samples[i].fds);
    threads_min = std::min(threads_min, samples[i].threads);
    threads_max = std::max(threads_max, samples[i].threads);
  }
  const double growth =
      100.0 * static_cast<double>(rss_max - rss_warm) / static_cast<double>(rss_warm);
  std::ostringstream line;
  line.precision(3);
  line << "RSS at most " << rss_warm / 1024 << " MiB in the first third after the warm-up, "
       << rss_max / 1024 << " MiB in the last: growth " << growth << " % (under 10 %)";
  check(growth < 10, line.str());
  // The callers' connections and the sinks' own may be reconnecting when sampled.
  check(fds_max - fds_min <= 4, "open fds " + std::to_string(fds_min) + ".." +
                                    std::to_string(fds_max) + " (flat: within 4)");
  check(threads_max - threads_min <= 2, "threads " + std::to_string(threads_min) + ".." +
                                            std::to_string(threads_max) + " (flat: within 2)");
  check(samples.back().backlog_local == 0 && samples.back().backlog_hook == 0,
        "every backlog drained (" + std::to_string(drained_after) + " s after the load)");
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the server stopped cleanly");
  const uint64_t journal = JournalToolCalls(audit), rows = SqliteToolCalls(out / "audit.db");
  check(failed == 0, std::to_string(failed.load()) + " calls failed");
  check(acknowledged == journal && journal == rows,
        "calls acknowledged " + std::to_string(acknowledged.load()) +
            " = tool_call records in the journal " + std::to_string(journal) +
            " = rows in SQLite " + std::to_string(rows));
  check(receiver.records >= acknowledged, "the webhook receiver got " +
                                              std::to_string(receiver.records.load()) +
                                              " tool_call records (at least once each)");
  return pass ? 0 : 1;
}

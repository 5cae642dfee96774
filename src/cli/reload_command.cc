// mcp-audit reload: asks the server writing a journal to read its
// configuration again (SIGHUP), and says what came of it, from the
// `config_reload` record the server writes.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <thread>

#include "audit/journal_format.h"
#include "base/bounded_json.h"
#include "base/line_reader.h"
#include "cli/commands.h"

namespace mcpaudit::cli {
namespace {

namespace fs = std::filesystem;

// The process that holds the journal's lock, from the pid it wrote there.
Result<pid_t> JournalWriter(const fs::path& dir) {
  const fs::path lock_path = dir / journal::kLockFile;
  const int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(ErrorCode::kNotFound, "no journal in " + dir.string());
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0;
  char text[32] = {};
  const ssize_t got = ::pread(fd, text, sizeof text - 1, 0);
  ::close(fd);
  if (!held) return Fail(ErrorCode::kNotFound, "no server is writing to " + dir.string());
  const long pid = got > 0 ? std::strtol(text, nullptr, 10) : 0;
  if (pid <= 1)
    return Fail(ErrorCode::kNotFound, lock_path.string() + " does not name the server's process");
  return static_cast<pid_t>(pid);
}

// Where each segment ends now: what is written after it is new.
std::map<fs::path, uint64_t> SegmentEnds(const fs::path& dir) {
  std::map<fs::path, uint64_t> ends;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (journal::IsSegmentFile(entry)) ends[entry.path()] = entry.file_size(ec);
  return ends;
}

// The first `config_reload` record written after `before`.
std::optional<nlohmann::json> NewReloadRecord(const fs::path& dir,
                                              const std::map<fs::path, uint64_t>& before) {
  for (const auto& [segment, size] : SegmentEnds(dir)) {
    auto known = before.find(segment);
    const uint64_t from = known == before.end() ? 0 : known->second;
    if (size <= from) continue;
    std::ifstream in(segment, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(from));
    std::string line;
    while (true) {
      const LineRead read = ReadLineWithin(in, line, journal::kMaxLineBytes);
      if (read.bytes == 0 || !read.complete) break;
      auto record = ParseWithin(line, kMaxRecordDepth);
      if (record.is_object() && StringMember(record, "event_type") == "config_reload")
        return record;
    }
  }
  return std::nullopt;
}

}  // namespace

void AddReloadCommand(CLI::App& app, int& exit_code) {
  auto audit_dir = std::make_shared<std::string>(kDefaultAuditDir);
  auto timeout = std::make_shared<unsigned>(30);
  CLI::App* cmd = app.add_subcommand(
      "reload", "Make the server writing a journal read its configuration again (as SIGHUP does)");
  cmd->add_option("--audit-dir", *audit_dir, "Directory of the server's journal")
      ->capture_default_str();
  cmd->add_option("--timeout", *timeout, "Seconds to wait for the server's answer")
      ->capture_default_str();
  cmd->callback([audit_dir, timeout, &exit_code] {
    auto pid = JournalWriter(*audit_dir);
    if (!pid) {
      std::cerr << "mcp-audit reload: " << pid.error().message << "\n";
      exit_code = 2;
      return;
    }
    const auto before = SegmentEnds(*audit_dir);
    if (::kill(*pid, SIGHUP) != 0) {
      std::cerr << "mcp-audit reload: cannot signal process " << *pid << ": "
                << std::strerror(errno) << "\n";
      exit_code = 2;
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(*timeout);
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto record = NewReloadRecord(*audit_dir, before)) {
        const nlohmann::json details = ObjectMember(*record, "details");
        if (StringMember(*record, "outcome") == "success") {
          std::cout << "reloaded " << StringMember(details, "config") << " (process " << *pid
                    << "): applied " << ArrayMember(details, "applied").dump();
          const nlohmann::json restart = ArrayMember(details, "restart_needed");
          if (!restart.empty()) std::cout << "; a restart is needed for " << restart.dump();
          std::cout << "\n";
          exit_code = 0;
        } else {
          std::cerr << "mcp-audit reload: refused, the running configuration stays: "
                    << StringMember(ObjectMember(*record, "error"), "message") << "\n";
          exit_code = 1;
        }
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::cerr << "mcp-audit reload: process " << *pid
              << " was signalled but recorded no reload within " << *timeout << " s\n";
    exit_code = 2;
  });
}

}  // namespace mcpaudit::cli

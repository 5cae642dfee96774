// mcp-audit reload: asks the server writing a journal to read its
// configuration again (SIGHUP), and says what came of it, from the
// `config_reload` record the server writes.
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "audit/journal_format.h"
#include "base/bounded_json.h"
#include "base/line_reader.h"
#include "cli/commands.h"

namespace mcpaudit::cli {
namespace {

namespace fs = std::filesystem;

// The server writing the journal in `dir`: the process the kernel says holds
// the flock on its lock file (/proc/locks), if it is `mcp-audit serve` or
// `proxy` (erase and retention hold it too, for a while, and a SIGHUP would
// end them). Nothing a file in the directory says is taken on trust.
Result<pid_t> JournalServer(const fs::path& dir) {
  const fs::path lock_path = dir / journal::kLockFile;
  struct stat lock {};
  if (::lstat(lock_path.c_str(), &lock) != 0 || !S_ISREG(lock.st_mode))
    return Fail(ErrorCode::kNotFound, "no journal in " + dir.string());
  char device[32];
  std::snprintf(device, sizeof device, "%02x:%02x:%lu", ::major(lock.st_dev), ::minor(lock.st_dev),
                static_cast<unsigned long>(lock.st_ino));
  std::ifstream locks("/proc/locks");
  pid_t holder = 0;
  for (std::string line; std::getline(locks, line);) {
    std::istringstream fields(line);
    std::string number, kind, mode, access, where;
    long pid = 0;
    fields >> number >> kind >> mode >> access >> pid >> where;
    if (kind == "FLOCK" && access == "WRITE" && where == device && pid > 0)
      holder = static_cast<pid_t>(pid);
  }
  if (holder == 0) return Fail(ErrorCode::kNotFound, "no server is writing to " + dir.string());
  std::ifstream cmdline("/proc/" + std::to_string(holder) + "/cmdline");
  std::vector<std::string> args;
  for (std::string arg; std::getline(cmdline, arg, '\0');) args.push_back(arg);
  if (args.size() < 2 || (args[1] != "serve" && args[1] != "proxy"))
    return Fail(ErrorCode::kUnavailable,
                "the journal in " + dir.string() + " is held by process " + std::to_string(holder) +
                    (args.size() >= 2 ? " (mcp-audit " + args[1] + ")" : "") +
                    ", which is not a server; try again when it is done");
  return holder;
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
    auto pid = JournalServer(*audit_dir);
    if (!pid) {
      std::cerr << "mcp-audit reload: " << pid.error().message << "\n";
      exit_code = 2;
      return;
    }
    const auto before = SegmentEnds(*audit_dir);
    // Signalled through a pidfd, checked to hold the journal still: a pid that
    // was reused in between is not signalled.
    // (By syscall: glibc 2.36's <sys/pidfd.h> declares them without extern "C".)
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, *pid, 0));
    auto still = JournalServer(*audit_dir);
    const bool signalled = pidfd >= 0 && still && *still == *pid &&
                           ::syscall(SYS_pidfd_send_signal, pidfd, SIGHUP, nullptr, 0) == 0;
    const int why = errno;
    if (pidfd >= 0) ::close(pidfd);
    if (!signalled) {
      std::cerr << "mcp-audit reload: cannot signal process " << *pid << ": "
                << (still ? std::strerror(why) : still.error().message) << "\n";
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

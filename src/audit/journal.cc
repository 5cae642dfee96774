#include "audit/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/journal_format.h"
#include "base/audit_files.h"
#include "base/bounded_json.h"
#include "mcpaudit/audit_event.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> Segments(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (journal::IsSegmentFile(entry)) out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Journal::Journal(Journal&& other) noexcept { *this = std::move(other); }

Journal& Journal::operator=(Journal&& other) noexcept {
  if (this != &other) {
    CloseSegment();
    if (lock_fd_ >= 0) ::close(lock_fd_);
    options_ = std::move(other.options_);
    lock_fd_ = std::exchange(other.lock_fd_, -1);
    fd_ = std::exchange(other.fd_, -1);
    segment_path_ = std::move(other.segment_path_);
    segment_bytes_ = other.segment_bytes_;
    segment_opened_ = other.segment_opened_;
    span_known_ = other.span_known_;
    span_ = other.span_;
    head_ = std::move(other.head_);
    recovery_ = std::move(other.recovery_);
  }
  return *this;
}

Journal::~Journal() {
  CloseSegment();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Result<Journal> Journal::Open(JournalOptions options, std::string_view stream) {
  if (auto made = EnsureAuditDirectory(options.directory); !made) return std::unexpected(made.error());
  Journal journal;
  journal.options_ = std::move(options);
  const fs::path dir = journal.options_.directory;
  const fs::path lock_path = dir / journal::kLockFile;
  journal.lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (journal.lock_fd_ < 0) return std::unexpected(ErrnoError("cannot open", lock_path));
  if (::flock(journal.lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Fail(ErrorCode::kUnavailable,
                "another mcp-audit process is writing to " + dir.string() + " (it holds " + lock_path.string() + ")");
  }

  journal.head_.stream = std::string(stream);
  journal.head_.hash = std::string(journal::kGenesisHash);
  std::vector<fs::path> segments = Segments(dir);
  bool any_record = false, done = false;
  // Find this stream's head: the last valid record of it, newest segment first;
  // when it is a checkpoint, also the record before it.
  for (auto it = segments.rbegin(); it != segments.rend() && !done; ++it) {
    std::ifstream in(*it, std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), {});
    const size_t complete = content.rfind('\n') == std::string::npos ? 0 : content.rfind('\n') + 1;
    if (it == segments.rbegin() && complete < content.size()) {
      // A torn last line: the process died in the middle of a write. Set the
      // bytes aside (never silently drop them) and cut the segment back.
      journal.recovery_.torn_bytes = content.size() - complete;
      const std::string stamp = std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
              .count());
      journal.recovery_.set_aside = dir / ("torn-" + stamp + "-" + it->filename().string() + ".part");
      auto set_aside = OpenAuditFile(journal.recovery_.set_aside, O_EXCL);
      if (!set_aside) return std::unexpected(set_aside.error());
      const int out = *set_aside;
      const std::string_view torn(content.data() + complete, content.size() - complete);
      const bool saved = WriteAll(out, torn) == torn.size() && ::fsync(out) == 0;
      ::close(out);
      if (!saved) return std::unexpected(ErrnoError("cannot write", journal.recovery_.set_aside));
      if (::truncate(it->c_str(), static_cast<off_t>(complete)) != 0)
        return std::unexpected(ErrnoError("cannot cut back", *it));
      SyncDirectory(dir);
      content.resize(complete);
    }
    if (it == segments.rbegin() && !content.empty()) {
      // The active segment's time bounds: those its last line, a checkpoint, declares.
      journal.span_ = journal::DeclaredSpan(ParseWithin(journal::LastLine(content), kMaxRecordDepth));
      journal.span_known_ = journal.span_.has_value();
    }
    // Walk back over complete lines to the last record of this stream.
    std::vector<std::string_view> lines;
    for (size_t start = 0; start < content.size();) {
      const size_t newline = content.find('\n', start);
      lines.emplace_back(content.data() + start, newline - start);
      start = newline + 1;
    }
    // Read with their types checked: anyone with access to the file may have edited it.
    auto of_stream = [&](const nlohmann::json& line) {
      if (line.is_discarded() || !line.is_object() || !line.contains("integrity")) return false;
      const auto& integrity = line["integrity"];
      return integrity.is_object() && integrity.contains("stream") && integrity["stream"] == stream &&
             integrity.contains("seq") && integrity["seq"].is_number_unsigned() && integrity.contains("hash") &&
             integrity["hash"].is_string();
    };
    auto type_of = [](const nlohmann::json& line) {
      auto type = line.find("event_type");
      return type != line.end() && type->is_string() ? type->get<std::string>() : std::string();
    };
    for (auto line_it = lines.rbegin(); line_it != lines.rend() && !done; ++line_it) {
      auto line = ParseWithin(*line_it, kMaxRecordDepth);
      if (!of_stream(line)) continue;
      if (any_record) {  // a clean stop: audit_stopped, then the final checkpoint
        journal.head_.stopped = type_of(line) == "audit_stopped";
        done = true;
        continue;
      }
      journal.head_.seq = line["integrity"]["seq"].get<uint64_t>();
      journal.head_.hash = line["integrity"]["hash"].get<std::string>();
      any_record = true;
      done = type_of(line) != "checkpoint";
    }
  }
  journal.recovery_.clean_stop = !any_record || journal.head_.stopped;
  journal.recovery_.first_start = !any_record;

  // Append to the newest segment, or start the first one.
  if (segments.empty()) {
    if (auto opened = journal.OpenSegment(journal.head_.seq + 1); !opened) return std::unexpected(opened.error());
  } else {
    journal.segment_path_ = segments.back();
    auto fd = OpenAuditFile(journal.segment_path_);
    if (!fd) return std::unexpected(fd.error());
    journal.fd_ = *fd;
    struct stat st{};
    ::fstat(journal.fd_, &st);
    journal.segment_bytes_ = static_cast<uint64_t>(st.st_size);
    journal.segment_opened_ = std::chrono::system_clock::from_time_t(st.st_mtime);
  }
  return journal;
}

Status Journal::OpenSegment(uint64_t first_seq) {
  segment_path_ = options_.directory / journal::SegmentName(first_seq);
  auto fd = OpenAuditFile(segment_path_);
  if (!fd) return std::unexpected(fd.error());
  fd_ = *fd;
  struct stat st{};
  ::fstat(fd_, &st);
  segment_bytes_ = static_cast<uint64_t>(st.st_size);
  segment_opened_ = std::chrono::system_clock::now();
  SyncDirectory(options_.directory);  // the new name itself must survive a crash
  return {};
}

void Journal::CloseSegment() {
  if (fd_ >= 0) {
    ::fdatasync(fd_);
    ::close(fd_);
  }
  fd_ = -1;
}

bool Journal::RotationDue(size_t incoming_bytes) const {
  if (segment_bytes_ == 0) return false;
  return segment_bytes_ + incoming_bytes > options_.max_segment_bytes || !span_known_ ||
         std::chrono::system_clock::now() - segment_opened_ > options_.max_segment_age;
}

Status Journal::Rotate(uint64_t next_seq) {
  if (fd_ >= 0 && ::fdatasync(fd_) != 0) return std::unexpected(ErrnoError("cannot sync", segment_path_));
  // Named by the first seq, but always after the active segment and never an
  // existing file (another stream of the directory may have used that seq).
  uint64_t first = next_seq;
  if (auto active = ActiveFirstSeq(); active && first <= *active) first = *active + 1;
  std::error_code ec;
  while (fs::exists(options_.directory / journal::SegmentName(first), ec)) ++first;
  CloseSegment();
  if (Status opened = OpenSegment(first); !opened) return opened;
  span_known_ = true;
  span_.reset();
  return {};
}

std::optional<uint64_t> Journal::ActiveFirstSeq() const {
  return journal::SegmentFirstSeq(segment_path_.filename().string());
}

Status Journal::Append(std::string_view lines, const std::optional<journal::TimeSpan>& span) {
  if (fd_ < 0) return Fail(ErrorCode::kIo, "the journal segment is not open");
  const size_t done = WriteAll(fd_, lines);
  if (done < lines.size()) {
    Error error = ErrnoError("cannot write", segment_path_);
    if (done > 0 && ::ftruncate(fd_, static_cast<off_t>(segment_bytes_)) != 0) {
      error.message += " (and cutting back the partial write failed: " + std::string(std::strerror(errno)) + ")";
      // Lines of unknown times stay in the segment: declare no bounds for it.
      span_known_ = false;
    }
    return std::unexpected(error);
  }
  segment_bytes_ += done;
  journal::Widen(span_, span);
  return {};
}

Status Journal::Sync() {
  if (::fdatasync(fd_) != 0) return std::unexpected(ErrnoError("cannot sync", segment_path_));
  return {};
}

}  // namespace mcpaudit

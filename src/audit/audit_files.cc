#include "audit/audit_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mcpaudit {

namespace fs = std::filesystem;

Status EnsureAuditDirectory(const fs::path& dir) {
  if (dir.empty()) return Fail(ErrorCode::kInvalidArgument, "no audit directory given");
  std::error_code ec;
  if (fs::exists(dir, ec)) return {};
  fs::create_directories(dir, ec);
  if (ec) return Fail(ErrorCode::kIo, "cannot create audit directory " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);
  return {};
}

Result<int> OpenAuditFile(const fs::path& path, int extra_flags) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | extra_flags, 0600);
  if (fd < 0) return std::unexpected(ErrnoError("cannot open", path));
  if (::fchmod(fd, 0600) != 0) {
    Error error = ErrnoError("cannot set mode 0600 on", path);
    ::close(fd);
    return std::unexpected(error);
  }
  return fd;
}

size_t WriteAll(int fd, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    done += static_cast<size_t>(n);
  }
  return done;
}

void SyncDirectory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

Error ErrnoError(const std::string& what, const fs::path& path) {
  return Error{ErrorCode::kIo, what + " " + path.string() + ": " + std::strerror(errno)};
}

}  // namespace mcpaudit

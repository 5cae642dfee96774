#include "base/audit_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

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
  // O_NOFOLLOW: a link put in place of an audit file never redirects the records.
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | extra_flags, 0600);
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

Status CheckOwnerOnly(const fs::path& path, std::string_view what) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return std::unexpected(ErrnoError("cannot read " + std::string(what), path));
  if ((st.st_mode & 0077) != 0) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + " " + path.string() +
                                                 " can be read by others: chmod 600 it (it must be 0600)");
  }
  return {};
}

Result<std::string> ReadWholeFile(const fs::path& path) {
  // A directory opens as a stream and throws on the first read: refused here.
  std::error_code ec;
  if (fs::is_directory(path, ec)) return Fail(ErrorCode::kInvalidArgument, path.string() + " is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected(ErrnoError("cannot read", path));
  try {
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::ios_base::failure& e) {
    return Fail(ErrorCode::kIo, "cannot read " + path.string() + ": " + e.what());
  }
}

Result<std::string> ReadSecret(const std::string& env, const fs::path& file, std::string_view what, bool owner_only) {
  std::string secret;
  if (!env.empty()) {
    const char* value = std::getenv(env.c_str());
    if (value == nullptr)
      return Fail(ErrorCode::kInvalidArgument, std::string(what) + ": the environment variable " + env + " is not set");
    secret = value;
  } else if (!file.empty()) {
    auto text = ReadWholeFile(file);
    if (owner_only) {
      if (Status checked = CheckOwnerOnly(file, "the secret file"); !checked) text = std::unexpected(checked.error());
    }
    if (!text) return Fail(ErrorCode::kInvalidArgument, std::string(what) + ": " + text.error().message);
    secret = std::move(*text);
  }
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  return secret;
}

Error ErrnoError(const std::string& what, const fs::path& path) {
  return Error{ErrorCode::kIo, what + " " + path.string() + ": " + std::strerror(errno)};
}

Status ReplaceFileDurably(const std::filesystem::path& target, std::string_view content) {
  const std::filesystem::path temp = target.string() + ".new";
  auto fd = OpenAuditFile(temp, O_TRUNC);
  if (!fd) return std::unexpected(fd.error());
  const bool ok = WriteAll(*fd, content) == content.size() && ::fsync(*fd) == 0;
  Error error = ok ? Error{} : ErrnoError("cannot write", temp);
  ::close(*fd);
  if (!ok) return std::unexpected(error);
  if (::rename(temp.c_str(), target.c_str()) != 0) return std::unexpected(ErrnoError("cannot replace", target));
  SyncDirectory(target.parent_path());
  return {};
}

}  // namespace mcpaudit

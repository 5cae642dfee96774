// Audit files on disk, as every writer of them makes them: directories 0700,
// files 0600 whatever the umask or an older mode, names made durable with a
// directory fsync, errors that say which file and why.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "mcpaudit/result.h"

namespace mcpaudit {

// Creates `dir` (and its parents) with mode 0700 when it does not exist.
[[nodiscard]] Status EnsureAuditDirectory(const std::filesystem::path& dir);

// Opens (creating with 0600) a file for appending and narrows an existing
// file's mode to 0600. `extra_flags` may add O_EXCL and the like.
[[nodiscard]] Result<int> OpenAuditFile(const std::filesystem::path& path, int extra_flags = 0);

// Writes all of `data`, retrying short writes and EINTR. Returns how many bytes
// were written: fewer than data.size() means failure, with errno telling why.
size_t WriteAll(int fd, std::string_view data);

// fsync of a directory, so that a file created or renamed in it survives a crash.
void SyncDirectory(const std::filesystem::path& dir);

// Writes `content` (0600) to a temporary file beside `target`, syncs it and
// renames it over `target`: a reader sees the old content or the new, never a mix.
[[nodiscard]] Status ReplaceFileDurably(const std::filesystem::path& target, std::string_view content);

// A file that holds a secret (a private key, an HMAC key, a shared secret)
// must be readable by its owner only: an error naming `what` and the fix if not.
[[nodiscard]] Status CheckOwnerOnly(const std::filesystem::path& path, std::string_view what);

// The whole content of a file.
[[nodiscard]] Result<std::string> ReadWholeFile(const std::filesystem::path& path);

// A secret (a password, a token) from the environment variable `env`, else
// from `file` (0600 when `owner_only`); its last line break dropped; empty when
// neither is named. Errors begin with `what` ("sink warehouse: …").
[[nodiscard]] Result<std::string> ReadSecret(const std::string& env, const std::filesystem::path& file,
                                             std::string_view what, bool owner_only);

// "<what> <path>: <strerror(errno)>" as an I/O error.
Error ErrnoError(const std::string& what, const std::filesystem::path& path);

}  // namespace mcpaudit

// A tmpfs of a few MiB mounted on a temporary directory, to fill the disk for
// real. Mounting needs root (CI runs as root); elsewhere the test is skipped
// with a message saying so.
#pragma once

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "support/temp_dir.h"

namespace mcpaudit::testing {

class SmallFilesystem {
 public:
  explicit SmallFilesystem(size_t bytes) {
    const std::string options = "size=" + std::to_string(bytes) + ",mode=0700";
    if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~SmallFilesystem() {
    if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::filesystem::path& path() const { return dir_.path(); }

  // Writes a file that takes every free byte.
  void Fill() {
    std::ofstream filler(path() / "filler", std::ios::binary);
    const std::string block(64 * 1024, 'x');
    while (filler.write(block.data(), static_cast<std::streamsize>(block.size()))) {
    }
    filler.close();
    std::ofstream small(path() / "filler-tail", std::ios::binary);  // the last partial block
    while (small.put('x')) small.flush();
  }
  // Gives the space back.
  void Free() {
    std::filesystem::remove(path() / "filler");
    std::filesystem::remove(path() / "filler-tail");
  }

 private:
  TempDir dir_;
  bool mounted_ = false;
  std::string error_;
};

}  // namespace mcpaudit::testing

#include "audit/disk_space.h"

#include <sys/statvfs.h>

#include "base/audit_files.h"
#include "base/ops_log.h"

namespace mcpaudit {

Result<uint64_t> FreeBytesOf(const std::filesystem::path& directory) {
  struct statvfs st {};
  if (::statvfs(directory.c_str(), &st) != 0)
    return std::unexpected(ErrnoError("cannot stat the filesystem of", directory));
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

DiskSpaceWatch::DiskSpaceWatch(std::filesystem::path directory, uint64_t space_left_bytes,
                               uint64_t admin_space_left_bytes, SpaceAction admin_space_left_action)
    : directory_(std::move(directory)),
      space_left_bytes_(space_left_bytes),
      admin_space_left_bytes_(admin_space_left_bytes),
      action_(admin_space_left_action) {}

void DiskSpaceWatch::Check() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_check_ < std::chrono::seconds(1)) return;
  last_check_ = now;
  auto free = FreeBytesOf(directory_);
  if (!free) return;
  const bool refuse = *free < admin_space_left_bytes_ && action_ == SpaceAction::kRefuse;
  if (refuse != refusing_.exchange(refuse)) {
    if (refuse) {
      OpsLog().error(
          "audit disk almost full ({} MiB free < admin_space_left {} MiB): refusing events",
          *free >> 20, admin_space_left_bytes_ >> 20);
    } else {
      OpsLog().warn("audit disk space is back ({} MiB free): accepting events again", *free >> 20);
    }
  }
  const bool low = *free < space_left_bytes_;
  if (low && !warned_)
    OpsLog().warn("audit disk space low: {} MiB free < space_left {} MiB", *free >> 20,
                  space_left_bytes_ >> 20);
  warned_ = low;
}

bool DiskSpaceWatch::RefusingNow() const {
  if (refusing()) return true;
  if (action_ != SpaceAction::kRefuse) return false;
  auto free = FreeBytesOf(directory_);
  return free && *free < admin_space_left_bytes_;
}

}  // namespace mcpaudit

#include "audit/merkle_tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cstring>

#include "base/audit_files.h"

namespace mcpaudit::merkle {
namespace {

constexpr size_t kHashBytes = 32;
constexpr int kTileHeight = 8;  // a group of a level holds 256 entries
constexpr size_t kGroup = size_t{1} << kTileHeight;
constexpr size_t kLevels = 8;  // 256^8 = 2^64 leaves

// Hashes 2^r consecutive entries up to the root of their subtree.
Sha256Digest Reduce(std::vector<Sha256Digest> hashes) {
  while (hashes.size() > 1) {
    for (size_t i = 0; i < hashes.size() / 2; ++i) hashes[i] = NodeHash(hashes[2 * i], hashes[2 * i + 1]);
    hashes.resize(hashes.size() / 2);
  }
  return hashes.front();
}

// The largest power of two below n (n > 1).
uint64_t SplitOf(uint64_t n) { return std::bit_floor(n - 1); }

bool IsSafeNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

// RFC 9162's step for a node on the right edge of its tree: right-shift both
// until fn is a right child or 0.
void ClimbRightEdge(uint64_t& fn, uint64_t& sn) {
  while (!(fn & 1) && fn != 0) {
    fn >>= 1;
    sn >>= 1;
  }
}

Error TreeError(const std::string& what) { return {ErrorCode::kIo, "the Merkle tree: " + what}; }

}  // namespace

Sha256Digest NodeHash(const Sha256Digest& left, const Sha256Digest& right) {
  static constexpr uint8_t kNode = 0x01;
  Sha256 hash;
  return hash.Update(std::span<const uint8_t>(&kNode, 1)).Update(left).Update(right).Digest();
}

Sha256Digest EmptyRoot() { return Sha256().Digest(); }

void Frontier::Append(const Sha256Digest& leaf) {
  Sha256Digest hash = leaf;
  for (uint64_t s = size_; s & 1; s >>= 1) {
    hash = NodeHash(peaks_.back(), hash);
    peaks_.pop_back();
  }
  peaks_.push_back(hash);
  ++size_;
}

Sha256Digest Frontier::Root() const {
  if (peaks_.empty()) return EmptyRoot();
  Sha256Digest root = peaks_.back();
  for (size_t i = peaks_.size() - 1; i-- > 0;) root = NodeHash(peaks_[i], root);
  return root;
}

bool VerifyInclusion(uint64_t index, uint64_t size, const Sha256Digest& leaf,
                     std::span<const Sha256Digest> proof, const Sha256Digest& root) {
  if (index >= size) return false;
  uint64_t fn = index, sn = size - 1;
  Sha256Digest r = leaf;
  for (const Sha256Digest& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      r = NodeHash(p, r);
      if (!(fn & 1)) ClimbRightEdge(fn, sn);
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool VerifyConsistency(uint64_t old_size, uint64_t size, const Sha256Digest& old_root,
                       const Sha256Digest& root, std::span<const Sha256Digest> proof) {
  if (old_size > size) return false;
  if (old_size == size) return proof.empty() && old_root == root;
  if (old_size == 0) return proof.empty() && old_root == EmptyRoot();  // the start of every tree
  if (proof.empty()) return false;
  std::vector<Sha256Digest> path(proof.begin(), proof.end());
  if (std::has_single_bit(old_size)) path.insert(path.begin(), old_root);
  uint64_t fn = old_size - 1, sn = size - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Sha256Digest fr = path.front(), sr = path.front();
  for (size_t i = 1; i < path.size(); ++i) {
    const Sha256Digest& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      if (!(fn & 1)) ClimbRightEdge(fn, sn);
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return fr == old_root && sr == root && sn == 0;
}

std::string FileNameOf(std::string_view stream) {
  std::string name;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < stream.size(); ++i) {
    const char c = stream[i];
    if (IsSafeNameChar(c) && !(i == 0 && c == '.')) {
      name += c;
    } else {
      name += '%';
      name += kHex[static_cast<uint8_t>(c) >> 4];
      name += kHex[static_cast<uint8_t>(c) & 15];
    }
  }
  return name;
}

std::filesystem::path TreeDirectory(const std::filesystem::path& journal_dir, std::string_view stream) {
  return journal_dir / "merkle" / FileNameOf(stream);
}

StoredTree::StoredTree(StoredTree&& other) noexcept
    : dir_(std::move(other.dir_)),
      fds_(std::move(other.fds_)),
      tails_(std::move(other.tails_)),
      counts_(std::move(other.counts_)),
      size_(other.size_),
      writable_(other.writable_) {
  other.fds_.clear();
}

StoredTree& StoredTree::operator=(StoredTree&& other) noexcept {
  if (this != &other) {
    for (int fd : fds_)
      if (fd >= 0) ::close(fd);
    dir_ = std::move(other.dir_);
    fds_ = std::move(other.fds_);
    tails_ = std::move(other.tails_);
    counts_ = std::move(other.counts_);
    size_ = other.size_;
    writable_ = other.writable_;
    other.fds_.clear();
  }
  return *this;
}

StoredTree::~StoredTree() {
  for (int fd : fds_)
    if (fd >= 0) ::close(fd);
}

Result<StoredTree> StoredTree::Open(const std::filesystem::path& dir, bool writable) {
  StoredTree tree;
  tree.dir_ = dir;
  tree.writable_ = writable;
  if (writable) {
    // merkle/ too, 0700 like the stream's own directory.
    if (Status made = EnsureAuditDirectory(dir.parent_path()); !made) return std::unexpected(made.error());
    if (Status made = EnsureAuditDirectory(dir); !made) return std::unexpected(made.error());
  }
  tree.fds_.assign(kLevels, -1);
  tree.counts_.assign(kLevels, 0);
  tree.tails_.assign(kLevels, {});
  for (size_t level = 0; level < kLevels; ++level) {
    const auto path = dir / ("level-" + std::to_string(level));
    // O_NONBLOCK: a FIFO put in a level's place is refused below, not waited on.
    const int flags = writable ? O_RDWR | O_CREAT : O_RDONLY;
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
    if (fd < 0) {
      if (errno == ENOENT && !writable) continue;
      return std::unexpected(ErrnoError("cannot open", path));
    }
    tree.fds_[level] = fd;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
      return std::unexpected(TreeError(path.string() + " is not a regular file"));
    tree.counts_[level] = static_cast<uint64_t>(st.st_size) / kHashBytes;
  }
  tree.size_ = tree.counts_[0];
  if (!writable) return tree;

  // Each level as the leaves make it: a crash may have left one short (its
  // missing groups are hashed again) or long (what no group of leaves makes
  // goes); a torn hash at the end of level-0 goes too.
  if (::ftruncate(tree.fds_[0], static_cast<off_t>(tree.size_ * kHashBytes)) != 0)
    return std::unexpected(ErrnoError("cannot cut back", dir / "level-0"));
  for (size_t level = 1; level < kLevels; ++level) {
    const uint64_t expected = tree.size_ >> (kTileHeight * level);
    if (tree.counts_[level] > expected) {
      if (::ftruncate(tree.fds_[level], static_cast<off_t>(expected * kHashBytes)) != 0)
        return std::unexpected(ErrnoError("cannot cut back", dir / ("level-" + std::to_string(level))));
      tree.counts_[level] = expected;
    }
    while (tree.counts_[level] < expected) {
      auto group = tree.Perfect(static_cast<int>(kTileHeight * level), tree.counts_[level]);
      if (!group) return std::unexpected(group.error());
      const off_t at = static_cast<off_t>(tree.counts_[level] * kHashBytes);
      if (::pwrite(tree.fds_[level], group->data(), kHashBytes, at) != static_cast<ssize_t>(kHashBytes))
        return std::unexpected(ErrnoError("cannot write", dir / ("level-" + std::to_string(level))));
      ++tree.counts_[level];
    }
  }
  // The entries of each level's incomplete group, which the next leaves complete.
  for (size_t level = 0; level + 1 < kLevels; ++level) {
    const uint64_t in_group = tree.counts_[level] % kGroup;
    auto& tail = tree.tails_[level];
    tail.resize(in_group);
    const off_t at = static_cast<off_t>((tree.counts_[level] - in_group) * kHashBytes);
    if (in_group > 0 && ::pread(tree.fds_[level], tail.data(), in_group * kHashBytes, at) !=
                            static_cast<ssize_t>(in_group * kHashBytes))
      return std::unexpected(ErrnoError("cannot read", dir / ("level-" + std::to_string(level))));
  }
  return tree;
}

Status StoredTree::Append(std::span<const Sha256Digest> leaves) {
  if (!writable_) return Fail(ErrorCode::kInvalidArgument, "the Merkle tree was opened read only");
  // Each level's new entries, written with one call per level.
  std::vector<std::vector<Sha256Digest>> added(kLevels);
  for (const Sha256Digest& leaf : leaves) {
    Sha256Digest hash = leaf;
    for (size_t level = 0; level < kLevels; ++level) {
      added[level].push_back(hash);
      auto& tail = tails_[level];
      tail.push_back(hash);
      if (tail.size() < kGroup || level + 1 == kLevels) break;
      hash = Reduce(std::move(tail));
      tail.clear();
    }
  }
  for (size_t level = 0; level < kLevels && !added[level].empty(); ++level) {
    const size_t bytes = added[level].size() * kHashBytes;
    const off_t at = static_cast<off_t>(counts_[level] * kHashBytes);
    if (::pwrite(fds_[level], added[level].data(), bytes, at) != static_cast<ssize_t>(bytes))
      return std::unexpected(ErrnoError("cannot write", dir_ / ("level-" + std::to_string(level))));
    counts_[level] += added[level].size();
  }
  size_ = counts_[0];
  return {};
}

Result<Sha256Digest> StoredTree::Perfect(int height, uint64_t index) const {
  // The highest level whose entries cover the subtree (a level a crash left
  // short is passed over for the one below).
  int level = height / kTileHeight;
  while (level > 0 && ((index + 1) << (height - kTileHeight * level)) > counts_[level]) --level;
  const int rest = height - kTileHeight * level;
  if (rest >= kTileHeight) {  // a level below: hash the two halves
    auto left = Perfect(height - 1, 2 * index);
    if (!left) return left;
    auto right = Perfect(height - 1, 2 * index + 1);
    if (!right) return right;
    return NodeHash(*left, *right);
  }
  const uint64_t first = index << rest, count = uint64_t{1} << rest;
  if (first + count > counts_[level] || fds_[level] < 0)
    return std::unexpected(TreeError("it holds " + std::to_string(size_) + " leaves, fewer than asked for"));
  std::vector<Sha256Digest> hashes(count);
  const ssize_t bytes = static_cast<ssize_t>(count * kHashBytes);
  if (::pread(fds_[level], hashes.data(), count * kHashBytes, static_cast<off_t>(first * kHashBytes)) != bytes)
    return std::unexpected(ErrnoError("cannot read", dir_ / ("level-" + std::to_string(level))));
  return Reduce(std::move(hashes));
}

Result<Sha256Digest> StoredTree::RangeHash(uint64_t begin, uint64_t end) const {
  if (end > size_ || begin > end)
    return std::unexpected(TreeError("it holds " + std::to_string(size_) + " leaves, fewer than asked for"));
  const uint64_t n = end - begin;
  if (n == 0) return EmptyRoot();
  if (std::has_single_bit(n) && begin % n == 0) return Perfect(std::countr_zero(n), begin / n);
  const uint64_t k = SplitOf(n);
  auto left = RangeHash(begin, begin + k);
  if (!left) return left;
  auto right = RangeHash(begin + k, end);
  if (!right) return right;
  return NodeHash(*left, *right);
}

Status StoredTree::Path(uint64_t m, uint64_t begin, uint64_t end, std::vector<Sha256Digest>& out) const {
  const uint64_t n = end - begin;
  if (n <= 1) return {};
  const uint64_t k = SplitOf(n);
  const bool left = m < k;
  if (Status s = left ? Path(m, begin, begin + k, out) : Path(m - k, begin + k, end, out); !s) return s;
  auto sibling = left ? RangeHash(begin + k, end) : RangeHash(begin, begin + k);
  if (!sibling) return std::unexpected(sibling.error());
  out.push_back(*sibling);
  return {};
}

Result<std::vector<Sha256Digest>> StoredTree::InclusionProof(uint64_t index, uint64_t size) const {
  if (index >= size || size > size_)
    return Fail(ErrorCode::kInvalidArgument, "no leaf " + std::to_string(index) + " in a tree of " +
                                                 std::to_string(std::min(size, size_)) + " leaves");
  std::vector<Sha256Digest> proof;
  if (Status s = Path(index, 0, size, proof); !s) return std::unexpected(s.error());
  return proof;
}

Status StoredTree::Subproof(uint64_t m, uint64_t begin, uint64_t end, bool whole,
                            std::vector<Sha256Digest>& out) const {
  const uint64_t n = end - begin;
  if (m == n) {
    if (whole) return {};
    auto hash = RangeHash(begin, end);
    if (!hash) return std::unexpected(hash.error());
    out.push_back(*hash);
    return {};
  }
  const uint64_t k = SplitOf(n);
  const bool left = m <= k;
  if (Status s = left ? Subproof(m, begin, begin + k, whole, out) : Subproof(m - k, begin + k, end, false, out); !s)
    return s;
  auto sibling = left ? RangeHash(begin + k, end) : RangeHash(begin, begin + k);
  if (!sibling) return std::unexpected(sibling.error());
  out.push_back(*sibling);
  return {};
}

Result<std::vector<Sha256Digest>> StoredTree::ConsistencyProof(uint64_t old_size, uint64_t size) const {
  if (old_size > size || size > size_)
    return Fail(ErrorCode::kInvalidArgument, "no consistency proof from " + std::to_string(old_size) +
                                                 " to " + std::to_string(size) + " leaves in a tree of " +
                                                 std::to_string(size_));
  std::vector<Sha256Digest> proof;
  if (old_size == 0 || old_size == size) return proof;
  if (Status s = Subproof(old_size, 0, size, true, proof); !s) return std::unexpected(s.error());
  return proof;
}

Result<Frontier> StoredTree::Edge() const {
  std::vector<Sha256Digest> peaks;
  uint64_t at = 0;
  for (int height = 63; height >= 0; --height) {
    if (!((size_ >> height) & 1)) continue;
    auto peak = Perfect(height, at >> height);
    if (!peak) return std::unexpected(peak.error());
    peaks.push_back(*peak);
    at += uint64_t{1} << height;
  }
  return Frontier(size_, std::move(peaks));
}

}  // namespace mcpaudit::merkle

// The RFC 6962 Merkle tree of a stream: leaf i is L(i + 1), the leaf hash of
// the record with seq i + 1 (journal_format.h), a node is SHA-256(0x01 ‖ left
// ‖ right). Its root is what a checkpoint signs, so that one record (an
// inclusion proof) or the log's growth (a consistency proof) can be checked
// by any RFC 6962 implementation without the rest of the journal.
//
// On disk, beside the journal (<journal>/merkle/<stream>/), the tree is kept in
// levels of tiles: level-0 holds every leaf hash (32 bytes each, in order),
// level-k the root of each complete group of 256^k leaves. The hash of any
// complete subtree is then at most 128 consecutive hashes of one level, so a
// proof costs O(log n) reads. The files are appended as records are written;
// erasure and retention never change a leaf, so proofs outlive both.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/crypto.h"
#include "mcpaudit/result.h"

namespace mcpaudit::merkle {

// SHA-256(0x01 ‖ left ‖ right).
Sha256Digest NodeHash(const Sha256Digest& left, const Sha256Digest& right);
// The root of the empty tree: SHA-256 of nothing.
Sha256Digest EmptyRoot();

// The right edge of a tree that grows one leaf at a time: the roots of its
// complete subtrees, largest first (one per bit set in its size).
class Frontier {
 public:
  Frontier() = default;
  Frontier(uint64_t size, std::vector<Sha256Digest> peaks) : size_(size), peaks_(std::move(peaks)) {}
  void Append(const Sha256Digest& leaf);
  uint64_t size() const { return size_; }
  Sha256Digest Root() const;

 private:
  uint64_t size_ = 0;
  std::vector<Sha256Digest> peaks_;
};

// Whether `proof` shows `leaf` at `index` in the tree of `size` leaves whose
// root is `root` (RFC 9162 §2.1.3.2).
bool VerifyInclusion(uint64_t index, uint64_t size, const Sha256Digest& leaf,
                     std::span<const Sha256Digest> proof, const Sha256Digest& root);
// Whether `proof` shows the tree of `old_size` leaves (root `old_root`) to be
// the first leaves of the tree of `size` leaves (root `root`) (RFC 9162 §2.1.4.2).
bool VerifyConsistency(uint64_t old_size, uint64_t size, const Sha256Digest& old_root,
                       const Sha256Digest& root, std::span<const Sha256Digest> proof);

// `stream` as a file name: what could make a path of it (a slash, a leading
// dot) written as %XX.
std::string FileNameOf(std::string_view stream);
// The name of the directory that keeps the tree of `stream` in `journal_dir`.
std::filesystem::path TreeDirectory(const std::filesystem::path& journal_dir, std::string_view stream);

// The stored tree of one stream. Appended by the journal's one writer; read
// by anyone (a reader sees the tree as far as it was written when it opened).
class StoredTree {
 public:
  // Opens the tree in `dir`; `writable` creates it (0700, files 0600) and
  // completes a level a crash left short.
  [[nodiscard]] static Result<StoredTree> Open(const std::filesystem::path& dir, bool writable);
  StoredTree(StoredTree&&) noexcept;
  StoredTree& operator=(StoredTree&&) noexcept;
  ~StoredTree();

  uint64_t size() const { return size_; }
  // Appends leaves (not synced: the tree can be rebuilt from the journal).
  [[nodiscard]] Status Append(std::span<const Sha256Digest> leaves);

  // The hash of leaves [begin, end) as RFC 6962 defines it (end ≤ size()).
  [[nodiscard]] Result<Sha256Digest> RangeHash(uint64_t begin, uint64_t end) const;
  [[nodiscard]] Result<Sha256Digest> Root(uint64_t size) const { return size == 0 ? EmptyRoot() : RangeHash(0, size); }
  [[nodiscard]] Result<Sha256Digest> Leaf(uint64_t index) const { return RangeHash(index, index + 1); }
  // The audit path of leaf `index` in the tree of `size` leaves, leaf's
  // sibling first (RFC 6962 §2.1.1).
  [[nodiscard]] Result<std::vector<Sha256Digest>> InclusionProof(uint64_t index, uint64_t size) const;
  // The consistency proof from `old_size` to `size` leaves (RFC 6962 §2.1.2).
  [[nodiscard]] Result<std::vector<Sha256Digest>> ConsistencyProof(uint64_t old_size, uint64_t size) const;
  // The right edge at size(), for the writer that goes on.
  [[nodiscard]] Result<Frontier> Edge() const;

 private:
  StoredTree() = default;
  Result<Sha256Digest> Perfect(int height, uint64_t index) const;  // leaves [index·2^h, (index+1)·2^h)
  Status Path(uint64_t m, uint64_t begin, uint64_t end, std::vector<Sha256Digest>& out) const;
  Status Subproof(uint64_t m, uint64_t begin, uint64_t end, bool whole, std::vector<Sha256Digest>& out) const;
  Status AppendAt(size_t level, const Sha256Digest& hash);

  std::filesystem::path dir_;
  std::vector<int> fds_;                         // one per level
  std::vector<std::vector<Sha256Digest>> tails_;  // per level: the entries of its incomplete group
  std::vector<uint64_t> counts_;                  // per level: entries in its file
  uint64_t size_ = 0;
  bool writable_ = false;
};

}  // namespace mcpaudit::merkle

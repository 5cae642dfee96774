#include "audit/merkle_tree.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <bit>
#include <filesystem>

#include "audit/journal_format.h"
#include "support/temp_dir.h"

namespace mcpaudit::merkle {
namespace {

using testing::TempDir;

Sha256Digest LeafOf(uint64_t i) { return journal::LeafHash("record " + std::to_string(i)); }

// MTH of RFC 6962 §2.1, written as the RFC states it.
Sha256Digest Mth(const std::vector<Sha256Digest>& leaves, uint64_t begin, uint64_t end) {
  const uint64_t n = end - begin;
  if (n == 0) return EmptyRoot();
  if (n == 1) return leaves[begin];
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return NodeHash(Mth(leaves, begin, begin + k), Mth(leaves, begin + k, end));
}

std::vector<Sha256Digest> Leaves(uint64_t n) {
  std::vector<Sha256Digest> leaves;
  for (uint64_t i = 0; i < n; ++i) leaves.push_back(LeafOf(i));
  return leaves;
}

TEST(MerkleTreeTest, RootsOfTheStoredTreeAndTheFrontierAreRfc6962sAtEverySize) {
  TempDir dir;
  auto tree = StoredTree::Open(dir.path() / "t", true);
  ASSERT_TRUE(tree) << tree.error().message;
  const auto leaves = Leaves(700);
  Frontier frontier;
  EXPECT_EQ(frontier.Root(), EmptyRoot());
  for (uint64_t n = 1; n <= leaves.size(); ++n) {
    ASSERT_TRUE(tree->Append({&leaves[n - 1], 1}));
    frontier.Append(leaves[n - 1]);
    const Sha256Digest expected = Mth(leaves, 0, n);
    ASSERT_EQ(frontier.Root(), expected) << n;
    if (n % 37 == 0 || std::has_single_bit(n) || n == 256 || n == 257 || n == 511 || n == 512) {
      auto root = tree->Root(n);
      ASSERT_TRUE(root) << root.error().message;
      ASSERT_EQ(*root, expected) << n;
    }
  }
  // An older size too: the tree answers for every size it has held.
  EXPECT_EQ(*tree->Root(300), Mth(leaves, 0, 300));
  EXPECT_EQ(*tree->Root(0), EmptyRoot());
}

TEST(MerkleTreeTest, InclusionProofsVerifyAndAnythingElseDoesNot) {
  TempDir dir;
  auto tree = StoredTree::Open(dir.path() / "t", true);
  const auto leaves = Leaves(600);
  ASSERT_TRUE(tree->Append(leaves));
  for (uint64_t size : {1u, 2u, 3u, 7u, 8u, 255u, 256u, 257u, 513u, 600u}) {
    const Sha256Digest root = Mth(leaves, 0, size);
    for (uint64_t index = 0; index < size; index += std::max<uint64_t>(1, size / 13)) {
      auto proof = tree->InclusionProof(index, size);
      ASSERT_TRUE(proof) << proof.error().message;
      EXPECT_TRUE(VerifyInclusion(index, size, leaves[index], *proof, root)) << index << "/" << size;
      // Another leaf, another index, another root, a changed or shortened path: refused.
      EXPECT_FALSE(VerifyInclusion(index, size, LeafOf(index + 1000), *proof, root));
      if (size > 1) EXPECT_FALSE(VerifyInclusion((index + 1) % size, size, leaves[index], *proof, root));
      EXPECT_FALSE(VerifyInclusion(index, size, leaves[index], *proof, LeafOf(9999)));
      if (!proof->empty()) {
        auto changed = *proof;
        changed.back()[0] ^= 1;
        EXPECT_FALSE(VerifyInclusion(index, size, leaves[index], changed, root));
        changed = *proof;
        changed.pop_back();
        EXPECT_FALSE(VerifyInclusion(index, size, leaves[index], changed, root));
      }
    }
  }
  EXPECT_FALSE(tree->InclusionProof(600, 600));
  EXPECT_FALSE(tree->InclusionProof(0, 601));
}

TEST(MerkleTreeTest, ConsistencyProofsVerifyAndAnythingElseDoesNot) {
  TempDir dir;
  auto tree = StoredTree::Open(dir.path() / "t", true);
  const auto leaves = Leaves(530);
  ASSERT_TRUE(tree->Append(leaves));
  for (uint64_t size : {1u, 2u, 5u, 8u, 256u, 300u, 512u, 530u}) {
    const Sha256Digest root = Mth(leaves, 0, size);
    for (uint64_t old_size = 0; old_size <= size; old_size += std::max<uint64_t>(1, size / 11)) {
      const Sha256Digest old_root = Mth(leaves, 0, old_size);
      auto proof = tree->ConsistencyProof(old_size, size);
      ASSERT_TRUE(proof) << proof.error().message;
      EXPECT_TRUE(VerifyConsistency(old_size, size, old_root, root, *proof)) << old_size << "→" << size;
      if (old_size > 0 && old_size < size) {
        EXPECT_FALSE(VerifyConsistency(old_size, size, LeafOf(7777), root, *proof));
        EXPECT_FALSE(VerifyConsistency(old_size, size, old_root, LeafOf(7777), *proof));
        auto changed = *proof;
        changed.front()[5] ^= 1;
        EXPECT_FALSE(VerifyConsistency(old_size, size, old_root, root, changed));
      }
    }
  }
  // A history that was rewritten: the old root of other leaves is not consistent.
  auto other = Leaves(300);
  other[10] = LeafOf(12345);
  auto proof = tree->ConsistencyProof(300, 530);
  EXPECT_FALSE(VerifyConsistency(300, 530, Mth(other, 0, 300), Mth(leaves, 0, 530), *proof));
}

TEST(MerkleTreeTest, ReopenedTreeGoesOnAndMendsWhatACrashLeft) {
  TempDir dir;
  const auto path = dir.path() / "t";
  const auto leaves = Leaves(70000);
  {
    auto tree = StoredTree::Open(path, true);
    ASSERT_TRUE(tree->Append({leaves.data(), 66000}));
  }
  struct stat st {};
  ASSERT_EQ(::stat((path / "level-0").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A crash: a torn hash at the end of level-0, level-1 short of its last entries.
  std::filesystem::resize_file(path / "level-0", 66000 * 32 + 17);
  std::filesystem::resize_file(path / "level-1", 100 * 32);
  {
    auto reader = StoredTree::Open(path, false);  // a reader mends nothing and still answers
    ASSERT_TRUE(reader);
    EXPECT_EQ(*reader->Root(66000), Mth(leaves, 0, 66000));
  }
  auto tree = StoredTree::Open(path, true);
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->size(), 66000u);
  EXPECT_EQ(std::filesystem::file_size(path / "level-1"), (66000 / 256) * 32);
  ASSERT_TRUE(tree->Append({leaves.data() + 66000, 4000}));
  EXPECT_EQ(*tree->Root(70000), Mth(leaves, 0, 70000));
  EXPECT_EQ(std::filesystem::file_size(path / "level-2"), 32u);  // 65536 leaves make one entry of level 2
  auto edge = tree->Edge();
  ASSERT_TRUE(edge);
  EXPECT_EQ(edge->Root(), Mth(leaves, 0, 70000));
  auto proof = tree->InclusionProof(65999, 70000);
  EXPECT_TRUE(VerifyInclusion(65999, 70000, leaves[65999], *proof, Mth(leaves, 0, 70000)));
}

TEST(MerkleTreeTest, StreamNamesMakeOneDirectoryInsideTheJournal) {
  EXPECT_EQ(TreeDirectory("/j", "host-1a2b"), "/j/merkle/host-1a2b");
  EXPECT_EQ(TreeDirectory("/j", "../x/y"), "/j/merkle/%2E.%2Fx%2Fy");
}

}  // namespace
}  // namespace mcpaudit::merkle

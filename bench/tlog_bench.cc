// The transparency log's costs, each printed beside its baseline in the same run:
//   (a) appending the Merkle tree against the journal's own throughput: a
//       Pipeline writes `records` sample records (async; its tree included),
//       then StoredTree::Append takes the same number of leaves alone, in the
//       writer's batch size; the tree's share of the journal's time per record
//       (target: at most 10 %);
//   (b) on a tree of `leaves` leaves (10M by default), inclusion and
//       consistency proofs made per second (O(log n) reads of the level
//       files), and inclusion proofs checked per second beside the bound that
//       SHA-256 of tree nodes sets (one node hash per level).
// Usage: tlog_bench [records] [leaves] [dir]   (default 300000 10000000)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "audit/merkle_tree.h"
#include "mcpaudit/pipeline.h"
#include "sample_event.h"

namespace {

using namespace mcpaudit;
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

double Seconds(Steady::time_point since) { return std::chrono::duration<double>(Steady::now() - since).count(); }

Sha256Digest LeafOf(uint64_t n) {
  Sha256Digest leaf{};
  for (size_t i = 0; i < 8; ++i) leaf[i] = static_cast<uint8_t>(n >> (8 * i));
  return leaf;
}

// Appends `count` synthetic leaves to `tree` in batches of `batch`.
double AppendLeaves(merkle::StoredTree& tree, uint64_t count, size_t batch) {
  std::vector<Sha256Digest> leaves;
  const auto start = Steady::now();
  for (uint64_t n = 0; n < count;) {
    leaves.clear();
    for (size_t i = 0; i < batch && n < count; ++i, ++n) leaves.push_back(LeafOf(n));
    if (!tree.Append(leaves)) {
      std::fprintf(stderr, "tlog_bench: cannot append the tree\n");
      std::exit(1);
    }
  }
  return Seconds(start);
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t records = argc > 1 ? std::stoull(argv[1]) : 300000;
  const uint64_t leaves = argc > 2 ? std::stoull(argv[2]) : 10000000;
  const fs::path dir = argc > 3 ? fs::path(argv[3]) : fs::temp_directory_path() / ("tlog-bench-" + std::to_string(getpid()));
  fs::remove_all(dir);

  // (a) The journal with its tree, then the tree alone.
  double journal_seconds = 0;
  {
    PipelineOptions options;
    options.directory = dir / "journal";
    options.stream = "bench";
    options.space_left_bytes = options.admin_space_left_bytes = 0;
    auto pipeline = Pipeline::Open(options);
    if (!pipeline) {
      std::fprintf(stderr, "tlog_bench: %s\n", pipeline.error().message.c_str());
      return 1;
    }
    const auto start = Steady::now();
    for (uint64_t i = 0; i < records; ++i) (void)(*pipeline)->Log(bench::SampleEvent(i));
    (void)(*pipeline)->Flush();
    journal_seconds = Seconds(start);
  }
  auto alone = merkle::StoredTree::Open(dir / "alone", true);
  if (!alone) return 1;
  const double tree_seconds = AppendLeaves(*alone, records, 8192);
  std::printf("journal (Pipeline, async, tree included): %8.0f records/s\n", records / journal_seconds);
  std::printf("Merkle tree append alone:                  %8.0f leaves/s\n", records / tree_seconds);
  std::printf("tree's share of the journal's time per record: %.1f %% (target <= 10 %%)\n",
              100.0 * tree_seconds / journal_seconds);

  // (b) Proofs on a large tree.
  auto big = merkle::StoredTree::Open(dir / "big", true);
  if (!big) return 1;
  const double build_seconds = AppendLeaves(*big, leaves, 65536);
  std::printf("\ntree of %llu leaves built in %.1f s (%.0f leaves/s)\n", static_cast<unsigned long long>(leaves),
              build_seconds, leaves / build_seconds);
  auto root = big->Root(leaves);
  if (!root) return 1;
  std::mt19937_64 random(42);
  constexpr int kProofs = 100000;
  std::vector<std::vector<Sha256Digest>> proofs;
  std::vector<uint64_t> indexes;
  auto start = Steady::now();
  for (int i = 0; i < kProofs; ++i) {
    indexes.push_back(random() % leaves);
    auto proof = big->InclusionProof(indexes.back(), leaves);
    if (!proof) return 1;
    proofs.push_back(std::move(*proof));
  }
  const double inclusion_seconds = Seconds(start);
  start = Steady::now();
  for (int i = 0; i < kProofs / 10; ++i) {
    auto proof = big->ConsistencyProof(1 + random() % (leaves - 1), leaves);
    if (!proof) return 1;
  }
  const double consistency_seconds = Seconds(start);
  start = Steady::now();
  int valid = 0;
  for (int i = 0; i < kProofs; ++i)
    valid += merkle::VerifyInclusion(indexes[i], leaves, LeafOf(indexes[i]), proofs[i], *root);
  const double verify_seconds = Seconds(start);
  // The bound: one SHA-256 node hash per level of the path.
  start = Steady::now();
  Sha256Digest node = *root;
  const int kNodes = 1000000;
  for (int i = 0; i < kNodes; ++i) node = merkle::NodeHash(node, *root);
  const double node_seconds = Seconds(start);
  const double path = static_cast<double>(proofs[0].size());
  // Making one: each node of the path is a subtree of 2^h leaves, hashed from
  // the 2^(h mod 8) entries of the level file that covers it (levels of 256^k).
  double made_hashes = 0;
  for (int h = 0; h < static_cast<int>(proofs[0].size()); ++h) made_hashes += (1 << (h % 8)) - 1;
  std::printf("inclusion proofs made:     %8.0f /s (bound: %.0f node hashes each = %.0f /s)\n",
              kProofs / inclusion_seconds, made_hashes, kNodes / node_seconds / made_hashes);
  std::printf("consistency proofs made:   %8.0f /s\n", kProofs / 10 / consistency_seconds);
  std::printf("inclusion proofs checked:  %8.0f /s (%d of %d valid)\n", kProofs / verify_seconds, valid, kProofs);
  asm volatile("" : : "r"(node.data()) : "memory");  // the hashes above are not optimized away
  std::printf("bound for checking: %.0f node hashes/s (SHA-256, one core) / %.0f per path = %.0f proofs/s\n",
              kNodes / node_seconds, path, kNodes / node_seconds / path);
  fs::remove_all(dir);
  return valid == kProofs ? 0 : 1;
}

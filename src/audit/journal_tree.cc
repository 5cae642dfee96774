#include "audit/journal_tree.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <vector>

#include "audit/journal_format.h"
#include "base/bounded_json.h"
#include "base/ops_log.h"
#include "store/journal_reader.h"

namespace mcpaudit {
namespace {

constexpr size_t kLeavesPerWrite = 4096;

// The first seq a segment's name gives (segment-<20 digits>.jsonl).
uint64_t FirstSeqOf(const std::filesystem::path& segment) {
  const std::string name = segment.filename().string();
  uint64_t seq = 0;
  std::from_chars(name.data() + 8, name.data() + std::min<size_t>(name.size(), 28), seq);
  return seq;
}

}  // namespace

Result<merkle::StoredTree> OpenJournalTree(const std::filesystem::path& journal_dir, std::string_view stream,
                                           uint64_t head_seq) {
  auto tree = merkle::StoredTree::Open(merkle::TreeDirectory(journal_dir, stream), true);
  if (!tree || tree->size() >= head_seq) return tree;

  // The segments from the one that holds the first missing leaf's record on.
  std::vector<std::filesystem::path> segments;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(journal_dir, ec))
    if (journal::IsSegmentFile(entry)) segments.push_back(entry.path());
  std::sort(segments.begin(), segments.end());
  const uint64_t from = tree->size() + 1;
  auto start = std::find_if(segments.rbegin(), segments.rend(),
                            [&](const auto& segment) { return FirstSeqOf(segment) <= from; });
  segments.erase(segments.begin(), start == segments.rend() ? segments.begin() : std::prev(start.base()));

  std::vector<Sha256Digest> leaves;
  uint64_t next = from, added = 0;
  Status failed;
  const auto flush = [&] {
    if (failed && !leaves.empty()) failed = tree->Append(leaves);
    added += leaves.size();
    leaves.clear();
  };
  Status read = ForEachLine(segments, [&](const std::filesystem::path&, size_t, const std::string& line) {
    const nlohmann::json record = ParseWithin(line, kMaxRecordDepth);
    const nlohmann::json& integrity = ObjectMember(record, "integrity");
    if (StringMember(integrity, "stream") != stream || !integrity.contains("seq") ||
        !integrity["seq"].is_number_unsigned())
      return true;
    const uint64_t seq = integrity["seq"].get<uint64_t>();
    if (seq < next) return true;
    if (seq > next) return false;  // a gap: no leaf can stand for what is missing
    auto canonical = journal::CanonicalForHash(record, ObjectMember(integrity, "salts"));
    if (!canonical) return false;
    leaves.push_back(journal::LeafHash(*canonical));
    if (leaves.size() == kLeavesPerWrite) flush();
    return ++next <= head_seq && failed;
  });
  flush();
  if (!read) return std::unexpected(read.error());
  if (!failed) return std::unexpected(failed.error());
  if (added > 0)
    OpsLog().info("the Merkle tree of stream {} took {} leaves from the journal (it has {})", stream, added,
                  tree->size());
  return tree;
}

}  // namespace mcpaudit

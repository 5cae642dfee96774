#include "audit/journal_tree.h"

#include <algorithm>
#include <string>
#include <vector>

#include "audit/journal_format.h"
#include "base/bounded_json.h"
#include "base/ops_log.h"
#include "audit/signed_note.h"
#include "store/journal_reader.h"
#include "store/tlog.h"

namespace mcpaudit {
namespace {

constexpr size_t kLeavesPerWrite = 4096;

}  // namespace

namespace {

// Opens the tree and appends what it lacks of the journal.
Result<merkle::StoredTree> OpenAndComplete(const std::filesystem::path& journal_dir, std::string_view stream,
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
                            [&](const auto& segment) {
                              return journal::SegmentFirstSeq(segment.filename().string()).value_or(0) <= from;
                            });
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

// Whether `tree` has the root the newest checkpoint note of the journal signs
// (true when there is none to compare with).
Result<bool> AgreesWithNewestNote(const merkle::StoredTree& tree, const std::filesystem::path& journal_dir,
                                  std::string_view stream) {
  auto newest = tlog::LatestCheckpoint(journal_dir, std::string(stream));
  if (!newest) return newest.error().code == ErrorCode::kNotFound ? Result<bool>(true) : std::unexpected(newest.error());
  auto signed_tree = note::ParseCheckpoint(note::TextOf(newest->note));
  if (!signed_tree || signed_tree->size > tree.size()) return true;
  auto root = tree.Root(signed_tree->size);
  if (!root) return std::unexpected(root.error());
  return *root == signed_tree->root;
}

}  // namespace

Result<merkle::StoredTree> OpenJournalTree(const std::filesystem::path& journal_dir, std::string_view stream,
                                           uint64_t head_seq) {
  {
    auto tree = OpenAndComplete(journal_dir, stream, head_seq);
    if (!tree) return tree;
    auto agrees = AgreesWithNewestNote(*tree, journal_dir, stream);
    if (!agrees) return std::unexpected(agrees.error());
    if (*agrees) return tree;
  }  // its files closed
  // Its stored hashes were changed: set it aside (in place of any tree set
  // aside before) and build it again from the journal, which the note's root
  // must then match.
  const auto dir = merkle::TreeDirectory(journal_dir, stream);
  const std::filesystem::path aside = dir.string() + ".set-aside";
  OpsLog().error("the Merkle tree of stream {} does not have the root its newest checkpoint signs: set aside in {}, "
                 "built again from the journal",
                 stream, aside.string());
  std::error_code ec;
  std::filesystem::remove_all(aside, ec);
  std::filesystem::rename(dir, aside, ec);
  if (ec) return Fail(ErrorCode::kIo, "cannot set aside " + dir.string() + ": " + ec.message());
  auto tree = OpenAndComplete(journal_dir, stream, head_seq);
  if (!tree) return tree;
  auto agrees = AgreesWithNewestNote(*tree, journal_dir, stream);
  if (!agrees) return std::unexpected(agrees.error());
  if (!*agrees)
    return Fail(ErrorCode::kInternal, "the records of the journal do not make the Merkle tree its newest "
                                      "checkpoint signs: they were changed (run mcp-audit verify)");
  return tree;
}

}  // namespace mcpaudit

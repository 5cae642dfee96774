// The Merkle tree of a journal's stream (merkle_tree.h), brought up to the
// journal's head when the writer opens it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "audit/merkle_tree.h"
#include "mcpaudit/result.h"

namespace mcpaudit {

// Opens the tree of `stream` in `journal_dir` for writing and appends the
// leaves of the records of the journal it lacks (it is written after the
// journal, and a crash may come between; a journal begun before trees existed
// has none). It stops short at a gap in the stream's seqs: the tree then ends
// before `head_seq`. A tree longer than the journal is left as it is: the
// journal lost records the tree still has (Pipeline::Open takes it as an anchor).
[[nodiscard]] Result<merkle::StoredTree> OpenJournalTree(const std::filesystem::path& journal_dir,
                                                         std::string_view stream, uint64_t head_seq);

}  // namespace mcpaudit

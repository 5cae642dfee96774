// The chain as the writer extends it: each line links to the one before, a
// checkpoint signs the head, and a failed write goes back without a trace.
#include "audit/chain.h"

#include <gtest/gtest.h>

#include "audit/journal_format.h"

namespace mcpaudit {
namespace {

using nlohmann::json;

TEST(ChainTest, EachLineLinksToTheOneBeforeAndACheckpointSignsTheHead) {
  auto key = SigningKey::Generate();
  ASSERT_TRUE(key.has_value());
  Chain chain("s", 0, std::string(journal::kGenesisHash), std::move(*key));
  std::string out;
  const Sha256Digest leaf1 = journal::LeafHash(R"({"event_type":"a"})"), leaf2 = journal::LeafHash("C2");
  chain.Append(R"({"event_type":"a")", leaf1, "", out);
  chain.Append(R"({"event_type":"b")", leaf2, R"({"/params":"00"})", out);
  const auto newline = out.find('\n');
  const json first = json::parse(out.substr(0, newline)), second = json::parse(out.substr(newline + 1));
  EXPECT_EQ(first["integrity"]["seq"], 1);
  EXPECT_EQ(first["integrity"]["prev"], std::string(journal::kGenesisHash));
  EXPECT_EQ(first["event_type"], "a");
  EXPECT_EQ(first["integrity"]["v"], journal::kFormat);
  EXPECT_EQ(first["integrity"]["hash"], journal::ChainHash(journal::kGenesisHash, leaf1));
  // H(1) = SHA-256(32 zero bytes ‖ L(1)), as any SHA-256 computes it.
  EXPECT_EQ(first["integrity"]["hash"],
            HexEncode(Sha256().Update(std::string(32, '\0')).Update(leaf1).Digest()));
  EXPECT_EQ(second["integrity"]["prev"], first["integrity"]["hash"]);
  EXPECT_EQ(second["integrity"]["salts"]["/params"], "00");
  EXPECT_EQ(chain.since_checkpoint(), 2u);

  const json details = chain.CheckpointDetails();
  EXPECT_EQ(details["covers"]["seq"], 2);
  EXPECT_EQ(details["covers"]["hash"], chain.head());
  EXPECT_TRUE(chain.key()->Verify(journal::CheckpointMessage("s", 2, chain.head()), details["signature"].get<std::string>()));
  chain.Checkpointed();
  EXPECT_EQ(chain.since_checkpoint(), 0u);
}

TEST(ChainTest, AFailedWriteGoesBackToTheMarkAndTheNumberingNeverGoesDown) {
  Chain chain("s", 41, "ab", std::nullopt);
  const Chain::Mark before = chain.Where();
  std::string out;
  chain.Append("{", journal::LeafHash("{}"), "", out);
  EXPECT_EQ(chain.seq(), 42u);
  chain.Restore(before);
  EXPECT_EQ(chain.seq(), 41u);
  EXPECT_EQ(chain.head(), "ab");
  EXPECT_EQ(chain.since_checkpoint(), 0u);
  EXPECT_FALSE(chain.CheckpointDetails().contains("signature"));  // no key: unsigned
  chain.SkipTo(50);
  chain.SkipTo(45);
  EXPECT_EQ(chain.seq(), 50u);
}

}  // namespace
}  // namespace mcpaudit

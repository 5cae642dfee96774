#include "audit/signed_note.h"

#include <gtest/gtest.h>

namespace mcpaudit::note {
namespace {

// The example of c2sp.org/signed-note: a note signed elsewhere, checked here.
constexpr std::string_view kSpecVkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
constexpr std::string_view kSpecNote =
    "This is an example message.\n"
    "\n"
    "\xE2\x80\x94 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

TEST(SignedNoteTest, TheSpecificationsExampleVerifies) {
  auto verifier = ParseVerifierKey(kSpecVkey);
  ASSERT_TRUE(verifier) << verifier.error().message;
  EXPECT_EQ(verifier->name, "example.com/foo");
  EXPECT_EQ(VerifierKey("example.com/foo", verifier->key), kSpecVkey);
  auto opened = Open(kSpecNote, {&*verifier});
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->text, "This is an example message.\n");
  EXPECT_EQ(opened->signed_by, std::vector<std::string>{"example.com/foo"});

  std::string changed(kSpecNote);
  changed[5] = 'I';
  auto refused = Open(changed, {&*verifier});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "a signature of a known key does not verify");
}

TEST(SignedNoteTest, OurSignaturesVerifyAndUnknownKeysAreNotEnough) {
  auto key = SigningKey::Generate();
  auto other = SigningKey::Generate();
  const Checkpoint checkpoint{"host/mcp-audit/host-1", 42, Sha256().Update("a root").Digest()};
  auto note = Sign(CheckpointText(checkpoint), "host/mcp-audit", *key);
  ASSERT_TRUE(note) << note.error().message;
  auto verifier = ParseVerifierKey(VerifierKey("host/mcp-audit", *key));
  ASSERT_TRUE(verifier);
  auto opened = Open(*note, {&*verifier});
  ASSERT_TRUE(opened) << opened.error().message;
  auto parsed = ParseCheckpoint(opened->text);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->origin, checkpoint.origin);
  EXPECT_EQ(parsed->size, 42u);
  EXPECT_EQ(parsed->root, checkpoint.root);

  // Another key under the same name is unknown: its signature is ignored, so nothing known signed.
  auto stranger = ParseVerifierKey(VerifierKey("host/mcp-audit", *other));
  auto unknown = Open(*note, {&*stranger});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "no known key signed the note");
  // A cosignature by an unknown witness beside ours is ignored.
  auto cosigned = Sign(opened->text, "witness.example", *other);
  const std::string both = *note + cosigned->substr(cosigned->rfind("\n\n") + 2);
  EXPECT_TRUE(Open(both, {&*verifier}));
  // A signature line given twice names its key once.
  const std::string twice = *note + note->substr(note->rfind("\n\n") + 2);
  EXPECT_EQ(Open(twice, {&*verifier})->signed_by, std::vector<std::string>{"host/mcp-audit"});
}

TEST(SignedNoteTest, EveryVerifierKeyWeWriteReadsBackThoughItsBase64HoldsPluses) {
  int with_plus = 0;
  for (int i = 0; i < 64; ++i) {
    auto key = SigningKey::Generate();
    const std::string vkey = VerifierKey("host/mcp-audit", *key);
    with_plus += vkey.substr(24).find('+') != std::string::npos;  // after "host/mcp-audit+<8 hex>+"
    auto parsed = ParseVerifierKey(vkey);
    ASSERT_TRUE(parsed) << vkey << ": " << parsed.error().message;
    EXPECT_EQ(parsed->key.PublicKeyBytes(), key->PublicKeyBytes());
  }
  EXPECT_GT(with_plus, 0);  // 44 base64 digits each: some of 64 keys hold a '+'
}

TEST(SignedNoteTest, AWitnessCosignatureCountsAsOneOnlyWithItsOwnKeyTypeAndTime) {
  auto log = SigningKey::Generate(), witness = SigningKey::Generate();
  ASSERT_TRUE(log.has_value() && witness.has_value());
  const std::string text = "example.com/log\n7\n" + std::string(44, 'A') + "\n";
  auto note = Sign(text, "example.com/log", *log);
  auto cosignature = Cosign(text, "witness.example/w1", *witness, 1700000000);
  ASSERT_TRUE(note.has_value() && cosignature.has_value());
  auto log_key = ParseVerifierKey(VerifierKey("example.com/log", *log));
  auto cosigner = ParseVerifierKey(CosignerKey("witness.example/w1", *witness));
  ASSERT_TRUE(log_key.has_value() && cosigner.has_value());
  EXPECT_TRUE(cosigner->cosigner);
  EXPECT_FALSE(log_key->cosigner);

  auto opened = Open(*note + *cosignature, {&*log_key, &*cosigner});
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_EQ(opened->signed_by, std::vector<std::string>{"example.com/log"});
  EXPECT_EQ(opened->cosigned_by, std::vector<std::string>{"witness.example/w1"});
  // A cosignature alone is no log's signature.
  EXPECT_FALSE(Open(*note + *cosignature, {&*cosigner}).has_value());
  // The same key as a log's key (type 0x01) has another key id: the line is not its.
  auto as_log_key = ParseVerifierKey(VerifierKey("witness.example/w1", *witness));
  auto confused = Open(*note + *cosignature, {&*log_key, &*as_log_key});
  ASSERT_TRUE(confused.has_value());
  EXPECT_EQ(confused->signed_by, std::vector<std::string>{"example.com/log"});
  // Without a time (0) it is refused as a known key's bad signature.
  auto timeless = Cosign(text, "witness.example/w1", *witness, 0);
  ASSERT_TRUE(timeless.has_value());
  EXPECT_FALSE(Open(*note + *timeless, {&*log_key, &*cosigner}).has_value());
}

TEST(SignedNoteTest, MalformedNotesKeysAndCheckpointsAreRefused) {
  EXPECT_FALSE(ParseVerifierKey("example.com/foo+530d903a"));
  EXPECT_FALSE(ParseVerifierKey("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"));
  EXPECT_FALSE(ParseVerifierKey("example.com/foo+530d903a+AqkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"));
  auto verifier = ParseVerifierKey(kSpecVkey);
  EXPECT_FALSE(Open("no signatures\n", {&*verifier}));
  EXPECT_FALSE(Open("text\n\n- example.com/foo AAAA\n", {&*verifier}));
  EXPECT_FALSE(Open("te\x01xt\n\n\xE2\x80\x94 example.com/foo Uw2QOkn8\n", {&*verifier}));
  EXPECT_FALSE(ParseCheckpoint("origin\n042\nAAAA\n"));
  EXPECT_FALSE(ParseCheckpoint("origin\n42\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\nextension\n"));
  EXPECT_EQ(Open("caf\xC3\n\n\xE2\x80\x94 example.com/foo Uw2QOkn8\n", {&*verifier}).error().message,
            "a note is UTF-8");
  EXPECT_FALSE(ParseCheckpoint("origin\n42\nAAAA\n"));
  EXPECT_FALSE(ParseCheckpoint("\n42\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"));
  auto ok = ParseCheckpoint("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->size, 20852163u);
}

}  // namespace
}  // namespace mcpaudit::note

// The journal as a transparency log, as an auditor uses it: `mcp-audit
// checkpoint` prints the signed note of the Merkle root, `prove` gives the
// proof of one record (or of the log's growth), and `verify --proof` checks
// it with the verifier key alone; Go's sumdb/note and sumdb/tlog (another
// implementation of signed notes and RFC 6962) check the same proofs.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <thread>
#include <nlohmann/json.hpp>

#include "base/crypto.h"
#include "mcpaudit/clock.h"
#include "mcpaudit/pipeline.h"
#include "mcpaudit/shipper.h"
#include "mcpaudit/sink.h"
#include "support/child_process.h"
#include "support/cli_process.h"
#include "support/journal_files.h"
#include "support/shell.h"
#include "support/temp_dir.h"

namespace mcpaudit {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::RunCommand;
using testing::RunShell;
using testing::ShellQuote;

// The bytes of the journal's segments.
std::string AllBytesOf(const fs::path& audit) {
  std::string all;
  for (const auto& entry : fs::directory_iterator(audit))
    if (entry.path().filename().string().starts_with("segment-")) all += testing::ReadFile(entry.path());
  return all;
}

class TransparencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto [code, out] = RunCommand("keygen --out " + keys().string() + " --name audit.example/log");
    ASSERT_EQ(code, 0) << out;
    ASSERT_NE(out.find("audit.example/log+"), std::string::npos) << out;
  }

  fs::path keys() const { return dir_.path() / "keys"; }
  fs::path audit() const { return dir_.path() / "audit"; }
  std::string vkey() const { return (keys() / "audit-signing.vkey").string(); }

  // Writes `count` calls of user `user` into the journal (or into `other`, a
  // journal of the stream `stream`), signed; returns their ids.
  std::vector<std::string> WriteCalls(int count, const std::string& user, const fs::path& other = {},
                                      const std::string& stream = "") {
    PipelineOptions options;
    options.directory = other.empty() ? audit() : other;
    options.stream = stream;
    options.signing_key = keys() / "audit-signing.key";
    options.checkpoint_every_records = 10;
    options.admin_space_left_bytes = options.space_left_bytes = 0;
    std::vector<std::string> ids;
    auto pipeline = Pipeline::Open(options);
    EXPECT_TRUE(pipeline.has_value()) << pipeline.error().message;
    for (int i = 0; i < count; ++i) {
      AuditEvent e;
      e.timestamp = std::chrono::system_clock::now();
      e.id = NewUuidV7(e.timestamp, SecureRandom());
      e.tool = "patient_lookup";
      e.user = {.id = user, .email = user + "@clinic.example"};
      e.params = {{"patient", "Zebulon " + std::to_string(i)}};
      EXPECT_TRUE((*pipeline)->Log(e).has_value());
      ids.push_back(e.id);
    }
    return ids;
  }

  // A journal whose signing key changes every second.
  PipelineOptions RotatingOptions() const {
    PipelineOptions options;
    options.directory = audit();
    options.signing_key = keys() / "audit-signing.key";
    options.checkpoint_every_records = 4;
    options.key_epoch = std::chrono::seconds(1);
    options.admin_space_left_bytes = options.space_left_bytes = 0;
    return options;
  }

  // Logs a call of alice (tenant shop) stamped `age` ago, flushed; returns its id.
  static std::string LogCall(Pipeline& pipeline, std::chrono::days age = std::chrono::days(0)) {
    AuditEvent e;
    e.timestamp = std::chrono::system_clock::now() - age;
    e.id = NewUuidV7(e.timestamp, SecureRandom());
    e.tool = "patient_lookup";
    e.user = {.id = "alice", .tenant_id = "shop"};
    EXPECT_TRUE(pipeline.Log(e).has_value());
    EXPECT_TRUE(pipeline.Flush().has_value());
    return e.id;
  }

  // Writes `text` to a file of the test's and returns its path.
  std::string Saved(const std::string& name, const std::string& text) const {
    const fs::path path = dir_.path() / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }

  // What Go's sumdb/note and sumdb/tlog make of a proof.
  std::string GoCheck(const std::string& proof_file) const {
    const std::string checker = GoProgram("tlog_check", MCPAUDIT_TLOG_CHECK_DIR);
    return RunShell(ShellQuote(checker) + " " + ShellQuote(vkey()) + " " + ShellQuote(proof_file), true);
  }

  // Builds the Go program in tests/support/`name` (once) and returns its path.
  std::string GoProgram(const std::string& name, const std::string& source_dir) const {
    const fs::path program = dir_.path() / name;
    if (!fs::exists(program))
      RunShell("cd " + ShellQuote(dir_.path().string()) + " && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=" +
               ShellQuote((dir_.path() / "go-cache").string()) + " go build -o " + name + " " +
               ShellQuote(source_dir + "/main.go") + " 2>&1");
    return program.string();
  }

  // Unpacks the bundle `name` into a directory of that name and returns it.
  fs::path Unpacked(const std::string& name) const {
    const fs::path into = dir_.path() / (name + ".d");
    fs::create_directories(into);
    RunShell("tar xzf " + ShellQuote((dir_.path() / name).string()) + " -C " + ShellQuote(into.string()));
    return into;
  }

  // Packs the directory `from` (an unpacked bundle, changed) again as the bundle `name`.
  std::string Repacked(const fs::path& from, const std::string& name) const {
    const fs::path bundle = dir_.path() / name;
    RunShell("tar czf " + ShellQuote(bundle.string()) + " -C " + ShellQuote(from.string()) + " .");
    return bundle.string();
  }

  testing::TempDir dir_;
};

TEST_F(TransparencyTest, ARecordsInclusionProofChecksWithTheVerifierKeyAloneHereAndInGo) {
  const auto ids = WriteCalls(25, "alice");

  auto [checkpoint_code, checkpoint] = RunCommand("checkpoint --audit-dir " + audit().string());
  ASSERT_EQ(checkpoint_code, 0) << checkpoint;
  // origin, size, root; a blank line; the signature line of the key keygen named.
  EXPECT_NE(checkpoint.find("/mcp-audit/"), std::string::npos) << checkpoint;
  EXPECT_NE(checkpoint.find("\n\n\xE2\x80\x94 audit.example/log "), std::string::npos) << checkpoint;

  auto [prove_code, proof_text] = RunCommand("prove --audit-dir " + audit().string() + " --id " + ids[7]);
  ASSERT_EQ(prove_code, 0) << proof_text;
  const json proof = json::parse(proof_text.substr(proof_text.find('{')));
  EXPECT_EQ(proof["index"], 8u);  // seq 9: audit_started is seq 1
  EXPECT_EQ(proof["checkpoint"], checkpoint);
  const std::string leaf = *Base64Decode(proof["leaf"].get<std::string>());
  EXPECT_NE(leaf.find(ids[7]), std::string::npos);
  const std::string proof_file = Saved("inclusion.json", proof.dump());

  auto [verify_code, verified] = RunCommand("verify --proof " + proof_file + " --vkey " + vkey());
  EXPECT_EQ(verify_code, 0) << verified;
  EXPECT_NE(verified.find("valid: leaf 8 (seq 9)"), std::string::npos) << verified;
  EXPECT_NE(verified.find("signed by audit.example/log; the record: id " + ids[7]), std::string::npos) << verified;
  EXPECT_EQ(GoCheck(proof_file), "ok");
  // Of this log, and of no other the same key signs.
  const std::string origin = checkpoint.substr(0, checkpoint.find('\n'));
  EXPECT_EQ(RunCommand("verify --proof " + proof_file + " --vkey " + vkey() + " --origin " + origin).first, 0);
  auto [origin_code, origin_out] =
      RunCommand("verify --proof " + proof_file + " --vkey " + vkey() + " --origin other.example/log");
  EXPECT_EQ(origin_code, 1) << origin_out;
  EXPECT_NE(origin_out.find("not of other.example/log"), std::string::npos) << origin_out;

  // The same as a c2sp.org/tlog-proof@v1 file.
  auto [tlog_code, tlog_proof] =
      RunCommand("prove --audit-dir " + audit().string() + " --id " + ids[7] + " --format tlog-proof");
  ASSERT_EQ(tlog_code, 0) << tlog_proof;
  const std::string tlog_text = tlog_proof.substr(tlog_proof.find("c2sp.org/tlog-proof@v1\n"));
  EXPECT_TRUE(tlog_text.starts_with("c2sp.org/tlog-proof@v1\nextra " + proof["leaf"].get<std::string>() +
                                    "\nindex 8\n"))
      << tlog_text;
  auto [tlog_verify_code, tlog_verified] =
      RunCommand("verify --proof " + Saved("record.tlog-proof", tlog_text) + " --vkey " + vkey());
  EXPECT_EQ(tlog_verify_code, 0) << tlog_verified;

  // A changed record, another index, or another key: not valid (exit 1), and Go agrees.
  json changed = proof;
  std::string other_leaf = leaf;
  other_leaf.replace(other_leaf.find("patient_lookup"), 14, "patient_delete");
  changed["leaf"] = Base64Encode(other_leaf);
  changed.erase("leaf_hash");
  const std::string changed_file = Saved("changed.json", changed.dump());
  auto [changed_code, changed_out] = RunCommand("verify --proof " + changed_file + " --vkey " + vkey());
  EXPECT_EQ(changed_code, 1) << changed_out;
  EXPECT_NE(changed_out.find("invalid: the record is not leaf 8"), std::string::npos) << changed_out;
  EXPECT_NE(GoCheck(changed_file), "ok");
  json moved = proof;
  moved["index"] = 9;
  auto [moved_code, moved_out] = RunCommand("verify --proof " + Saved("moved.json", moved.dump()) + " --vkey " + vkey());
  EXPECT_EQ(moved_code, 1) << moved_out;
  auto [other_code, other_out] = RunCommand("keygen --out " + (dir_.path() / "other").string());
  ASSERT_EQ(other_code, 0);
  auto [stranger_code, stranger_out] = RunCommand("verify --proof " + proof_file + " --vkey " +
                                                  (dir_.path() / "other" / "audit-signing.vkey").string());
  EXPECT_EQ(stranger_code, 1) << stranger_out;
  EXPECT_NE(stranger_out.find("no known key signed the note"), std::string::npos) << stranger_out;

  // Not a proof at all: a usage error (exit 2), said as such.
  auto [junk_code, junk_out] = RunCommand("verify --proof " + Saved("junk.json", "{\"a\":1}") + " --vkey " + vkey());
  EXPECT_EQ(junk_code, 2) << junk_out;
  EXPECT_NE(junk_out.find("not a proof"), std::string::npos) << junk_out;
}

TEST_F(TransparencyTest, AConsistencyProofShowsTheLogOnlyGrewAndAnErasureChangesNoLeaf) {
  const auto first = WriteCalls(12, "alice");
  auto [old_code, old_checkpoint] = RunCommand("checkpoint --audit-dir " + audit().string());
  ASSERT_EQ(old_code, 0) << old_checkpoint;
  const std::string old_size = old_checkpoint.substr(old_checkpoint.find('\n') + 1,
                                                     old_checkpoint.find('\n', old_checkpoint.find('\n') + 1) -
                                                         old_checkpoint.find('\n') - 1);
  WriteCalls(30, "bob");

  auto [prove_code, proof_text] =
      RunCommand("prove --audit-dir " + audit().string() + " --old-size " + old_size);
  ASSERT_EQ(prove_code, 0) << proof_text;
  const json proof = json::parse(proof_text);
  EXPECT_EQ(proof["old_size"], std::stoull(old_size));
  // The old root is the one the auditor kept from the old checkpoint.
  EXPECT_NE(old_checkpoint.find("\n" + proof["old_root"].get<std::string>() + "\n"), std::string::npos);
  EXPECT_EQ(proof["old_checkpoint"], old_checkpoint);  // the journal still has it
  const std::string proof_file = Saved("consistency.json", proof.dump());
  auto [verify_code, verified] = RunCommand("verify --proof " + proof_file + " --vkey " + vkey());
  EXPECT_EQ(verify_code, 0) << verified;
  EXPECT_NE(verified.find("is the start of"), std::string::npos) << verified;
  EXPECT_EQ(GoCheck(proof_file), "ok");
  // Held against the checkpoint the auditor kept, without the one the proof brings.
  json bare = proof;
  bare.erase("old_checkpoint");
  const std::string bare_file = Saved("bare.json", bare.dump());
  const std::string kept = Saved("kept.checkpoint", old_checkpoint);
  auto [kept_code, kept_out] =
      RunCommand("verify --proof " + bare_file + " --vkey " + vkey() + " --old-checkpoint " + kept);
  EXPECT_EQ(kept_code, 0) << kept_out;
  // An old root nothing signed proves nothing; one other than the signed one is refused.
  auto [unsigned_code, unsigned_out] = RunCommand("verify --proof " + bare_file + " --vkey " + vkey());
  EXPECT_EQ(unsigned_code, 1) << unsigned_out;
  EXPECT_NE(unsigned_out.find("not proved: nothing signed says what the tree"), std::string::npos) << unsigned_out;
  json rewritten = bare;
  rewritten["old_root"] = proof["root"];
  const std::string rewritten_file = Saved("rewritten.json", rewritten.dump());
  auto [rewritten_code, rewritten_out] =
      RunCommand("verify --proof " + rewritten_file + " --vkey " + vkey() + " --old-checkpoint " + kept);
  EXPECT_EQ(rewritten_code, 1) << rewritten_out;
  EXPECT_NE(rewritten_out.find("another root"), std::string::npos) << rewritten_out;
  EXPECT_NE(GoCheck(rewritten_file), "ok");

  // alice's data erased: her record's proof still holds, with the same leaf
  // (a leaf holds each erasable value's commitment, never the value).
  auto [before_code, before_text] = RunCommand("prove --audit-dir " + audit().string() + " --id " + first[3]);
  ASSERT_EQ(before_code, 0) << before_text;
  const json before = json::parse(before_text.substr(before_text.find('{')));
  EXPECT_NE(AllBytesOf(audit()).find("alice@clinic.example"), std::string::npos);
  auto [erase_code, erase_out] = RunCommand("erase --audit-dir " + audit().string() +
                                            " --user alice --reason ticket-42 --signing-key " +
                                            (keys() / "audit-signing.key").string());
  ASSERT_EQ(erase_code, 0) << erase_out;
  auto [after_code, after_text] = RunCommand("prove --audit-dir " + audit().string() + " --id " + first[3]);
  ASSERT_EQ(after_code, 0) << after_text;
  const json after = json::parse(after_text.substr(after_text.find('{')));
  EXPECT_EQ(AllBytesOf(audit()).find("alice@clinic.example"), std::string::npos);
  EXPECT_EQ(after["leaf"], before["leaf"]);
  const std::string leaf = *Base64Decode(after["leaf"].get<std::string>());
  EXPECT_EQ(leaf.find("alice@clinic.example"), std::string::npos) << leaf;
  EXPECT_NE(leaf.find("$erased"), std::string::npos) << leaf;
  const std::string after_file = Saved("after-erasure.json", after.dump());
  auto [after_verify_code, after_verified] = RunCommand("verify --proof " + after_file + " --vkey " + vkey());
  EXPECT_EQ(after_verify_code, 0) << after_verified;
  EXPECT_EQ(GoCheck(after_file), "ok");
}

TEST_F(TransparencyTest, AnEvidenceBundleProvesEachOfItsRecordsWithTheKeyAloneHereAndInGo) {
  const auto alice = WriteCalls(25, "alice");
  WriteCalls(15, "bob");
  const std::string bundle = (dir_.path() / "alice.tar.gz").string();
  auto [code, out] = RunCommand("evidence --audit-dir " + audit().string() + " --user alice --vkey " + vkey() +
                                " --out " + bundle);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("wrote 25 records with their proofs"), std::string::npos) << out;
  EXPECT_EQ(fs::status(bundle).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  // Never written over: an earlier bundle is evidence.
  auto [again_code, again_out] = RunCommand("evidence --audit-dir " + audit().string() + " --user alice --vkey " +
                                            vkey() + " --out " + bundle);
  EXPECT_EQ(again_code, 2) << again_out;
  EXPECT_NE(again_out.find("never written over a file"), std::string::npos) << again_out;

  auto [verify_code, verified] = RunCommand("verify --bundle " + bundle + " --vkey " + vkey());
  EXPECT_EQ(verify_code, 0) << verified;
  EXPECT_NE(verified.find("valid: 25 records, each unchanged and in the tree its checkpoint signs"), std::string::npos)
      << verified;
  EXPECT_NE(verified.find("signed by audit.example/log"), std::string::npos) << verified;
  // Never with the key the bundle brings: a forger would bring theirs.
  auto [own_code, own_out] = RunCommand("verify --bundle " + bundle);
  EXPECT_EQ(own_code, 2) << own_out;
  EXPECT_NE(own_out.find("--bundle FILE needs --vkey FILE"), std::string::npos) << own_out;
  auto [pubkey_code, pubkey_out] = RunCommand("verify --bundle " + bundle + " --vkey " + vkey() + " --pubkey " +
                                              (keys() / "audit-signing.pub").string());
  EXPECT_EQ(pubkey_code, 2) << pubkey_out;
  EXPECT_NE(pubkey_out.find("--pubkey excludes --bundle"), std::string::npos) << pubkey_out;

  // What it holds: alice's records as stored, one tlog-proof each that Go's
  // sumdb/note and sumdb/tlog check, the checkpoint, the key, a README.
  const fs::path unpacked = Unpacked("alice.tar.gz");
  const std::string records = testing::ReadFile(unpacked / "records.jsonl");
  EXPECT_EQ(std::count(records.begin(), records.end(), '\n'), 25);
  EXPECT_EQ(records.find("\"bob\""), std::string::npos);
  for (const std::string& id : alice) {
    const fs::path proof = unpacked / "proofs" / (id + ".tlog-proof");
    ASSERT_TRUE(fs::exists(proof)) << id;
    EXPECT_EQ(GoCheck(proof.string()), "ok") << id;
  }
  EXPECT_NE(testing::ReadFile(unpacked / "README.md").find("mcp-audit verify --bundle"), std::string::npos);
  const json manifest = json::parse(testing::ReadFile(unpacked / "manifest.json"));
  EXPECT_EQ(manifest["records"], 25);
  EXPECT_EQ(manifest["selection"]["user"], "alice");

  // One record changed: refused, naming it.
  fs::path changed = dir_.path() / "changed";
  fs::copy(unpacked, changed, fs::copy_options::recursive);
  std::string edited = records;
  const size_t at = edited.find(alice[4]);
  edited.replace(edited.find("patient_lookup", at), 14, "patient_delete");
  std::ofstream(changed / "records.jsonl", std::ios::binary | std::ios::trunc) << edited;
  auto [changed_code, changed_out] = RunCommand("verify --bundle " + Repacked(changed, "changed.tar.gz") +
                                                " --vkey " + vkey());
  EXPECT_EQ(changed_code, 1) << changed_out;
  EXPECT_NE(changed_out.find("record " + alice[4] + " (records.jsonl line 5) is not the record its proof proves: "
                             "it was changed"),
            std::string::npos)
      << changed_out;
  EXPECT_NE(changed_out.find("INVALID: 1 problem(s)"), std::string::npos) << changed_out;

  // The proof of another record in its place.
  fs::path swapped = dir_.path() / "swapped";
  fs::copy(unpacked, swapped, fs::copy_options::recursive);
  fs::copy_file(unpacked / "proofs" / (alice[6] + ".tlog-proof"), swapped / "proofs" / (alice[5] + ".tlog-proof"),
                fs::copy_options::overwrite_existing);
  auto [swapped_code, swapped_out] = RunCommand("verify --bundle " + Repacked(swapped, "swapped.tar.gz") +
                                                " --vkey " + vkey());
  EXPECT_EQ(swapped_code, 1) << swapped_out;
  EXPECT_NE(swapped_out.find("record " + alice[5]), std::string::npos) << swapped_out;

  // A record taken out: its proof is left without one, and the manifest disagrees.
  fs::path shortened = dir_.path() / "shortened";
  fs::copy(unpacked, shortened, fs::copy_options::recursive);
  std::string without = records;
  const size_t line = without.rfind('\n', without.find(alice[9])) + 1;
  without.erase(line, without.find('\n', line) + 1 - line);
  std::ofstream(shortened / "records.jsonl", std::ios::binary | std::ios::trunc) << without;
  auto [short_code, short_out] = RunCommand("verify --bundle " + Repacked(shortened, "shortened.tar.gz") +
                                            " --vkey " + vkey());
  EXPECT_EQ(short_code, 1) << short_out;
  EXPECT_NE(short_out.find("manifest.json says 25 records; records.jsonl holds 24"), std::string::npos) << short_out;

  // What tar would extract otherwise than verify reads: a record with a
  // member twice (a reader that keeps the first would read the forged one),
  // records.jsonl as a hard link to a file of the forger's, an unlisted file.
  fs::path doubled = dir_.path() / "doubled";
  fs::copy(unpacked, doubled, fs::copy_options::recursive);
  std::string twice = records;
  twice.insert(twice.find("{") + 1, "\"tool\":\"patient_delete\",");
  std::ofstream(doubled / "records.jsonl", std::ios::binary | std::ios::trunc) << twice;
  auto [doubled_code, doubled_out] =
      RunCommand("verify --bundle " + Repacked(doubled, "doubled.tar.gz") + " --vkey " + vkey());
  EXPECT_EQ(doubled_code, 1) << doubled_out;
  EXPECT_NE(doubled_out.find("records.jsonl line 1) is not written as the journal writes records"), std::string::npos)
      << doubled_out;
  fs::path linked = dir_.path() / "linked";
  fs::copy(unpacked, linked, fs::copy_options::recursive);
  fs::remove(linked / "records.jsonl");
  std::ofstream(linked / "forged") << edited;
  fs::create_hard_link(linked / "forged", linked / "records.jsonl");
  auto [linked_code, linked_out] =
      RunCommand("verify --bundle " + Repacked(linked, "linked.tar.gz") + " --vkey " + vkey());
  EXPECT_EQ(linked_code, 1) << linked_out;
  fs::path extra = dir_.path() / "extra";
  fs::copy(unpacked, extra, fs::copy_options::recursive);
  std::ofstream(extra / "checkpoints" / "another") << "a checkpoint nobody named\n";
  auto [extra_code, extra_out] = RunCommand("verify --bundle " + Repacked(extra, "extra.tar.gz") + " --vkey " + vkey());
  EXPECT_EQ(extra_code, 1) << extra_out;
  EXPECT_NE(extra_out.find("checkpoints/another is a checkpoint manifest.json does not name"), std::string::npos)
      << extra_out;

  // A checkpoint signed by another key (a forger's), and a file that is no bundle.
  auto [other_code, other_out] = RunCommand("keygen --out " + (dir_.path() / "other").string() + " --name forger");
  ASSERT_EQ(other_code, 0) << other_out;
  auto [stranger_code, stranger_out] = RunCommand("verify --bundle " + bundle + " --vkey " +
                                                  (dir_.path() / "other" / "audit-signing.vkey").string());
  EXPECT_EQ(stranger_code, 1) << stranger_out;
  EXPECT_NE(stranger_out.find("no known key signed the note"), std::string::npos) << stranger_out;
  auto [junk_code, junk_out] =
      RunCommand("verify --bundle " + Saved("junk.tar.gz", "not an archive") + " --vkey " + vkey());
  EXPECT_EQ(junk_code, 2) << junk_out;
  EXPECT_NE(junk_out.find("is not a tar.gz archive"), std::string::npos) << junk_out;
}

TEST_F(TransparencyTest, ABundleEndsAtTheNewestCheckpointAndKeepsErasedValuesErased) {
  WriteCalls(12, "alice");
  auto [erase_code, erase_out] = RunCommand("erase --audit-dir " + audit().string() +
                                            " --user alice --reason ticket-42 --signing-key " +
                                            (keys() / "audit-signing.key").string());
  ASSERT_EQ(erase_code, 0) << erase_out;
  // Written after the newest checkpoint: not signed yet.
  RunCommand("query --audit-dir " + audit().string() + " --limit 1");

  const std::string bundle = (dir_.path() / "erased.tar.gz").string();
  auto [code, out] = RunCommand("evidence --audit-dir " + audit().string() + " --tool patient_lookup --vkey " +
                                vkey() + " --out " + bundle);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("wrote 12 records"), std::string::npos) << out;
  auto [verify_code, verified] = RunCommand("verify --bundle " + bundle + " --vkey " + vkey());
  EXPECT_EQ(verify_code, 0) << verified;
  const fs::path unpacked = Unpacked("erased.tar.gz");
  EXPECT_EQ(RunShell("grep -r -l -e alice@clinic.example -e Zebulon " + ShellQuote(unpacked.string()), true), "");
  EXPECT_NE(testing::ReadFile(unpacked / "records.jsonl").find("$erased"), std::string::npos);

  // With no --until, what no checkpoint signs yet is left out, said; with an
  // --until that asks for it, nothing is written.
  auto [all_code, all_out] = RunCommand("evidence --audit-dir " + audit().string() + " --vkey " + vkey() +
                                        " --out " + (dir_.path() / "all.tar.gz").string());
  EXPECT_EQ(all_code, 0) << all_out;
  EXPECT_NE(all_out.find("newer than the newest checkpoint left out (not signed yet)"), std::string::npos) << all_out;
  const std::string until = FormatTimestamp(std::chrono::system_clock::now() + std::chrono::hours(1));
  auto [until_code, until_out] = RunCommand("evidence --audit-dir " + audit().string() + " --until " + until +
                                            " --vkey " + vkey() + " --out " + (dir_.path() / "until.tar.gz").string());
  EXPECT_EQ(until_code, 2) << until_out;
  EXPECT_NE(until_out.find("is not signed by a checkpoint yet"), std::string::npos) << until_out;
  EXPECT_FALSE(fs::exists(dir_.path() / "until.tar.gz"));
}

// A witness (tests/support/tlog_witness: Go's sumdb/note and sumdb/tlog, not
// our code) on a loopback port, trusting the log's verifier key.
class Witness {
 public:
  Witness(const std::string& program, const std::string& log_vkey, const fs::path& dir) {
    const fs::path ready = dir / "witness.ready";
    pid_ = testing::SpawnWithPipes({program, log_vkey, ready.string()}, (dir / "witness.err").string()).pid;
    for (int i = 0; i < 600 && !fs::exists(ready); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const std::string line = testing::ReadFile(ready);
    url_ = "http://127.0.0.1:" + line.substr(0, line.find(' '));
    std::ofstream(dir / "witness.vkey") << line.substr(line.find(' ') + 1);
    vkey_ = (dir / "witness.vkey").string();
  }
  ~Witness() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  const std::string& url() const { return url_; }
  const std::string& vkey() const { return vkey_; }

 private:
  pid_t pid_;
  std::string url_, vkey_;
};

TEST_F(TransparencyTest, AWitnessCosignsOnlyACheckpointThatExtendsWhatItSaw) {
  const auto ids = WriteCalls(12, "alice");
  Witness witness(GoProgram("tlog_witness", MCPAUDIT_TLOG_WITNESS_DIR), vkey(), dir_.path());
  ASSERT_FALSE(witness.url().ends_with(":")) << "the witness did not start";
  const std::string ask = "witness --audit-dir " + audit().string() + " --url " + witness.url() +
                          " --witness-vkey " + witness.vkey() + " --vkey " + vkey();
  auto [first_code, first_out] = RunCommand(ask);
  ASSERT_EQ(first_code, 0) << first_out;
  EXPECT_NE(first_out.find("cosigned by witness.example/w1: the checkpoint of"), std::string::npos) << first_out;
  // Asked again for the same checkpoint: its cosignature is replaced, not piled up.
  EXPECT_EQ(RunCommand(ask).first, 0);
  auto [checkpoint_code, checkpoint] = RunCommand("checkpoint --audit-dir " + audit().string());
  const std::string cosignature = "\n\xE2\x80\x94 witness.example/w1 ";
  ASSERT_NE(checkpoint.find(cosignature), std::string::npos) << checkpoint;
  EXPECT_EQ(checkpoint.find(cosignature, checkpoint.find(cosignature) + 1), std::string::npos) << checkpoint;

  // A proof against it holds with the witness's key too (its cosignature checked).
  auto [prove_code, proof] = RunCommand("prove --audit-dir " + audit().string() + " --id " + ids[3]);
  ASSERT_EQ(prove_code, 0) << proof;
  const std::string proof_file = Saved("witnessed.json", proof.substr(proof.find('{')));
  auto [verify_code, verified] =
      RunCommand("verify --proof " + proof_file + " --vkey " + vkey() + " --witness-vkey " + witness.vkey());
  EXPECT_EQ(verify_code, 0) << verified;
  EXPECT_NE(verified.find("signed by audit.example/log, cosigned by witness.example/w1"), std::string::npos)
      << verified;
  EXPECT_EQ(GoCheck(proof_file), "ok");

  // The log grew: cosigned again, from the size the witness saw.
  WriteCalls(8, "bob");
  auto [second_code, second_out] = RunCommand(ask);
  EXPECT_EQ(second_code, 0) << second_out;

  // The operator rewrites history: a log of the same name and key with other
  // records, longer than what the witness saw. The witness refuses it (its
  // consistency proof does not hold), and a proof of it is not witnessed.
  std::string stream = testing::ReadFile(audit() / "stream");
  stream = stream.substr(0, stream.find('\n'));
  const fs::path fork = dir_.path() / "fork";
  const auto forged = WriteCalls(40, "mallory", fork, stream);
  auto [fork_code, fork_out] = RunCommand("witness --audit-dir " + fork.string() + " --stream " + stream + " --url " +
                                          witness.url() + " --witness-vkey " + witness.vkey() + " --vkey " + vkey());
  EXPECT_EQ(fork_code, 1) << fork_out;
  EXPECT_NE(fork_out.find("the witness did not cosign the checkpoint"), std::string::npos) << fork_out;
  EXPECT_NE(fork_out.find("HTTP 422"), std::string::npos) << fork_out;
  auto [forged_code, forged_proof] = RunCommand("prove --audit-dir " + fork.string() + " --id " + forged[3]);
  ASSERT_EQ(forged_code, 0) << forged_proof;
  const std::string forged_file = Saved("forged.json", forged_proof.substr(forged_proof.find('{')));
  EXPECT_EQ(RunCommand("verify --proof " + forged_file + " --vkey " + vkey()).first, 0);  // the key alone: valid
  auto [unwitnessed_code, unwitnessed] =
      RunCommand("verify --proof " + forged_file + " --vkey " + vkey() + " --witness-vkey " + witness.vkey());
  EXPECT_EQ(unwitnessed_code, 1) << unwitnessed;
  EXPECT_NE(unwitnessed.find("not witnessed: witness witness.example/w1 did not cosign the checkpoint"),
            std::string::npos)
      << unwitnessed;
}

TEST_F(TransparencyTest, AWitnessGivenTheUpcomingKeysCosignsACheckpointOfALaterEpoch) {
  const fs::path key = keys() / "audit-signing.key";
  PipelineOptions options = RotatingOptions();
  options.upcoming_keys = 3;
  std::string upcoming;
  {
    auto pipeline = Pipeline::Open(options);
    ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
    // Made at the start, before the first rotation (a second away): what the operator gives witnesses.
    upcoming = testing::ReadFile(keys() / "audit-signing.upcoming.vkey");
    for (int i = 0; i < 8; ++i) {
      LogCall(**pipeline);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  }
  ASSERT_EQ(std::ranges::count(upcoming, '\n'), 3) << upcoming;
  // The keys made ahead wait owner-only; those used are gone from the ring and its list.
  const fs::path ring = keys() / "audit-signing.key.ring";
  EXPECT_EQ(fs::status(ring).permissions() & fs::perms::all, fs::perms::owner_all);
  const std::string current = SigningKey::LoadPrivate(key.string())->KeyId();
  EXPECT_NE(current, SigningKey::LoadPublic((keys() / "audit-signing.pub").string())->KeyId());
  size_t waiting = 0;
  for (const auto& entry : fs::directory_iterator(ring)) {
    ++waiting;
    EXPECT_EQ(entry.status().permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_NE(SigningKey::LoadPrivate(entry.path().string())->KeyId(), current) << "a copy of the key signing now";
  }
  EXPECT_EQ(waiting, 3u);

  // A witness given the first key and the upcoming ones cosigns the newest checkpoint.
  fs::create_directories(dir_.path() / "w-all");
  const std::string all_keys = Saved("all-keys.vkey", testing::ReadFile(vkey()) + upcoming);
  Witness trusting(GoProgram("tlog_witness", MCPAUDIT_TLOG_WITNESS_DIR), all_keys, dir_.path() / "w-all");
  auto [code, out] = RunCommand("witness --audit-dir " + audit().string() + " --url " + trusting.url() +
                                " --witness-vkey " + trusting.vkey() + " --vkey " + vkey());
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("cosigned by witness.example/w1"), std::string::npos) << out;

  // One given the first key alone refuses it, and `witness` says which key it lacks.
  fs::create_directories(dir_.path() / "w-first");
  Witness first_only(GoProgram("tlog_witness", MCPAUDIT_TLOG_WITNESS_DIR), vkey(), dir_.path() / "w-first");
  auto [refused_code, refused] = RunCommand("witness --audit-dir " + audit().string() + " --url " +
                                            first_only.url() + " --witness-vkey " + first_only.vkey() + " --vkey " +
                                            vkey());
  EXPECT_EQ(refused_code, 1) << refused;
  EXPECT_NE(refused.find("HTTP 403"), std::string::npos) << refused;
  const std::string epoch_vkey = refused.substr(refused.find("audit.example/log+"), upcoming.find('\n'));
  EXPECT_NE(upcoming.find(epoch_vkey), std::string::npos) << refused;
  EXPECT_NE(refused.find("upcoming_keys"), std::string::npos) << refused;

  // A bundle against the cosigned checkpoint holds with the witness that cosigned it, not with the other.
  const std::string bundle = (dir_.path() / "witnessed.tar.gz").string();
  auto [evidence_code, evidence_out] =
      RunCommand("evidence --audit-dir " + audit().string() + " --user alice --vkey " + vkey() + " --out " + bundle);
  ASSERT_EQ(evidence_code, 0) << evidence_out;
  auto [bundle_code, bundle_out] =
      RunCommand("verify --bundle " + bundle + " --vkey " + vkey() + " --witness-vkey " + trusting.vkey());
  EXPECT_EQ(bundle_code, 0) << bundle_out;
  EXPECT_NE(bundle_out.find("cosigned by witness.example/w1"), std::string::npos) << bundle_out;
  auto [unwitnessed_code, unwitnessed] =
      RunCommand("verify --bundle " + bundle + " --vkey " + vkey() + " --witness-vkey " + first_only.vkey());
  EXPECT_EQ(unwitnessed_code, 1) << unwitnessed;
  EXPECT_NE(unwitnessed.find("not witnessed: witness witness.example/w1 did not cosign the checkpoint"),
            std::string::npos)
      << unwitnessed;
}

TEST_F(TransparencyTest, ProofsAndBundlesCarryTheKeyRotationsFromTheFirstKey) {
  // The key's epoch began an hour ago: the first batch rotates it, and so
  // does each second after.
  fs::last_write_time(keys() / "audit-signing.key", fs::file_time_type::clock::now() - std::chrono::hours(1));
  std::vector<std::string> ids;
  {
    auto pipeline = Pipeline::Open(RotatingOptions());
    ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
    for (int i = 0; i < 8; ++i) {
      ids.push_back(LogCall(**pipeline));
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  }
  // The journal, from the first public key: every rotation followed.
  auto [journal_code, journal_out] =
      RunCommand("verify --audit-dir " + audit().string() + " --pubkey " + (keys() / "audit-signing.pub").string());
  EXPECT_EQ(journal_code, 0) << journal_out;
  EXPECT_NE(journal_out.find("key rotations followed from the given key"), std::string::npos) << journal_out;

  // A proof carries the rotations: the first verifier key checks it.
  auto [prove_code, proof_text] = RunCommand("prove --audit-dir " + audit().string() + " --id " + ids[1]);
  ASSERT_EQ(prove_code, 0) << proof_text;
  json proof = json::parse(proof_text.substr(proof_text.find('{')));
  ASSERT_TRUE(proof.contains("key_rotations")) << proof_text;
  EXPECT_GE(proof["key_rotations"].size(), 2u);
  auto [verify_code, verified] = RunCommand("verify --proof " + Saved("rotated.json", proof.dump()) + " --vkey " + vkey());
  EXPECT_EQ(verify_code, 0) << verified;
  // Without them the first key signed nothing of it; with one left out, the chain breaks.
  json bare = proof;
  bare.erase("key_rotations");
  auto [bare_code, bare_out] = RunCommand("verify --proof " + Saved("bare.json", bare.dump()) + " --vkey " + vkey());
  EXPECT_EQ(bare_code, 1) << bare_out;
  EXPECT_NE(bare_out.find("no known key signed the note"), std::string::npos) << bare_out;
  json skipped = proof;
  skipped["key_rotations"].erase(0);
  auto [skipped_code, skipped_out] =
      RunCommand("verify --proof " + Saved("skipped.json", skipped.dump()) + " --vkey " + vkey());
  EXPECT_EQ(skipped_code, 1) << skipped_out;
  EXPECT_NE(skipped_out.find("invalid: key rotation 1: no known key signed the note"), std::string::npos)
      << skipped_out;

  // A bundle carries them in its manifest.
  const std::string bundle = (dir_.path() / "rotated.tar.gz").string();
  auto [evidence_code, evidence_out] =
      RunCommand("evidence --audit-dir " + audit().string() + " --user alice --vkey " + vkey() + " --out " + bundle);
  ASSERT_EQ(evidence_code, 0) << evidence_out;
  auto [bundle_code, bundle_out] = RunCommand("verify --bundle " + bundle + " --vkey " + vkey());
  EXPECT_EQ(bundle_code, 0) << bundle_out;
  EXPECT_NE(bundle_out.find("valid: 8 records"), std::string::npos) << bundle_out;
}

TEST_F(TransparencyTest, RetentionCarriesTheKeyRotationsItDeletesSoTheFirstKeyStillChecksWhatRemains) {
  const fs::path key = keys() / "audit-signing.key";
  fs::last_write_time(key, fs::file_time_type::clock::now() - std::chrono::hours(1));
  PipelineOptions options = RotatingOptions();
  options.max_segment_bytes = 2048;
  // Calls stamped 400 days ago across several epochs, then three of today.
  std::vector<std::string> recent;
  {
    auto pipeline = Pipeline::Open(options);
    ASSERT_TRUE(pipeline.has_value()) << pipeline.error().message;
    for (int i = 0; i < 8; ++i) {
      LogCall(**pipeline, std::chrono::days(400));
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
    for (int i = 0; i < 3; ++i) recent.push_back(LogCall(**pipeline));
  }
  auto rotations_in_journal = [&] {
    return std::ranges::count_if(testing::JournalRecords(audit()),
                                 [](const json& r) { return r["event_type"] == "key_rotation"; });
  };
  const auto rotations = rotations_in_journal();
  ASSERT_GE(rotations, 2);
  // The default store has every record: retention waits for it.
  SinkConfig store{.name = "sqlite", .url = "sqlite://" + (audit() / "audit.db").string()};
  {
    auto sink = OpenSink(store);
    ASSERT_TRUE(sink.has_value()) << sink.error().message;
    auto shipper = Shipper::Start({.journal_dir = audit(), .name = store.name}, std::move(*sink));
    ASSERT_TRUE(shipper.has_value()) << shipper.error().message;
    ASSERT_TRUE((*shipper)->ShipAll().has_value());
  }
  const std::string config = Saved("retention.toml", "[audit]\ndir = \"" + audit().string() +
                                                         "\"\nsigning_key = \"" + key.string() +
                                                         "\"\n\n[integrity]\nkey_epoch_hours = 24\n\n"
                                                         "[retention]\n[[retention.tenants]]\ntenant = \"shop\"\n"
                                                         "keep_days = 365\n");
  auto [retention_code, retention_out] = RunCommand("retention --config " + config);
  ASSERT_EQ(retention_code, 0) << retention_out;
  ASSERT_NE(retention_out.find("now begins after seq"), std::string::npos) << retention_out;
  // Rotations went with the old segments; the retention record carries them.
  ASSERT_LT(rotations_in_journal(), rotations) << retention_out;
  json run;
  for (const json& r : testing::JournalRecords(audit()))
    if (r["event_type"] == "retention") run = r;
  ASSERT_TRUE(run.is_object());
  EXPECT_EQ(run["details"]["cuts"][0]["key_rotations"].size(), rotations - rotations_in_journal()) << run.dump();

  // From the first public key, the journal and the store still verify.
  const std::string pub = (keys() / "audit-signing.pub").string();
  auto [journal_code, journal_out] = RunCommand("verify --audit-dir " + audit().string() + " --pubkey " + pub);
  EXPECT_EQ(journal_code, 0) << journal_out;
  EXPECT_NE(journal_out.find("(" + std::to_string(rotations - rotations_in_journal()) + " carried by retention records)"),
            std::string::npos)
      << journal_out;
  auto [store_code, store_out] = RunCommand("verify --store " + store.url + " --pubkey " + pub);
  EXPECT_EQ(store_code, 0) << store_out;
  // Another first key does not make them hold.
  ASSERT_EQ(RunCommand("keygen --out " + (dir_.path() / "other").string()).first, 0);
  auto [other_code, other_out] =
      RunCommand("verify --audit-dir " + audit().string() + " --pubkey " + (dir_.path() / "other" / "audit-signing.pub").string());
  EXPECT_EQ(other_code, 1) << other_out;
  EXPECT_NE(other_out.find("that a retention record carries do not hold"), std::string::npos) << other_out;

  // A proof of a remaining record, and a bundle, check with the first verifier key.
  auto [prove_code, proof_text] = RunCommand("prove --audit-dir " + audit().string() + " --id " + recent[0]);
  ASSERT_EQ(prove_code, 0) << proof_text;
  const std::string proof = Saved("after-retention.json", proof_text.substr(proof_text.find('{')));
  auto [verify_code, verified] = RunCommand("verify --proof " + proof + " --vkey " + vkey());
  EXPECT_EQ(verify_code, 0) << verified;
  const std::string bundle = (dir_.path() / "after-retention.tar.gz").string();
  auto [evidence_code, evidence_out] =
      RunCommand("evidence --audit-dir " + audit().string() + " --user alice --vkey " + vkey() + " --out " + bundle);
  ASSERT_EQ(evidence_code, 0) << evidence_out;
  auto [bundle_code, bundle_out] = RunCommand("verify --bundle " + bundle + " --vkey " + vkey());
  EXPECT_EQ(bundle_code, 0) << bundle_out;
}

}  // namespace
}  // namespace mcpaudit

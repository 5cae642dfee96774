// mcp-audit witness: the client side of c2sp.org/tlog-witness. It sends the
// newest signed checkpoint to a witness with the consistency proof from the
// last size that witness cosigned; a witness cosigns only a checkpoint that
// extends what it saw, so a log rewritten after the fact gets no cosignature.
// The cosigned note is kept beside the journal (tlog::CosignedCheckpointPath):
// `checkpoint`, `prove` and `evidence` give it while it is the newest.
#include <charconv>
#include <iostream>

#include "audit/key_rotation.h"
#include "audit/merkle_tree.h"
#include "base/audit_files.h"
#include "cli/commands.h"
#include "mcpaudit/pipeline.h"
#include "sinks/http_sink.h"
#include "store/tlog.h"

namespace mcpaudit::cli {
namespace {

namespace fs = std::filesystem;

// The tree size the witness cosigned last for this log, as kept (0: none yet).
fs::path SizeFile(const fs::path& dir, const std::string& stream, const note::Verifier& witness) {
  const std::string id = HexEncode({reinterpret_cast<const uint8_t*>(witness.id.data()), witness.id.size()});
  return dir / "witness" / (merkle::FileNameOf(stream) + "." + merkle::FileNameOf(witness.name) + "." + id + ".size");
}

std::optional<uint64_t> ParseSize(std::string_view text) {
  while (text.ends_with('\n')) text.remove_suffix(1);
  uint64_t size = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), size);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return size;
}

// A witness answers a few signature lines.
constexpr size_t kMaxResponseBytes = 64 << 10;

struct Cosigned {
  uint64_t size = 0;
  std::string lines;  // the witness's signature lines
};

// Asks the witness at `url` to cosign `checkpoint`. A witness that saw
// another size than `old_size` says which (409): asked again once from there.
// A refusal for the log's signature (403) says `untrusted_key` too.
Result<Cosigned> AddCheckpoint(const fs::path& dir, const std::string& stream, const tlog::CheckpointNote& checkpoint,
                               uint64_t old_size, const std::string& url, const std::string& ca_file,
                               const std::string& untrusted_key) {
  SinkConfig config;
  config.url = url;
  config.ca_file = ca_file;
  config.timeout = std::chrono::seconds(30);
  HttpConnection connection(config);
  connection.set_max_response_bytes(kMaxResponseBytes);
  auto tree = merkle::StoredTree::Open(merkle::TreeDirectory(dir, stream), false);
  if (!tree) return std::unexpected(tree.error());
  for (int attempt = 0;; ++attempt) {
    if (old_size > checkpoint.size)
      return Fail(ErrorCode::kInvalidArgument, "the witness cosigned a tree of " + std::to_string(old_size) +
                                                   " records, larger than the newest checkpoint's " +
                                                   std::to_string(checkpoint.size) +
                                                   ": records the witness saw are gone from this log");
    auto proof = tree->ConsistencyProof(old_size, checkpoint.size);
    if (!proof) return std::unexpected(proof.error());
    std::string body = "old " + std::to_string(old_size) + "\n";
    for (const auto& hash : *proof)
      body += Base64Encode({reinterpret_cast<const char*>(hash.data()), hash.size()}) + "\n";
    body += "\n" + checkpoint.note;  // with the cosignatures other witnesses gave, if any
    const std::string endpoint = (url.ends_with('/') ? url.substr(0, url.size() - 1) : url) + "/add-checkpoint";
    const HttpResponse response = connection.Post(endpoint, {"Content-Type: text/plain"}, body, false);
    if (response.status == 200) return Cosigned{checkpoint.size, response.body};
    if (response.status == 409 && attempt == 0)
      if (auto seen = ParseSize(response.body)) {
        old_size = *seen;
        continue;
      }
    const std::string why = response.status == 0 ? response.transport_error
                                                  : "HTTP " + std::to_string(response.status) + ": " +
                                                        Printable(response.body.substr(0, 300));
    return Fail(ErrorCode::kUnavailable, "the witness did not cosign the checkpoint of " +
                                             std::to_string(checkpoint.size) + " records (from " +
                                             std::to_string(old_size) + "): " + why +
                                             (response.status == 403 ? untrusted_key : ""));
  }
}

// `note` without the signature lines of `name` (an earlier cosignature of
// the same witness: replaced, never piled up).
std::string WithoutSignaturesOf(const std::string& note, const std::string& name) {
  const size_t blank = note.find("\n\n");
  std::string kept = note.substr(0, blank + 2);
  const std::string prefix = "\xE2\x80\x94 " + name + " ";
  for (size_t at = blank + 2; at < note.size();) {
    const size_t end = note.find('\n', at);
    const std::string line = note.substr(at, end == std::string::npos ? std::string::npos : end - at + 1);
    if (!line.starts_with(prefix)) kept += line;
    at = end == std::string::npos ? note.size() : end + 1;
  }
  return kept;
}

// The lines of `answer` that are cosignatures of `note` by `witness`, and nothing else.
std::string VerifiedCosignatures(const std::string& note, const std::string& answer, const note::Verifier& witness,
                                 const std::vector<note::Verifier>& log_keys) {
  std::vector<const note::Verifier*> known{&witness};
  for (const auto& key : log_keys) known.push_back(&key);
  std::string kept;
  for (size_t at = 0; at < answer.size();) {
    const size_t end = answer.find('\n', at);
    if (end == std::string::npos) break;
    const std::string line = answer.substr(at, end - at + 1);
    at = end + 1;
    auto opened = note::Open(note + line, known);
    if (opened && !opened->cosigned_by.empty() && kept.find(line) == std::string::npos) kept += line;
  }
  return kept;
}

}  // namespace

void AddWitnessCommand(CLI::App& app, int& exit_code) {
  struct Options {
    std::string audit_dir = kDefaultAuditDir;
    std::string stream;
    std::string url;
    std::string witness_vkey;
    std::vector<std::string> vkeys;
    std::string ca_file;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "witness", "Ask a witness (c2sp.org/tlog-witness) to cosign the newest checkpoint: it does only when the "
                 "log grew from what it saw");
  cmd->add_option("--audit-dir", options->audit_dir, "Directory of the journal")->capture_default_str();
  cmd->add_option("--stream", options->stream, "The stream (default: the journal's own)");
  cmd->add_option("--url", options->url, "The witness's submission prefix (https://…; POST …/add-checkpoint)")
      ->required();
  cmd->add_option("--witness-vkey", options->witness_vkey,
                  "A file holding the witness's cosigner key (a vkey of type 0x04)")
      ->required();
  cmd->add_option("--vkey", options->vkeys, "A file holding the log's verifier key (audit-signing.vkey)")->required();
  cmd->add_option("--ca-file", options->ca_file, "Trust this CA bundle for the witness instead of the system's");
  cmd->callback([options, &exit_code] {
    auto fail = [&](const std::string& message, int code) {
      std::cerr << "mcp-audit witness: " << message << "\n";
      exit_code = code;
    };
    auto witness = ReadVerifierKeys({options->witness_vkey});
    if (!witness) return fail(witness.error().message, 2);
    if (!witness->front().cosigner)
      return fail(options->witness_vkey + " is not a cosigner key (type 0x04, cosignature/v1)", 2);
    auto keys = ReadVerifierKeys(options->vkeys);
    if (!keys) return fail(keys.error().message, 2);
    const fs::path dir = options->audit_dir;
    const std::string stream = options->stream.empty() ? KnownJournalStream(dir) : options->stream;
    auto checkpoint = tlog::LatestCheckpoint(dir, stream);
    if (!checkpoint) return fail(checkpoint.error().message, 2);
    // The log's key of the checkpoint's epoch: the one given, handed on by the key rotations.
    auto rotations = tlog::KeyRotationNotes(dir, stream, checkpoint->size);
    if (!rotations) return fail(rotations.error().message, 2);
    std::vector<const note::Verifier*> first;
    for (const auto& key : *keys) first.push_back(&key);
    auto epoch = key_rotation::EpochKeys(first, *rotations, checkpoint->size);
    if (!epoch) return fail(epoch.error().message, 1);
    const fs::path size_file = SizeFile(dir, stream, witness->front());
    uint64_t old_size = 0;
    if (auto kept = ReadSmallFile(size_file.string(), 64, "a tree size"))
      old_size = ParseSize(*kept).value_or(0);
    // A witness has no notion of key rotation: it must have been given the key of this epoch.
    const std::string untrusted_key =
        rotations->empty() ? ""
                           : "\nthe checkpoint is signed by the key of a later epoch than the first, which the witness "
                             "checks only if it was given it: " +
                                 note::VerifierKey(epoch->front().name, epoch->front().key) +
                                 " (keys made ahead, [integrity] upcoming_keys, are listed in the .upcoming.vkey file "
                                 "beside the signing key, to give witnesses before their epochs)";
    auto cosigned =
        AddCheckpoint(dir, stream, *checkpoint, old_size, options->url, options->ca_file, untrusted_key);
    if (!cosigned) return fail(cosigned.error().message, 1);
    // Only what the witness's key verifiably signed is kept, in place of what it signed before.
    const std::string base = WithoutSignaturesOf(checkpoint->note, witness->front().name);
    const std::string lines = VerifiedCosignatures(base, cosigned->lines, witness->front(), *epoch);
    if (lines.empty())
      return fail("the witness's answer holds no cosignature of the checkpoint by " + witness->front().name, 1);
    const std::string note = base + lines;
    Status kept = EnsureAuditDirectory(dir / "witness");
    if (kept) kept = ReplaceFileDurably(size_file, std::to_string(cosigned->size) + "\n");
    if (kept) kept = ReplaceFileDurably(tlog::CosignedCheckpointPath(dir, stream), note);
    if (!kept) return fail(kept.error().message, 2);
    std::cout << "cosigned by " << witness->front().name << ": the checkpoint of " << cosigned->size
              << " records of " << stream << "\n";
    exit_code = 0;
  });
}

}  // namespace mcpaudit::cli

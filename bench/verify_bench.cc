// verify's speed, printed beside its bound in the same run: a journal of
// sample records (about 300 bytes of parameters each) is written through the
// Pipeline, then
//   (a) SHA-256 over every byte of its segments (OpenSSL, one core): what
//       hashing the journal once costs, the floor of any verify;
//   (b) VerifyJournal over the same segments: records/s and its share of (a)'s bytes/s.
// Usage: verify_bench [records] [dir]   (default 500000; a `dir` that holds a
// journal is verified as it is, e.g. one of an older format)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <openssl/evp.h>

#include "audit/journal_format.h"
#include "mcpaudit/pipeline.h"
#include "sample_event.h"
#include "mcpaudit/verifier.h"

namespace {

using namespace mcpaudit;
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

double Seconds(Steady::time_point since) { return std::chrono::duration<double>(Steady::now() - since).count(); }

// Bytes/s of SHA-256 over the files' bytes (read into memory first: hashing only).
double Sha256BytesPerSecond(const std::vector<fs::path>& files, uint64_t& bytes) {
  std::vector<std::string> contents;
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::string& text = contents.emplace_back(fs::file_size(file), '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
  }
  bytes = 0;
  const auto start = Steady::now();
  unsigned char digest[EVP_MAX_MD_SIZE];
  for (const std::string& text : contents) {
    unsigned int size = 0;
    EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
    bytes += text.size();
  }
  return static_cast<double>(bytes) / Seconds(start);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t records = argc > 1 ? std::stoul(argv[1]) : 500000;
  const bool given = argc > 2 && fs::exists(argv[2]);
  const fs::path dir =
      argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path() / ("mcp-audit-verify-bench-" + std::to_string(::getpid()));
  if (!given) {
    PipelineOptions options;
    options.directory = dir;
    options.stream = "bench";
    options.overflow = OverflowPolicy::kBlock;
    options.space_left_bytes = options.admin_space_left_bytes = 0;
    auto pipeline = Pipeline::Open(options);
    if (!pipeline) {
      std::fprintf(stderr, "%s\n", pipeline.error().message.c_str());
      return 1;
    }
    for (size_t i = 0; i < records; ++i) (void)(*pipeline)->Log(bench::SampleEvent(i));
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (journal::IsSegmentFile(entry)) files.push_back(entry.path());

  std::printf("mcp-audit verify benchmark (%u hardware threads)\n\n", std::thread::hardware_concurrency());
  uint64_t bytes = 0;
  const double sha = Sha256BytesPerSecond(files, bytes);
  const auto start = Steady::now();
  auto report = VerifyJournal(dir, nullptr, {});
  const double seconds = Seconds(start);
  if (!report || !report->problems.empty()) {
    std::fprintf(stderr, "verify failed: %s\n",
                 report ? report->problems.front().detail.c_str() : report.error().message.c_str());
    return 1;
  }
  const double per_record = static_cast<double>(bytes) / static_cast<double>(report->records);
  std::printf("%-44s %12s %14s\n", "", "MB/s", "records/s");
  std::printf("%-44s %12.0f %14.0f\n", "SHA-256 of the segments (baseline, 1 core)", sha / 1e6, sha / per_record);
  std::printf("%-44s %12.0f %14.0f\n", "verify", bytes / seconds / 1e6, report->records / seconds);
  std::printf("\nverify / SHA-256: %.0f %%  (%llu records, %llu bytes, %.0f bytes a record, %.2f s)\n",
              100.0 * (bytes / seconds) / sha, static_cast<unsigned long long>(report->records),
              static_cast<unsigned long long>(bytes), per_record, seconds);
  if (argc <= 2) fs::remove_all(dir);
  return 0;
}

// Any bytes as a journal segment, as a hostile operator could leave one: what
// verify, the readers (query, export, tail; by time: the segment's declared
// time bounds) and the anchors make of it.
#include <cstddef>
#include <cstdint>
#include <fstream>

#include "mcpaudit/shipper.h"
#include "fuzz_support.h"
#include "store/journal_reader.h"
#include "mcpaudit/verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mcpaudit;
  const std::filesystem::path dir = fuzz::ScratchDir() / "journal";
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir / "segment-00000000000000000001.jsonl", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto report = VerifyJournal(dir, nullptr);
  if (report) CompareWithAnchors(*report, {{"fuzz", "s", 3, "ab"}});
  (void)ForEachRecord(
      dir, [](const AuditEvent& event) { return !ToJsonLine(event).empty(); }, [](const BadLine&) {});
  (void)CursorsAhead(dir, "s");
  (void)SegmentMayHold(dir / "segment-00000000000000000001.jsonl", {std::chrono::system_clock::now(), std::nullopt});
  return 0;
}

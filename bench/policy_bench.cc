// The policy stage, measured: tool calls/s through a Toolkit into an async
// Pipeline, printed side by side in one run for
//   no policy      nothing redacted, classified, sampled or summarised
//   defaults       the secret-key patterns on (mask), level request
//   typical rules  a HIPAA-like policy: level rules, classification on tool and
//                  resource patterns, HMAC redaction with JSON pointers, a size
//                  limit, sampling of another tool
//   full level     the typical rules with a result summary in every record
// each with 1 and 4 calling threads. The tool itself does nothing, so the
// figures are the cost of auditing a call.
// Usage: policy_bench [scale]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "mcpaudit/pipeline.h"
#include "mcpaudit/toolkit.h"

namespace {

using namespace mcpaudit;
namespace fs = std::filesystem;
using nlohmann::json;

struct Setup {
  const char* name;
  ToolkitOptions options;
};

ToolkitOptions NoPolicy() {
  ToolkitOptions o;
  o.redaction.key_patterns.clear();
  return o;
}

ToolkitOptions Typical(AuditLevel level) {
  ToolkitOptions o;
  o.policy.default_level = AuditLevel::kRequest;
  o.policy.levels = {{{"catalog_list_tags"}, AuditLevel::kMetadata},
                     {{"admin_*"}, AuditLevel::kFull},
                     {{"patient_*"}, level}};
  o.policy.classify = {{.tools = {"patient_*"}, .sensitivity = "restricted", .phi = true},
                       {.resources = {"urn:ehr:patient:*"}, .sensitivity = "restricted", .phi = true}};
  o.policy.sampling = {{{"catalog_search"}, 10}};
  o.redaction.mode = RedactionMode::kHmac;
  o.redaction.hmac_key = std::string(32, 'k');
  o.redaction.pointers = {{json::json_pointer("/patient/ssn"), RedactionMode::kHmac},
                          {json::json_pointer("/note"), RedactionMode::kTruncate}};
  o.redaction.max_value_bytes = 256;
  return o;
}

double CallsPerSecond(const ToolkitOptions& options, int threads, int calls_per_thread) {
  const fs::path dir = fs::temp_directory_path() / ("mcp-audit-policy-bench-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  PipelineOptions pipeline_options;
  pipeline_options.directory = dir;
  pipeline_options.space_left_bytes = pipeline_options.admin_space_left_bytes = 0;
  double per_second = 0;
  {
    auto pipeline = Pipeline::Open(pipeline_options);
    if (!pipeline) {
      std::fprintf(stderr, "policy_bench: %s\n", pipeline.error().message.c_str());
      std::exit(1);
    }
    Toolkit toolkit(**pipeline, options);
    const json schema = {{"type", "object"},
                         {"properties", {{"patient", {{"type", "object"}}}, {"password", {{"type", "string"}}}}}};
    (void)toolkit.Register({.name = "patient_lookup", .input_schema = schema},
                           [](const RequestContext&, const json&) -> Result<ToolResult> {
                             ToolResult result = ToolResult::Text("one patient");
                             result.resources = {"urn:ehr:patient:4711"};
                             return result;
                           });
    const json args = {{"patient", {{"name", "Jane Roe"}, {"ssn", "078-05-1120"}, {"ward", 3}}},
                       {"password", "hunter2"},
                       {"note", std::string(600, 'n')},
                       {"limit", 10}};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> callers;
    for (int t = 0; t < threads; ++t) {
      callers.emplace_back([&] {
        for (int i = 0; i < calls_per_thread; ++i) {
          RequestContext ctx;
          ctx.identity.user_id = "user123";
          ctx.identity.tenant_id = "clinic";
          ctx.access_reason = "treatment";
          (void)toolkit.Call(ctx, "patient_lookup", args);
        }
      });
    }
    for (auto& caller : callers) caller.join();
    if (auto flushed = (*pipeline)->Flush(); !flushed) std::fprintf(stderr, "flush: %s\n", flushed.error().message.c_str());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    per_second = threads * calls_per_thread / seconds;
  }
  fs::remove_all(dir);
  return per_second;
}

}  // namespace

int main(int argc, char** argv) {
  const int scale = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1;
  const int calls = 100000 * scale;
  std::vector<Setup> setups = {{"no policy", NoPolicy()},
                               {"defaults", ToolkitOptions{}},
                               {"typical rules", Typical(AuditLevel::kRequest)},
                               {"full level", Typical(AuditLevel::kFull)}};
  std::printf("policy stage: tool calls/s through a Toolkit into an async Pipeline (%u cores)\n",
              std::thread::hardware_concurrency());
  std::printf("%-16s %14s %14s %10s\n", "policy", "1 thread", "4 threads", "vs none");
  (void)CallsPerSecond(setups[0].options, 1, calls / 10);  // warm-up: page cache, allocator
  double baseline = 0;
  for (const Setup& setup : setups) {
    const double one = CallsPerSecond(setup.options, 1, calls);
    const double four = CallsPerSecond(setup.options, 4, calls / 4);
    if (baseline == 0) baseline = one;
    std::printf("%-16s %14.0f %14.0f %9.0f%%\n", setup.name, one, four, 100.0 * one / baseline);
  }
  return 0;
}

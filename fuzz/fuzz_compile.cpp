// libFuzzer target for the compiler core: parses the input as a .nn file; if it parses
// without errors, lowers it to a graph, verifies the graph, infers shapes and verifies again.
// Any crash, sanitizer report, or a verifier failure on a graph that lowered cleanly is a bug.
#include "frontend/Parser.h"
#include "ir/Lower.h"
#include "ir/Verifier.h"
#include "passes/Pass.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

/// Stops the run with the verifier's message: lowering must only produce valid graphs.
void mustHold(const nnc::Status &s, const char *stage) {
  if (s.ok()) return;
  std::fprintf(stderr, "verify failed after %s: %s\n", stage, s.error().c_str());
  std::abort();
}

} // namespace

/// libFuzzer entry point: one input is one .nn source file.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string source(reinterpret_cast<const char *>(data), size);
  nnc::DiagEngine diags("fuzz.nn", source);
  nnc::Module m = nnc::parse(source, "fuzz.nn", diags);
  (void)diags.render();
  if (diags.hasErrors()) return 0;
  std::optional<nnc::Graph> g = nnc::lowerModule(m, diags);
  (void)diags.render();
  if (!g) return 0;
  mustHold(nnc::verify(*g), "lowering");
  nnc::PassContext ctx;
  ctx.diags = &diags;
  if (nnc::inferShapes(*g, ctx).ok()) mustHold(nnc::verify(*g), "infer-shapes");
  (void)diags.render();
  return 0;
}

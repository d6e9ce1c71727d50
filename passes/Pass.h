// The pass interface: every pass is `Status NAME(Graph &, PassContext &)`, registered in
// Passes.def, which gives `--passes=` and `--print-after=` to the driver.
#pragma once

#include "ir/Graph.h"
#include "passes/KernelPlan.h"

#include <functional>
#include <string>
#include <vector>

namespace nnc {

/// What passes may read besides the graph: diagnostics sink and options.
struct PassContext {
  DiagEngine *diags = nullptr; // shape errors with source locations go here when set
  bool fuse = true;            // fuse: off groups every op alone (--no-fuse)
  std::string fusionReport;    // fuse: what was fused and why pairs were refused
  std::string memoryReport;    // plan-memory: buffers, offsets and peak
  KernelPlan plan;             // plan-memory: kernels, buffers and arena, for codegen
  bool inputGrads = false;     // autodiff: also differentiate Input nodes (gradient checks)
};

using PassFn = Status (*)(Graph &, PassContext &);

/// A registered pass.
struct PassInfo {
  const char *name; // command-line name ("infer-shapes")
  PassFn fn;
  const char *description;
};

#define PASS(ID, NAME, DESC) Status ID(Graph &g, PassContext &ctx);
#include "passes/Passes.def"

/// Every registered pass in pipeline order.
const std::vector<PassInfo> &allPasses();
/// Looks up a pass by command-line name.
const PassInfo *findPass(const std::string &name);

/// Runs `names` in order; after each, calls `after(name, graph)` (for --print-after).
Status runPasses(Graph &g, PassContext &ctx, const std::vector<std::string> &names,
                 const std::function<void(const std::string &, const Graph &)> &after = {});

} // namespace nnc

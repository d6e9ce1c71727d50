// The standard pipelines: source -> analysed model graph, model graph -> training graph, and
// training graph -> kernels with a memory plan. Each pass list is spelled here only.
#pragma once

#include "passes/Pass.h"

#include <optional>
#include <string>

namespace nnc {

/// Parses and lowers `source`, then runs the analysis passes (infer-shapes, count-params,
/// count-flops, activation-memory, receptive-field). Errors go to `diags`.
std::optional<Graph> compileSource(const std::string &source, const std::string &file,
                                   DiagEngine &diags);

/// The analysis passes run by compileSource, in order.
const std::vector<std::string> &analysisPasses();

/// The passes that turn an analysed model graph into a training graph, in order
/// ("decompose", "autodiff"); the backend passes follow for the JIT.
const std::vector<std::string> &trainingPasses();

/// The passes that turn a training graph into kernels placed in one arena, in order ("fuse",
/// "plan-memory"): the JIT, `nnc dump --emit=fused|memory|llvm` and `nnc explore` run these.
const std::vector<std::string> &backendPasses();

} // namespace nnc

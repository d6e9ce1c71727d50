// The standard pipelines: source -> analysed model graph, and model graph -> training graph.
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
/// ("decompose", "autodiff"); fusion and memory planning follow for the JIT.
const std::vector<std::string> &trainingPasses();

} // namespace nnc

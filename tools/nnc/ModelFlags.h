// What nnc train, predict and evaluate share: flags read as text and range-checked with the
// flag's name in the message, the model compiled with its diagnostics printed, and weights
// (a checkpoint directory, a checkpoint file or plain safetensors) loaded for its training graph.
#pragma once

#include "frontend/Diagnostics.h"
#include "ir/Graph.h"
#include "runtime/Tensor.h"

#include <llvm/Support/CommandLine.h>

#include <cstdint>
#include <optional>
#include <string>

namespace nnc::driver {

/// Prints "nnc: error: MSG" and returns 1; an empty MSG stands for diagnostics already printed.
int fail(const std::string &msg);

/// The whole of `text` as a number (inf and nan included), or nullopt.
std::optional<double> toNumber(const std::string &text);
/// The whole of `text` as a 64-bit integer, or nullopt.
std::optional<int64_t> toInteger(const std::string &text);
/// "--FLAG: expected WHAT, found 'TEXT'".
Error badFlag(const llvm::cl::opt<std::string> &flag, const std::string &what);
/// Reads integer flag `flag` into `out` if it was given; it must lie in [lo, hi].
Status readInteger(const llvm::cl::opt<std::string> &flag, int64_t lo, int64_t hi,
                   std::optional<int64_t> &out);
/// "--FLAG: " and the problem of the path it gives, if it gives one.
Status checkPathFlag(const llvm::cl::opt<std::string> &flag, Status (*check)(const std::string &));

/// Reads and compiles FILE, printing diagnostics; returns the analysed graph.
std::optional<Graph> loadModel(const std::string &file, std::string &source);

/// Runs decompose and autodiff on `g` (with its train settings already chosen). Diagnostics
/// with a source location are printed here and come back as an empty error (see fail()).
Status toTrainingGraph(Graph &g, const std::string &file, const std::string &source);

/// Weights for a model's training graph, and the dataset its checkpoint was trained on.
struct LoadedWeights {
  TensorMapD tensors;
  std::string data; // "" for plain weights
};

/// The weights at `where` for `g`, which becomes its training graph: a checkpoint's optimizer
/// decides the state tensors, and all its tensors are checked; plain weights must hold the
/// parameters. Notes (a dangling `latest`) are printed on standard error.
Result<LoadedWeights> loadWeights(Graph &g, const std::string &where, const std::string &file,
                                  const std::string &source);

} // namespace nnc::driver

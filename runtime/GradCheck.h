// Gradient checking: central finite differences in double against the autodiff gradients
// run by the reference interpreter, for every parameter and every input of a model.
#pragma once

#include "ir/Graph.h"

#include <cstdint>
#include <string>
#include <vector>

namespace nnc {

/// How to check.
struct GradCheckOptions {
  int64_t batch = 2;
  uint64_t seed = 0;
  double eps = 1e-6;    // finite-difference step
  double absTol = 1e-5; // pass when |a - n| <= absTol + relTol * |n|
  double relTol = 1e-3;
  int64_t maxCoords = 0; // coordinates compared per tensor (0: all); sampled with the seed
};

/// One tensor's result: its worst coordinate by |a - n| / (absTol + relTol |n|).
struct GradCheckRow {
  std::string tensor;
  int64_t checked = 0; // coordinates compared
  int64_t skipped = 0; // coordinates whose +-eps step crossed a relu/maxpool/clip kink
  int64_t worst = -1;  // flat index of the worst coordinate
  double analytic = 0, numeric = 0;
  double relError = 0; // |a - n| / max(|a|, |n|) at the worst coordinate
  bool ok = true;      // within tolerance, and at least one coordinate compared
};

/// All rows of one check.
struct GradCheckReport {
  std::vector<GradCheckRow> rows;
  /// True when every row passed.
  bool ok() const;
  /// One line per tensor: name, checked, skipped, max relative error, values, status.
  std::string table() const;
};

/// Checks `model` (an analysed model graph with a loss, before decompose) at random inputs
/// in [0, 1) and Keras-initialized parameters (biases drawn in [-0.1, 0.1)). A loss target
/// that is a model input is held constant: it becomes a copy of that input.
Result<GradCheckReport> gradCheck(const Graph &model, const GradCheckOptions &opt);

} // namespace nnc

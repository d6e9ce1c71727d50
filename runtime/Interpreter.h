// The reference interpreter: executes any graph (forward, loss, backward, optimizer update)
// op by op in double precision with plain loops. It is the oracle the JIT and every numeric
// test are compared against. Parameters and optimizer state live inside the interpreter as
// doubles; Update nodes rewrite them in place.
#pragma once

#include "runtime/Backend.h"

#include <cstdint>
#include <vector>

namespace nnc {

/// Reference backend (--backend=interp).
class Interpreter : public Backend {
public:
  /// Takes a model or training graph; parameters and optimizer state start at zero.
  explicit Interpreter(Graph g);

  Status setTensors(const TensorMap &t) override;
  TensorMap tensors() const override;
  Result<double> evaluate(const TensorMap &inputs, int64_t n, TensorMap *outputs) override;
  Result<double> gradients(const TensorMap &inputs, int64_t n, TensorMap &grads) override;
  Result<double> trainStep(const TensorMap &inputs, int64_t n) override;
  void setCheckNumerics(bool on) override { checkNumerics_ = on; }

  /// Sets parameters and optimizer state from double tensors (no rounding to float).
  Status setTensorsD(const TensorMapD &t);
  /// Current parameters and optimizer state as doubles.
  TensorMapD tensorsD() const;
  /// Forward pass and loss in double; fills `outputs` when given. Returns 0 without a loss.
  Result<double> evaluateD(const TensorMapD &inputs, int64_t n, TensorMapD *outputs = nullptr);
  /// Loss and every gradient in Graph::grads (parameters, and inputs when differentiated),
  /// named like the differentiated value.
  Result<double> gradientsD(const TensorMapD &inputs, int64_t n, TensorMapD &grads);
  /// Forward, backward and optimizer update in double. Returns the loss before the update.
  Result<double> trainStepD(const TensorMapD &inputs, int64_t n);
  /// The value of node `v` after the last run. Values are released after their last use in
  /// the graph, except leaves, outputs, the loss and gradients (those stay until the next run).
  const TensorD &value(ValueId v) const { return vals_[size_t(v)]; }
  /// A hash of every non-smooth decision of the last forward pass (relu signs, maxpool
  /// argmaxes, crossentropy clipping); equal hashes mean the same piecewise-smooth branch.
  uint64_t kinkSignature() const { return kinks_; }
  const Graph &graph() const { return g_; }

private:
  Graph g_;
  std::vector<TensorD> vals_;
  std::vector<size_t> lastUse_; // index of the last node reading each value
  std::vector<bool> pinned_;    // never released: leaves, outputs, loss, gradients
  int64_t n_ = 0;
  bool checkNumerics_ = false;
  uint64_t kinks_ = 0;

  Status bindInputs(const TensorMapD &inputs, int64_t n);
  Status runRole(Role role);
  Status runNode(ValueId v);
  Status runUpdates();
  double lossValue() const;
};

} // namespace nnc

// The execution interface shared by the reference interpreter (--backend=interp) and the JIT
// (--backend=jit): bind weights, run a batch forward, compute gradients, take a training step.
#pragma once

#include "frontend/Diagnostics.h"
#include "ir/Graph.h"
#include "runtime/Tensor.h"

#include <memory>
#include <string>

namespace nnc {

/// Executes one training graph (the output of the autodiff pass) on host memory.
class Backend {
public:
  virtual ~Backend() = default;
  /// Sets parameters and optimizer state by node name; unknown names or wrong shapes are errors.
  virtual Status setTensors(const TensorMap &t) = 0;
  /// Current parameters and optimizer state by node name (Keras layouts).
  virtual TensorMap tensors() const = 0;
  /// Forward pass and loss on a batch of n examples (inputs by Input node name, leading dim n).
  /// Fills `outputs` (by output node name) when given. Returns the mean loss.
  virtual Result<double> evaluate(const TensorMap &inputs, int64_t n, TensorMap *outputs) = 0;
  /// Loss and gradients of the loss with respect to every parameter (named like the parameter).
  virtual Result<double> gradients(const TensorMap &inputs, int64_t n, TensorMap &grads) = 0;
  /// One training step: forward, backward, optimizer update. Returns the loss before the update.
  virtual Result<double> trainStep(const TensorMap &inputs, int64_t n) = 0;
  /// When on, every step checks each op's result and fails naming the first op (and its .nn
  /// line) that produced a NaN or infinity.
  virtual void setCheckNumerics(bool on) = 0;
};

} // namespace nnc

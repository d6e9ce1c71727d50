// The execution interface shared by the reference interpreter (--backend=interp) and the JIT
// (--backend=jit): bind weights, run a batch forward, compute gradients, take a training step.
#pragma once

#include "ir/Graph.h"
#include "runtime/Tensor.h"
#include "support/Result.h"

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

/// Checks one parameter/state tensor against the graph: the name exists and the shape matches.
Status checkStateTensor(const Graph &g, const std::string &name, const std::vector<int64_t> &shape,
                        size_t dataSize);
/// Checks one bound input (`shape` null when missing) for a batch of n examples.
Status checkInputTensor(const Node &in, const std::vector<int64_t> *shape, size_t dataSize,
                        int64_t n);

/// Checks every tensor given to Backend::setTensors.
template <typename T>
Status checkStateTensors(const Graph &g, const std::map<std::string, TensorOf<T>> &t) {
  for (const auto &[name, tensor] : t)
    if (Status s = checkStateTensor(g, name, tensor.shape, tensor.data.size()); !s) return s;
  return okStatus();
}

/// Checks that `inputs` binds every input of `g` for a batch of n examples.
template <typename T>
Status checkInputs(const Graph &g, const std::map<std::string, TensorOf<T>> &inputs, int64_t n) {
  if (n <= 0) return Error{"batch size must be positive, got " + std::to_string(n)};
  for (ValueId x : g.inputs) {
    auto it = inputs.find(g[x].name);
    bool found = it != inputs.end();
    if (Status s = checkInputTensor(g[x], found ? &it->second.shape : nullptr,
                                    found ? it->second.data.size() : 0, n);
        !s)
      return s;
  }
  return okStatus();
}

} // namespace nnc

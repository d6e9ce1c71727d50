// Host tensors: a shape and contiguous row-major data. Float tensors hold weights, inputs
// and optimizer state; the reference interpreter computes in double.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace nnc {

/// A dense row-major tensor of T; the shape includes the batch dimension when there is one.
template <typename T> struct TensorOf {
  std::vector<int64_t> shape;
  std::vector<T> data;

  /// Product of the shape (1 for a scalar).
  int64_t elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

using Tensor = TensorOf<float>;
using TensorD = TensorOf<double>;
/// Named tensors (weights, inputs, gradients), ordered by name.
using TensorMap = std::map<std::string, Tensor>;
using TensorMapD = std::map<std::string, TensorD>;

} // namespace nnc

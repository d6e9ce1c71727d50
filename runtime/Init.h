// Initial parameter values with Keras defaults: glorot_uniform kernels (limit
// sqrt(6 / (fan_in + fan_out))), zeros for biases and optimizer state, ones where asked.
// Random numbers come from splitmix64 with explicit integer-to-float conversion, so a seed
// gives the same bytes on every platform.
#pragma once

#include "ir/Graph.h"
#include "runtime/Tensor.h"

#include <cstdint>

namespace nnc {

/// Deterministic 64-bit generator (splitmix64).
class SplitMix64 {
public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  /// Next 64 random bits.
  uint64_t next();
  /// Uniform float in [0, 1) with 24 random bits (exact in float).
  float uniform() { return float(next() >> 40) * 0x1p-24f; }
  /// Uniform double in [0, 1) with 53 random bits.
  double uniformD() { return double(next() >> 11) * 0x1p-53; }

private:
  uint64_t state_;
};

/// Initial values of every Param and State node of `g`. Each tensor draws from its own
/// generator seeded by `seed` and the tensor's name, so adding a layer does not change the
/// values of the others.
TensorMap initialTensors(const Graph &g, uint64_t seed);

} // namespace nnc

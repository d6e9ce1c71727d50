// Keras-default initialization with a portable generator: glorot_uniform draws
// limit * (2u - 1) with u a 24-bit uniform float, the product rounded to float once.
#include "runtime/Init.h"

#include <cmath>

namespace nnc {

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

namespace {
// FNV-1a of a name, to give each tensor its own stream.
uint64_t hashName(const std::string &s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

// Keras compute_fans from the kernel shape, used when the lowering left the fans unset:
// fan_in + fan_out = (shape[-2] + shape[-1]) * receptive field size.
int64_t kerasFans(const std::vector<int64_t> &shape) {
  if (shape.size() < 2) return shape.empty() ? 2 : 2 * shape[0];
  int64_t rf = 1;
  for (size_t i = 0; i + 2 < shape.size(); ++i) rf *= shape[i];
  return (shape[shape.size() - 2] + shape.back()) * rf;
}
} // namespace

TensorMap initialTensors(const Graph &g, uint64_t seed) {
  TensorMap out;
  for (const Node &n : g.nodes) {
    if (n.op != OpKind::Param && n.op != OpKind::State) continue;
    Tensor t;
    t.shape = n.type.dims;
    t.data.assign(size_t(n.type.elements()), 0.0f);
    if (n.op == OpKind::Param && n.attrs.init == Init::Ones) t.data.assign(t.data.size(), 1.0f);
    if (n.op == OpKind::Param && n.attrs.init == Init::GlorotUniform) {
      SplitMix64 rng(seed ^ hashName(n.name));
      int64_t fans = n.attrs.fanIn + n.attrs.fanOut;
      if (fans <= 0) fans = kerasFans(t.shape);
      double limit = std::sqrt(6.0 / double(fans));
      for (float &v : t.data) v = float(limit * (2.0 * double(rng.uniform()) - 1.0));
    }
    out[n.name] = std::move(t);
  }
  return out;
}

} // namespace nnc

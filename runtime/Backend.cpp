// Checks shared by every backend when tensors are bound: names, shapes and sizes, with
// messages that name the tensor and print both shapes.
#include "runtime/Backend.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace nnc {

namespace {
std::string shapeStr(const std::vector<int64_t> &s) {
  return fmt::format("[{}]", fmt::join(s, ","));
}
int64_t product(const std::vector<int64_t> &s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}
} // namespace

Status checkStateTensor(const Graph &g, const std::string &name, const std::vector<int64_t> &shape,
                        size_t dataSize) {
  ValueId v = g.find(name);
  if (v == kNoValue || (g[v].op != OpKind::Param && g[v].op != OpKind::State))
    return Error{
        fmt::format("'{}' is not a parameter or optimizer state of model '{}'", name, g.name)};
  if (shape != g[v].type.dims || dataSize != size_t(product(shape)))
    return Error{fmt::format("tensor '{}' has shape {}, the model expects {}", name,
                             shapeStr(shape), shapeStr(g[v].type.dims))};
  return okStatus();
}

Status checkInputTensor(const Node &in, const std::vector<int64_t> *shape, size_t dataSize,
                        int64_t n) {
  if (!shape) return Error{fmt::format("missing input '{}'", in.name)};
  std::vector<int64_t> want = in.type.dims;
  if (in.type.batched) want.insert(want.begin(), n);
  if (*shape != want || dataSize != size_t(product(*shape)))
    return Error{fmt::format("input '{}' has shape {}, expected {}", in.name, shapeStr(*shape),
                             shapeStr(want))};
  return okStatus();
}

} // namespace nnc

// count-flops: multiply-accumulates per example of each forward op.
//   dense: outputs x inputs-per-output (k); conv2d: outputs x kh*kw*C;
//   conv2d_transpose: each input element scatters into kh*kw*F outputs.
// Pooling, upsampling and elementwise ops do no multiply-accumulates (0).
#include "passes/Pass.h"

namespace nnc {

Status countFlops(Graph &g, PassContext &) {
  for (Node &n : g.nodes) {
    n.stats.macs = 0;
    const Attrs &a = n.attrs;
    if (n.op == OpKind::Dense)
      n.stats.macs = n.type.elements() * g[n.inputs[0]].type.dims.back();
    else if (n.op == OpKind::Conv2D)
      n.stats.macs = n.type.elements() * a.kh * a.kw * g[n.inputs[0]].type.dims[2];
    else if (n.op == OpKind::Conv2DTranspose)
      n.stats.macs = g[n.inputs[0]].type.elements() * a.kh * a.kw * n.type.dims[2];
  }
  return okStatus();
}

} // namespace nnc

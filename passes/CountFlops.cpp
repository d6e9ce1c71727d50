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
    switch (n.op) {
    case OpKind::Dense:
      n.stats.macs = n.type.elements() * g[n.inputs[0]].type.dims.back();
      break;
    case OpKind::Conv2D:
      n.stats.macs = n.type.elements() * a.kh * a.kw * g[n.inputs[0]].type.dims[2];
      break;
    case OpKind::Conv2DTranspose:
      n.stats.macs = g[n.inputs[0]].type.elements() * a.kh * a.kw * n.type.dims[2];
      break;
    case OpKind::MaxPool2D:
    case OpKind::AvgPool2D:
    case OpKind::Upsample2D:
    case OpKind::Flatten:
    case OpKind::Reshape:
    case OpKind::Squeeze:
    case OpKind::Relu:
    case OpKind::Sigmoid:
    case OpKind::Tanh:
    case OpKind::Softmax:
    case OpKind::Add:
    case OpKind::Concat:
#define LEAF_OP(ID, ...) case OpKind::ID:
#define LOSS_OP(ID, ...) case OpKind::ID:
#define GRAD_OP(ID, ...) case OpKind::ID:
#define UPDATE_OP(ID, ...) case OpKind::ID:
#include "ir/Ops.def"
      break;
    }
  }
  return okStatus();
}

} // namespace nnc

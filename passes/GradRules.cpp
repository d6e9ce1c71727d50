// The gradient rule table: one entry per differentiable op. Each rule states the chain rule
// for its op as the gradient ops of Ops.def (operand order as in ir/ShapeRules.h). A loss is
// the root of the backward graph: its upstream gradient is 1, so its rule emits
// d loss / d pred directly. Loss targets are constants: their gradient is not defined.
#include "passes/GradRules.h"

#include <fmt/format.h>

namespace nnc {
namespace {

// Forward attributes for a gradient op (windows, strides, padding), without the activation.
Attrs gradAttrs(const Node &n) {
  Attrs a = n.attrs;
  a.activation.reset();
  return a;
}

// Attributes with `shape` set to the per-example dims of operand `i` of the forward node.
Attrs shapedAs(const GradContext &c, size_t i) {
  Attrs a = gradAttrs(c.g[c.self]);
  a.shape = c.g[c.g[c.self].inputs[i]].type.dims;
  return a;
}

ValueId operand(const GradContext &c, size_t i) {
  return c.g[c.self].inputs[i];
}

// Emits `op(inputs)` as the gradient of operand `i` when it is wanted.
Status emitIf(GradContext &c, size_t i, OpKind op, std::vector<ValueId> inputs, Attrs a) {
  if (i >= c.wanted.size() || !c.wanted[i]) return okStatus();
  Result<ValueId> r = c.emit(i, op, std::move(inputs), std::move(a));
  if (!r) return Error{r.error()};
  return okStatus();
}

// dense(x, w[, b]): dx = dy w^T, dw = sum over rows of x^T dy, db = sum of dy.
Status denseRule(GradContext &c) {
  Attrs a = gradAttrs(c.g[c.self]);
  if (auto s = emitIf(c, 0, OpKind::DenseGradInput, {c.dy, operand(c, 1)}, a); !s) return s;
  if (auto s = emitIf(c, 1, OpKind::DenseGradKernel, {operand(c, 0), c.dy}, a); !s) return s;
  return emitIf(c, 2, OpKind::BiasGrad, {c.dy}, a);
}

// conv2d and conv2d_transpose: the input gradient is the adjoint convolution, the kernel
// gradient correlates the input with dy, the bias gradient sums dy.
Status convRule(GradContext &c) {
  bool tr = c.g[c.self].op == OpKind::Conv2DTranspose;
  OpKind in = tr ? OpKind::Conv2DTransposeGradInput : OpKind::Conv2DGradInput;
  OpKind k = tr ? OpKind::Conv2DTransposeGradKernel : OpKind::Conv2DGradKernel;
  if (auto s = emitIf(c, 0, in, {c.dy, operand(c, 1)}, shapedAs(c, 0)); !s) return s;
  if (auto s = emitIf(c, 1, k, {operand(c, 0), c.dy}, gradAttrs(c.g[c.self])); !s) return s;
  return emitIf(c, 2, OpKind::BiasGrad, {c.dy}, gradAttrs(c.g[c.self]));
}

// maxpool2d: dy goes to the first maximum of each window (row-major order).
Status maxPoolRule(GradContext &c) {
  return emitIf(c, 0, OpKind::MaxPool2DGrad, {operand(c, 0), c.dy}, gradAttrs(c.g[c.self]));
}

// avgpool2d: dy is spread evenly over the window's non-padding cells.
Status avgPoolRule(GradContext &c) {
  return emitIf(c, 0, OpKind::AvgPool2DGrad, {c.dy}, shapedAs(c, 0));
}

// zero_padding2d and cropping2d undo each other: dx of a padding is dy cropped by the same
// margins, dx of a cropping is dy padded with zeros.
Status marginRule(GradContext &c) {
  const Node &n = c.g[c.self];
  OpKind op = n.op == OpKind::ZeroPadding2D ? OpKind::Cropping2D : OpKind::ZeroPadding2D;
  return emitIf(c, 0, op, {c.dy}, gradAttrs(n));
}

// global_avgpool2d: every cell of a channel receives dy / (h w).
Status globalAvgPoolRule(GradContext &c) {
  return emitIf(c, 0, OpKind::GlobalAvgPool2DGrad, {c.dy}, shapedAs(c, 0));
}

// upsample2d: each input cell collects dy of the outputs it contributed to (with weights).
Status upsampleRule(GradContext &c) {
  return emitIf(c, 0, OpKind::Upsample2DGrad, {c.dy}, gradAttrs(c.g[c.self]));
}

// flatten, reshape, squeeze: only the shape changes, so dx is dy reshaped back.
Status reshapeRule(GradContext &c) {
  Attrs a;
  a.shape = c.g[operand(c, 0)].type.dims;
  return emitIf(c, 0, OpKind::Reshape, {c.dy}, a);
}

// relu: dx = dy where x > 0.
Status reluRule(GradContext &c) {
  return emitIf(c, 0, OpKind::ReluGrad, {operand(c, 0), c.dy}, {});
}

// leaky_relu: dx = dy where x > 0, alpha dy elsewhere; elu: dx = dy where x > 0,
// alpha exp(x) dy elsewhere. Both read x and keep alpha.
Status slopeRule(GradContext &c) {
  const Node &n = c.g[c.self];
  OpKind op = n.op == OpKind::LeakyRelu ? OpKind::LeakyReluGrad : OpKind::EluGrad;
  return emitIf(c, 0, op, {operand(c, 0), c.dy}, gradAttrs(n));
}

// sigmoid, tanh, softmax: expressed through the forward output y.
Status outputBasedRule(GradContext &c) {
  OpKind op = OpKind::SigmoidGrad;
  if (c.g[c.self].op == OpKind::Tanh) op = OpKind::TanhGrad;
  if (c.g[c.self].op == OpKind::Softmax) op = OpKind::SoftmaxGrad;
  return emitIf(c, 0, op, {c.self, c.dy}, {});
}

// add: dy flows unchanged to both operands (accumulated when an operand is used twice).
Status addRule(GradContext &c) {
  for (size_t i = 0; i < 2; ++i)
    if (c.wanted[i]) c.give(i, c.dy);
  return okStatus();
}

// concat: each operand receives its slice of dy along the axis.
Status concatRule(GradContext &c) {
  Attrs a = shapedAs(c, 0), b = shapedAs(c, 1);
  a.offset = 0;
  b.offset = a.shape[size_t(a.axis)];
  if (auto s = emitIf(c, 0, OpKind::Slice, {c.dy}, a); !s) return s;
  return emitIf(c, 1, OpKind::Slice, {c.dy}, b);
}

// The gradient op of a loss (d loss / d pred), or nothing for an op that is not a loss.
std::optional<OpKind> lossGradOp(OpKind loss) {
  switch (loss) {
  case OpKind::BinaryCrossentropy:
    return OpKind::BinaryCrossentropyGrad;
  case OpKind::BinaryCrossentropyLogits:
    return OpKind::BinaryCrossentropyLogitsGrad;
  case OpKind::MSE:
    return OpKind::MSEGrad;
  case OpKind::CategoricalCrossentropy:
    return OpKind::CategoricalCrossentropyGrad;
  case OpKind::CategoricalCrossentropyLogits:
    return OpKind::CategoricalCrossentropyLogitsGrad;
#define LEAF_OP(ID, ...) case OpKind::ID:
#define FORWARD_OP(ID, ...) case OpKind::ID:
#define GRAD_OP(ID, ...) case OpKind::ID:
#define UPDATE_OP(ID, ...) case OpKind::ID:
#include "ir/Ops.def"
    return std::nullopt;
  }
  return std::nullopt;
}

// Losses: d loss / d pred from (pred, target).
Status lossRule(GradContext &c) {
  const Node &n = c.g[c.self];
  if (c.wanted.size() > 1 && c.wanted[1])
    return Error{fmt::format("the loss target '{}' depends on a parameter or a differentiated "
                             "input; nnc does not differentiate loss targets",
                             c.g[n.inputs[1]].name)};
  std::optional<OpKind> op = lossGradOp(n.op);
  if (!op) return Error{fmt::format("'{}' is not a loss", opName(n.op))};
  return emitIf(c, 0, *op, {n.inputs[0], n.inputs[1]}, {});
}

struct RuleRow {
  OpKind op;
  GradRule rule;
};

constexpr RuleRow kRules[] = {
    {OpKind::Dense, denseRule},
    {OpKind::Conv2D, convRule},
    {OpKind::Conv2DTranspose, convRule},
    {OpKind::MaxPool2D, maxPoolRule},
    {OpKind::AvgPool2D, avgPoolRule},
    {OpKind::GlobalAvgPool2D, globalAvgPoolRule},
    {OpKind::ZeroPadding2D, marginRule},
    {OpKind::Cropping2D, marginRule},
    {OpKind::Upsample2D, upsampleRule},
    {OpKind::Flatten, reshapeRule},
    {OpKind::Reshape, reshapeRule},
    {OpKind::Squeeze, reshapeRule},
    {OpKind::Relu, reluRule},
    {OpKind::LeakyRelu, slopeRule},
    {OpKind::Elu, slopeRule},
    {OpKind::Sigmoid, outputBasedRule},
    {OpKind::Tanh, outputBasedRule},
    {OpKind::Softmax, outputBasedRule},
    {OpKind::Add, addRule},
    {OpKind::Concat, concatRule},
    {OpKind::BinaryCrossentropy, lossRule},
    {OpKind::BinaryCrossentropyLogits, lossRule},
    {OpKind::MSE, lossRule},
    {OpKind::CategoricalCrossentropy, lossRule},
    {OpKind::CategoricalCrossentropyLogits, lossRule},
};

} // namespace

GradRule gradRule(OpKind op) {
  for (const RuleRow &r : kRules)
    if (r.op == op) return r.rule;
  return nullptr;
}

int gradRuleCount(OpKind op) {
  int n = 0;
  for (const RuleRow &r : kRules) n += r.op == op ? 1 : 0;
  return n;
}

} // namespace nnc

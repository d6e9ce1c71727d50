// Shape rules: the output type of every op from its operands' types and attributes, with
// Keras formulas. A failed rule explains the arithmetic and, where one exists, a fix.
//
// Operand conventions (x: data, w: kernel, b: bias, dy: upstream gradient, y: forward output):
//   dense(x, w[, b])  conv2d(x, w[, b])  conv2d_transpose(x, w[, b])    w in Keras layout
//   maxpool2d/avgpool2d/upsample2d/flatten/reshape/squeeze/relu/sigmoid/tanh/softmax(x)
//   add(a, b)  concat(a, b)  <loss>(pred, target) -> f32[]  <loss>_grad(pred, target) -> pred
//   dense_grad_input(dy, w)  dense_grad_kernel(x, dy)  bias_grad(dy)
//   conv2d[_transpose]_grad_input(dy, w) -> attrs.shape   conv2d[_transpose]_grad_kernel(x, dy)
//   maxpool2d_grad(x, dy)  avgpool2d_grad(dy) -> attrs.shape  upsample2d_grad(dy)
//   relu_grad(x, dy)  sigmoid_grad(y, dy)  tanh_grad(y, dy)  softmax_grad(y, dy)
//   slice(x) -> attrs.shape (offset attrs.offset along attrs.axis)
//   reshape(x) with a fully specified attrs.shape also serves gradients of flatten/squeeze
//   *_update(param, grad, state...) -> param's type (updates the param and states in place)
#pragma once

#include "ir/Graph.h"

#include <optional>
#include <string>
#include <vector>

namespace nnc {

/// The outcome of a shape rule: a type, or an error with notes (arithmetic, hints).
struct TypeResult {
  std::optional<TensorType> type;
  std::string error;
  std::vector<std::string> notes;
};

/// Applies the op's shape rule to `n` in `g` (operand types are read from `g`).
TypeResult inferType(const Graph &g, const Node &n);

/// Keras conv_output_length: output size of a convolution or pooling window along one axis.
int64_t convOutputLength(int64_t in, int64_t kernel, Padding p, int64_t stride, int64_t dilation);
/// Keras deconv_output_length (output_padding unset).
int64_t deconvOutputLength(int64_t in, int64_t kernel, Padding p, int64_t stride);
/// The arithmetic of convOutputLength in the lecture's terms: "ceil(28 / 1) = 28" (same),
/// "(28 - 3) / 1 + 1 = 26" (valid), "floor((28 - 3) / 2) + 1 = 13" (valid, stride > 1).
std::string explainConvLength(int64_t in, int64_t kernel, Padding p, int64_t stride,
                              int64_t dilation);
/// The arithmetic of deconvOutputLength: "3 x 1 = 3" (same), "(12 - 1) x 1 + 3 = 14" (valid).
std::string explainDeconvLength(int64_t in, int64_t kernel, Padding p, int64_t stride);
/// Padding before the first element along one axis for SAME (TF convention: the extra pad goes at
/// the end).
int64_t samePadBefore(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t dilation);

} // namespace nnc

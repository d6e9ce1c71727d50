// Shape rules for every op in Ops.def. Sizes are checked for overflow (kMaxElements) and
// window ops show the Keras arithmetic that failed, e.g. "height: (3 - 5) / 1 + 1 = -1".
#include "ir/ShapeRules.h"

#include <fmt/format.h>

namespace nnc {

int64_t convOutputLength(int64_t in, int64_t kernel, Padding p, int64_t stride, int64_t dilation) {
  int64_t dilated = (kernel - 1) * dilation + 1;
  if (p == Padding::Same) return (in + stride - 1) / stride;
  int64_t span = in - dilated;
  if (span < 0) return span / stride + 1 - (span % stride != 0 ? 1 : 0); // floor division
  return span / stride + 1;
}

int64_t deconvOutputLength(int64_t in, int64_t kernel, Padding p, int64_t stride) {
  if (p == Padding::Same) return in * stride;
  return in * stride + std::max<int64_t>(kernel - stride, 0);
}

std::string explainConvLength(int64_t in, int64_t kernel, Padding p, int64_t stride,
                              int64_t dilation) {
  int64_t out = convOutputLength(in, kernel, p, stride, dilation);
  if (p == Padding::Same) return fmt::format("ceil({} / {}) = {}", in, stride, out);
  int64_t dilated = (kernel - 1) * dilation + 1;
  if (stride == 1) return fmt::format("({} - {}) / 1 + 1 = {}", in, dilated, out);
  return fmt::format("floor(({} - {}) / {}) + 1 = {}", in, dilated, stride, out);
}

std::string explainDeconvLength(int64_t in, int64_t kernel, Padding p, int64_t stride) {
  int64_t out = deconvOutputLength(in, kernel, p, stride);
  if (p == Padding::Same) return fmt::format("{} x {} = {}", in, stride, out);
  if (kernel >= stride) return fmt::format("({} - 1) x {} + {} = {}", in, stride, kernel, out);
  return fmt::format("{} x {} = {}", in, stride, out);
}

int64_t samePadBefore(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t dilation) {
  int64_t total = std::max<int64_t>((out - 1) * stride + (kernel - 1) * dilation + 1 - in, 0);
  return total / 2;
}

namespace {

struct Rule {
  const Graph &g;
  const Node &n;
  TypeResult r;

  const TensorType &in(size_t i) const { return g[n.inputs[i]].type; }
  const std::string &inName(size_t i) const { return g[n.inputs[i]].name; }

  TypeResult fail(std::string msg, std::vector<std::string> notes = {}) {
    r.error = std::move(msg);
    r.notes = std::move(notes);
    return r;
  }
  TypeResult ok(TensorType t) {
    int64_t total = 1;
    for (int64_t d : t.dims) {
      if (d <= 0)
        return fail(
            fmt::format("{}: computed a non-positive dimension in {}", opName(n.op), t.str()));
      if (__builtin_mul_overflow(total, d, &total) || total > kMaxElements)
        return fail(fmt::format("{}: the result {} has more than 2^40 elements per example",
                                opName(n.op), t.str()));
    }
    r.type = std::move(t);
    return r;
  }
  bool arity(size_t lo, size_t hi, TypeResult &out) {
    if (n.inputs.size() >= lo && n.inputs.size() <= hi) return true;
    out = fail(fmt::format("{} takes {} operand{}, got {}", opName(n.op),
                           lo == hi ? fmt::format("{}", lo) : fmt::format("{} to {}", lo, hi),
                           hi == 1 ? "" : "s", n.inputs.size()));
    return false;
  }
  bool image(size_t i, TypeResult &out) {
    const TensorType &t = in(i);
    if (t.batched && t.dims.size() == 3) return true;
    out = fail(fmt::format("{} expects an image batch [N, height, width, channels] (rank 4), "
                           "but '{}' is {} (rank {})",
                           opName(n.op), inName(i), t.str(), t.rank()));
    return false;
  }
  bool same(size_t a, size_t b, TypeResult &out) {
    if (in(a) == in(b)) return true;
    out = fail(fmt::format("{}: operands must have the same shape: '{}' is {}, '{}' is {}",
                           opName(n.op), inName(a), in(a).str(), inName(b), in(b).str()));
    return false;
  }

  // Spatial output size along one axis, with the failing arithmetic explained.
  bool window(const char *axis, int64_t size, int64_t k, int64_t s, int64_t d, int64_t &out,
              std::vector<std::string> &notes) {
    const Attrs &a = n.attrs;
    if (k <= 0 || s <= 0 || d <= 0) {
      notes.push_back(
          fmt::format("{}: kernel {}, stride {}, dilation {} must all be positive", axis, k, s, d));
      return false;
    }
    out = convOutputLength(size, k, a.padding, s, d);
    if (out >= 1) return true;
    int64_t dk = (k - 1) * d + 1;
    if (d != 1)
      notes.push_back(fmt::format("{}: dilated kernel ({} - 1) * {} + 1 = {}", axis, k, d, dk));
    notes.push_back(fmt::format("{}: {}", axis, explainConvLength(size, k, a.padding, s, d)));
    return false;
  }

  std::string sameHint(const TensorType &x) const {
    const Attrs &a = n.attrs;
    return fmt::format("hint: padding=same gives ceil({} / {}) x ceil({} / {}) = {}x{}", x.dims[0],
                       a.sh, x.dims[1], a.sw, (x.dims[0] + a.sh - 1) / a.sh,
                       (x.dims[1] + a.sw - 1) / a.sw);
  }

  TypeResult run();
};

TypeResult Rule::run() {
  const Attrs &a = n.attrs;
  TypeResult err;
  switch (n.op) {
  case OpKind::Input:
  case OpKind::Param:
  case OpKind::State:
    return ok(n.type);

  case OpKind::Dense: {
    if (!arity(2, 3, err)) return err;
    const TensorType &x = in(0), &w = in(1);
    if (!x.batched || x.dims.empty())
      return fail(
          fmt::format("dense acts on the last axis, but '{}' is {} which has none besides N",
                      inName(0), x.str()));
    if (w.dims.size() != 2 || w.dims[0] != x.dims.back())
      return fail(fmt::format("dense: kernel must be [{}, units], got {}", x.dims.back(), w.str()));
    if (n.inputs.size() == 3 && (in(2).dims != std::vector<int64_t>{w.dims[1]}))
      return fail(fmt::format("dense: bias must be [{}], got {}", w.dims[1], in(2).str()));
    TensorType t = x;
    t.dims.back() = w.dims[1];
    return ok(t);
  }

  case OpKind::Conv2D:
  case OpKind::Conv2DTranspose: {
    if (!arity(2, 3, err) || !image(0, err)) return err;
    bool tr = n.op == OpKind::Conv2DTranspose;
    const TensorType &x = in(0), &w = in(1);
    int64_t c = x.dims[2];
    if (w.dims.size() != 4 || w.dims[0] != a.kh || w.dims[1] != a.kw || w.dims[tr ? 3 : 2] != c)
      return fail(fmt::format("{}: kernel must be [{}, {}, {}, filters], got {}", opName(n.op),
                              a.kh, a.kw, tr ? "filters, " + std::to_string(c) : std::to_string(c),
                              w.str()));
    int64_t f = w.dims[tr ? 2 : 3];
    if (n.inputs.size() == 3 && (in(2).dims != std::vector<int64_t>{f}))
      return fail(fmt::format("{}: bias must be [{}], got {}", opName(n.op), f, in(2).str()));
    int64_t oh = 0, ow = 0;
    if (tr) {
      if (a.kh <= 0 || a.kw <= 0 || a.sh <= 0 || a.sw <= 0)
        return fail("conv2d_transpose: kernel and strides must be positive");
      oh = deconvOutputLength(x.dims[0], a.kh, a.padding, a.sh);
      ow = deconvOutputLength(x.dims[1], a.kw, a.padding, a.sw);
    } else {
      std::vector<std::string> notes;
      bool okh = window("height", x.dims[0], a.kh, a.sh, a.dh, oh, notes);
      bool okw = window("width", x.dims[1], a.kw, a.sw, a.dw, ow, notes);
      if (!okh || !okw) {
        notes.push_back(sameHint(x) + ", or use a smaller kernel" +
                        (a.dh > 1 || a.dw > 1 ? " or dilation" : ""));
        return fail(
            fmt::format("conv2d: a {}x{} kernel with padding={} does not fit the {}x{} input", a.kh,
                        a.kw, paddingName(a.padding), x.dims[0], x.dims[1]),
            std::move(notes));
      }
    }
    return ok(TensorType{true, {oh, ow, f}});
  }

  case OpKind::MaxPool2D:
  case OpKind::AvgPool2D: {
    if (!arity(1, 1, err) || !image(0, err)) return err;
    const TensorType &x = in(0);
    int64_t oh = 0, ow = 0;
    std::vector<std::string> notes;
    bool okh = window("height", x.dims[0], a.kh, a.sh, 1, oh, notes);
    bool okw = window("width", x.dims[1], a.kw, a.sw, 1, ow, notes);
    if (!okh || !okw) {
      notes.push_back(sameHint(x));
      return fail(fmt::format("{}: a {}x{} window with padding={} does not fit the {}x{} input",
                              opName(n.op), a.kh, a.kw, paddingName(a.padding), x.dims[0],
                              x.dims[1]),
                  std::move(notes));
    }
    return ok(TensorType{true, {oh, ow, x.dims[2]}});
  }

  case OpKind::ZeroPadding2D:
  case OpKind::Cropping2D: {
    if (!arity(1, 1, err) || !image(0, err)) return err;
    const TensorType &x = in(0);
    int64_t sign = n.op == OpKind::ZeroPadding2D ? 1 : -1;
    int64_t h = x.dims[0] + sign * (a.top + a.bottom), w = x.dims[1] + sign * (a.left + a.right);
    if (h < 1 || w < 1)
      return fail(fmt::format("cropping2d: cropping rows ({}, {}) and columns ({}, {}) leaves "
                              "({} - {} - {}) x ({} - {} - {}) = {} x {} of the {}x{} input",
                              a.top, a.bottom, a.left, a.right, x.dims[0], a.top, a.bottom,
                              x.dims[1], a.left, a.right, h, w, x.dims[0], x.dims[1]));
    return ok(TensorType{true, {h, w, x.dims[2]}});
  }

  case OpKind::GlobalAvgPool2D:
    if (!arity(1, 1, err) || !image(0, err)) return err;
    return ok(TensorType{true, {in(0).dims[2]}});

  case OpKind::Upsample2D: {
    if (!arity(1, 1, err) || !image(0, err)) return err;
    if (a.kh <= 0 || a.kw <= 0) return fail("upsample2d: size must be positive");
    const TensorType &x = in(0);
    int64_t h, w;
    if (__builtin_mul_overflow(x.dims[0], a.kh, &h) || __builtin_mul_overflow(x.dims[1], a.kw, &w))
      return fail("upsample2d: the result is too large");
    return ok(TensorType{true, {h, w, x.dims[2]}});
  }

  case OpKind::Flatten: {
    if (!arity(1, 1, err)) return err;
    return ok(TensorType{in(0).batched, {in(0).elements()}});
  }

  case OpKind::Reshape: {
    if (!arity(1, 1, err)) return err;
    const TensorType &x = in(0);
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < a.shape.size(); ++i) {
      if (a.shape[i] == -1) {
        if (infer >= 0) return fail("reshape: only one -1 is allowed in shape");
        infer = int64_t(i);
      } else if (a.shape[i] <= 0) {
        return fail(fmt::format("reshape: dimension {} must be positive or -1", a.shape[i]));
      } else if (__builtin_mul_overflow(known, a.shape[i], &known) || known > kMaxElements) {
        return fail("reshape: the target shape is too large");
      }
    }
    TensorType t{x.batched, a.shape};
    if (infer >= 0) {
      if (x.elements() % known != 0)
        return fail(fmt::format("reshape: cannot infer -1: {} elements are not divisible by {}",
                                x.elements(), known));
      t.dims[size_t(infer)] = x.elements() / known;
    } else if (known != x.elements()) {
      return fail(fmt::format("reshape: {} has {} elements per example but the target shape has {}",
                              x.str(), x.elements(), known));
    }
    return ok(t);
  }

  case OpKind::Squeeze: {
    if (!arity(1, 1, err)) return err;
    const TensorType &x = in(0);
    if (a.axis < 0 || a.axis >= int64_t(x.dims.size()))
      return fail(fmt::format("squeeze: axis is out of range for {}", x.str()));
    if (x.dims[size_t(a.axis)] != 1)
      return fail(fmt::format("squeeze: axis {} of {} has size {}, not 1",
                              a.axis + (x.batched ? 1 : 0), x.str(), x.dims[size_t(a.axis)]));
    TensorType t = x;
    t.dims.erase(t.dims.begin() + a.axis);
    return ok(t);
  }

  case OpKind::Relu:
  case OpKind::LeakyRelu:
  case OpKind::Elu:
  case OpKind::Sigmoid:
  case OpKind::Tanh:
  case OpKind::Softmax:
    if (!arity(1, 1, err)) return err;
    if (n.op == OpKind::Softmax && in(0).dims.empty())
      return fail(
          fmt::format("softmax needs an axis besides N, but '{}' is {}", inName(0), in(0).str()));
    return ok(in(0));

  case OpKind::Add:
    if (!arity(2, 2, err) || !same(0, 1, err)) return err;
    return ok(in(0));

  case OpKind::Concat: {
    if (!arity(2, 2, err)) return err;
    const TensorType &x = in(0), &y = in(1);
    if (a.axis < 0 || a.axis >= int64_t(x.dims.size()) || x.dims.size() != y.dims.size() ||
        x.batched != y.batched)
      return fail(fmt::format("concat: cannot join {} and {} along axis {}", x.str(), y.str(),
                              a.axis + (x.batched ? 1 : 0)));
    TensorType t = x;
    for (size_t i = 0; i < x.dims.size(); ++i)
      if (int64_t(i) != a.axis && x.dims[i] != y.dims[i])
        return fail(fmt::format("concat: {} and {} differ outside axis {}", x.str(), y.str(),
                                a.axis + (x.batched ? 1 : 0)));
    t.dims[size_t(a.axis)] += y.dims[size_t(a.axis)];
    return ok(t);
  }

  case OpKind::BinaryCrossentropy:
  case OpKind::BinaryCrossentropyLogits:
  case OpKind::MSE:
  case OpKind::CategoricalCrossentropy:
  case OpKind::CategoricalCrossentropyLogits:
    if (!arity(2, 2, err)) return err;
    if (!(in(0) == in(1)))
      return fail(fmt::format("{}: prediction '{}' is {} but target '{}' is {}", opName(n.op),
                              inName(0), in(0).str(), inName(1), in(1).str()),
                  {"the prediction and the target must have the same shape"});
    return ok(TensorType{false, {}});

  case OpKind::BinaryCrossentropyGrad:
  case OpKind::BinaryCrossentropyLogitsGrad:
  case OpKind::MSEGrad:
  case OpKind::CategoricalCrossentropyGrad:
  case OpKind::CategoricalCrossentropyLogitsGrad:
    if (!arity(2, 2, err) || !same(0, 1, err)) return err;
    return ok(in(0));

  case OpKind::DenseGradInput: {
    if (!arity(2, 2, err)) return err;
    TensorType t = in(0);
    if (t.dims.empty() || in(1).dims.size() != 2 || in(1).dims[1] != t.dims.back())
      return fail(
          fmt::format("dense_grad_input: {} does not match kernel {}", t.str(), in(1).str()));
    t.dims.back() = in(1).dims[0];
    return ok(t);
  }
  case OpKind::DenseGradKernel:
    if (!arity(2, 2, err)) return err;
    if (in(0).dims.empty() || in(1).dims.empty())
      return fail("dense_grad_kernel: operands need a last axis");
    return ok(TensorType{false, {in(0).dims.back(), in(1).dims.back()}});
  case OpKind::BiasGrad:
    if (!arity(1, 1, err)) return err;
    if (in(0).dims.empty()) return fail("bias_grad: operand needs a last axis");
    return ok(TensorType{false, {in(0).dims.back()}});
  case OpKind::Conv2DGradInput:
  case OpKind::Conv2DTransposeGradInput:
  case OpKind::AvgPool2DGrad:
  case OpKind::Slice:
    return ok(TensorType{in(0).batched, a.shape});
  case OpKind::Conv2DGradKernel:
  case OpKind::Conv2DTransposeGradKernel: {
    if (!arity(2, 2, err) || !image(0, err) || !image(1, err)) return err;
    int64_t c = in(0).dims[2], f = in(1).dims[2];
    if (n.op == OpKind::Conv2DGradKernel) return ok(TensorType{false, {a.kh, a.kw, c, f}});
    return ok(TensorType{false, {a.kh, a.kw, f, c}});
  }
  case OpKind::MaxPool2DGrad:
    if (!arity(2, 2, err)) return err;
    return ok(in(0));
  case OpKind::GlobalAvgPool2DGrad:
    if (!arity(1, 1, err)) return err;
    if (a.shape.size() != 3 || in(0).dims != std::vector<int64_t>{a.shape[2]})
      return fail(fmt::format("global_avgpool2d_grad: dy must be [N, channels of {}], got {}",
                              TensorType{true, a.shape}.str(), in(0).str()));
    return ok(TensorType{true, a.shape});
  case OpKind::Upsample2DGrad: {
    if (!arity(1, 1, err) || !image(0, err)) return err;
    const TensorType &dy = in(0);
    return ok(TensorType{true, {dy.dims[0] / a.kh, dy.dims[1] / a.kw, dy.dims[2]}});
  }
  case OpKind::ReluGrad:
  case OpKind::LeakyReluGrad:
  case OpKind::EluGrad:
  case OpKind::SigmoidGrad:
  case OpKind::TanhGrad:
  case OpKind::SoftmaxGrad:
    if (!arity(2, 2, err) || !same(0, 1, err)) return err;
    return ok(in(1));

  case OpKind::SGDUpdate:
  case OpKind::AdamUpdate:
  case OpKind::AdadeltaUpdate:
  case OpKind::RMSpropUpdate:
    if (n.inputs.size() < 2)
      return fail(fmt::format("{} needs a parameter and a gradient", opName(n.op)));
    if (!same(0, 1, err)) return err;
    return ok(in(0));
  }
  return fail("unknown op");
}

} // namespace

TypeResult inferType(const Graph &g, const Node &n) {
  for (ValueId v : n.inputs)
    if (v < 0 || size_t(v) >= g.size()) {
      TypeResult r;
      r.error = fmt::format("{}: operand %{} does not exist", opName(n.op), v);
      return r;
    }
  return Rule{g, n, {}}.run();
}

} // namespace nnc

// Loop nests of the layer ops, NHWC with Keras kernel layouts. Every convolution-like op is
// one of three gathers, written once:
//   emitConv           out[p, co] = sum_{i,j,ci} in[p*s + (i,j)*d - pad, ci] * w[i,j,ci,co]
//                      (conv2d; conv2d_transpose_grad_input reads dy as `in`)
//   emitConvTransposed out[t, ct] = sum over (i,j) with t = p*s + (i,j)*d - pad of
//                      src[p, cs] * w[i,j,ct,cs]   (conv2d_transpose; conv2d_grad_input)
//   emitConvGradKernel dw[i,j,cb,ca] += B[a*s + (i,j)*d - pad, cb] * A[a, ca] over positions a
//                      of A (conv2d: A = dy, B = x; conv2d_transpose: A = x, B = dy), a kernel
//                      row of taps at a time over the positions where it lands inside B
// so every output element is written exactly once and batch-parallel loops never race.
// Every per-op codegen rule is in this file: each op's FLOPs, its elementwise math (the fused
// epilogues), and the loop nest of a kernel root.
// Accumulators are vectors over contiguous channels, in stack slots that LLVM keeps in
// registers; convolutions work on blocks of output pixels (see emitGather).
#include "codegen/Emitter.h"

#include "ir/ShapeRules.h"
#include "passes/Fusion.h"

#include <fmt/format.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/Intrinsics.h>

#include <algorithm>

namespace nnc {

using llvm::Value;

namespace {
int64_t pad(const Attrs &a, bool height, int64_t in, int64_t out, int64_t dilation) {
  if (a.padding != Padding::Same) return 0;
  return height ? samePadBefore(in, out, a.kh, a.sh, dilation)
                : samePadBefore(in, out, a.kw, a.sw, dilation);
}
struct Img {
  int64_t h, w, c;
};
Img img(const TensorType &t) {
  return {t.dims[0], t.dims[1], t.dims[2]};
}
} // namespace

double nodeFlops(const Graph &g, const Node &n) {
  auto el = [&](ValueId v) { return double(g[v].type.elements()); };
  const Attrs &a = n.attrs;
  switch (n.op) {
  case OpKind::Dense:
    return 2 * el(n.inputs[0]) * double(g[n.inputs[1]].type.dims[1]);
  case OpKind::DenseGradInput:
    return 2 * el(n.inputs[0]) * double(g[n.inputs[1]].type.dims[0]);
  case OpKind::DenseGradKernel:
    return 2 * el(n.inputs[0]) * double(g[n.inputs[1]].type.dims.back());
  case OpKind::Conv2D:
  case OpKind::Conv2DGradKernel: {
    const Node &y = n.op == OpKind::Conv2D ? n : g[n.inputs[1]];
    int64_t c = g[n.inputs[0]].type.dims[2];
    return 2 * double(y.type.elements()) * double(a.kh * a.kw * c);
  }
  case OpKind::Conv2DGradInput: {
    int64_t c = n.type.dims[2];
    return 2 * el(n.inputs[0]) * double(a.kh * a.kw * c);
  }
  case OpKind::Conv2DTranspose:
  case OpKind::Conv2DTransposeGradKernel: {
    int64_t f = n.op == OpKind::Conv2DTranspose ? n.type.dims[2] : g[n.inputs[1]].type.dims[2];
    return 2 * el(n.inputs[0]) * double(a.kh * a.kw * f);
  }
  case OpKind::Conv2DTransposeGradInput: {
    int64_t f = g[n.inputs[0]].type.dims[2];
    return 2 * double(n.type.elements()) * double(a.kh * a.kw * f);
  }
  case OpKind::MaxPool2D:
  case OpKind::AvgPool2D:
    return double(n.type.elements() * a.kh * a.kw);
  case OpKind::GlobalAvgPool2D:
    return el(n.inputs[0]);
  case OpKind::ZeroPadding2D:
  case OpKind::Cropping2D:
    return 0;
  case OpKind::GlobalAvgPool2DGrad:
    return double(n.type.elements());
#define LOSS_OP(ID, ...) case OpKind::ID:
#include "ir/Ops.def"
    return 4 * el(n.inputs[0]);
  case OpKind::Upsample2D:
  case OpKind::Flatten:
  case OpKind::Reshape:
  case OpKind::Squeeze:
  case OpKind::Relu:
  case OpKind::LeakyRelu:
  case OpKind::Elu:
  case OpKind::Sigmoid:
  case OpKind::Tanh:
  case OpKind::Softmax:
  case OpKind::Add:
  case OpKind::Concat:
  case OpKind::BinaryCrossentropyGrad:
  case OpKind::BinaryCrossentropyLogitsGrad:
  case OpKind::MSEGrad:
  case OpKind::CategoricalCrossentropyGrad:
  case OpKind::CategoricalCrossentropyLogitsGrad:
  case OpKind::BiasGrad:
  case OpKind::MaxPool2DGrad:
  case OpKind::AvgPool2DGrad:
  case OpKind::Upsample2DGrad:
  case OpKind::ReluGrad:
  case OpKind::LeakyReluGrad:
  case OpKind::EluGrad:
  case OpKind::SigmoidGrad:
  case OpKind::TanhGrad:
  case OpKind::SoftmaxGrad:
  case OpKind::Slice:
#define LEAF_OP(ID, ...) case OpKind::ID:
#define UPDATE_OP(ID, ...) case OpKind::ID:
#include "ir/Ops.def"
    return 2 * double(n.type.elements());
  }
  return 0;
}

Value *KernelEmitter::elementwise(ValueId v, Value *n, Value *idx, const Vals &vals) {
  const Node &nd = g[v];
  auto in = [&](size_t i) { return get(nd.inputs[i], n, idx, vals); };
  Value *zero = f32(0), *one = f32(1);
  // Mean scale of losses and their gradients: 1 / (batch * elements per example).
  auto inv = [&]() -> Value * {
    const TensorType &t = g[nd.inputs[0]].type;
    Value *count = f32(double(t.elements()));
    if (t.batched) count = b.CreateFMul(count, b.CreateSIToFP(nArg, floatTy()));
    return b.CreateFDiv(one, count);
  };
  auto sigmoid = [&](Value *z) {
    return b.CreateFDiv(one, b.CreateFAdd(one, expf(b.CreateFNeg(z))));
  };
  switch (nd.op) {
  case OpKind::Flatten:
  case OpKind::Reshape:
  case OpKind::Squeeze:
    return in(0);
  case OpKind::Relu: {
    Value *x = in(0);
    return b.CreateSelect(b.CreateFCmpOGT(x, zero), x, zero);
  }
  case OpKind::LeakyRelu: {
    Value *x = in(0);
    return b.CreateSelect(b.CreateFCmpOGT(x, zero), x, b.CreateFMul(f32(nd.attrs.alpha), x));
  }
  case OpKind::Elu: {
    Value *x = in(0);
    Value *neg = b.CreateFMul(f32(nd.attrs.alpha), b.CreateFSub(expf(x), one));
    return b.CreateSelect(b.CreateFCmpOGT(x, zero), x, neg);
  }
  case OpKind::Sigmoid:
    return sigmoid(in(0));
  case OpKind::Tanh: {
    // tanh(x) = 1 - 2 / (exp(2x) + 1): saturates correctly at both ends.
    Value *e = expf(b.CreateFMul(f32(2), in(0)));
    return b.CreateFSub(one, b.CreateFDiv(f32(2), b.CreateFAdd(e, one)));
  }
  case OpKind::Add:
    return b.CreateFAdd(in(0), in(1));
  case OpKind::ReluGrad:
    return b.CreateSelect(b.CreateFCmpOGT(in(0), zero), in(1), zero);
  case OpKind::LeakyReluGrad:
  case OpKind::EluGrad: {
    Value *x = in(0), *dy = in(1);
    Value *slope = f32(nd.attrs.alpha);
    if (nd.op == OpKind::EluGrad) slope = b.CreateFMul(slope, expf(x));
    return b.CreateSelect(b.CreateFCmpOGT(x, zero), dy, b.CreateFMul(slope, dy));
  }
  case OpKind::SigmoidGrad: {
    Value *y = in(0);
    return b.CreateFMul(in(1), b.CreateFMul(y, b.CreateFSub(one, y)));
  }
  case OpKind::TanhGrad: {
    Value *y = in(0);
    return b.CreateFMul(in(1), b.CreateFSub(one, b.CreateFMul(y, y)));
  }
  case OpKind::BinaryCrossentropyGrad: {
    Value *p = in(0), *t = in(1);
    Value *clipped = b.CreateOr(b.CreateFCmpOLT(p, f32(1e-7)), b.CreateFCmpOGT(p, f32(1 - 1e-7)));
    Value *d = b.CreateFDiv(b.CreateFSub(p, t), b.CreateFMul(p, b.CreateFSub(one, p)));
    return b.CreateSelect(clipped, zero, b.CreateFMul(d, inv()));
  }
  case OpKind::BinaryCrossentropyLogitsGrad:
    return b.CreateFMul(b.CreateFSub(sigmoid(in(0)), in(1)), inv());
  case OpKind::MSEGrad:
    return b.CreateFMul(b.CreateFSub(in(0), in(1)), b.CreateFMul(f32(2), inv()));
  case OpKind::Dense:
  case OpKind::Conv2D:
  case OpKind::Conv2DTranspose:
  case OpKind::MaxPool2D:
  case OpKind::AvgPool2D:
  case OpKind::Upsample2D:
  case OpKind::GlobalAvgPool2D:
  case OpKind::ZeroPadding2D:
  case OpKind::Cropping2D:
  case OpKind::Softmax:
  case OpKind::Concat:
  case OpKind::CategoricalCrossentropyGrad:
  case OpKind::CategoricalCrossentropyLogitsGrad:
  case OpKind::DenseGradInput:
  case OpKind::DenseGradKernel:
  case OpKind::BiasGrad:
  case OpKind::Conv2DGradInput:
  case OpKind::Conv2DGradKernel:
  case OpKind::Conv2DTransposeGradInput:
  case OpKind::Conv2DTransposeGradKernel:
  case OpKind::MaxPool2DGrad:
  case OpKind::AvgPool2DGrad:
  case OpKind::Upsample2DGrad:
  case OpKind::GlobalAvgPool2DGrad:
  case OpKind::SoftmaxGrad:
  case OpKind::Slice:
#define LEAF_OP(ID, ...) case OpKind::ID:
#define LOSS_OP(ID, ...) case OpKind::ID:
#define UPDATE_OP(ID, ...) case OpKind::ID:
#include "ir/Ops.def"
    return noRule(nd.op, "an elementwise rule");
  }
  return noRule(nd.op, "an elementwise rule");
}

Value *KernelEmitter::noRule(OpKind op, const char *what) {
  if (missingRule_.empty())
    missingRule_ =
        fmt::format("codegen: op '{}' has no {} (codegen/EmitOps.cpp)", opName(op), what);
  return llvm::PoisonValue::get(floatTy());
}

// zero_padding2d and cropping2d: output cell (y, x) copies input cell (y - top, x - left) or
// (y + top, x + left); padding cells outside the input are 0 (read from a clamped address).
static void emitMargins(KernelEmitter &e) {
  const Node &r = e.rootNode();
  const Attrs &a = r.attrs;
  ValueId x = r.inputs[0];
  Img I = img(e.g[x].type), O = img(r.type);
  bool pad = r.op == OpKind::ZeroPadding2D;
  int64_t dy = pad ? -a.top : a.top, dx = pad ? -a.left : a.left;
  e.forBatch([&](Value *n) {
    e.loop(0, O.h, [&](Value *oy) {
      e.loop(0, O.w, [&](Value *ox) {
        Value *iy = e.b.CreateAdd(oy, e.i64(dy)), *ix = e.b.CreateAdd(ox, e.i64(dx));
        Value *inside = pad ? e.b.CreateAnd(e.inRange(iy, I.h), e.inRange(ix, I.w)) : nullptr;
        if (inside) {
          iy = e.b.CreateSelect(inside, iy, e.i64(0));
          ix = e.b.CreateSelect(inside, ix, e.i64(0));
        }
        Value *ipix = e.mulC(e.add(e.mulC(iy, I.w), ix), I.c);
        Value *opix = e.mulC(e.add(e.mulC(oy, O.w), ox), O.c);
        e.loop(0, O.c, [&](Value *c) {
          Value *v = e.load(x, n, e.add(ipix, c));
          if (inside) v = e.b.CreateSelect(inside, v, e.f32(0));
          e.epilogue(n, e.add(opix, c), v);
        });
      });
    });
  });
}

// global_avgpool2d: each channel's mean over the h x w cells, one output at a time.
static void emitGlobalAvgPool(KernelEmitter &e) {
  const Node &r = e.rootNode();
  ValueId x = r.inputs[0];
  Img I = img(e.g[x].type);
  Value *acc = e.stackFloats(1, "acc");
  e.forBatch([&](Value *n) {
    e.loop(0, I.c, [&](Value *c) {
      e.b.CreateStore(e.f32(0), acc);
      e.loop(0, I.h * I.w, [&](Value *cell) {
        Value *v = e.load(x, n, e.add(e.mulC(cell, I.c), c));
        e.b.CreateStore(e.b.CreateFAdd(e.loadF(acc), v), acc);
      });
      e.epilogue(n, c, e.b.CreateFMul(e.loadF(acc), e.f32(1.0 / double(I.h * I.w))));
    });
  });
}

// global_avgpool2d_grad: every cell of channel c receives dy[c] / (h w).
static void emitGlobalAvgPoolGrad(KernelEmitter &e) {
  const Node &r = e.rootNode();
  ValueId dy = r.inputs[0];
  Img I = img(r.type);
  e.forBatch([&](Value *n) {
    e.loop(0, I.h * I.w, [&](Value *cell) {
      e.loop(0, I.c, [&](Value *c) {
        Value *d = e.b.CreateFMul(e.load(dy, n, c), e.f32(1.0 / double(I.h * I.w)));
        e.epilogue(n, e.add(e.mulC(cell, I.c), c), d);
      });
    });
  });
}

Status KernelEmitter::emitRoot() {
  const Node &r = rootNode();
  switch (r.op) {
#define UPDATE_OP(ID, ...) case OpKind::ID:
#include "ir/Ops.def"
    emitUpdates();
    break;
  case OpKind::Relu:
  case OpKind::LeakyRelu:
  case OpKind::Elu:
  case OpKind::Sigmoid:
  case OpKind::Tanh:
  case OpKind::Add:
  case OpKind::ReluGrad:
  case OpKind::LeakyReluGrad:
  case OpKind::EluGrad:
  case OpKind::SigmoidGrad:
  case OpKind::TanhGrad:
  case OpKind::BinaryCrossentropyGrad:
  case OpKind::BinaryCrossentropyLogitsGrad:
  case OpKind::MSEGrad:
  case OpKind::Flatten:
  case OpKind::Reshape:
  case OpKind::Squeeze:
  case OpKind::BinaryCrossentropy:
  case OpKind::BinaryCrossentropyLogits:
  case OpKind::MSE:
    emitElementSpace();
    break;
  case OpKind::Dense:
    emitDense();
    break;
  case OpKind::DenseGradInput:
    emitDenseGradInput();
    break;
  case OpKind::DenseGradKernel:
    emitDenseGradKernel();
    break;
  case OpKind::BiasGrad:
    emitBiasGrad();
    break;
  case OpKind::Conv2D:
  case OpKind::Conv2DTransposeGradInput:
    emitConv();
    break;
  case OpKind::Conv2DTranspose:
  case OpKind::Conv2DGradInput:
    emitConvTransposed();
    break;
  case OpKind::Conv2DGradKernel:
  case OpKind::Conv2DTransposeGradKernel:
    emitConvGradKernel();
    break;
  case OpKind::MaxPool2D:
    emitMaxPool();
    break;
  case OpKind::MaxPool2DGrad:
    emitMaxPoolGrad();
    break;
  case OpKind::AvgPool2D:
    emitAvgPool();
    break;
  case OpKind::AvgPool2DGrad:
    emitAvgPoolGrad();
    break;
  case OpKind::GlobalAvgPool2D:
    emitGlobalAvgPool(*this);
    break;
  case OpKind::ZeroPadding2D:
  case OpKind::Cropping2D:
    emitMargins(*this);
    break;
  case OpKind::GlobalAvgPool2DGrad:
    emitGlobalAvgPoolGrad(*this);
    break;
  case OpKind::Upsample2D:
    emitUpsample();
    break;
  case OpKind::Upsample2DGrad:
    emitUpsampleGrad();
    break;
  case OpKind::Softmax:
    emitSoftmax();
    break;
  case OpKind::SoftmaxGrad:
    emitSoftmaxGrad();
    break;
  case OpKind::CategoricalCrossentropy:
  case OpKind::CategoricalCrossentropyLogits:
  case OpKind::CategoricalCrossentropyGrad:
  case OpKind::CategoricalCrossentropyLogitsGrad:
    emitCategorical();
    break;
  case OpKind::Concat:
    emitConcat();
    break;
  case OpKind::Slice:
    emitSlice();
    break;
#define LEAF_OP(ID, ...) case OpKind::ID:
#include "ir/Ops.def"
    return Error{std::string("codegen: no kernel for op ") + opName(r.op)};
  }
  return okStatus();
}

void KernelEmitter::emitElementSpace() {
  const Node &r = rootNode();
  const TensorType &t = opClass(r.op) == OpClass::Loss ? g[r.inputs[0]].type : r.type;
  forBatch([&](Value *n) { loop(0, t.elements(), [&](Value *i) { epilogue(n, i, nullptr); }); });
}

void KernelEmitter::emitDense() {
  const Node &r = rootNode();
  ValueId x = r.inputs[0], w = r.inputs[1];
  int64_t K = g[w].type.dims[0], U = g[w].type.dims[1], R = g[x].type.elements() / K;
  Value *acc = stackFloats(U, "acc");
  Value *z = i64(0);
  forBatch([&](Value *n) {
    loop(0, R, [&](Value *row) {
      loop(0, U, [&](Value *u) {
        b.CreateStore(r.inputs.size() > 2 ? load(r.inputs[2], z, u) : f32(0), at(acc, u));
      });
      loop(0, K, [&](Value *kk) {
        Value *xv = load(x, n, add(mulC(row, K), kk));
        loop(0, U, [&](Value *u) {
          Value *p = at(acc, u);
          b.CreateStore(b.CreateFAdd(loadF(p), b.CreateFMul(xv, load(w, z, add(mulC(kk, U), u)))),
                        p);
        });
      });
      loop(0, U, [&](Value *u) { epilogue(n, add(mulC(row, U), u), loadF(at(acc, u))); });
    });
  });
}

void KernelEmitter::emitDenseGradInput() {
  const Node &r = rootNode();
  ValueId dy = r.inputs[0], w = r.inputs[1];
  int64_t K = g[w].type.dims[0], U = g[w].type.dims[1], R = g[dy].type.elements() / U;
  Value *acc = stackFloats(1, "acc");
  Value *z = i64(0);
  forBatch([&](Value *n) {
    loop(0, R, [&](Value *row) {
      loop(0, K, [&](Value *kk) {
        b.CreateStore(f32(0), acc);
        loop(0, U, [&](Value *u) {
          Value *d = load(dy, n, add(mulC(row, U), u)), *wv = load(w, z, add(mulC(kk, U), u));
          b.CreateStore(b.CreateFAdd(loadF(acc), b.CreateFMul(d, wv)), acc);
        });
        epilogue(n, add(mulC(row, K), kk), loadF(acc));
      });
    });
  });
}

// The bias gradient that rides on a weight-gradient loop (same dy), if any.
static ValueId siblingBias(const Graph &g, const KernelGroup &k) {
  for (ValueId m : k.members)
    if (m != k.root && g[m].op == OpKind::BiasGrad) return m;
  return kNoValue;
}

void KernelEmitter::emitDenseGradKernel() {
  const Node &r = rootNode();
  ValueId x = r.inputs[0], dy = r.inputs[1], bias = siblingBias(g, k);
  int64_t K = g[x].type.dims.back(), U = g[dy].type.dims.back(), R = g[x].type.elements() / K;
  Value *pw = partial(k.root), *pb = bias != kNoValue ? partial(bias) : nullptr;
  forBatch([&](Value *n) {
    loop(0, R, [&](Value *row) {
      loop(0, K, [&](Value *kk) {
        Value *xv = load(x, n, add(mulC(row, K), kk));
        loop(0, U, [&](Value *u) {
          Value *p = at(pw, add(mulC(kk, U), u));
          b.CreateStore(b.CreateFAdd(loadF(p), b.CreateFMul(xv, load(dy, n, add(mulC(row, U), u)))),
                        p);
        });
      });
      if (pb)
        loop(0, U, [&](Value *u) {
          Value *p = at(pb, u);
          b.CreateStore(b.CreateFAdd(loadF(p), load(dy, n, add(mulC(row, U), u))), p);
        });
    });
  });
}

void KernelEmitter::emitBiasGrad() {
  const Node &r = rootNode();
  ValueId dy = r.inputs[0];
  int64_t U = r.type.dims[0], R = g[dy].type.elements() / U;
  Value *pb = partial(k.root);
  forBatch([&](Value *n) {
    loop(0, R, [&](Value *row) {
      loop(0, U, [&](Value *u) {
        Value *p = at(pb, u);
        b.CreateStore(b.CreateFAdd(loadF(p), load(dy, n, add(mulC(row, U), u))), p);
      });
    });
  });
}

// Vector accumulation for short channel rows: acc (a <C x float> stack slot) += x * row[0..C).
// Emitting the vector directly keeps LLVM from unrolling the channel loop and then
// vectorizing the wrong (strided) loop around it.
static bool vectorRow(int64_t c) {
  return c >= 2 && c <= 64;
}
static llvm::FixedVectorType *rowType(KernelEmitter &e, int64_t c) {
  return llvm::FixedVectorType::get(e.b.getFloatTy(), unsigned(c));
}
static Value *loadRow(KernelEmitter &e, int64_t c, Value *ptr) {
  return e.b.CreateAlignedLoad(rowType(e, c), ptr, llvm::Align(4));
}
static void storeRow(KernelEmitter &e, Value *v, Value *ptr) {
  e.b.CreateAlignedStore(v, ptr, llvm::Align(4));
}
static void axpyRow(KernelEmitter &e, int64_t c, Value *acc, Value *x, Value *row) {
  auto &b = e.b;
  Value *sum =
      b.CreateFAdd(loadRow(e, c, acc), b.CreateFMul(b.CreateVectorSplat(unsigned(c), x), row));
  storeRow(e, sum, acc);
}

namespace {
// A correlation out[p, co] = bias[co] + sum_{i,j,ci} in[p*s + (i,j)*d - pad, ci] * W(i,j,ci,co).
struct Gather {
  ValueId in = kNoValue, bias = kNoValue;
  Img I{}, O{};
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, ph = 0, pw = 0;
  // Address of W(tap, c, 0..O.c) (contiguous over output channels); with one output
  // channel, of W(tap, 0..I.c, 0) (contiguous over input channels).
  std::function<Value *(Value *tap, Value *c)> weights;
};

// First and last+1 output coordinate whose every tap lands inside the input.
std::pair<int64_t, int64_t> interior(int64_t out, int64_t in, int64_t k, int64_t s, int64_t d,
                                     int64_t pad) {
  int64_t lo = (pad + s - 1) / s;
  int64_t last = in - 1 + pad - (k - 1) * d;
  int64_t hi = last < 0 ? 0 : std::min(out, last / s + 1);
  return {lo, std::max(lo, hi)};
}
} // namespace

// Blocked gather: output pixels of a row are computed P at a time (P independent vector
// accumulators, so the FMAs do not wait on each other and each weight row is loaded once per
// block) where every tap is in bounds; border pixels go one at a time, reading 0 outside.
// Channels are vectors over the output channels, or over the input channels (a dot product
// per tap) when there is one output channel.
static void emitGather(KernelEmitter &e, const Gather &G) {
  auto &b = e.b;
  const Img &I = G.I, &O = G.O;
  bool vec = vectorRow(O.c);
  bool dot = O.c == 1 && vectorRow(I.c) && !e.g[G.in].inlined;
  int64_t lanes = dot ? I.c : O.c;
  // AVX2 registers (8 floats) per accumulator; keep about 12 of 16 for accumulators.
  int64_t regs = (lanes + 7) / 8;
  auto [xa, xb] = interior(O.w, I.w, G.kw, G.sw, G.dw, G.pw);
  int64_t P = (vec || dot) ? std::clamp<int64_t>(12 / regs, 1, 8) : 1;
  llvm::Type *accTy = (vec || dot) ? static_cast<llvm::Type *>(rowType(e, lanes))
                                   : llvm::ArrayType::get(b.getFloatTy(), uint64_t(O.c));
  std::vector<Value *> acc;
  for (int64_t p = 0; p < P; ++p) acc.push_back(e.stackSlot(accTy, "acc"));
  Value *out = e.stackFloats(O.c, "out");
  // One output channel: the row's sums are kept and the epilogue runs as its own loop over
  // the row, which vectorizes (sigmoid and loss terms included).
  Value *rowSums = dot ? e.stackFloats(O.w, "rowsums") : nullptr;
  Value *z = e.i64(0);
  auto initAcc = [&](Value *slot) {
    if (dot) {
      storeRow(e, llvm::Constant::getNullValue(accTy), slot);
    } else if (vec) {
      storeRow(e,
               G.bias != kNoValue ? loadRow(e, O.c, e.addr(G.bias, z, z))
                                  : llvm::Constant::getNullValue(accTy),
               slot);
    } else {
      e.loop(0, O.c, [&](Value *f) {
        b.CreateStore(G.bias != kNoValue ? e.load(G.bias, z, f) : e.f32(0), e.at(slot, f));
      });
    }
  };
  // Accumulates tap `tap` into the accumulators of `count` pixels whose input pixels start
  // at offsets pix[p] (row-major pixel * I.c); the weight row of each channel is loaded once.
  // Pixels with valid[p] set (masked blocks at the borders) read 0 where it is false.
  auto accumulate = [&](Value *n, const std::vector<Value *> &pix,
                        const std::vector<Value *> &valid, Value *tap) {
    size_t count = pix.size();
    if (dot) {
      Value *wv = loadRow(e, I.c, G.weights(tap, z));
      for (size_t p = 0; p < count; ++p) {
        Value *x = loadRow(e, I.c, e.addr(G.in, n, pix[p]));
        if (valid[p]) x = b.CreateSelect(valid[p], x, llvm::Constant::getNullValue(x->getType()));
        storeRow(e, b.CreateFAdd(loadRow(e, I.c, acc[p]), b.CreateFMul(x, wv)), acc[p]);
      }
      return;
    }
    e.loop(
        0, I.c,
        [&](Value *c) {
          if (vec) {
            Value *wrow = loadRow(e, O.c, G.weights(tap, c));
            for (size_t p = 0; p < count; ++p) {
              Value *x = e.load(G.in, n, e.add(pix[p], c));
              if (valid[p]) x = b.CreateSelect(valid[p], x, e.f32(0));
              axpyRow(e, O.c, acc[p], x, wrow);
            }
            return;
          }
          Value *wrow = G.weights(tap, c), *xv = e.load(G.in, n, e.add(pix[0], c));
          e.loop(0, O.c, [&](Value *f) {
            Value *pf = e.at(acc[0], f);
            Value *prod = b.CreateFMul(xv, e.loadF(e.at(wrow, f)));
            b.CreateStore(b.CreateFAdd(e.loadF(pf), prod), pf);
          });
        },
        vec);
  };
  auto finish = [&](Value *n, Value *slot, Value *oy, Value *ox) {
    Value *vals = (vec || dot) ? out : slot;
    if (dot) {
      Value *sum = b.CreateFAddReduce(G.bias != kNoValue ? e.load(G.bias, z, z) : e.f32(0),
                                      loadRow(e, I.c, slot));
      b.CreateStore(sum, e.at(rowSums, ox));
      return;
    }
    Value *opix = e.mulC(e.add(e.mulC(oy, O.w), ox), O.c);
    if (vec && e.rowEpilogue()) {
      e.epilogueRow(n, opix, O.c, loadRow(e, O.c, slot));
      return;
    }
    if (vec) storeRow(e, loadRow(e, O.c, slot), out);
    e.loop(0, O.c, [&](Value *f) { e.epilogue(n, e.add(opix, f), e.loadF(e.at(vals, f))); });
  };
  // Output pixels ox0 .. ox0+count-1 of row oy. Masked: columns outside the input read 0
  // (from a clamped address); checked (scalar accumulators, count 1): skipped by a branch.
  enum class Cols { Inside, Masked, Checked };
  auto pixels = [&](Value *n, Value *oy, Value *ox0, int64_t count, Cols cols) {
    for (int64_t p = 0; p < count; ++p) initAcc(acc[size_t(p)]);
    e.loop(0, G.kh, [&](Value *i) {
      Value *iy = e.add(b.CreateSub(e.mulC(oy, G.sh), e.i64(G.ph)), e.mulC(i, G.dh));
      e.ifThen(e.inRange(iy, I.h), [&] {
        e.loop(0, G.kw, [&](Value *j) {
          Value *tap = e.add(e.mulC(i, G.kw), j);
          std::vector<Value *> pix, valid;
          Value *ok = nullptr;
          for (int64_t p = 0; p < count; ++p) {
            Value *ox = e.add(ox0, e.i64(p));
            Value *ix = e.add(b.CreateSub(e.mulC(ox, G.sw), e.i64(G.pw)), e.mulC(j, G.dw));
            ok = cols == Cols::Inside ? nullptr : e.inRange(ix, I.w);
            if (cols == Cols::Masked) ix = b.CreateSelect(ok, ix, z);
            pix.push_back(e.mulC(e.add(e.mulC(iy, I.w), ix), I.c));
            valid.push_back(cols == Cols::Masked ? ok : nullptr);
          }
          if (cols == Cols::Checked)
            e.ifThen(ok, [&] { accumulate(n, pix, valid, tap); });
          else
            accumulate(n, pix, valid, tap);
        });
      });
    });
    for (int64_t p = 0; p < count; ++p) finish(n, acc[size_t(p)], oy, e.add(ox0, e.i64(p)));
  };
  // Columns [from, to) in blocks of P plus one shorter block for the rest.
  auto span = [&](Value *n, Value *oy, int64_t from, int64_t to, Cols cols) {
    int64_t width = to - from, blocks = width / P, rest = width % P;
    if (blocks == 1)
      pixels(n, oy, e.i64(from), P, cols);
    else if (blocks > 1)
      e.loop(0, blocks,
             [&](Value *blk) { pixels(n, oy, e.add(e.mulC(blk, P), e.i64(from)), P, cols); });
    if (rest > 0) pixels(n, oy, e.i64(from + blocks * P), rest, cols);
  };
  e.forBatch([&](Value *n) {
    e.loop(0, O.h, [&](Value *oy) {
      if (!vec && !dot) {
        e.loop(0, O.w, [&](Value *ox) { pixels(n, oy, ox, 1, Cols::Checked); });
        return;
      }
      span(n, oy, xa, xb, Cols::Inside);
      // Border columns of both sides in one loop, one pixel at a time.
      e.loop(0, xa + O.w - xb, [&](Value *t) {
        Value *ox = b.CreateSelect(b.CreateICmpSLT(t, e.i64(xa)), t, e.add(t, e.i64(xb - xa)));
        pixels(n, oy, ox, 1, Cols::Masked);
      });
      if (dot)
        e.loop(0, O.w, [&](Value *ox) {
          e.epilogue(n, e.add(e.mulC(oy, O.w), ox), e.loadF(e.at(rowSums, ox)));
        });
    });
  });
}

void KernelEmitter::emitConv() {
  const Node &r = rootNode();
  const Attrs &a = r.attrs;
  Gather G;
  G.in = r.inputs[0];
  ValueId w = r.inputs[1];
  G.bias = r.op == OpKind::Conv2D && r.inputs.size() > 2 ? r.inputs[2] : kNoValue;
  G.I = img(g[G.in].type);
  G.O = img(r.type);
  G.kh = a.kh, G.kw = a.kw, G.sh = a.sh, G.sw = a.sw;
  G.dh = r.op == OpKind::Conv2D ? a.dh : 1;
  G.dw = r.op == OpKind::Conv2D ? a.dw : 1;
  G.ph = pad(a, true, G.I.h, G.O.h, G.dh);
  G.pw = pad(a, false, G.I.w, G.O.w, G.dw);
  int64_t ic = G.I.c, oc = G.O.c;
  Value *z = i64(0);
  G.weights = [&, w, ic, oc](Value *tap, Value *c) {
    return addr(w, z, mulC(add(mulC(tap, ic), c), oc));
  };
  emitGather(*this, G);
}

void KernelEmitter::emitConvTransposed() {
  const Node &r = rootNode();
  const Attrs &a = r.attrs;
  ValueId src = r.inputs[0], w = r.inputs[1];
  ValueId bias = r.op == OpKind::Conv2DTranspose && r.inputs.size() > 2 ? r.inputs[2] : kNoValue;
  Img S = img(g[src].type), T = img(r.type);
  int64_t dh = r.op == OpKind::Conv2DGradInput ? a.dh : 1;
  int64_t dw = r.op == OpKind::Conv2DGradInput ? a.dw : 1;
  int64_t ph = pad(a, true, T.h, S.h, dh), pw = pad(a, false, T.w, S.w, dw);
  Value *z = i64(0);
  // Small kernels are first transposed to [i, j, cs, ct] on the stack, so the innermost loop
  // runs over contiguous output channels (a broadcast times a weight row, as in emitConv)
  // instead of a short dot product over input channels.
  int64_t taps = a.kh * a.kw;
  bool transposed = taps * T.c * S.c <= 16384;
  bool vec = transposed && vectorRow(T.c);
  // Stride 1: t = p + i*d - pad is a correlation with the flipped kernel,
  // p = t + i'*d - ((kh-1)*d - pad) with i' = kh-1-i, so it runs as a blocked gather.
  bool flip = transposed && a.sh == 1 && a.sw == 1;
  Value *wt = nullptr;
  if (transposed) {
    wt = stackFloats(taps * T.c * S.c, "wt");
    loop(
        0, taps,
        [&](Value *tap) {
          Value *from = flip ? b.CreateSub(i64(taps - 1), tap) : tap;
          loop(
              0, T.c,
              [&](Value *ct) {
                Value *row = mulC(add(mulC(from, T.c), ct), S.c);
                loop(
                    0, S.c,
                    [&](Value *cs) {
                      Value *to = add(mulC(add(mulC(tap, S.c), cs), T.c), ct);
                      b.CreateStore(load(w, z, add(row, cs)), at(wt, to));
                    },
                    true);
              },
              true);
        },
        true);
  }
  if (flip) {
    Gather G;
    G.in = src;
    G.bias = bias;
    G.I = S;
    G.O = T;
    G.kh = a.kh, G.kw = a.kw, G.dh = dh, G.dw = dw;
    G.ph = (a.kh - 1) * dh - ph;
    G.pw = (a.kw - 1) * dw - pw;
    int64_t sc = S.c, tc = T.c;
    G.weights = [&, wt, sc, tc](Value *tap, Value *c) {
      return at(wt, mulC(add(mulC(tap, sc), c), tc));
    };
    emitGather(*this, G);
    return;
  }
  Value *acc = stackFloats(T.c, "acc"), *dot = stackFloats(1, "dot");
  // t = p*s + i*d - pad  <=>  p = (t + pad - i*d) / s when divisible.
  auto source = [&](Value *t, Value *i, int64_t padv, int64_t d, int64_t s, int64_t size,
                    const std::function<void(Value *)> &body) {
    Value *q = b.CreateSub(add(t, i64(padv)), mulC(i, d));
    Value *ok = b.CreateICmpSGE(q, z);
    if (s > 1) ok = b.CreateAnd(ok, b.CreateICmpEQ(b.CreateSRem(q, i64(s)), z));
    ifThen(ok, [&] {
      Value *p = s > 1 ? b.CreateSDiv(q, i64(s)) : q;
      ifThen(b.CreateICmpSLT(p, i64(size)), [&] { body(p); });
    });
  };
  forBatch([&](Value *n) {
    loop(0, T.h, [&](Value *ty) {
      loop(0, T.w, [&](Value *tx) {
        if (vec)
          storeRow(*this,
                   bias != kNoValue ? loadRow(*this, T.c, addr(bias, z, z))
                                    : llvm::Constant::getNullValue(rowType(*this, T.c)),
                   acc);
        else
          loop(0, T.c, [&](Value *c) {
            b.CreateStore(bias != kNoValue ? load(bias, z, c) : f32(0), at(acc, c));
          });
        loop(0, a.kh, [&](Value *i) {
          source(ty, i, ph, dh, a.sh, S.h, [&](Value *py) {
            loop(0, a.kw, [&](Value *j) {
              source(tx, j, pw, dw, a.sw, S.w, [&](Value *px) {
                Value *pix = mulC(add(mulC(py, S.w), px), S.c);
                Value *tap = add(mulC(i, a.kw), j);
                if (transposed) {
                  loop(0, S.c, [&](Value *cs) {
                    Value *sv = load(src, n, add(pix, cs));
                    Value *wrow = mulC(add(mulC(tap, S.c), cs), T.c);
                    if (vec) {
                      axpyRow(*this, T.c, acc, sv, loadRow(*this, T.c, at(wt, wrow)));
                      return;
                    }
                    loop(0, T.c, [&](Value *ct) {
                      Value *p = at(acc, ct);
                      Value *prod = b.CreateFMul(sv, loadF(at(wt, add(wrow, ct))));
                      b.CreateStore(b.CreateFAdd(loadF(p), prod), p);
                    });
                  });
                  return;
                }
                loop(0, T.c, [&](Value *ct) {
                  Value *wrow = mulC(add(mulC(tap, T.c), ct), S.c);
                  b.CreateStore(f32(0), dot);
                  loop(0, S.c, [&](Value *cs) {
                    Value *prod =
                        b.CreateFMul(load(src, n, add(pix, cs)), load(w, z, add(wrow, cs)));
                    b.CreateStore(b.CreateFAdd(loadF(dot), prod), dot);
                  });
                  Value *p = at(acc, ct);
                  b.CreateStore(b.CreateFAdd(loadF(p), loadF(dot)), p);
                });
              });
            });
          });
        });
        Value *opix = mulC(add(mulC(ty, T.w), tx), T.c);
        if (vec && rowEpilogue())
          epilogueRow(n, opix, T.c, loadRow(*this, T.c, acc));
        else
          loop(0, T.c, [&](Value *c) { epilogue(n, add(opix, c), loadF(at(acc, c))); });
      });
    });
  });
}

// Largest divisor of n that is at most cap.
static int64_t divisorUpTo(int64_t n, int64_t cap) {
  for (int64_t d = std::min(n, cap); d > 1; --d)
    if (n % d == 0) return d;
  return 1;
}

// Positions a of A, along one axis, whose tap `i` lands inside B:
// 0 <= a*s + i*d - pad < sizeB, as the range [lo, hi) (empty when lo >= hi).
static std::pair<Value *, Value *> tapRange(KernelEmitter &e, Value *i, int64_t s, int64_t d,
                                            int64_t pad, int64_t sizeA, int64_t sizeB) {
  auto &b = e.b;
  Value *zero = e.i64(0);
  Value *q = b.CreateSub(e.i64(pad), e.mulC(i, d)); // a*s >= q
  Value *lo = b.CreateSelect(b.CreateICmpSLE(q, zero), zero,
                             b.CreateSDiv(e.add(q, e.i64(s - 1)), e.i64(s)));
  Value *r = e.add(q, e.i64(sizeB - 1)); // a*s <= r
  Value *top = e.add(b.CreateSDiv(r, e.i64(s)), e.i64(1));
  top = b.CreateSelect(b.CreateICmpSGT(top, e.i64(sizeA)), e.i64(sizeA), top);
  return {lo, b.CreateSelect(b.CreateICmpSLT(r, zero), zero, top)};
}

void KernelEmitter::emitConvGradKernel() {
  // dw[i,j,cb,ca] = sum over examples and positions a of B[a*s + (i,j)*d - pad, cb] * A[a, ca].
  // Tap-row-major: for each tap row i the positions whose window row lies inside B form a
  // range of rows; along a row all kw taps are done together, so a tile of dw (kw taps x St
  // channels of the narrower side x Vt channels of the wider side, as vectors) stays in
  // registers and each row of the wider side is loaded once. Columns where some tap falls
  // outside B read 0 there (clamped address).
  const Node &r = rootNode();
  const Attrs &a = r.attrs;
  bool conv = r.op == OpKind::Conv2DGradKernel;
  ValueId A = conv ? r.inputs[1] : r.inputs[0], B = conv ? r.inputs[0] : r.inputs[1];
  ValueId bias = conv ? siblingBias(g, k) : kNoValue;
  Img IA = img(g[A].type), IB = img(g[B].type);
  int64_t dh = conv ? a.dh : 1, dw = conv ? a.dw : 1;
  int64_t ph = pad(a, true, IB.h, IA.h, dh), pw = pad(a, false, IB.w, IA.w, dw);
  Value *pk = partial(k.root);
  bool overA = IA.c >= IB.c; // vectors run over A's channels (else B's)
  ValueId vSide = overA ? A : B, sSide = overA ? B : A;
  int64_t V = overA ? IA.c : IB.c, S = overA ? IB.c : IA.c;
  int64_t Vt = divisorUpTo(V, 16), regs = (Vt + 7) / 8;
  // Small images take little time: a narrow tile keeps their code (and compile time) small.
  int64_t St = IA.h * IA.w <= 64 ? 1 : divisorUpTo(S, std::max<int64_t>(1, 12 / (a.kw * regs)));
  llvm::FixedVectorType *vt = rowType(*this, Vt);
  Value *zeroVec = llvm::Constant::getNullValue(vt);
  std::vector<Value *> acc; // [j * St + s]
  for (int64_t t = 0; t < a.kw * St; ++t) acc.push_back(stackSlot(vt, "tile"));
  Value *lanes = overA ? nullptr : stackFloats(a.kw * St * Vt, "lanes");
  // Vector of Vt channels of the vector side at flat index idx (gathered when inlined).
  auto vecAt = [&](Value *n, Value *idx) -> Value * {
    if (!g[vSide].inlined) return loadRow(*this, Vt, addr(vSide, n, idx));
    Value *v = llvm::PoisonValue::get(vt);
    for (int64_t l = 0; l < Vt; ++l)
      v = b.CreateInsertElement(v, load(vSide, n, add(idx, i64(l))), uint64_t(l));
    return v;
  };
  // Flat index into dw of (tap, cb, ca).
  auto dwIndex = [&](Value *tap, Value *cb, Value *ca) {
    return add(mulC(add(mulC(tap, IB.c), cb), IA.c), ca);
  };
  auto [xa, xb] = interior(IA.w, IB.w, a.kw, a.sw, dw, pw);
  forBatch([&](Value *n) {
    if (bias != kNoValue) {
      Value *pb = partial(bias);
      loop(0, IA.h * IA.w, [&](Value *pos) {
        loop(0, IA.c, [&](Value *f) {
          Value *p = at(pb, f);
          b.CreateStore(b.CreateFAdd(loadF(p), load(A, n, add(mulC(pos, IA.c), f))), p);
        });
      });
    }
    loop(0, a.kh, [&](Value *i) {
      auto [y0, y1] = tapRange(*this, i, a.sh, dh, ph, IA.h, IB.h);
      loop(0, V / Vt, [&](Value *vi) {
        loop(0, S / St, [&](Value *si) {
          Value *v0 = mulC(vi, Vt), *s0 = mulC(si, St);
          // dw element of (tap column j, lane l of the vector side, index s of the other).
          auto dwAt = [&](int64_t j, Value *l, int64_t s) {
            Value *tap = add(mulC(i, a.kw), i64(j));
            Value *vc = add(v0, l), *sc = add(s0, i64(s));
            return at(pk, overA ? dwIndex(tap, sc, vc) : dwIndex(tap, vc, sc));
          };
          for (int64_t j = 0; j < a.kw; ++j)
            for (int64_t s = 0; s < St; ++s)
              b.CreateStore(overA ? loadRow(*this, Vt, dwAt(j, i64(0), s)) : zeroVec,
                            acc[size_t(j * St + s)]);
          loop(y0, y1, [&](Value *ay) {
            Value *by = add(b.CreateSub(mulC(ay, a.sh), i64(ph)), mulC(i, dh));
            // Interior columns [xa, xb) unchecked; the border columns (both sides, one
            // loop: t < xa is column t, else column t - xa + xb) masked.
            auto columns = [&](int64_t from, int64_t to, bool masked) {
              loop(
                  from, to,
                  [&](Value *t) {
                    Value *ax = masked ? b.CreateSelect(b.CreateICmpSLT(t, i64(xa)), t,
                                                        add(t, i64(xb - xa)))
                                       : t;
                    Value *apix = mulC(add(mulC(ay, IA.w), ax), IA.c);
                    Value *arow = overA ? vecAt(n, add(apix, v0)) : nullptr;
                    for (int64_t j = 0; j < a.kw; ++j) {
                      Value *bx = add(b.CreateSub(mulC(ax, a.sw), i64(pw)), i64(j * dw));
                      Value *ok = masked ? inRange(bx, IB.w) : nullptr;
                      if (ok) bx = b.CreateSelect(ok, bx, i64(0));
                      Value *bpix = mulC(add(mulC(by, IB.w), bx), IB.c);
                      Value *row = overA ? arow : vecAt(n, add(bpix, v0));
                      if (ok && !overA) row = b.CreateSelect(ok, row, zeroVec);
                      Value *spix = add(overA ? bpix : apix, s0);
                      for (int64_t s = 0; s < St; ++s) {
                        Value *x = load(sSide, n, add(spix, i64(s)));
                        if (ok && overA) x = b.CreateSelect(ok, x, f32(0));
                        Value *slot = acc[size_t(j * St + s)];
                        Value *prod = b.CreateFMul(b.CreateVectorSplat(unsigned(Vt), x), row);
                        b.CreateStore(b.CreateFAdd(b.CreateLoad(vt, slot), prod), slot);
                      }
                    }
                  },
                  true);
            };
            columns(xa, xb, false);
            columns(0, xa + IA.w - xb, true);
          });
          if (overA) {
            for (int64_t j = 0; j < a.kw; ++j)
              for (int64_t s = 0; s < St; ++s)
                storeRow(*this, b.CreateLoad(vt, acc[size_t(j * St + s)]), dwAt(j, i64(0), s));
            return;
          }
          // Lanes run across dw's rows here: the tiles go through a stack array and one
          // rolled loop over lanes adds each into its element.
          for (int64_t t = 0; t < a.kw * St; ++t)
            storeRow(*this, b.CreateLoad(vt, acc[size_t(t)]), at(lanes, i64(t * Vt)));
          loop(
              0, Vt,
              [&](Value *l) {
                for (int64_t j = 0; j < a.kw; ++j)
                  for (int64_t s = 0; s < St; ++s) {
                    Value *p = dwAt(j, l, s);
                    Value *x = loadF(at(lanes, add(l, i64((j * St + s) * Vt))));
                    b.CreateStore(b.CreateFAdd(loadF(p), x), p);
                  }
              },
              true);
        });
      });
    });
  });
}

// Calls body(pix, tap) for each cell of pooling window (oy, ox) inside the input, in row-major
// order: pix is the cell's offset (pixel * I.c) in the example, tap its i32 index i*kw + j.
static void forWindow(KernelEmitter &e, Value *oy, Value *ox, const Img &I, int64_t ph, int64_t pw,
                      const std::function<void(Value *, Value *)> &body) {
  const Attrs &a = e.rootNode().attrs;
  auto &b = e.b;
  e.loop(0, a.kh, [&](Value *i) {
    Value *iy = e.add(b.CreateSub(e.mulC(oy, a.sh), e.i64(ph)), i);
    e.ifThen(e.inRange(iy, I.h), [&] {
      e.loop(0, a.kw, [&](Value *j) {
        Value *ix = e.add(b.CreateSub(e.mulC(ox, a.sw), e.i64(pw)), j);
        e.ifThen(e.inRange(ix, I.w), [&] {
          body(e.mulC(e.add(e.mulC(iy, I.w), ix), I.c),
               b.CreateTrunc(e.add(e.mulC(i, a.kw), j), b.getInt32Ty()));
        });
      });
    });
  });
}

// Per-channel running maximum of a pooling window: value and window cell (i32 tap, -1: none).
struct ArgmaxSlots {
  Value *value, *tap;
};
static ArgmaxSlots argmaxSlots(KernelEmitter &e, int64_t channels) {
  return {e.stackFloats(channels, "best"),
          e.stackSlot(llvm::ArrayType::get(e.b.getInt32Ty(), uint64_t(channels)), "besti")};
}

// First maximum (row-major, padding skipped) of the windows of output pixel (oy, ox), for
// every channel at once: the channel loop is innermost, so it vectorizes. Leaves each
// channel's value in best.value[c] and its window cell (tap i*kw + j) in best.tap[c].
static void argmaxPixel(KernelEmitter &e, ValueId x, Value *n, Value *oy, Value *ox, const Img &I,
                        int64_t ph, int64_t pw, const ArgmaxSlots &best) {
  auto &b = e.b;
  llvm::Type *i32t = b.getInt32Ty();
  e.loop(0, I.c, [&](Value *c) {
    b.CreateStore(llvm::ConstantFP::getInfinity(b.getFloatTy(), true), e.at(best.value, c));
    b.CreateStore(b.getInt32(uint32_t(-1)), b.CreateInBoundsGEP(i32t, best.tap, c));
  });
  forWindow(e, oy, ox, I, ph, pw, [&](Value *pix, Value *tap) {
    e.loop(0, I.c, [&](Value *c) {
      Value *v = e.load(x, n, e.add(pix, c));
      Value *vp = e.at(best.value, c), *ip = b.CreateInBoundsGEP(i32t, best.tap, c);
      Value *bv = e.loadF(vp), *bi = b.CreateLoad(i32t, ip);
      Value *better = b.CreateOr(b.CreateICmpSLT(bi, b.getInt32(0)), b.CreateFCmpOGT(v, bv));
      b.CreateStore(b.CreateSelect(better, v, bv), vp);
      b.CreateStore(b.CreateSelect(better, tap, bi), ip);
    });
  });
}

void KernelEmitter::emitMaxPool() {
  const Node &r = rootNode();
  ValueId x = r.inputs[0];
  Img I = img(g[x].type), O = img(r.type);
  int64_t ph = pad(r.attrs, true, I.h, O.h, 1), pw = pad(r.attrs, false, I.w, O.w, 1);
  ArgmaxSlots best = argmaxSlots(*this, I.c);
  forBatch([&](Value *n) {
    loop(0, O.h, [&](Value *oy) {
      loop(0, O.w, [&](Value *ox) {
        argmaxPixel(*this, x, n, oy, ox, I, ph, pw, best);
        Value *opix = mulC(add(mulC(oy, O.w), ox), O.c);
        loop(0, O.c, [&](Value *c) { epilogue(n, add(opix, c), loadF(at(best.value, c))); });
      });
    });
  });
}

void KernelEmitter::emitMaxPoolGrad() {
  const Node &r = rootNode();
  ValueId x = r.inputs[0], dy = r.inputs[1];
  Img I = img(g[x].type), O = img(g[dy].type);
  int64_t ph = pad(r.attrs, true, I.h, O.h, 1), pw = pad(r.attrs, false, I.w, O.w, 1);
  ArgmaxSlots best = argmaxSlots(*this, I.c);
  llvm::Type *i32t = b.getInt32Ty();
  const Attrs &a = r.attrs;
  if (a.sh == a.kh && a.sw == a.kw) {
    // Windows do not overlap: every input element is final once its window is done, so it
    // goes through the epilogue (fused activation gradients) exactly once: dy at the
    // window's maximum, 0 elsewhere and in rows/columns no window covers.
    int64_t coveredH = std::min(I.h, O.h * a.sh - ph), coveredW = std::min(I.w, O.w * a.sw - pw);
    forBatch([&](Value *n) {
      loop(0, O.h, [&](Value *oy) {
        loop(0, O.w, [&](Value *ox) {
          argmaxPixel(*this, x, n, oy, ox, I, ph, pw, best);
          Value *opix = mulC(add(mulC(oy, O.w), ox), O.c);
          forWindow(*this, oy, ox, I, ph, pw, [&](Value *pix, Value *tap) {
            loop(0, I.c, [&](Value *c) {
              Value *bt = b.CreateLoad(i32t, b.CreateInBoundsGEP(i32t, best.tap, c));
              Value *d = load(dy, n, add(opix, c));
              epilogue(n, add(pix, c), b.CreateSelect(b.CreateICmpEQ(bt, tap), d, f32(0)));
            });
          });
        });
      });
      auto zero = [&](Value *iy, Value *ix0, int64_t ix1) {
        loop(mulC(add(mulC(iy, I.w), ix0), I.c), mulC(add(mulC(iy, I.w), i64(ix1)), I.c),
             [&](Value *idx) { epilogue(n, idx, f32(0)); });
      };
      loop(0, coveredH, [&](Value *iy) { zero(iy, i64(coveredW), I.w); });
      loop(coveredH, I.h, [&](Value *iy) { zero(iy, i64(0), I.w); });
    });
    return;
  }
  forBatch([&](Value *n) {
    loop(0, I.h * I.w * I.c, [&](Value *i) { store(k.root, n, i, f32(0)); });
    loop(0, O.h, [&](Value *oy) {
      loop(0, O.w, [&](Value *ox) {
        argmaxPixel(*this, x, n, oy, ox, I, ph, pw, best);
        Value *opix = mulC(add(mulC(oy, O.w), ox), O.c);
        loop(0, O.c, [&](Value *c) {
          Value *tap = b.CreateSExt(b.CreateLoad(i32t, b.CreateInBoundsGEP(i32t, best.tap, c)),
                                    b.getInt64Ty());
          Value *iy = add(b.CreateSub(mulC(oy, a.sh), i64(ph)), b.CreateSDiv(tap, i64(a.kw)));
          Value *ix = add(b.CreateSub(mulC(ox, a.sw), i64(pw)), b.CreateSRem(tap, i64(a.kw)));
          Value *p = addr(k.root, n, add(mulC(add(mulC(iy, I.w), ix), I.c), c));
          b.CreateStore(b.CreateFAdd(loadF(p), load(dy, n, add(opix, c))), p);
        });
      });
    });
  });
}

// Calls body(iy, ix) for the non-padding cells of output (oy, ox)'s window; returns the count.
static Value *avgWindow(KernelEmitter &e, Value *oy, Value *ox, const Img &I, int64_t ph,
                        int64_t pw, const std::function<void(Value *, Value *)> &body) {
  const Attrs &a = e.rootNode().attrs;
  auto &b = e.b;
  auto span = [&](Value *o, int64_t s, int64_t p, int64_t k, int64_t size) {
    Value *lo = b.CreateSub(e.mulC(o, s), e.i64(p));
    Value *hi = e.add(lo, e.i64(k));
    Value *l = b.CreateSelect(b.CreateICmpSLT(lo, e.i64(0)), e.i64(0), lo);
    Value *h = b.CreateSelect(b.CreateICmpSGT(hi, e.i64(size)), e.i64(size), hi);
    return std::pair{l, h};
  };
  auto [y0, y1] = span(oy, a.sh, ph, a.kh, I.h);
  auto [x0, x1] = span(ox, a.sw, pw, a.kw, I.w);
  Value *count = b.CreateMul(b.CreateSub(y1, y0), b.CreateSub(x1, x0));
  e.loop(y0, y1, [&](Value *iy) { e.loop(x0, x1, [&](Value *ix) { body(iy, ix); }); });
  return b.CreateSIToFP(count, b.getFloatTy());
}

void KernelEmitter::emitAvgPool() {
  const Node &r = rootNode();
  ValueId x = r.inputs[0];
  Img I = img(g[x].type), O = img(r.type);
  int64_t ph = pad(r.attrs, true, I.h, O.h, 1), pw = pad(r.attrs, false, I.w, O.w, 1);
  Value *acc = stackFloats(1, "acc");
  forBatch([&](Value *n) {
    loop(0, O.h, [&](Value *oy) {
      loop(0, O.w, [&](Value *ox) {
        loop(0, O.c, [&](Value *c) {
          b.CreateStore(f32(0), acc);
          Value *count = avgWindow(*this, oy, ox, I, ph, pw, [&](Value *iy, Value *ix) {
            Value *v = load(x, n, add(mulC(add(mulC(iy, I.w), ix), I.c), c));
            b.CreateStore(b.CreateFAdd(loadF(acc), v), acc);
          });
          epilogue(n, add(mulC(add(mulC(oy, O.w), ox), O.c), c), b.CreateFDiv(loadF(acc), count));
        });
      });
    });
  });
}

void KernelEmitter::emitAvgPoolGrad() {
  const Node &r = rootNode();
  ValueId dy = r.inputs[0];
  Img I = img(r.type), O = img(g[dy].type);
  int64_t ph = pad(r.attrs, true, I.h, O.h, 1), pw = pad(r.attrs, false, I.w, O.w, 1);
  forBatch([&](Value *n) {
    loop(0, I.h * I.w * I.c, [&](Value *i) { store(k.root, n, i, f32(0)); });
    loop(0, O.h, [&](Value *oy) {
      loop(0, O.w, [&](Value *ox) {
        loop(0, O.c, [&](Value *c) {
          // Each non-padding cell of the window receives dy / count.
          Value *d = load(dy, n, add(mulC(add(mulC(oy, O.w), ox), O.c), c));
          const Attrs &a = r.attrs;
          Value *y0 = b.CreateSub(mulC(oy, a.sh), i64(ph)),
                *x0 = b.CreateSub(mulC(ox, a.sw), i64(pw));
          auto clampLo = [&](Value *v) {
            return b.CreateSelect(b.CreateICmpSLT(v, i64(0)), i64(0), v);
          };
          auto clampHi = [&](Value *v, int64_t s) {
            return b.CreateSelect(b.CreateICmpSGT(v, i64(s)), i64(s), v);
          };
          Value *ylo = clampLo(y0), *yhi = clampHi(add(y0, i64(a.kh)), I.h);
          Value *xlo = clampLo(x0), *xhi = clampHi(add(x0, i64(a.kw)), I.w);
          Value *count = b.CreateSIToFP(b.CreateMul(b.CreateSub(yhi, ylo), b.CreateSub(xhi, xlo)),
                                        b.getFloatTy());
          Value *share = b.CreateFDiv(d, count);
          loop(ylo, yhi, [&](Value *iy) {
            loop(xlo, xhi, [&](Value *ix) {
              Value *p = addr(k.root, n, add(mulC(add(mulC(iy, I.w), ix), I.c), c));
              b.CreateStore(b.CreateFAdd(loadF(p), share), p);
            });
          });
        });
      });
    });
  });
}

// TF2 bilinear source of output coordinate o: (lo, hi, weight of hi).
static std::tuple<Value *, Value *, Value *> lerp(KernelEmitter &e, Value *o, int64_t in,
                                                  int64_t out) {
  auto &b = e.b;
  llvm::Type *d = b.getDoubleTy();
  Value *src =
      b.CreateFSub(b.CreateFMul(b.CreateFAdd(b.CreateSIToFP(o, d), llvm::ConstantFP::get(d, 0.5)),
                                llvm::ConstantFP::get(d, double(in) / double(out))),
                   llvm::ConstantFP::get(d, 0.5));
  Value *fl = e.call(llvm::Intrinsic::floor, src), *cl = e.call(llvm::Intrinsic::ceil, src);
  Value *lo = b.CreateFPToSI(fl, b.getInt64Ty()), *hi = b.CreateFPToSI(cl, b.getInt64Ty());
  lo = b.CreateSelect(b.CreateICmpSLT(lo, e.i64(0)), e.i64(0), lo);
  hi = b.CreateSelect(b.CreateICmpSGT(hi, e.i64(in - 1)), e.i64(in - 1), hi);
  return {lo, hi, b.CreateFPTrunc(b.CreateFSub(src, fl), b.getFloatTy())};
}

void KernelEmitter::emitUpsample() {
  const Node &r = rootNode();
  ValueId x = r.inputs[0];
  Img I = img(g[x].type), O = img(r.type);
  bool nearest = r.attrs.interpolation == Interpolation::Nearest;
  forBatch([&](Value *n) {
    loop(0, O.h, [&](Value *oy) {
      loop(0, O.w, [&](Value *ox) {
        Value *opix = mulC(add(mulC(oy, O.w), ox), O.c);
        if (nearest) {
          Value *ipix = mulC(
              add(mulC(b.CreateSDiv(oy, i64(r.attrs.kh)), I.w), b.CreateSDiv(ox, i64(r.attrs.kw))),
              I.c);
          loop(0, O.c, [&](Value *c) { epilogue(n, add(opix, c), load(x, n, add(ipix, c))); });
          return;
        }
        auto [ylo, yhi, ty] = lerp(*this, oy, I.h, O.h);
        auto [xlo, xhi, tx] = lerp(*this, ox, I.w, O.w);
        Value *one = f32(1);
        Value *uy = b.CreateFSub(one, ty), *ux = b.CreateFSub(one, tx);
        loop(0, O.c, [&](Value *c) {
          auto px = [&](Value *yy, Value *xx) {
            return load(x, n, add(mulC(add(mulC(yy, I.w), xx), I.c), c));
          };
          Value *s = b.CreateFMul(b.CreateFMul(uy, ux), px(ylo, xlo));
          s = b.CreateFAdd(s, b.CreateFMul(b.CreateFMul(uy, tx), px(ylo, xhi)));
          s = b.CreateFAdd(s, b.CreateFMul(b.CreateFMul(ty, ux), px(yhi, xlo)));
          s = b.CreateFAdd(s, b.CreateFMul(b.CreateFMul(ty, tx), px(yhi, xhi)));
          epilogue(n, add(opix, c), s);
        });
      });
    });
  });
}

void KernelEmitter::emitUpsampleGrad() {
  const Node &r = rootNode();
  ValueId dy = r.inputs[0];
  Img I = img(r.type), O = img(g[dy].type);
  const Attrs &a = r.attrs;
  if (a.interpolation == Interpolation::Nearest) {
    Value *acc = stackFloats(I.c, "acc");
    forBatch([&](Value *n) {
      loop(0, I.h, [&](Value *iy) {
        loop(0, I.w, [&](Value *ix) {
          loop(0, I.c, [&](Value *c) { b.CreateStore(f32(0), at(acc, c)); });
          loop(0, a.kh, [&](Value *u) {
            loop(0, a.kw, [&](Value *v) {
              Value *oy = add(mulC(iy, a.kh), u), *ox = add(mulC(ix, a.kw), v);
              Value *opix = mulC(add(mulC(oy, O.w), ox), O.c);
              loop(0, I.c, [&](Value *c) {
                Value *p = at(acc, c);
                b.CreateStore(b.CreateFAdd(loadF(p), load(dy, n, add(opix, c))), p);
              });
            });
          });
          Value *ipix = mulC(add(mulC(iy, I.w), ix), I.c);
          loop(0, I.c, [&](Value *c) { epilogue(n, add(ipix, c), loadF(at(acc, c))); });
        });
      });
    });
    return;
  }
  forBatch([&](Value *n) {
    loop(0, I.h * I.w * I.c, [&](Value *i) { store(k.root, n, i, f32(0)); });
    loop(0, O.h, [&](Value *oy) {
      loop(0, O.w, [&](Value *ox) {
        auto [ylo, yhi, ty] = lerp(*this, oy, I.h, O.h);
        auto [xlo, xhi, tx] = lerp(*this, ox, I.w, O.w);
        Value *one = f32(1);
        Value *uy = b.CreateFSub(one, ty), *ux = b.CreateFSub(one, tx);
        Value *opix = mulC(add(mulC(oy, O.w), ox), O.c);
        loop(0, O.c, [&](Value *c) {
          Value *d = load(dy, n, add(opix, c));
          auto scatter = [&](Value *yy, Value *xx, Value *wgt) {
            Value *p = addr(k.root, n, add(mulC(add(mulC(yy, I.w), xx), I.c), c));
            b.CreateStore(b.CreateFAdd(loadF(p), b.CreateFMul(wgt, d)), p);
          };
          scatter(ylo, xlo, b.CreateFMul(uy, ux));
          scatter(ylo, xhi, b.CreateFMul(uy, tx));
          scatter(yhi, xlo, b.CreateFMul(ty, ux));
          scatter(yhi, xhi, b.CreateFMul(ty, tx));
        });
      });
    });
  });
}

void KernelEmitter::emitSoftmax() {
  const Node &r = rootNode();
  ValueId x = r.inputs[0];
  int64_t C = r.type.dims.back(), R = r.type.elements() / C;
  Value *e = stackFloats(C, "exp"), *mx = stackFloats(1, "max"), *sum = stackFloats(1, "sum");
  forBatch([&](Value *n) {
    loop(0, R, [&](Value *row) {
      Value *base = mulC(row, C);
      b.CreateStore(llvm::ConstantFP::getInfinity(b.getFloatTy(), true), mx);
      loop(0, C, [&](Value *c) {
        Value *v = load(x, n, add(base, c));
        b.CreateStore(b.CreateSelect(b.CreateFCmpOGT(v, loadF(mx)), v, loadF(mx)), mx);
      });
      b.CreateStore(f32(0), sum);
      loop(0, C, [&](Value *c) {
        Value *v = expf(b.CreateFSub(load(x, n, add(base, c)), loadF(mx)));
        b.CreateStore(v, at(e, c));
        b.CreateStore(b.CreateFAdd(loadF(sum), v), sum);
      });
      Value *inv = b.CreateFDiv(f32(1), loadF(sum));
      loop(0, C, [&](Value *c) { epilogue(n, add(base, c), b.CreateFMul(loadF(at(e, c)), inv)); });
    });
  });
}

void KernelEmitter::emitSoftmaxGrad() {
  const Node &r = rootNode();
  ValueId y = r.inputs[0], dy = r.inputs[1];
  int64_t C = r.type.dims.back(), R = r.type.elements() / C;
  Value *dot = stackFloats(1, "dot");
  forBatch([&](Value *n) {
    loop(0, R, [&](Value *row) {
      Value *base = mulC(row, C);
      b.CreateStore(f32(0), dot);
      loop(0, C, [&](Value *c) {
        Value *i = add(base, c);
        b.CreateStore(b.CreateFAdd(loadF(dot), b.CreateFMul(load(dy, n, i), load(y, n, i))), dot);
      });
      loop(0, C, [&](Value *c) {
        Value *i = add(base, c);
        epilogue(n, i, b.CreateFMul(load(y, n, i), b.CreateFSub(load(dy, n, i), loadF(dot))));
      });
    });
  });
}

void KernelEmitter::emitCategorical() {
  const Node &r = rootNode();
  ValueId p = r.inputs[0], t = r.inputs[1];
  const TensorType &pt = g[p].type;
  int64_t C = pt.dims.back(), R = pt.elements() / C;
  Value *s1 = stackFloats(1, "s1"), *s2 = stackFloats(1, "s2"), *tmp = stackFloats(C, "tmp");
  Value *one = f32(1), *zero = f32(0);
  // Rows over the whole batch (losses and their gradients average over rows).
  Value *rows =
      b.CreateFMul(f32(double(R)), pt.batched ? b.CreateSIToFP(nArg, b.getFloatTy()) : one);
  auto clip = [&](Value *q) {
    q = b.CreateSelect(b.CreateFCmpOLT(q, f32(1e-7)), f32(1e-7), q);
    return b.CreateSelect(b.CreateFCmpOGT(q, f32(1 - 1e-7)), f32(1 - 1e-7), q);
  };
  auto clipped = [&](Value *q) {
    return b.CreateOr(b.CreateFCmpOLT(q, f32(1e-7)), b.CreateFCmpOGT(q, f32(1 - 1e-7)));
  };
  auto accumulate = [&](Value *slot, Value *x) {
    b.CreateStore(b.CreateFAdd(loadF(slot), x), slot);
  };
  forBatch([&](Value *n) {
    loop(0, R, [&](Value *row) {
      Value *base = mulC(row, C);
      auto P = [&](Value *c) { return load(p, n, add(base, c)); };
      auto T = [&](Value *c) { return load(t, n, add(base, c)); };
      b.CreateStore(zero, s1);
      b.CreateStore(zero, s2);
      // Probabilities (after softmax): normalise; logits: subtract the row maximum.
      if (r.op == OpKind::CategoricalCrossentropy || r.op == OpKind::CategoricalCrossentropyGrad) {
        loop(0, C, [&](Value *c) { accumulate(s1, P(c)); });
        Value *sum = loadF(s1);
        if (r.op == OpKind::CategoricalCrossentropy) {
          loop(0, C, [&](Value *c) {
            Value *q = b.CreateFDiv(P(c), sum);
            accumulate(s2, b.CreateFNeg(b.CreateFMul(T(c), logf(clip(q)))));
          });
          Value *acc = lossAcc.at(k.root);
          b.CreateStore(b.CreateFAdd(b.CreateLoad(b.getDoubleTy(), acc),
                                     b.CreateFPExt(loadF(s2), b.getDoubleTy())),
                        acc);
          return;
        }
        loop(0, C, [&](Value *c) {
          Value *q = b.CreateFDiv(P(c), sum);
          Value *dq = b.CreateSelect(clipped(q), zero,
                                     b.CreateFDiv(b.CreateFNeg(b.CreateFDiv(T(c), q)), rows));
          b.CreateStore(dq, at(tmp, c));
          accumulate(s2, b.CreateFMul(dq, q));
        });
        loop(0, C, [&](Value *c) {
          epilogue(n, add(base, c), b.CreateFDiv(b.CreateFSub(loadF(at(tmp, c)), loadF(s2)), sum));
        });
        return;
      }
      Value *mx = s1;
      b.CreateStore(llvm::ConstantFP::getInfinity(b.getFloatTy(), true), mx);
      loop(0, C, [&](Value *c) {
        Value *v = P(c);
        b.CreateStore(b.CreateSelect(b.CreateFCmpOGT(v, loadF(mx)), v, loadF(mx)), mx);
      });
      loop(0, C, [&](Value *c) {
        Value *e = expf(b.CreateFSub(P(c), loadF(mx)));
        b.CreateStore(e, at(tmp, c));
        accumulate(s2, e);
      });
      if (r.op == OpKind::CategoricalCrossentropyLogits) {
        Value *lse = b.CreateFAdd(loadF(mx), logf(loadF(s2)));
        Value *term = stackFloats(1, "term");
        b.CreateStore(zero, term);
        loop(0, C, [&](Value *c) {
          accumulate(term, b.CreateFNeg(b.CreateFMul(T(c), b.CreateFSub(P(c), lse))));
        });
        Value *acc = lossAcc.at(k.root);
        b.CreateStore(b.CreateFAdd(b.CreateLoad(b.getDoubleTy(), acc),
                                   b.CreateFPExt(loadF(term), b.getDoubleTy())),
                      acc);
        return;
      }
      Value *tsum = stackFloats(1, "tsum");
      b.CreateStore(zero, tsum);
      loop(0, C, [&](Value *c) { accumulate(tsum, T(c)); });
      Value *inv = b.CreateFDiv(one, loadF(s2));
      loop(0, C, [&](Value *c) {
        Value *sm = b.CreateFMul(loadF(at(tmp, c)), inv);
        Value *d = b.CreateFSub(b.CreateFMul(sm, loadF(tsum)), T(c));
        epilogue(n, add(base, c), b.CreateFDiv(d, rows));
      });
    });
  });
}

// Splits per-example dims at `axis`: (outer, size, inner).
static std::tuple<int64_t, int64_t, int64_t> split(const TensorType &t, int64_t axis) {
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < int64_t(t.dims.size()); ++i) {
    if (i < axis)
      outer *= t.dims[size_t(i)];
    else if (i > axis)
      inner *= t.dims[size_t(i)];
  }
  return {outer, t.dims[size_t(axis)], inner};
}

void KernelEmitter::emitConcat() {
  const Node &r = rootNode();
  ValueId A = r.inputs[0], B = r.inputs[1];
  auto [outer, as, inner] = split(g[A].type, r.attrs.axis);
  int64_t bs = g[B].type.dims[size_t(r.attrs.axis)];
  int64_t arow = as * inner, brow = bs * inner, row = arow + brow;
  forBatch([&](Value *n) {
    loop(0, outer, [&](Value *o) {
      loop(0, arow,
           [&](Value *i) { epilogue(n, add(mulC(o, row), i), load(A, n, add(mulC(o, arow), i))); });
      loop(0, brow, [&](Value *i) {
        epilogue(n, add(add(mulC(o, row), i64(arow)), i), load(B, n, add(mulC(o, brow), i)));
      });
    });
  });
}

void KernelEmitter::emitSlice() {
  const Node &r = rootNode();
  ValueId x = r.inputs[0];
  auto [outer, xs, inner] = split(g[x].type, r.attrs.axis);
  int64_t ys = r.type.dims[size_t(r.attrs.axis)];
  int64_t off = r.attrs.offset * inner;
  forBatch([&](Value *n) {
    loop(0, outer, [&](Value *o) {
      loop(0, ys * inner, [&](Value *i) {
        epilogue(n, add(mulC(o, ys * inner), i),
                 load(x, n, add(add(mulC(o, xs * inner), i64(off)), i)));
      });
    });
  });
}

} // namespace nnc

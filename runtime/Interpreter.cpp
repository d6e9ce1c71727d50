// The reference interpreter. One function per op, NHWC row-major, double precision, loops
// written for reading rather than speed. Conventions (shared with the JIT):
// - SAME padding puts samePadBefore(...) cells before the data (TF: the extra cell goes at
//   the end); conv2d_transpose pads like the forward convolution it transposes, i.e.
//   samePadBefore(out, in, k, s, 1).
// - maxpool2d ignores padding cells; its gradient goes to the FIRST maximum of each window in
//   row-major (top-left to bottom-right) order. avgpool2d divides by the count of
//   non-padding cells (TF).
// - upsample2d bilinear follows TF2 resize (half_pixel_centers): source coordinate
//   (o + 0.5) / size - 0.5, neighbours clamped to the edge.
// - Losses are means over every element including the batch; categorical crossentropy sums
//   over the last axis and averages over the remaining ones, as Keras. Probabilities are
//   clipped to [1e-7, 1 - 1e-7] (gradient zero where clipped); categorical_crossentropy first
//   normalizes pred to sum 1 along the last axis, as Keras.
// - Optimizer updates use the Keras 3 formulas (see runUpdates).
#include "runtime/Interpreter.h"

#include "ir/ShapeRules.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace nnc {
namespace {

constexpr double kClip = 1e-7;

// Dimensions of an NHWC tensor.
struct Dims4 {
  int64_t n, h, w, c;
  int64_t at(int64_t b, int64_t y, int64_t x, int64_t ch) const {
    return ((b * h + y) * w + x) * c + ch;
  }
};
Dims4 dims4(const TensorD &t) {
  return {t.shape[0], t.shape[1], t.shape[2], t.shape[3]};
}

int64_t padBefore(const Attrs &a, bool height, int64_t in, int64_t out, int64_t dilation) {
  if (a.padding != Padding::Same) return 0;
  return height ? samePadBefore(in, out, a.kh, a.sh, dilation)
                : samePadBefore(in, out, a.kw, a.sw, dilation);
}

// A sliding window (conv or pool) read from `in`: its SAME padding before the data and its
// dilation.
struct Window {
  Dims4 in;
  int64_t ph, pw, dh, dw;
};
Window window(const Attrs &a, const Dims4 &in, const Dims4 &out, int64_t dh, int64_t dw) {
  return {in, padBefore(a, true, in.h, out.h, dh), padBefore(a, false, in.w, out.w, dw), dh, dw};
}

// Calls f(i, j, iy, ix) for every kernel tap (i, j) of output cell (oy, ox) whose input cell
// (iy, ix) = (oy*sh + i*dh - ph, ox*sw + j*dw - pw) lies inside the input (padding skipped).
template <typename F>
void windowTaps(const Attrs &a, const Window &win, int64_t oy, int64_t ox, F f) {
  for (int64_t i = 0; i < a.kh; ++i)
    for (int64_t j = 0; j < a.kw; ++j) {
      int64_t iy = oy * a.sh + i * win.dh - win.ph, ix = ox * a.sw + j * win.dw - win.pw;
      if (iy < 0 || iy >= win.in.h || ix < 0 || ix >= win.in.w) continue;
      f(i, j, iy, ix);
    }
}

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

// ---- dense ------------------------------------------------------------------------------

// y[r, u] = b[u] + sum_k x[r, k] w[k, u], over every row r of the leading axes.
void dense(const TensorD &x, const TensorD &w, const TensorD *b, TensorD &y) {
  int64_t K = w.shape[0], U = w.shape[1], rows = x.elements() / K;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t u = 0; u < U; ++u) {
      double s = b ? b->data[size_t(u)] : 0.0;
      for (int64_t k = 0; k < K; ++k) s += x.data[size_t(r * K + k)] * w.data[size_t(k * U + u)];
      y.data[size_t(r * U + u)] = s;
    }
}

// dx[r, k] = sum_u dy[r, u] w[k, u].
void denseGradInput(const TensorD &dy, const TensorD &w, TensorD &dx) {
  int64_t K = w.shape[0], U = w.shape[1], rows = dy.elements() / U;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < K; ++k) {
      double s = 0;
      for (int64_t u = 0; u < U; ++u) s += dy.data[size_t(r * U + u)] * w.data[size_t(k * U + u)];
      dx.data[size_t(r * K + k)] = s;
    }
}

// dw[k, u] = sum_r x[r, k] dy[r, u].
void denseGradKernel(const TensorD &x, const TensorD &dy, TensorD &dw) {
  int64_t K = dw.shape[0], U = dw.shape[1], rows = x.elements() / K;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t u = 0; u < U; ++u)
        dw.data[size_t(k * U + u)] += x.data[size_t(r * K + k)] * dy.data[size_t(r * U + u)];
}

// db[u] = sum of dy over every axis but the last.
void biasGrad(const TensorD &dy, TensorD &db) {
  int64_t U = db.shape[0], rows = dy.elements() / U;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t u = 0; u < U; ++u) db.data[size_t(u)] += dy.data[size_t(r * U + u)];
}

// ---- conv2d -----------------------------------------------------------------------------

// y[b, oy, ox, f] = bias[f] + sum_{i, j, c} x[b, oy*sh + i*dh - ph, ox*sw + j*dw - pw, c]
//                                         * w[i, j, c, f]   (cells outside x are zero).
void conv2d(const Attrs &a, const TensorD &x, const TensorD &w, const TensorD *bias, TensorD &y) {
  Dims4 X = dims4(x), Y = dims4(y);
  Window win = window(a, X, Y, a.dh, a.dw);
  for (int64_t b = 0; b < Y.n; ++b)
    for (int64_t oy = 0; oy < Y.h; ++oy)
      for (int64_t ox = 0; ox < Y.w; ++ox)
        for (int64_t f = 0; f < Y.c; ++f) {
          double s = bias ? bias->data[size_t(f)] : 0.0;
          windowTaps(a, win, oy, ox, [&](int64_t i, int64_t j, int64_t iy, int64_t ix) {
            for (int64_t c = 0; c < X.c; ++c)
              s += x.data[size_t(X.at(b, iy, ix, c))] *
                   w.data[size_t(((i * a.kw + j) * X.c + c) * Y.c + f)];
          });
          y.data[size_t(Y.at(b, oy, ox, f))] = s;
        }
}

// The adjoint of conv2d with respect to x: every dy cell scatters back through the kernel.
void conv2dGradInput(const Attrs &a, const TensorD &dy, const TensorD &w, TensorD &dx) {
  Dims4 X = dims4(dx), Y = dims4(dy);
  Window win = window(a, X, Y, a.dh, a.dw);
  for (int64_t b = 0; b < Y.n; ++b)
    for (int64_t oy = 0; oy < Y.h; ++oy)
      for (int64_t ox = 0; ox < Y.w; ++ox)
        windowTaps(a, win, oy, ox, [&](int64_t i, int64_t j, int64_t iy, int64_t ix) {
          for (int64_t c = 0; c < X.c; ++c)
            for (int64_t f = 0; f < Y.c; ++f)
              dx.data[size_t(X.at(b, iy, ix, c))] +=
                  dy.data[size_t(Y.at(b, oy, ox, f))] *
                  w.data[size_t(((i * a.kw + j) * X.c + c) * Y.c + f)];
        });
}

// dw[i, j, c, f] = sum_{b, oy, ox} x[b, oy*sh + i*dh - ph, ox*sw + j*dw - pw, c] dy[b, oy, ox, f].
void conv2dGradKernel(const Attrs &a, const TensorD &x, const TensorD &dy, TensorD &dw) {
  Dims4 X = dims4(x), Y = dims4(dy);
  Window win = window(a, X, Y, a.dh, a.dw);
  for (int64_t b = 0; b < Y.n; ++b)
    for (int64_t oy = 0; oy < Y.h; ++oy)
      for (int64_t ox = 0; ox < Y.w; ++ox)
        windowTaps(a, win, oy, ox, [&](int64_t i, int64_t j, int64_t iy, int64_t ix) {
          for (int64_t c = 0; c < X.c; ++c)
            for (int64_t f = 0; f < Y.c; ++f)
              dw.data[size_t(((i * a.kw + j) * X.c + c) * Y.c + f)] +=
                  x.data[size_t(X.at(b, iy, ix, c))] * dy.data[size_t(Y.at(b, oy, ox, f))];
        });
}

// ---- conv2d_transpose (kernel [kh, kw, filters, in]) -------------------------------------
// The transpose of a conv2d from y (filters channels) to x (in channels): every x cell
// scatters into y[b, iy*sh + i - ph, ix*sw + j - pw, f] with weight w[i, j, f, c].

void conv2dTranspose(const Attrs &a, const TensorD &x, const TensorD &w, const TensorD *bias,
                     TensorD &y) {
  Dims4 X = dims4(x), Y = dims4(y);
  Window win = window(a, Y, X, 1, 1);
  for (int64_t b = 0; b < Y.n; ++b)
    for (int64_t oy = 0; oy < Y.h; ++oy)
      for (int64_t ox = 0; ox < Y.w; ++ox)
        for (int64_t f = 0; f < Y.c; ++f)
          y.data[size_t(Y.at(b, oy, ox, f))] = bias ? bias->data[size_t(f)] : 0.0;
  for (int64_t b = 0; b < X.n; ++b)
    for (int64_t iy = 0; iy < X.h; ++iy)
      for (int64_t ix = 0; ix < X.w; ++ix)
        windowTaps(a, win, iy, ix, [&](int64_t i, int64_t j, int64_t oy, int64_t ox) {
          for (int64_t f = 0; f < Y.c; ++f)
            for (int64_t c = 0; c < X.c; ++c)
              y.data[size_t(Y.at(b, oy, ox, f))] +=
                  x.data[size_t(X.at(b, iy, ix, c))] *
                  w.data[size_t(((i * a.kw + j) * Y.c + f) * X.c + c)];
        });
}

// dx[b, iy, ix, c] = sum_{i, j, f} dy[b, iy*sh + i - ph, ix*sw + j - pw, f] w[i, j, f, c].
void conv2dTransposeGradInput(const Attrs &a, const TensorD &dy, const TensorD &w, TensorD &dx) {
  Dims4 X = dims4(dx), Y = dims4(dy);
  Window win = window(a, Y, X, 1, 1);
  for (int64_t b = 0; b < X.n; ++b)
    for (int64_t iy = 0; iy < X.h; ++iy)
      for (int64_t ix = 0; ix < X.w; ++ix)
        for (int64_t c = 0; c < X.c; ++c) {
          double s = 0;
          windowTaps(a, win, iy, ix, [&](int64_t i, int64_t j, int64_t oy, int64_t ox) {
            for (int64_t f = 0; f < Y.c; ++f)
              s += dy.data[size_t(Y.at(b, oy, ox, f))] *
                   w.data[size_t(((i * a.kw + j) * Y.c + f) * X.c + c)];
          });
          dx.data[size_t(X.at(b, iy, ix, c))] = s;
        }
}

// dw[i, j, f, c] = sum_{b, iy, ix} x[b, iy, ix, c] dy[b, iy*sh + i - ph, ix*sw + j - pw, f].
void conv2dTransposeGradKernel(const Attrs &a, const TensorD &x, const TensorD &dy, TensorD &dw) {
  Dims4 X = dims4(x), Y = dims4(dy);
  Window win = window(a, Y, X, 1, 1);
  for (int64_t b = 0; b < X.n; ++b)
    for (int64_t iy = 0; iy < X.h; ++iy)
      for (int64_t ix = 0; ix < X.w; ++ix)
        windowTaps(a, win, iy, ix, [&](int64_t i, int64_t j, int64_t oy, int64_t ox) {
          for (int64_t f = 0; f < Y.c; ++f)
            for (int64_t c = 0; c < X.c; ++c)
              dw.data[size_t(((i * a.kw + j) * Y.c + f) * X.c + c)] +=
                  x.data[size_t(X.at(b, iy, ix, c))] * dy.data[size_t(Y.at(b, oy, ox, f))];
        });
}

// ---- pooling ----------------------------------------------------------------------------

// Index into x of the first maximum of output cell (b, oy, ox, c)'s window (padding skipped).
int64_t argmaxWindow(const Attrs &a, const TensorD &x, const Window &win, int64_t b, int64_t oy,
                     int64_t ox, int64_t c) {
  int64_t best = -1;
  windowTaps(a, win, oy, ox, [&](int64_t, int64_t, int64_t iy, int64_t ix) {
    int64_t k = win.in.at(b, iy, ix, c);
    if (best < 0 || x.data[size_t(k)] > x.data[size_t(best)]) best = k;
  });
  return best;
}

void maxPool(const Attrs &a, const TensorD &x, TensorD &y, uint64_t &kinks) {
  Dims4 Y = dims4(y);
  Window win = window(a, dims4(x), Y, 1, 1);
  for (int64_t b = 0; b < Y.n; ++b)
    for (int64_t oy = 0; oy < Y.h; ++oy)
      for (int64_t ox = 0; ox < Y.w; ++ox)
        for (int64_t c = 0; c < Y.c; ++c) {
          int64_t k = argmaxWindow(a, x, win, b, oy, ox, c);
          kinks = mix(kinks, uint64_t(k));
          y.data[size_t(Y.at(b, oy, ox, c))] = x.data[size_t(k)];
        }
}

void maxPoolGrad(const Attrs &a, const TensorD &x, const TensorD &dy, TensorD &dx) {
  Dims4 Y = dims4(dy);
  Window win = window(a, dims4(x), Y, 1, 1);
  for (int64_t b = 0; b < Y.n; ++b)
    for (int64_t oy = 0; oy < Y.h; ++oy)
      for (int64_t ox = 0; ox < Y.w; ++ox)
        for (int64_t c = 0; c < Y.c; ++c)
          dx.data[size_t(argmaxWindow(a, x, win, b, oy, ox, c))] +=
              dy.data[size_t(Y.at(b, oy, ox, c))];
}

// Calls f(iy, ix, count) for every non-padding cell of output cell (oy, ox)'s window.
template <typename F>
void avgWindow(const Attrs &a, const Window &win, int64_t oy, int64_t ox, F f) {
  int64_t count = 0;
  windowTaps(a, win, oy, ox, [&](int64_t, int64_t, int64_t, int64_t) { ++count; });
  windowTaps(a, win, oy, ox, [&](int64_t, int64_t, int64_t iy, int64_t ix) { f(iy, ix, count); });
}

void avgPool(const Attrs &a, const TensorD &x, TensorD &y) {
  Dims4 X = dims4(x), Y = dims4(y);
  Window win = window(a, X, Y, 1, 1);
  for (int64_t b = 0; b < Y.n; ++b)
    for (int64_t oy = 0; oy < Y.h; ++oy)
      for (int64_t ox = 0; ox < Y.w; ++ox)
        for (int64_t c = 0; c < Y.c; ++c) {
          double s = 0;
          avgWindow(a, win, oy, ox, [&](int64_t iy, int64_t ix, int64_t count) {
            s += x.data[size_t(X.at(b, iy, ix, c))] / double(count);
          });
          y.data[size_t(Y.at(b, oy, ox, c))] = s;
        }
}

void avgPoolGrad(const Attrs &a, const TensorD &dy, TensorD &dx) {
  Dims4 X = dims4(dx), Y = dims4(dy);
  Window win = window(a, X, Y, 1, 1);
  for (int64_t b = 0; b < Y.n; ++b)
    for (int64_t oy = 0; oy < Y.h; ++oy)
      for (int64_t ox = 0; ox < Y.w; ++ox)
        for (int64_t c = 0; c < Y.c; ++c) {
          double g = dy.data[size_t(Y.at(b, oy, ox, c))];
          avgWindow(a, win, oy, ox, [&](int64_t iy, int64_t ix, int64_t count) {
            dx.data[size_t(X.at(b, iy, ix, c))] += g / double(count);
          });
        }
}

// ---- upsample2d -------------------------------------------------------------------------

// One output coordinate's two source cells and the weight of the upper one (TF2 bilinear).
struct Lerp {
  int64_t lo, hi;
  double t;
};
Lerp bilinearSource(int64_t o, int64_t in, int64_t out) {
  double src = (double(o) + 0.5) * (double(in) / double(out)) - 0.5;
  double fl = std::floor(src);
  return {std::max<int64_t>(int64_t(fl), 0), std::min<int64_t>(int64_t(std::ceil(src)), in - 1),
          src - fl};
}

// Calls f(sy, sx, weight) for the input cells that output cell (oy, ox) reads.
template <typename F>
void upsampleSources(const Attrs &a, const Dims4 &X, const Dims4 &Y, int64_t oy, int64_t ox, F f) {
  if (a.interpolation == Interpolation::Nearest) {
    f(oy / a.kh, ox / a.kw, 1.0);
    return;
  }
  Lerp ly = bilinearSource(oy, X.h, Y.h), lx = bilinearSource(ox, X.w, Y.w);
  f(ly.lo, lx.lo, (1 - ly.t) * (1 - lx.t));
  f(ly.lo, lx.hi, (1 - ly.t) * lx.t);
  f(ly.hi, lx.lo, ly.t * (1 - lx.t));
  f(ly.hi, lx.hi, ly.t * lx.t);
}

void upsample(const Attrs &a, const TensorD &x, TensorD &y) {
  Dims4 X = dims4(x), Y = dims4(y);
  for (int64_t b = 0; b < Y.n; ++b)
    for (int64_t oy = 0; oy < Y.h; ++oy)
      for (int64_t ox = 0; ox < Y.w; ++ox)
        for (int64_t c = 0; c < Y.c; ++c) {
          double s = 0;
          upsampleSources(a, X, Y, oy, ox, [&](int64_t sy, int64_t sx, double wgt) {
            s += wgt * x.data[size_t(X.at(b, sy, sx, c))];
          });
          y.data[size_t(Y.at(b, oy, ox, c))] = s;
        }
}

void upsampleGrad(const Attrs &a, const TensorD &dy, TensorD &dx) {
  Dims4 X = dims4(dx), Y = dims4(dy);
  for (int64_t b = 0; b < Y.n; ++b)
    for (int64_t oy = 0; oy < Y.h; ++oy)
      for (int64_t ox = 0; ox < Y.w; ++ox)
        for (int64_t c = 0; c < Y.c; ++c) {
          double g = dy.data[size_t(Y.at(b, oy, ox, c))];
          upsampleSources(a, X, Y, oy, ox, [&](int64_t sy, int64_t sx, double wgt) {
            dx.data[size_t(X.at(b, sy, sx, c))] += wgt * g;
          });
        }
}

// ---- shape ops --------------------------------------------------------------------------

// Blocks of a tensor along per-example axis `axis`: outer x (size along axis) x inner.
struct AxisSplit {
  int64_t outer = 1, size = 1, inner = 1;
};
AxisSplit splitAt(const TensorD &t, bool batched, int64_t axis) {
  AxisSplit s;
  size_t ax = size_t(axis + (batched ? 1 : 0));
  for (size_t i = 0; i < t.shape.size(); ++i) {
    if (i < ax)
      s.outer *= t.shape[i];
    else if (i == ax)
      s.size = t.shape[i];
    else
      s.inner *= t.shape[i];
  }
  return s;
}

void concat(const TensorD &a, const TensorD &b, bool batched, int64_t axis, TensorD &y) {
  AxisSplit A = splitAt(a, batched, axis), B = splitAt(b, batched, axis);
  int64_t row = (A.size + B.size) * A.inner;
  for (int64_t o = 0; o < A.outer; ++o) {
    for (int64_t k = 0; k < A.size * A.inner; ++k)
      y.data[size_t(o * row + k)] = a.data[size_t(o * A.size * A.inner + k)];
    for (int64_t k = 0; k < B.size * B.inner; ++k)
      y.data[size_t(o * row + A.size * A.inner + k)] = b.data[size_t(o * B.size * B.inner + k)];
  }
}

// y = x[..., offset : offset + size, ...] along `axis`.
void slice(const TensorD &x, bool batched, int64_t axis, int64_t offset, TensorD &y) {
  AxisSplit X = splitAt(x, batched, axis), Y = splitAt(y, batched, axis);
  for (int64_t o = 0; o < Y.outer; ++o)
    for (int64_t k = 0; k < Y.size * Y.inner; ++k)
      y.data[size_t(o * Y.size * Y.inner + k)] =
          x.data[size_t(o * X.size * X.inner + offset * X.inner + k)];
}

// ---- activations ------------------------------------------------------------------------

double sigmoidOf(double z) {
  return 1.0 / (1.0 + std::exp(-z));
}

// Softmax along the last axis, shifted by the row maximum.
void softmax(const TensorD &x, TensorD &y) {
  int64_t C = x.shape.back(), rows = x.elements() / C;
  for (int64_t r = 0; r < rows; ++r) {
    const double *in = &x.data[size_t(r * C)];
    double *out = &y.data[size_t(r * C)];
    double m = *std::max_element(in, in + C), s = 0;
    for (int64_t c = 0; c < C; ++c) s += out[c] = std::exp(in[c] - m);
    for (int64_t c = 0; c < C; ++c) out[c] /= s;
  }
}

// dx = y * (dy - sum(dy * y)) per row.
void softmaxGrad(const TensorD &y, const TensorD &dy, TensorD &dx) {
  int64_t C = y.shape.back(), rows = y.elements() / C;
  for (int64_t r = 0; r < rows; ++r) {
    double dot = 0;
    for (int64_t c = 0; c < C; ++c) dot += dy.data[size_t(r * C + c)] * y.data[size_t(r * C + c)];
    for (int64_t c = 0; c < C; ++c)
      dx.data[size_t(r * C + c)] = y.data[size_t(r * C + c)] * (dy.data[size_t(r * C + c)] - dot);
  }
}

// ---- losses -----------------------------------------------------------------------------

bool clipped(double p) {
  return p < kClip || p > 1 - kClip;
}
double clip(double p) {
  return std::clamp(p, kClip, 1 - kClip);
}

double bce(const TensorD &p, const TensorD &t, uint64_t &kinks) {
  double s = 0;
  for (size_t i = 0; i < p.data.size(); ++i) {
    double q = clip(p.data[i]);
    kinks = mix(kinks, clipped(p.data[i]) ? i + 1 : 0);
    s -= t.data[i] * std::log(q) + (1 - t.data[i]) * std::log(1 - q);
  }
  return s / double(p.data.size());
}
void bceGrad(const TensorD &p, const TensorD &t, TensorD &dp) {
  double inv = 1.0 / double(p.data.size());
  for (size_t i = 0; i < p.data.size(); ++i) {
    double q = p.data[i];
    dp.data[i] = clipped(q) ? 0.0 : (q - t.data[i]) / (q * (1 - q)) * inv;
  }
}

// mean(max(z, 0) - z t + log(1 + exp(-|z|))).
double bceLogits(const TensorD &z, const TensorD &t) {
  double s = 0;
  for (size_t i = 0; i < z.data.size(); ++i) {
    double v = z.data[i];
    s += std::max(v, 0.0) - v * t.data[i] + std::log1p(std::exp(-std::abs(v)));
  }
  return s / double(z.data.size());
}
void bceLogitsGrad(const TensorD &z, const TensorD &t, TensorD &dz) {
  double inv = 1.0 / double(z.data.size());
  for (size_t i = 0; i < z.data.size(); ++i) dz.data[i] = (sigmoidOf(z.data[i]) - t.data[i]) * inv;
}

double mse(const TensorD &p, const TensorD &t) {
  double s = 0;
  for (size_t i = 0; i < p.data.size(); ++i) s += (p.data[i] - t.data[i]) * (p.data[i] - t.data[i]);
  return s / double(p.data.size());
}
void mseGrad(const TensorD &p, const TensorD &t, TensorD &dp) {
  double inv = 2.0 / double(p.data.size());
  for (size_t i = 0; i < p.data.size(); ++i) dp.data[i] = (p.data[i] - t.data[i]) * inv;
}

// Keras: q = p / sum(p) per row, clipped; loss = -sum(t log q) per row, mean over rows.
double cce(const TensorD &p, const TensorD &t, uint64_t &kinks) {
  int64_t C = p.shape.back(), rows = p.elements() / C;
  double s = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += p.data[size_t(r * C + c)];
    for (int64_t c = 0; c < C; ++c) {
      double q = p.data[size_t(r * C + c)] / sum;
      kinks = mix(kinks, clipped(q) ? uint64_t(r * C + c + 1) : 0);
      s -= t.data[size_t(r * C + c)] * std::log(clip(q));
    }
  }
  return s / double(rows);
}
void cceGrad(const TensorD &p, const TensorD &t, TensorD &dp) {
  int64_t C = p.shape.back(), rows = p.elements() / C;
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0, dot = 0;
    for (int64_t c = 0; c < C; ++c) sum += p.data[size_t(r * C + c)];
    std::vector<double> dq(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
      double q = p.data[size_t(r * C + c)] / sum;
      dq[size_t(c)] = clipped(q) ? 0.0 : -t.data[size_t(r * C + c)] / q / double(rows);
      dot += dq[size_t(c)] * q;
    }
    for (int64_t c = 0; c < C; ++c) dp.data[size_t(r * C + c)] = (dq[size_t(c)] - dot) / sum;
  }
}

// -sum(t * log_softmax(z)) per row, mean over rows.
double cceLogits(const TensorD &z, const TensorD &t) {
  int64_t C = z.shape.back(), rows = z.elements() / C;
  double s = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const double *in = &z.data[size_t(r * C)];
    double m = *std::max_element(in, in + C), e = 0;
    for (int64_t c = 0; c < C; ++c) e += std::exp(in[c] - m);
    double lse = m + std::log(e);
    for (int64_t c = 0; c < C; ++c) s -= t.data[size_t(r * C + c)] * (in[c] - lse);
  }
  return s / double(rows);
}
// (softmax(z) sum(t) - t) / rows.
void cceLogitsGrad(const TensorD &z, const TensorD &t, TensorD &dz) {
  int64_t C = z.shape.back(), rows = z.elements() / C;
  softmax(z, dz);
  for (int64_t r = 0; r < rows; ++r) {
    double ts = 0;
    for (int64_t c = 0; c < C; ++c) ts += t.data[size_t(r * C + c)];
    for (int64_t c = 0; c < C; ++c) {
      double &d = dz.data[size_t(r * C + c)];
      d = (d * ts - t.data[size_t(r * C + c)]) / double(rows);
    }
  }
}

TensorD toDouble(const Tensor &t) {
  TensorD d{t.shape, std::vector<double>(t.data.begin(), t.data.end())};
  return d;
}
Tensor toFloat(const TensorD &t) {
  Tensor f{t.shape, {}};
  f.data.reserve(t.data.size());
  for (double v : t.data) f.data.push_back(float(v));
  return f;
}
TensorMapD toDouble(const TensorMap &m) {
  TensorMapD d;
  for (const auto &[k, v] : m) d[k] = toDouble(v);
  return d;
}
TensorMap toFloat(const TensorMapD &m) {
  TensorMap f;
  for (const auto &[k, v] : m) f[k] = toFloat(v);
  return f;
}

bool isLeaf(OpKind op) {
  return op == OpKind::Input || op == OpKind::Param || op == OpKind::State;
}

} // namespace

Interpreter::Interpreter(Graph g)
    : g_(std::move(g)), vals_(g_.size()), lastUse_(g_.size(), 0), pinned_(g_.size(), false) {
  for (ValueId o : g_.outputs) pinned_[size_t(o)] = true;
  if (g_.loss != kNoValue) pinned_[size_t(g_.loss)] = true;
  for (auto [x, d] : g_.grads) pinned_[size_t(d)] = true;
  for (size_t v = 0; v < g_.size(); ++v) {
    const Node &n = g_.nodes[v];
    pinned_[v] = pinned_[v] || isLeaf(n.op);
    for (ValueId i : n.inputs) lastUse_[size_t(i)] = v;
    if (n.op == OpKind::Param || n.op == OpKind::State) {
      vals_[v].shape = n.type.dims;
      vals_[v].data.assign(size_t(n.type.elements()), 0.0);
    }
  }
}

Status Interpreter::setTensorsD(const TensorMapD &t) {
  if (Status s = checkStateTensors(g_, t); !s) return s;
  for (const auto &[name, tensor] : t) vals_[size_t(g_.find(name))] = tensor;
  return okStatus();
}

Status Interpreter::setTensors(const TensorMap &t) {
  return setTensorsD(toDouble(t));
}

TensorMapD Interpreter::tensorsD() const {
  TensorMapD m;
  for (size_t v = 0; v < g_.size(); ++v)
    if (g_.nodes[v].op == OpKind::Param || g_.nodes[v].op == OpKind::State)
      m[g_.nodes[v].name] = vals_[v];
  return m;
}

TensorMap Interpreter::tensors() const {
  return toFloat(tensorsD());
}

Status Interpreter::bindInputs(const TensorMapD &inputs, int64_t n) {
  if (Status s = checkInputs(g_, inputs, n); !s) return s;
  for (ValueId x : g_.inputs) vals_[size_t(x)] = inputs.at(g_[x].name);
  n_ = n;
  return okStatus();
}

Status Interpreter::runNode(ValueId v) {
  const Node &n = g_[v];
  const Attrs &a = n.attrs;
  auto in = [&](size_t i) -> const TensorD & { return vals_[size_t(n.inputs[i])]; };
  auto opt = [&](size_t i) -> const TensorD * {
    return n.inputs.size() > i ? &vals_[size_t(n.inputs[i])] : nullptr;
  };
  TensorD y;
  y.shape = n.type.dims;
  if (n.type.batched) y.shape.insert(y.shape.begin(), n_);
  y.data.assign(size_t(y.elements()), 0.0);
  bool batched = n.type.batched;
  auto scalar = [&](double s) { y.data.assign(1, s); };

  switch (n.op) {
  case OpKind::Input:
  case OpKind::Param:
  case OpKind::State:
    return okStatus();
  case OpKind::Dense:
    dense(in(0), in(1), opt(2), y);
    break;
  case OpKind::Conv2D:
    conv2d(a, in(0), in(1), opt(2), y);
    break;
  case OpKind::Conv2DTranspose:
    conv2dTranspose(a, in(0), in(1), opt(2), y);
    break;
  case OpKind::MaxPool2D:
    maxPool(a, in(0), y, kinks_);
    break;
  case OpKind::AvgPool2D:
    avgPool(a, in(0), y);
    break;
  case OpKind::ZeroPadding2D:
  case OpKind::Cropping2D: {
    // Output cell (y, x) is input cell (y - top, x - left) for padding, (y + top, x + left)
    // for cropping; padding cells outside the input stay 0.
    Dims4 X = dims4(in(0)), Y = dims4(y);
    int64_t s = n.op == OpKind::ZeroPadding2D ? -1 : 1;
    for (int64_t b = 0; b < Y.n; ++b)
      for (int64_t oy = 0; oy < Y.h; ++oy)
        for (int64_t ox = 0; ox < Y.w; ++ox) {
          int64_t iy = oy + s * a.top, ix = ox + s * a.left;
          if (iy < 0 || iy >= X.h || ix < 0 || ix >= X.w) continue;
          for (int64_t c = 0; c < Y.c; ++c)
            y.data[size_t(Y.at(b, oy, ox, c))] = in(0).data[size_t(X.at(b, iy, ix, c))];
        }
    break;
  }
  case OpKind::GlobalAvgPool2D: {
    const TensorD &x = in(0);
    size_t c = size_t(x.shape[3]), cells = size_t(x.shape[1] * x.shape[2]);
    for (size_t i = 0; i < x.data.size(); ++i)
      y.data[i / (cells * c) * c + i % c] += x.data[i] / double(cells);
    break;
  }
  case OpKind::Upsample2D:
    upsample(a, in(0), y);
    break;
  case OpKind::Flatten:
  case OpKind::Reshape:
  case OpKind::Squeeze:
    y.data = in(0).data;
    break;
  case OpKind::Relu:
    for (size_t i = 0; i < y.data.size(); ++i) {
      y.data[i] = std::max(in(0).data[i], 0.0);
      kinks_ = mix(kinks_, in(0).data[i] > 0);
    }
    break;
  case OpKind::LeakyRelu:
  case OpKind::Elu:
    for (size_t i = 0; i < y.data.size(); ++i) {
      double x = in(0).data[i];
      y.data[i] = x > 0 ? x : n.op == OpKind::Elu ? a.alpha * std::expm1(x) : a.alpha * x;
      kinks_ = mix(kinks_, x > 0);
    }
    break;
  case OpKind::Sigmoid:
    for (size_t i = 0; i < y.data.size(); ++i) y.data[i] = sigmoidOf(in(0).data[i]);
    break;
  case OpKind::Tanh:
    for (size_t i = 0; i < y.data.size(); ++i) y.data[i] = std::tanh(in(0).data[i]);
    break;
  case OpKind::Softmax:
    softmax(in(0), y);
    break;
  case OpKind::Add:
    for (size_t i = 0; i < y.data.size(); ++i) y.data[i] = in(0).data[i] + in(1).data[i];
    break;
  case OpKind::Concat:
    concat(in(0), in(1), batched, a.axis, y);
    break;
  case OpKind::BinaryCrossentropy:
    scalar(bce(in(0), in(1), kinks_));
    break;
  case OpKind::BinaryCrossentropyLogits:
    scalar(bceLogits(in(0), in(1)));
    break;
  case OpKind::MSE:
    scalar(mse(in(0), in(1)));
    break;
  case OpKind::CategoricalCrossentropy:
    scalar(cce(in(0), in(1), kinks_));
    break;
  case OpKind::CategoricalCrossentropyLogits:
    scalar(cceLogits(in(0), in(1)));
    break;
  case OpKind::BinaryCrossentropyGrad:
    bceGrad(in(0), in(1), y);
    break;
  case OpKind::BinaryCrossentropyLogitsGrad:
    bceLogitsGrad(in(0), in(1), y);
    break;
  case OpKind::MSEGrad:
    mseGrad(in(0), in(1), y);
    break;
  case OpKind::CategoricalCrossentropyGrad:
    cceGrad(in(0), in(1), y);
    break;
  case OpKind::CategoricalCrossentropyLogitsGrad:
    cceLogitsGrad(in(0), in(1), y);
    break;
  case OpKind::DenseGradInput:
    denseGradInput(in(0), in(1), y);
    break;
  case OpKind::DenseGradKernel:
    denseGradKernel(in(0), in(1), y);
    break;
  case OpKind::BiasGrad:
    biasGrad(in(0), y);
    break;
  case OpKind::Conv2DGradInput:
    conv2dGradInput(a, in(0), in(1), y);
    break;
  case OpKind::Conv2DGradKernel:
    conv2dGradKernel(a, in(0), in(1), y);
    break;
  case OpKind::Conv2DTransposeGradInput:
    conv2dTransposeGradInput(a, in(0), in(1), y);
    break;
  case OpKind::Conv2DTransposeGradKernel:
    conv2dTransposeGradKernel(a, in(0), in(1), y);
    break;
  case OpKind::MaxPool2DGrad:
    maxPoolGrad(a, in(0), in(1), y);
    break;
  case OpKind::AvgPool2DGrad:
    avgPoolGrad(a, in(0), y);
    break;
  case OpKind::GlobalAvgPool2DGrad: {
    size_t c = size_t(a.shape[2]), cells = size_t(a.shape[0] * a.shape[1]);
    for (size_t i = 0; i < y.data.size(); ++i)
      y.data[i] = in(0).data[i / (cells * c) * c + i % c] / double(cells);
    break;
  }
  case OpKind::Upsample2DGrad:
    upsampleGrad(a, in(0), y);
    break;
  case OpKind::ReluGrad:
    for (size_t i = 0; i < y.data.size(); ++i) y.data[i] = in(0).data[i] > 0 ? in(1).data[i] : 0.0;
    break;
  case OpKind::LeakyReluGrad:
  case OpKind::EluGrad:
    for (size_t i = 0; i < y.data.size(); ++i) {
      double x = in(0).data[i];
      double slope = n.op == OpKind::EluGrad ? a.alpha * std::exp(x) : a.alpha;
      y.data[i] = x > 0 ? in(1).data[i] : slope * in(1).data[i];
    }
    break;
  case OpKind::SigmoidGrad:
    for (size_t i = 0; i < y.data.size(); ++i) {
      double s = in(0).data[i];
      y.data[i] = in(1).data[i] * s * (1 - s);
    }
    break;
  case OpKind::TanhGrad:
    for (size_t i = 0; i < y.data.size(); ++i) {
      double t = in(0).data[i];
      y.data[i] = in(1).data[i] * (1 - t * t);
    }
    break;
  case OpKind::SoftmaxGrad:
    softmaxGrad(in(0), in(1), y);
    break;
  case OpKind::Slice:
    slice(in(0), batched, a.axis, a.offset, y);
    break;
  case OpKind::SGDUpdate:
  case OpKind::AdamUpdate:
  case OpKind::AdadeltaUpdate:
  case OpKind::RMSpropUpdate:
    return Error{fmt::format("update '{}' runs only in a training step", n.name)};
  }
  if (checkNumerics_)
    for (double d : y.data)
      if (!std::isfinite(d))
        return Error{fmt::format("{} '{}'{} produced a non-finite value ({})", opName(n.op), n.name,
                                 n.loc.valid() ? fmt::format(" (line {})", n.loc.line) : "", d)};
  vals_[size_t(v)] = std::move(y);
  return okStatus();
}

Status Interpreter::runRole(Role role) {
  if (role == Role::Forward) kinks_ = 0;
  for (size_t v = 0; v < g_.size(); ++v) {
    const Node &n = g_.nodes[v];
    if (n.role != role || isLeaf(n.op)) continue;
    if (Status s = runNode(ValueId(v)); !s) return s;
    for (ValueId i : n.inputs)
      if (!pinned_[size_t(i)] && lastUse_[size_t(i)] == v) vals_[size_t(i)] = TensorD{};
  }
  return okStatus();
}

// Keras 3 update rules (g: gradient, p: parameter; states in operand order after g):
//   sgd:      p -= lr g;  with a momentum state m: m = momentum m - lr g,
//             p += m (or, nesterov, p += momentum m - lr g)
//   adam:     t = iterations + 1; m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
//             p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
//   adadelta: A = rho A + (1 - rho) g^2; d = -sqrt(D + eps) g / sqrt(A + eps);
//             D = rho D + (1 - rho) d^2; p += lr d
//   rmsprop:  v = rho v + (1 - rho) g^2; p -= lr g / sqrt(v + eps)
// The iterations counters are incremented once after every update node ran.
Status Interpreter::runUpdates() {
  std::set<ValueId> counters;
  for (ValueId u : g_.updates) {
    const Node &n = g_[u];
    const Attrs &a = n.attrs;
    std::vector<double> &p = vals_[size_t(n.inputs[0])].data;
    const std::vector<double> &g = vals_[size_t(n.inputs[1])].data;
    auto state = [&](size_t i) -> std::vector<double> & {
      return vals_[size_t(n.inputs[2 + i])].data;
    };
    switch (n.op) {
    case OpKind::SGDUpdate:
      if (n.inputs.size() == 2) {
        for (size_t i = 0; i < p.size(); ++i) p[i] -= a.lr * g[i];
      } else {
        std::vector<double> &m = state(0);
        for (size_t i = 0; i < p.size(); ++i) {
          m[i] = a.momentum * m[i] - a.lr * g[i];
          p[i] += a.nesterov ? a.momentum * m[i] - a.lr * g[i] : m[i];
        }
      }
      break;
    case OpKind::AdamUpdate: {
      std::vector<double> &m = state(0), &v = state(1);
      double t = state(2)[0] + 1;
      counters.insert(n.inputs[4]);
      double alpha = a.lr * std::sqrt(1 - std::pow(a.beta2, t)) / (1 - std::pow(a.beta1, t));
      for (size_t i = 0; i < p.size(); ++i) {
        m[i] += (g[i] - m[i]) * (1 - a.beta1);
        v[i] += (g[i] * g[i] - v[i]) * (1 - a.beta2);
        p[i] -= alpha * m[i] / (std::sqrt(v[i]) + a.eps);
      }
      break;
    }
    case OpKind::AdadeltaUpdate: {
      std::vector<double> &A = state(0), &D = state(1);
      for (size_t i = 0; i < p.size(); ++i) {
        A[i] = a.rho * A[i] + (1 - a.rho) * g[i] * g[i];
        double d = -std::sqrt(D[i] + a.eps) * g[i] / std::sqrt(A[i] + a.eps);
        D[i] = a.rho * D[i] + (1 - a.rho) * d * d;
        p[i] += a.lr * d;
      }
      break;
    }
    case OpKind::RMSpropUpdate: {
      std::vector<double> &v = state(0);
      for (size_t i = 0; i < p.size(); ++i) {
        v[i] = a.rho * v[i] + (1 - a.rho) * g[i] * g[i];
        p[i] -= a.lr * g[i] / std::sqrt(v[i] + a.eps);
      }
      break;
    }
#define LEAF_OP(ID, ...) case OpKind::ID:
#define FORWARD_OP(ID, ...) case OpKind::ID:
#define LOSS_OP(ID, ...) case OpKind::ID:
#define GRAD_OP(ID, ...) case OpKind::ID:
#include "ir/Ops.def"
      return Error{fmt::format("'{}' is not an optimizer update", n.name)};
    }
    vals_[size_t(u)] = vals_[size_t(n.inputs[0])];
  }
  for (ValueId c : counters) vals_[size_t(c)].data[0] += 1;
  return okStatus();
}

double Interpreter::lossValue() const {
  return g_.loss == kNoValue ? 0.0 : vals_[size_t(g_.loss)].data[0];
}

Result<double> Interpreter::evaluateD(const TensorMapD &inputs, int64_t n, TensorMapD *outputs) {
  if (Status s = bindInputs(inputs, n); !s) return Error{s.error()};
  if (Status s = runRole(Role::Forward); !s) return Error{s.error()};
  if (outputs)
    for (ValueId o : g_.outputs) (*outputs)[g_[o].name] = vals_[size_t(o)];
  return lossValue();
}

Result<double> Interpreter::gradientsD(const TensorMapD &inputs, int64_t n, TensorMapD &grads) {
  if (g_.grads.empty())
    return Error{"the graph has no gradients (run the decompose and autodiff passes)"};
  Result<double> loss = evaluateD(inputs, n, nullptr);
  if (!loss) return loss;
  if (Status s = runRole(Role::Backward); !s) return Error{s.error()};
  for (auto [x, d] : g_.grads) grads[g_[x].name] = vals_[size_t(d)];
  return loss;
}

Result<double> Interpreter::trainStepD(const TensorMapD &inputs, int64_t n) {
  TensorMapD grads;
  Result<double> loss = gradientsD(inputs, n, grads);
  if (!loss) return loss;
  if (Status s = runUpdates(); !s) return Error{s.error()};
  return loss;
}

Result<double> Interpreter::evaluate(const TensorMap &inputs, int64_t n, TensorMap *outputs) {
  TensorMapD out;
  Result<double> r = evaluateD(toDouble(inputs), n, outputs ? &out : nullptr);
  if (r && outputs)
    for (auto &[k, v] : toFloat(out)) (*outputs)[k] = std::move(v);
  return r;
}

Result<double> Interpreter::gradients(const TensorMap &inputs, int64_t n, TensorMap &grads) {
  TensorMapD g;
  Result<double> r = gradientsD(toDouble(inputs), n, g);
  if (r)
    for (auto &[k, v] : toFloat(g)) grads[k] = std::move(v);
  return r;
}

Result<double> Interpreter::trainStep(const TensorMap &inputs, int64_t n) {
  return trainStepD(toDouble(inputs), n);
}

} // namespace nnc

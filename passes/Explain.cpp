// The arithmetic behind a summary row, in the lecture's terms: for each layer, how its output
// shape follows from its input (Keras formulas, from ir/ShapeRules), how its parameter count
// follows from its weight shapes, its multiply-accumulates, and how the receptive field and
// jump grow from the layer's input (the rules of passes/ReceptiveField.cpp).
#include "ir/ShapeRules.h"
#include "passes/Summary.h"

#include <fmt/format.h>

#include <cmath>

namespace nnc {

namespace {

std::string num(double v) {
  if (v == std::floor(v)) return fmt::format("{}", int64_t(v));
  return fmt::format("{:g}", v);
}

/// "a x b x c" of a list of sizes.
std::string product(const std::vector<int64_t> &dims) {
  std::string out;
  for (int64_t d : dims) out += (out.empty() ? "" : " x ") + std::to_string(d);
  return out.empty() ? "1" : out;
}

/// The arithmetic once when both axes share it, else "height ..., width ...".
std::string axes(const std::string &h, const std::string &w) {
  if (h == w) return h;
  return "height " + h + ", width " + w;
}

/// "; dilated kernel (3 - 1) x 2 + 1 = 5" when a convolution is dilated.
std::string dilatedKernel(const Attrs &a) {
  if (a.dh == 1 && a.dw == 1) return "";
  return "; dilated kernel " +
         axes(fmt::format("({} - 1) x {} + 1 = {}", a.kh, a.dh, (a.kh - 1) * a.dh + 1),
              fmt::format("({} - 1) x {} + 1 = {}", a.kw, a.dw, (a.kw - 1) * a.dw + 1));
}

std::vector<ValueId> weights(const Graph &g, const Node &n) {
  std::vector<ValueId> out;
  for (ValueId v : n.inputs)
    if (g[v].op == OpKind::Param) out.push_back(v);
  return out;
}

std::string paramsLine(const Graph &g, const Node &n) {
  std::vector<ValueId> ws = weights(g, n);
  if (ws.empty()) return "";
  std::string terms;
  int64_t total = 0;
  for (ValueId v : ws) {
    terms += (terms.empty() ? "" : " + ") + product(g[v].type.dims);
    total += g[v].type.elements();
  }
  return fmt::format("params = {} = {}", terms, withCommas(total));
}

std::string shapeLine(const Graph &g, const Node &n) {
  const Attrs &a = n.attrs;
  const TensorType &x = g[n.inputs[0]].type;
  if (n.op == OpKind::Conv2D)
    return fmt::format("{}: padding={}: {}; channels = filters = {}{}", opName(n.op),
                       paddingName(a.padding),
                       axes(explainConvLength(x.dims[0], a.kh, a.padding, a.sh, a.dh),
                            explainConvLength(x.dims[1], a.kw, a.padding, a.sw, a.dw)),
                       n.type.dims[2], dilatedKernel(a));
  if (n.op == OpKind::Conv2DTranspose)
    return fmt::format("{}: padding={}: {}; channels = filters = {}", opName(n.op),
                       paddingName(a.padding),
                       axes(explainDeconvLength(x.dims[0], a.kh, a.padding, a.sh),
                            explainDeconvLength(x.dims[1], a.kw, a.padding, a.sw)),
                       n.type.dims[2]);
  if (n.op == OpKind::MaxPool2D || n.op == OpKind::AvgPool2D) {
    std::string what =
        n.op == OpKind::AvgPool2D ? fmt::format("averages each {}x{} window", a.kh, a.kw)
        : a.kh == a.sh && a.kw == a.sw
            ? fmt::format("{}x{} keeps 1 of every {} values (the largest)", a.kh, a.kw, a.kh * a.kw)
            : fmt::format("keeps the largest of each {}x{} window", a.kh, a.kw);
    return fmt::format("{} {}; padding={}: {}", n.op == OpKind::MaxPool2D ? "maxpool" : "avgpool",
                       what, paddingName(a.padding),
                       axes(explainConvLength(x.dims[0], a.kh, a.padding, a.sh, 1),
                            explainConvLength(x.dims[1], a.kw, a.padding, a.sw, 1)));
  }
  if (n.op == OpKind::Upsample2D)
    return fmt::format(
        "upsample {}: {}{}", interpolationName(a.interpolation),
        axes(fmt::format("{} x {} = {}", x.dims[0], a.kh, n.type.dims[0]),
             fmt::format("{} x {} = {}", x.dims[1], a.kw, n.type.dims[1])),
        a.interpolation == Interpolation::Nearest
            ? fmt::format("; each value repeated {} x {} = {} times", a.kh, a.kw, a.kh * a.kw)
            : "");
  if (n.op == OpKind::Dense)
    return fmt::format("dense acts on the last axis: {} -> units = {}{}", withCommas(x.dims.back()),
                       withCommas(n.type.dims.back()),
                       x.dims.size() > 1 ? "; the other axes are kept, and share the weights" : "");
  if (n.op == OpKind::Flatten)
    return fmt::format("flatten: {} = {}", product(x.dims), withCommas(n.type.dims[0]));
  if (n.op == OpKind::Reshape)
    return fmt::format("reshape: {} = {} elements, kept as {}", product(x.dims),
                       withCommas(x.elements()), product(n.type.dims));
  if (n.op == OpKind::Squeeze)
    return fmt::format("squeeze drops axis {} (size 1)", a.axis + (x.batched ? 1 : 0));
  if (n.op == OpKind::Concat)
    return fmt::format("concat: axis {}: {} + {} = {}", a.axis + (x.batched ? 1 : 0),
                       x.dims[size_t(a.axis)], g[n.inputs[1]].type.dims[size_t(a.axis)],
                       n.type.dims[size_t(a.axis)]);
  return "";
}

std::string macsLine(const Graph &g, const Node &n) {
  const Attrs &a = n.attrs;
  const TensorType &x = g[n.inputs[0]].type;
  if (n.op == OpKind::Dense)
    return fmt::format("MACs = {} output{} x {} inputs each = {}", withCommas(n.type.elements()),
                       n.type.elements() == 1 ? "" : "s", withCommas(x.dims.back()),
                       withCommas(n.stats.macs));
  if (n.op == OpKind::Conv2D)
    return fmt::format("MACs = {} outputs x ({} x {} x {}) = {}", product(n.type.dims), a.kh, a.kw,
                       x.dims[2], withCommas(n.stats.macs));
  if (n.op == OpKind::Conv2DTranspose)
    return fmt::format("MACs = {} inputs x ({} x {} x {}) = {}", product(x.dims), a.kh, a.kw,
                       n.type.dims[2], withCommas(n.stats.macs));
  return "";
}

/// "rf_in + (k - 1) x jump = rf" for one axis of a window op.
std::string windowField(double rf, int64_t k, int64_t d, double jump) {
  std::string step = d == 1 ? fmt::format("({} - 1) x {}", k, num(jump))
                            : fmt::format("({} - 1) x {} x {}", k, d, num(jump));
  return fmt::format("{} + {} = {}", num(rf), step, num(rf + double((k - 1) * d) * jump));
}

std::string fieldLine(const Graph &g, const Node &n) {
  const Stats &in = g[n.inputs[0]].stats, &s = n.stats;
  const Attrs &a = n.attrs;
  if (!s.spatial || !in.spatial) return "";
  std::string rf, jump;
  if (hasProp(n.op, Window)) {
    int64_t dh = n.op == OpKind::Conv2D ? a.dh : 1, dw = n.op == OpKind::Conv2D ? a.dw : 1;
    rf = axes(windowField(in.rfH, a.kh, dh, in.jumpH), windowField(in.rfW, a.kw, dw, in.jumpW));
    if (a.sh != 1 || a.sw != 1)
      jump = axes(fmt::format("{} x {} = {}", num(in.jumpH), a.sh, num(s.jumpH)),
                  fmt::format("{} x {} = {}", num(in.jumpW), a.sw, num(s.jumpW)));
  } else if (n.op == OpKind::Conv2DTranspose) {
    rf = axes(fmt::format("{} + (ceil({} / {}) - 1) x {} = {}", num(in.rfH), a.kh, a.sh,
                          num(in.jumpH), num(s.rfH)),
              fmt::format("{} + (ceil({} / {}) - 1) x {} = {}", num(in.rfW), a.kw, a.sw,
                          num(in.jumpW), num(s.rfW)));
    if (a.sh != 1 || a.sw != 1)
      jump = axes(fmt::format("{} / {} = {}", num(in.jumpH), a.sh, num(s.jumpH)),
                  fmt::format("{} / {} = {}", num(in.jumpW), a.sw, num(s.jumpW)));
  } else if (n.op == OpKind::Upsample2D) {
    jump = axes(fmt::format("{} / {} = {}", num(in.jumpH), a.kh, num(s.jumpH)),
                fmt::format("{} / {} = {}", num(in.jumpW), a.kw, num(s.jumpW)));
    if (a.interpolation == Interpolation::Bilinear)
      rf = axes(fmt::format("{} + {} = {}", num(in.rfH), num(in.jumpH), num(s.rfH)),
                fmt::format("{} + {} = {}", num(in.rfW), num(in.jumpW), num(s.rfW)));
  }
  std::string out;
  if (!rf.empty()) out = "receptive field " + rf;
  if (!jump.empty()) out += (out.empty() ? "" : "; ") + std::string("jump ") + jump;
  return out;
}

} // namespace

std::string weightShapes(const Graph &g, const Node &n) {
  std::string out;
  for (ValueId v : weights(g, n)) {
    const std::string &name = g[v].name;
    size_t dot = name.rfind('.');
    TensorType t = g[v].type;
    out += fmt::format("{}{} {}", out.empty() ? "" : ", ",
                       dot == std::string::npos ? name : name.substr(dot + 1), t.kerasStr());
  }
  return out;
}

std::vector<std::string> explainLayer(const Graph &g, const Node &n) {
  if (n.op == OpKind::Input || n.inputs.empty()) return {};
  std::vector<std::string> lines;
  for (const std::string &line :
       {shapeLine(g, n), paramsLine(g, n), macsLine(g, n), fieldLine(g, n)})
    if (!line.empty()) lines.push_back(line);
  return lines;
}

} // namespace nnc

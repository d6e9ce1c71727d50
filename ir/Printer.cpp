// The IR text format (documented in docs/ir.md): one line per value,
//   %NAME: TYPE = OP(%operand, ...) {attributes}   # layer @line:col
// leaves print their initializer; training graphs add a role column and "kept" markers and
// end with the bytes of forward values kept for the backward pass.
#include "ir/Graph.h"

#include <fmt/format.h>

namespace nnc {

namespace {

std::string pair(int64_t a, int64_t b) {
  return fmt::format("({}, {})", a, b);
}

std::string shapeList(const std::vector<int64_t> &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::string attrText(const Node &n) {
  const Attrs &a = n.attrs;
  std::vector<std::string> kv;
  auto act = [&] {
    if (a.activation != Activation::Linear)
      kv.push_back(fmt::format("activation={}", activationName(a.activation)));
  };
  switch (n.op) {
  case OpKind::Input:
    break;
  case OpKind::Param:
  case OpKind::State:
    kv.push_back(fmt::format("init={}", initName(a.init)));
    if (a.init == Init::GlorotUniform)
      kv.push_back(fmt::format("fan_in={}, fan_out={}", a.fanIn, a.fanOut));
    break;
  case OpKind::Dense:
    kv.push_back(fmt::format("units={}", a.units));
    act();
    break;
  case OpKind::Conv2D:
  case OpKind::Conv2DTranspose:
  case OpKind::Conv2DGradInput:
  case OpKind::Conv2DGradKernel:
  case OpKind::Conv2DTransposeGradInput:
  case OpKind::Conv2DTransposeGradKernel:
    if (opClass(n.op) == OpClass::Forward) kv.push_back(fmt::format("filters={}", a.units));
    kv.push_back(fmt::format("kernel={}, strides={}", pair(a.kh, a.kw), pair(a.sh, a.sw)));
    if (a.dh != 1 || a.dw != 1) kv.push_back(fmt::format("dilation={}", pair(a.dh, a.dw)));
    kv.push_back(fmt::format("padding={}", paddingName(a.padding)));
    act();
    break;
  case OpKind::MaxPool2D:
  case OpKind::AvgPool2D:
  case OpKind::MaxPool2DGrad:
  case OpKind::AvgPool2DGrad:
    kv.push_back(fmt::format("pool={}, strides={}, padding={}", pair(a.kh, a.kw), pair(a.sh, a.sw),
                             paddingName(a.padding)));
    break;
  case OpKind::Upsample2D:
  case OpKind::Upsample2DGrad:
    kv.push_back(fmt::format("size={}, interpolation={}", pair(a.kh, a.kw),
                             interpolationName(a.interpolation)));
    break;
  case OpKind::Reshape:
    kv.push_back("shape=" + shapeList(a.shape));
    break;
  case OpKind::Squeeze:
  case OpKind::Concat:
    kv.push_back(fmt::format("axis={}", a.axis));
    break;
  case OpKind::Slice:
    kv.push_back(fmt::format("axis={}, offset={}", a.axis, a.offset));
    break;
  case OpKind::SGDUpdate:
    kv.push_back(fmt::format("lr={}, momentum={}, nesterov={}", a.lr, a.momentum, a.nesterov));
    break;
  case OpKind::AdamUpdate:
    kv.push_back(
        fmt::format("lr={}, beta_1={}, beta_2={}, epsilon={}", a.lr, a.beta1, a.beta2, a.eps));
    break;
  case OpKind::AdadeltaUpdate:
  case OpKind::RMSpropUpdate:
    kv.push_back(fmt::format("lr={}, rho={}, epsilon={}", a.lr, a.rho, a.eps));
    break;
  default:
    if (n.op != OpKind::Dense && a.activation != Activation::Linear) act();
    break;
  }
  std::string s;
  for (const std::string &e : kv) s += (s.empty() ? "" : ", ") + e;
  return s.empty() ? "" : " {" + s + "}";
}

} // namespace

std::string printGraph(const Graph &g, int64_t batch) {
  bool training = !g.grads.empty() || !g.updates.empty();
  std::string out = fmt::format("model {}{}\n", g.name, g.file.empty() ? "" : "  # " + g.file);
  int64_t keptBytes = 0, kept = 0;
  Role lastRole = Role::Forward;
  if (training) out += "  # --- forward ---\n";
  for (size_t i = 0; i < g.size(); ++i) {
    const Node &n = g.nodes[i];
    if (training && n.role != lastRole) {
      out += fmt::format("  # --- {} ---\n", roleName(n.role));
      lastRole = n.role;
    }
    std::string rhs;
    if (opClass(n.op) == OpClass::Leaf) {
      rhs = opName(n.op);
      if (n.op == OpKind::Param && !n.trainable) rhs += " non_trainable";
    } else {
      rhs = std::string(opName(n.op)) + "(";
      for (size_t k = 0; k < n.inputs.size(); ++k) rhs += (k ? ", %" : "%") + g[n.inputs[k]].name;
      rhs += ")";
    }
    rhs += attrText(n);
    std::string where;
    if (!n.layer.empty()) where += n.layer;
    if (n.loc.valid())
      where += fmt::format("{}@{}:{}", where.empty() ? "" : " ", n.loc.line, n.loc.col);
    if (n.kernel >= 0) where += fmt::format(" kernel#{}", n.kernel);
    if (n.keep) {
      where += " kept";
      if (n.type.batched) {
        ++kept;
        keptBytes += n.type.elements() * 4;
      }
    }
    std::string line = fmt::format("  %{}: {} = {}", n.name, n.type.str(batch), rhs);
    if (!where.empty()) line = fmt::format("{:<78} # {}", line, where);
    out += line + "\n";
  }
  std::string outs;
  for (ValueId v : g.outputs) outs += (outs.empty() ? "%" : ", %") + g[v].name;
  if (!outs.empty()) out += "  output " + outs + "\n";
  if (g.loss != kNoValue) out += "  loss %" + g[g.loss].name + "\n";
  if (training)
    out += fmt::format("  # kept for the backward pass: {} activations, {} bytes per example\n",
                       kept, keptBytes);
  return out;
}

} // namespace nnc

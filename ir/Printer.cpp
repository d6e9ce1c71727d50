// The IR text format (documented in docs/ir.md): one line per value,
//   %NAME: TYPE = OP(%operand, ...) {attributes}   # layer @line:col
// leaves print their initializer; training graphs add a role column and "kept" markers and
// end with the bytes of forward values kept for the backward pass.
#include "ir/Graph.h"
#include "ir/OpTable.h"

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

// The text of one attribute, or "" where it is at a default the reader needs not see
// (linear activation, dilation 1, use_bias: the bias shows as an operand).
std::string slotText(const char *key, AttrSlot slot, const Attrs &a) {
  switch (slot) {
  case AttrSlot::Operand:
  case AttrSlot::UseBias:
    return "";
  case AttrSlot::Units:
    return fmt::format("{}={}", key, a.units);
  case AttrSlot::Kernel:
  case AttrSlot::Pool:
  case AttrSlot::Size:
    return fmt::format("{}={}", key, pair(a.kh, a.kw));
  case AttrSlot::Strides:
    return fmt::format("{}={}", key, pair(a.sh, a.sw));
  case AttrSlot::Dilation:
    return a.dh == 1 && a.dw == 1 ? "" : fmt::format("{}={}", key, pair(a.dh, a.dw));
  case AttrSlot::Padding:
    return fmt::format("{}={}", key, paddingName(a.padding));
  case AttrSlot::Activation:
    return a.activation ? fmt::format("{}={}", key, opName(*a.activation)) : "";
  case AttrSlot::Interpolation:
    return fmt::format("{}={}", key, interpolationName(a.interpolation));
  case AttrSlot::Axis:
    return fmt::format("{}={}", key, a.axis);
  case AttrSlot::Shape:
    return fmt::format("{}={}", key, shapeList(a.shape));
  case AttrSlot::Offset:
    return fmt::format("{}={}", key, a.offset);
  case AttrSlot::Lr:
    return fmt::format("{}={}", key, a.lr);
  case AttrSlot::Momentum:
    return fmt::format("{}={}", key, a.momentum);
  case AttrSlot::Nesterov:
    return fmt::format("{}={}", key, a.nesterov);
  case AttrSlot::Beta1:
    return fmt::format("{}={}", key, a.beta1);
  case AttrSlot::Beta2:
    return fmt::format("{}={}", key, a.beta2);
  case AttrSlot::Epsilon:
    return fmt::format("{}={}", key, a.eps);
  case AttrSlot::Rho:
    return fmt::format("{}={}", key, a.rho);
  case AttrSlot::Alpha:
    return fmt::format("{}={}", key, a.alpha);
  case AttrSlot::Margins:
    return fmt::format("{}=({}, {})", key, pair(a.top, a.bottom), pair(a.left, a.right));
  }
  return "";
}

// " {key=value, ...}": a leaf's initializer, or the attributes of the op's table rows.
std::string attrText(const Node &n) {
  const Attrs &a = n.attrs;
  std::vector<std::string> kv;
  if (n.op == OpKind::Param || n.op == OpKind::State) {
    kv.push_back(fmt::format("init={}", initName(a.init)));
    if (a.init == Init::GlorotUniform)
      kv.push_back(fmt::format("fan_in={}, fan_out={}", a.fanIn, a.fanOut));
  }
  for (const ArgSpec &arg : opInfo(n.op).args)
    if (std::string text = slotText(arg.name, arg.slot, a); !text.empty()) kv.push_back(text);
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

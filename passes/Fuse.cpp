// The fuse pass: groups nodes into kernels (Node::kernel) that become one loop nest each.
// Greedy, in node order: each unassigned node starts a kernel (its root); then elementwise
// users of the kernel's values whose other operands are already computed join as loop
// epilogues (bias is part of dense/conv already; activations, the sigmoid + loss + loss
// gradient of the output layer, elementwise chains). A weight-gradient kernel takes the bias
// gradient of the same upstream gradient along. relu_grad reads the relu output instead of
// its input (same sign), so pre-activations need no buffer. Activation gradients are computed
// once, as an epilogue of the kernel that produces their upstream gradient, and stored; only
// when that kernel cannot take them (a scatter loop) are they inlined, each consumer
// recomputing them from their operands (a first grouping pass finds which). Optimizer
// updates come last, one kernel per parameter: LLVM's cost per update then stays the same
// however many parameters there are (one function holding every update made its optimizer
// quadratic in the parameter count). ctx.fusionReport lists the kernels and, for each
// producer/consumer pair left in different kernels, why.
#include "passes/Fusion.h"
#include "passes/Pass.h"

#include <fmt/format.h>

#include <algorithm>

namespace nnc {

namespace {

// Weight-gradient ops whose loop visits every element of dy once (a bias gradient can ride on it).
bool isGradKernel(OpKind op) {
  return op == OpKind::DenseGradKernel || op == OpKind::Conv2DGradKernel;
}

// Roots whose loop produces each output element once, so epilogues can follow it.
bool supportsEpilogue(const Node &n) {
  if (isElementwiseOp(n.op) || hasProp(n.op, Epilogue)) return true;
  if (n.op == OpKind::Upsample2D || n.op == OpKind::Upsample2DGrad)
    return n.attrs.interpolation == Interpolation::Nearest;
  // Windows that do not overlap: each input element is written once, by its window.
  if (n.op == OpKind::MaxPool2DGrad) return n.attrs.sh == n.attrs.kh && n.attrs.sw == n.attrs.kw;
  return false;
}

// Categorical losses need a whole row; these are sums of per-element terms.
bool isElementLoss(OpKind op) {
  return op == OpKind::BinaryCrossentropy || op == OpKind::BinaryCrossentropyLogits ||
         op == OpKind::MSE;
}

struct Fuser {
  Graph &g;
  bool on;
  std::vector<std::vector<ValueId>> users;
  std::vector<int> group;
  std::vector<ValueId> roots; // per kernel id

  bool leaf(ValueId v) const { return opClass(g[v].op) == OpClass::Leaf; }
  bool ready(ValueId v) const {
    if (leaf(v) || group[size_t(v)] >= 0) return true;
    if (!g[v].inlined) return false;
    for (ValueId o : g[v].inputs)
      if (!ready(o)) return false;
    return true;
  }
  const TensorType &space(int k) const {
    const Node &r = g[roots[size_t(k)]];
    return r.type;
  }

  // Can `u` ride on kernel k's loop as an epilogue?
  bool canJoin(ValueId u, int k) const {
    const Node &n = g[u];
    if (!supportsEpilogue(g[roots[size_t(k)]])) return false;
    bool elem = isElementwiseOp(n.op);
    if (!elem && !isElementLoss(n.op)) return false;
    for (ValueId o : n.inputs) {
      if (!(g[o].type == space(k))) return false;
      if (!ready(o)) return false;
    }
    return true;
  }

  void assign(ValueId v, int k) {
    group[size_t(v)] = k;
    g[v].kernel = k;
  }

  void extend(int k) {
    ValueId root = roots[size_t(k)];
    const Node &r = g[root];
    if (r.op == OpKind::BiasGrad || isGradKernel(r.op)) {
      ValueId dy = r.op == OpKind::BiasGrad ? r.inputs[0] : r.inputs[1];
      for (ValueId u : users[size_t(dy)]) {
        const Node &n = g[u];
        if (group[size_t(u)] >= 0 || n.inlined) continue;
        bool pair = r.op == OpKind::BiasGrad ? isGradKernel(n.op) && n.inputs[1] == dy
                                             : n.op == OpKind::BiasGrad;
        if (!pair || !ready(n.inputs[0])) continue;
        assign(u, k);
        if (isGradKernel(n.op)) roots[size_t(k)] = u;
        return;
      }
      return;
    }
    // Joining only makes more operands ready, so repeating over the kernel's own members until
    // nothing changes reaches the same kernel whatever the order (and never scans the graph).
    std::vector<ValueId> members{root};
    bool changed = true;
    while (changed) {
      changed = false;
      for (size_t i = 0; i < members.size(); ++i)
        for (ValueId u : users[size_t(members[i])]) {
          if (group[size_t(u)] >= 0 || g[u].inlined || opClass(g[u].op) == OpClass::Update)
            continue;
          if (!canJoin(u, k)) continue;
          assign(u, k);
          members.push_back(u);
          changed = true;
        }
    }
  }

  // Greedy grouping in node order (Node::inlined already set); updates go last, one kernel
  // each, and inlined nodes take the kernel id of their first consumer.
  void groupAll() {
    int next = 0;
    for (ValueId v = 0; v < ValueId(g.size()); ++v) {
      const Node &n = g[v];
      if (leaf(v) || n.inlined || group[size_t(v)] >= 0) continue;
      if (on && opClass(n.op) == OpClass::Update) continue;
      int k = next++;
      roots.push_back(v);
      assign(v, k);
      if (on) extend(k);
    }
    for (ValueId v = 0; v < ValueId(g.size()); ++v) {
      if (group[size_t(v)] >= 0 || opClass(g[v].op) != OpClass::Update) continue;
      roots.push_back(v);
      assign(v, next++);
    }
    for (ValueId v = 0; v < ValueId(g.size()); ++v) {
      if (!g[v].inlined) continue;
      int k = -1;
      for (ValueId u : users[size_t(v)])
        if (g[u].kernel >= 0 && (k < 0 || g[u].kernel < k)) k = g[u].kernel;
      g[v].kernel = k;
    }
  }

  std::string refusal(ValueId p, ValueId c) const {
    const Node &pn = g[p], &cn = g[c];
    if (!on) return "fusion is off (--no-fuse)";
    if (opClass(cn.op) == OpClass::Update)
      return "optimizer updates run after all gradients, one kernel per parameter";
    int kp = group[size_t(p)];
    const Node &root = g[roots[size_t(kp)]];
    if (isBatchReductionOp(pn.op))
      return fmt::format("{} sums over the batch; its value is complete only after the loop",
                         opName(pn.op));
    if (!supportsEpilogue(root))
      return fmt::format("{} accumulates its output (scatter-add), so no element is final "
                         "inside its loop",
                         opName(root.op));
    if (isBatchReductionOp(cn.op))
      return fmt::format("{} sums over the batch; it rides only on the weight-gradient loop of "
                         "the same upstream gradient",
                         opName(cn.op));
    if (!isElementwiseOp(cn.op) && !isElementLoss(cn.op))
      return fmt::format("{} reads a window or row of its operand, not the same element",
                         opName(cn.op));
    for (ValueId o : cn.inputs)
      if (!(g[o].type == space(kp)))
        return fmt::format("shapes differ: {} loops over {}, {} reads {}", opName(root.op),
                           space(kp).str(), opName(cn.op), g[o].type.str());
    return fmt::format("{} was already fused into kernel {}", cn.name, group[size_t(c)]);
  }
};

} // namespace

Status fuse(Graph &g, PassContext &ctx) {
  std::string rewrites;
  if (ctx.fuse) {
    // relu_grad(x, dy) only tests x > 0, which equals relu(x) > 0: reading the relu output
    // (stored anyway for the next layer) lets the pre-activation stay inside its kernel.
    auto users = g.users();
    for (Node &n : g.nodes) {
      if (n.op != OpKind::ReluGrad) continue;
      for (ValueId r : users[size_t(n.inputs[0])])
        if (g[r].op == OpKind::Relu && g[r].inputs[0] == n.inputs[0]) {
          rewrites += fmt::format("relu_grad(%{}) reads the relu output %{} instead of %{}\n",
                                  n.name, g[r].name, g[n.inputs[0]].name);
          n.inputs[0] = r;
          break;
        }
    }
  }
  std::vector<bool> kept = keptToEnd(g);
  auto users = g.users();
  std::vector<bool> inlineSet(g.size(), false);
  Fuser f{g, ctx.fuse, users, {}, {}};
  auto regroup = [&] {
    for (ValueId v = 0; v < ValueId(g.size()); ++v) {
      g[v].kernel = -1;
      g[v].inlined = inlineSet[size_t(v)];
    }
    f.group.assign(g.size(), -1);
    f.roots.clear();
    f.groupAll();
  };
  regroup();
  if (ctx.fuse) {
    // The first grouping inlined nothing; an activation gradient that ended up alone (no
    // producer loop took it as an epilogue) is inlined into its consumers instead.
    for (ValueId v = 0; v < ValueId(g.size()); ++v) {
      const Node &n = g[v];
      if (!isInlinableOp(n.op) || kept[size_t(v)] || users[size_t(v)].empty()) continue;
      if (f.roots[size_t(f.group[size_t(v)])] != v) continue; // fused into its producer
      bool ok = true;
      for (ValueId o : n.inputs) ok = ok && !inlineSet[size_t(o)];
      for (ValueId u : users[size_t(v)]) ok = ok && opClass(g[u].op) != OpClass::Update;
      inlineSet[size_t(v)] = ok;
    }
    regroup();
  }

  std::string &r = ctx.fusionReport;
  r.clear();
  std::vector<KernelGroup> groups = kernelGroups(g);
  r += fmt::format("{} kernels for {} ops (fusion {})\n", groups.size(),
                   std::count_if(g.nodes.begin(), g.nodes.end(),
                                 [](const Node &n) { return opClass(n.op) != OpClass::Leaf; }),
                   f.on ? "on" : "off");
  r += rewrites;
  for (const KernelGroup &k : groups) {
    r += fmt::format("kernel {}:", k.id);
    for (ValueId m : k.members) {
      const Node &n = g[m];
      r += fmt::format(" {}{}", m == k.root ? "*" : "", opName(n.op));
      r += fmt::format("(%{})", n.name);
    }
    for (ValueId m : k.inlined) r += fmt::format(" +inlined {}(%{})", opName(g[m].op), g[m].name);
    r += "\n";
  }
  for (ValueId c = 0; c < ValueId(g.size()); ++c) {
    const Node &cn = g[c];
    if (f.leaf(c) || cn.inlined) continue;
    for (ValueId p : cn.inputs) {
      if (f.leaf(p) || g[p].inlined || g[p].kernel == cn.kernel) continue;
      r += fmt::format("not fused: {}(%{}) -> {}(%{}): {}\n", opName(g[p].op), g[p].name,
                       opName(cn.op), cn.name, f.refusal(p, c));
    }
  }
  return okStatus();
}

} // namespace nnc

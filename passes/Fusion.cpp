// Fusion group queries shared by the fuse and plan-memory passes. Groups are read back from
// Node::kernel; a value needs a buffer when something outside its kernel reads it.
#include "passes/Fusion.h"

#include <algorithm>

namespace nnc {

bool isElementwiseOp(OpKind op) {
  return hasProp(op, Elementwise);
}

bool isBatchReductionOp(OpKind op) {
  return hasProp(op, BatchReduction);
}

bool isInlinableOp(OpKind op) {
  return hasProp(op, Inlinable);
}

int64_t valueBytes(const Node &n) {
  return n.type.elements() * int64_t(sizeof(float));
}

namespace {
bool isGradKernel(OpKind op) {
  return op == OpKind::DenseGradKernel || op == OpKind::Conv2DGradKernel ||
         op == OpKind::Conv2DTransposeGradKernel;
}

// Groups that read `v` (through inlined users too).
void collectUseGroups(const Graph &g, const std::vector<std::vector<ValueId>> &users, ValueId v,
                      std::vector<int> &out) {
  for (ValueId u : users[size_t(v)]) {
    if (g[u].inlined)
      collectUseGroups(g, users, u, out);
    else
      out.push_back(g[u].kernel);
  }
}
} // namespace

std::vector<KernelGroup> kernelGroups(const Graph &g) {
  int count = 0;
  for (const Node &n : g.nodes)
    if (!n.inlined) count = std::max(count, n.kernel + 1);
  std::vector<KernelGroup> groups{size_t(count)};
  for (int i = 0; i < count; ++i) groups[size_t(i)].id = i;
  auto users = g.users();
  for (ValueId v = 0; v < ValueId(g.size()); ++v) {
    const Node &n = g[v];
    if (n.kernel < 0 || opClass(n.op) == OpClass::Leaf) continue;
    if (n.inlined) {
      std::vector<int> ks;
      collectUseGroups(g, users, v, ks);
      std::sort(ks.begin(), ks.end());
      ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
      for (int k : ks)
        if (k >= 0 && k < count) groups[size_t(k)].inlined.push_back(v);
      continue;
    }
    groups[size_t(n.kernel)].members.push_back(v);
  }
  for (KernelGroup &k : groups) {
    if (k.members.empty()) continue;
    k.root = k.members.front();
    for (ValueId m : k.members)
      if (isGradKernel(g[m].op)) k.root = m;
    const Node &r = g[k.root];
    bool reduction = isBatchReductionOp(r.op);
    k.batched = reduction ? g[r.inputs[0]].type.batched : r.type.batched;
    if (opClass(r.op) == OpClass::Update) k.batched = false;
    for (ValueId m : k.members)
      if (isBatchReductionOp(g[m].op)) {
        k.reductions.push_back({m, k.partialFloats, g[m].type.elements()});
        k.partialFloats += g[m].type.elements();
      }
  }
  std::erase_if(groups, [](const KernelGroup &k) { return k.members.empty(); });
  return groups;
}

std::vector<bool> keptToEnd(const Graph &g) {
  std::vector<bool> kept(g.size(), false);
  auto mark = [&](ValueId v) {
    if (v >= 0 && size_t(v) < kept.size()) kept[size_t(v)] = true;
  };
  mark(g.loss);
  for (ValueId v : g.outputs) mark(v);
  for (const auto &[p, gv] : g.grads) mark(gv);
  return kept;
}

std::vector<bool> storedValues(const Graph &g) {
  std::vector<bool> kept = keptToEnd(g), stored(g.size(), false);
  auto users = g.users();
  for (ValueId v = 0; v < ValueId(g.size()); ++v) {
    const Node &n = g[v];
    if (n.inlined) continue;
    OpClass c = opClass(n.op);
    if (c == OpClass::Leaf || c == OpClass::Update || c == OpClass::Loss ||
        isBatchReductionOp(n.op) || kept[size_t(v)]) {
      stored[size_t(v)] = true;
      continue;
    }
    std::vector<int> ks;
    collectUseGroups(g, users, v, ks);
    for (int k : ks)
      if (k != n.kernel) stored[size_t(v)] = true;
    for (ValueId u : users[size_t(v)])
      if (g[u].inlined) stored[size_t(v)] = true;
  }
  return stored;
}

} // namespace nnc

// The decompose pass: composite forms become primitives before autodiff.
// - A layer with activation=A becomes two nodes: the layer itself, renamed "NAME.pre" and
//   linear, followed by an A node that takes over the value name, layer name and location,
//   so users and outputs keep reading "NAME".
// - binary_crossentropy(sigmoid(z), t) becomes binary_crossentropy_logits(z, t), and
//   categorical_crossentropy(softmax(z), t) becomes categorical_crossentropy_logits(z, t)
//   (numerically stable; the sigmoid/softmax node stays for the model output).
// The node vector is rebuilt in order, so the graph stays topologically sorted, and every id
// list of the graph is remapped.
#include "ir/OpTable.h"
#include "passes/Pass.h"

#include <fmt/format.h>

#include <set>

namespace nnc {
Status decompose(Graph &g, PassContext &) {
  std::set<std::string> names;
  for (const Node &n : g.nodes) names.insert(n.name);
  auto unique = [&](const std::string &base) {
    std::string s = base;
    for (int k = 2; names.count(s); ++k) s = fmt::format("{}.{}", base, k);
    names.insert(s);
    return s;
  };

  std::vector<Node> out;
  out.reserve(g.nodes.size() * 2);
  std::vector<ValueId> remap(g.nodes.size(), kNoValue);
  for (size_t v = 0; v < g.nodes.size(); ++v) {
    Node n = g.nodes[v];
    for (ValueId &i : n.inputs) i = remap[size_t(i)];
    if ((n.op == OpKind::BinaryCrossentropy || n.op == OpKind::CategoricalCrossentropy) &&
        !n.inputs.empty()) {
      const Node &pred = out[size_t(n.inputs[0])];
      OpKind squash = n.op == OpKind::BinaryCrossentropy ? OpKind::Sigmoid : OpKind::Softmax;
      if (pred.op == squash && pred.inputs.size() == 1) {
        n.op = n.op == OpKind::BinaryCrossentropy ? OpKind::BinaryCrossentropyLogits
                                                  : OpKind::CategoricalCrossentropyLogits;
        n.inputs[0] = pred.inputs[0];
      }
    }
    std::optional<OpKind> act = n.attrs.activation;
    if (!act) {
      out.push_back(std::move(n));
      remap[v] = ValueId(out.size() - 1);
      continue;
    }
    Node a;
    a.op = *act;
    a.attrs = defaultAttrs(*act);
    a.type = n.type;
    a.name = n.name;
    a.layer = n.layer;
    a.loc = n.loc;
    a.role = n.role;
    a.stats = n.stats;
    a.stats.params = 0;
    a.stats.macs = 0;
    n.attrs.activation.reset();
    n.name = unique(n.name + ".pre");
    out.push_back(std::move(n));
    a.inputs = {ValueId(out.size() - 1)};
    out.push_back(std::move(a));
    remap[v] = ValueId(out.size() - 1);
  }

  auto map = [&](ValueId &v) {
    if (v != kNoValue) v = remap[size_t(v)];
  };
  for (ValueId &v : g.inputs) map(v);
  for (ValueId &v : g.params) map(v);
  for (ValueId &v : g.outputs) map(v);
  for (ValueId &v : g.states) map(v);
  for (ValueId &v : g.updates) map(v);
  map(g.loss);
  std::map<ValueId, ValueId> grads;
  for (auto [p, d] : g.grads) grads[remap[size_t(p)]] = remap[size_t(d)];
  g.grads = std::move(grads);
  for (Node &n : out) map(n.gradOf);
  g.nodes = std::move(out);
  return okStatus();
}

} // namespace nnc

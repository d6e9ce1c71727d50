// The IR verifier, one pass over the nodes in id order: every value has a unique name; every
// operand is defined before its use (so the graph is acyclic and in topological order); the
// type a node carries equals the one its shape rule infers from its operands (errors print
// "expected T, got U"). Then the graph's lists are checked: inputs, params and states name
// nodes of their kind, outputs exist, and the loss is a loss op. Every broken invariant is
// collected; one Error lists them all.
#include "ir/Verifier.h"
#include "ir/ShapeRules.h"

#include <fmt/format.h>

#include <map>

namespace nnc {

Status verify(const Graph &g) {
  std::vector<std::string> errs;
  auto err = [&](const Node &n, std::string msg) {
    errs.push_back(fmt::format("%{}{}: {}", n.name,
                               n.loc.valid() ? fmt::format(" ({}:{})", n.loc.line, n.loc.col) : "",
                               msg));
  };
  std::map<std::string, size_t> names;
  for (size_t i = 0; i < g.size(); ++i) {
    const Node &n = g.nodes[i];
    if (n.name.empty())
      err(n, "value has no name");
    else if (!names.emplace(n.name, i).second)
      err(n, "value name is used twice");
    bool order = true;
    for (ValueId v : n.inputs)
      if (v < 0 || size_t(v) >= i) {
        err(n, fmt::format("operand %{} is not defined before its use", v));
        order = false;
      }
    if (!order) continue;
    TypeResult r = inferType(g, n);
    if (!r.type)
      err(n, r.error);
    else if (!(*r.type == n.type))
      err(n, fmt::format("type mismatch: expected {}, got {}", r.type->str(), n.type.str()));
  }
  auto check = [&](const std::vector<ValueId> &ids, OpKind want, const char *what) {
    for (ValueId v : ids)
      if (v < 0 || size_t(v) >= g.size() || (want != OpKind::Input && g[v].op != want) ||
          (want == OpKind::Input && g[v].op != OpKind::Input))
        errs.push_back(fmt::format("{} list holds %{} which is not a {}", what, v, opName(want)));
  };
  check(g.inputs, OpKind::Input, "input");
  check(g.params, OpKind::Param, "param");
  check(g.states, OpKind::State, "state");
  for (ValueId v : g.outputs)
    if (v < 0 || size_t(v) >= g.size()) errs.push_back(fmt::format("output %{} does not exist", v));
  if (g.loss != kNoValue) {
    if (g.loss < 0 || size_t(g.loss) >= g.size() || opClass(g[g.loss].op) != OpClass::Loss)
      errs.push_back("the loss value is not a loss op");
  }
  if (errs.empty()) return okStatus();
  std::string msg = "IR verification failed:";
  for (const std::string &e : errs) msg += "\n  " + e;
  return Error{msg};
}

} // namespace nnc

// The autodiff pass: reverse-mode differentiation as a graph-to-graph transformation.
// 1. Mark the values on a path from a trainable parameter (or, with ctx.inputGrads, an input)
//    to the loss. 2. Walk the forward nodes backwards from the loss; each node's upstream
//    gradient is the sum (add nodes) of the contributions its users emitted, and its rule in
//    GradRules.cpp emits the contributions for its operands. 3. Mark the forward values the
//    backward nodes read (keep). 4. Append optimizer state leaves and one update node per
//    parameter with the Keras formulas (see runtime/Interpreter.cpp), reading
//    Graph::train. Adam's shared "iterations" state counts finished steps; the backend adds 1
//    to it after all update nodes of a step ran.
#include "passes/GradRules.h"
#include "passes/Pass.h"

#include "ir/ShapeRules.h"

#include <fmt/format.h>

#include <set>

namespace nnc {
namespace {

struct OptimizerSpec {
  OpKind op;
  std::vector<std::string> slots;
  bool iterations;
  Attrs attrs;
};

Result<OptimizerSpec> optimizerSpec(const TrainConfig &t) {
  OptimizerSpec s{OpKind::SGDUpdate, {}, false, {}};
  Attrs &a = s.attrs;
  if (t.optimizer == "sgd") {
    a.lr = 0.01; // momentum 0, no nesterov: no state
  } else if (t.optimizer == "adam") {
    s.op = OpKind::AdamUpdate;
    a.lr = 0.001, a.beta1 = 0.9, a.beta2 = 0.999, a.eps = 1e-7;
    s.slots = {"momentum", "velocity"};
    s.iterations = true;
  } else if (t.optimizer == "adadelta") {
    s.op = OpKind::AdadeltaUpdate;
    a.lr = 0.001, a.rho = 0.95, a.eps = 1e-7;
    s.slots = {"accum_grad", "accum_var"};
  } else if (t.optimizer == "rmsprop") {
    s.op = OpKind::RMSpropUpdate;
    a.lr = 0.001, a.rho = 0.9, a.eps = 1e-7;
    s.slots = {"velocity"};
  } else {
    return Error{fmt::format("unknown optimizer '{}' (expected sgd, adam, adadelta or rmsprop)",
                             t.optimizer)};
  }
  if (t.lr) a.lr = *t.lr;
  return s;
}

class Autodiff {
public:
  Autodiff(Graph &g, PassContext &ctx) : g_(g), ctx_(ctx) {}
  Status run();

private:
  Graph &g_;
  PassContext &ctx_;
  size_t forwardEnd_ = 0;
  std::vector<bool> active_;
  std::vector<int> pending_;                   // contributions each value will receive
  std::vector<std::vector<ValueId>> contribs_; // contributions received so far
  std::vector<ValueId> grad_;                  // final gradient of each active value
  std::set<std::string> names_;

  Status fail(SourceLoc loc, const std::string &msg) {
    if (ctx_.diags) ctx_.diags->error(loc, msg);
    return Error{msg};
  }
  std::string uniqueName(std::string base) {
    std::string n = base;
    for (int k = 2; names_.count(n); ++k) n = fmt::format("{}.{}", base, k);
    names_.insert(n);
    return n;
  }
  Result<ValueId> append(Node n);
  Result<ValueId> finalGrad(ValueId x);
  Status markActive();
  Status backward();
  Status optimizer();
};

Result<ValueId> Autodiff::append(Node n) {
  TypeResult t = inferType(g_, n);
  if (!t.type) return Error{fmt::format("autodiff: {} '{}': {}", opName(n.op), n.name, t.error)};
  n.type = *t.type;
  return g_.add(std::move(n));
}

Status Autodiff::markActive() {
  size_t n = forwardEnd_;
  std::vector<bool> diff(n, false), reach(n, false);
  for (size_t v = 0; v < n; ++v) {
    const Node &nd = g_.nodes[v];
    if (nd.attrs.activation)
      return fail(nd.loc, fmt::format("autodiff: '{}' still has activation={}; run decompose first",
                                      nd.name, opName(*nd.attrs.activation)));
    if (nd.op == OpKind::Param)
      diff[v] = nd.trainable;
    else if (nd.op == OpKind::Input)
      diff[v] = ctx_.inputGrads;
    else if (nd.op != OpKind::State)
      for (ValueId i : nd.inputs) diff[v] = diff[v] || diff[size_t(i)];
  }
  // The loss reaches its prediction only: a target is a constant, not a path to the loss.
  reach[size_t(g_.loss)] = true;
  reach[size_t(g_[g_.loss].inputs[0])] = true;
  for (size_t v = n; v-- > 0;)
    if (reach[v] && ValueId(v) != g_.loss)
      for (ValueId i : g_.nodes[v].inputs) reach[size_t(i)] = true;
  active_.assign(n, false);
  for (size_t v = 0; v < n; ++v) active_[v] = diff[v] && reach[v];
  pending_.assign(n, 0);
  for (size_t v = 0; v < n; ++v)
    if (active_[v] && g_.nodes[v].op != OpKind::Input && g_.nodes[v].op != OpKind::Param)
      for (ValueId i : g_.nodes[v].inputs)
        if (active_[size_t(i)]) ++pending_[size_t(i)];
  return okStatus();
}

// Sums the contributions of x (add nodes, in the order they were emitted).
Result<ValueId> Autodiff::finalGrad(ValueId x) {
  std::vector<ValueId> &c = contribs_[size_t(x)];
  if (c.empty()) return kNoValue;
  ValueId acc = c[0];
  for (size_t k = 1; k < c.size(); ++k) {
    Node n;
    n.op = OpKind::Add;
    n.inputs = {acc, c[k]};
    n.role = Role::Backward;
    n.gradOf = x;
    n.loc = g_[x].loc;
    n.layer = g_[x].layer;
    n.name = uniqueName(k + 1 == c.size() ? "d." + g_[x].name
                                          : fmt::format("d.{}.acc{}", g_[x].name, k));
    Result<ValueId> r = append(std::move(n));
    if (!r) return r;
    acc = *r;
  }
  return acc;
}

Status Autodiff::backward() {
  contribs_.assign(forwardEnd_, {});
  grad_.assign(forwardEnd_, kNoValue);
  for (size_t v = forwardEnd_; v-- > 0;) {
    if (!active_[v]) continue;
    ValueId self = ValueId(v);
    Result<ValueId> dy = kNoValue;
    if (self != g_.loss) {
      dy = finalGrad(self);
      if (!dy) return fail(g_[self].loc, dy.error());
      grad_[v] = *dy;
    }
    OpKind op = g_[self].op;
    if (op == OpKind::Input || op == OpKind::Param) continue;
    GradRule rule = gradRule(op);
    if (!rule)
      return fail(g_[self].loc, fmt::format("autodiff: no gradient rule for {}", opName(op)));
    GradContext c{g_, self, *dy, {}, {}, {}};
    for (ValueId i : g_[self].inputs) c.wanted.push_back(active_[size_t(i)]);
    c.give = [&](size_t i, ValueId val) { contribs_[size_t(g_[self].inputs[i])].push_back(val); };
    c.emit = [&](size_t i, OpKind gop, std::vector<ValueId> ins, Attrs a) -> Result<ValueId> {
      ValueId x = g_[self].inputs[i];
      Node n;
      n.op = gop;
      n.inputs = std::move(ins);
      n.attrs = std::move(a);
      n.role = Role::Backward;
      n.gradOf = x;
      n.loc = g_[self].loc;
      n.layer = g_[self].layer;
      n.name = uniqueName(pending_[size_t(x)] == 1
                              ? "d." + g_[x].name
                              : fmt::format("d.{}.from.{}", g_[x].name, g_[self].name));
      Result<ValueId> r = append(std::move(n));
      if (r) contribs_[size_t(x)].push_back(*r);
      return r;
    };
    Status s = rule(c);
    if (!s) return fail(g_[self].loc, s.error());
  }
  for (size_t v = forwardEnd_; v < g_.size(); ++v)
    for (ValueId i : g_.nodes[v].inputs)
      if (g_[i].role == Role::Forward) g_[i].keep = true;
  for (ValueId p : g_.params)
    if (size_t(p) < forwardEnd_ && grad_[size_t(p)] != kNoValue) g_.grads[p] = grad_[size_t(p)];
  if (ctx_.inputGrads)
    for (ValueId x : g_.inputs)
      if (grad_[size_t(x)] != kNoValue) g_.grads[x] = grad_[size_t(x)];
  return okStatus();
}

Status Autodiff::optimizer() {
  Result<OptimizerSpec> spec = optimizerSpec(g_.train);
  if (!spec) return fail(g_.train.loc, spec.error());
  auto state = [&](const std::string &name, TensorType t, const std::string &layer) {
    Node n;
    n.op = OpKind::State;
    n.type = std::move(t);
    n.name = uniqueName(name);
    n.layer = layer;
    n.role = Role::Update;
    n.attrs.init = Init::Zeros;
    ValueId id = g_.add(std::move(n));
    g_.states.push_back(id);
    return id;
  };
  ValueId iterations = kNoValue;
  if (spec->iterations) iterations = state("iterations", TensorType{false, {}}, "");
  for (ValueId p : g_.params) {
    auto it = g_.grads.find(p);
    if (it == g_.grads.end()) continue;
    std::vector<ValueId> ins = {p, it->second};
    for (const std::string &slot : spec->slots)
      ins.push_back(state(g_[p].name + "." + slot, g_[p].type, g_[p].layer));
    if (iterations != kNoValue) ins.push_back(iterations);
    Node u;
    u.op = spec->op;
    u.inputs = std::move(ins);
    u.attrs = spec->attrs;
    u.role = Role::Update;
    u.name = uniqueName(g_[p].name + ".update");
    u.layer = g_[p].layer;
    u.loc = g_.train.loc;
    Result<ValueId> r = append(std::move(u));
    if (!r) return fail(g_.train.loc, r.error());
    g_.updates.push_back(*r);
  }
  return okStatus();
}

Status Autodiff::run() {
  if (g_.loss == kNoValue || size_t(g_.loss) >= g_.size())
    return fail({}, "autodiff: the model has no loss statement to differentiate");
  if (!g_.grads.empty() || !g_.updates.empty())
    return fail({}, "autodiff: the graph is already a training graph");
  for (const Node &n : g_.nodes) names_.insert(n.name);
  forwardEnd_ = g_.size();
  if (Status s = markActive(); !s) return s;
  if (Status s = backward(); !s) return s;
  return optimizer();
}

} // namespace

Status autodiff(Graph &g, PassContext &ctx) {
  return Autodiff(g, ctx).run();
}

} // namespace nnc

// Gradient check. The model is differentiated with respect to its parameters and inputs
// (decompose + autodiff with inputGrads), run once by the interpreter for the analytic
// gradients, then each checked coordinate is moved by +-eps and the loss recomputed:
// numeric = (f(x + eps) - f(x - eps)) / (2 eps). Relu, maxpool and crossentropy clipping are
// not differentiable at their kinks; a coordinate whose step changes the interpreter's kink
// signature (relu signs, maxpool argmaxes, clip flags) is skipped rather than compared.
#include "runtime/GradCheck.h"

#include "passes/Pipeline.h"
#include "runtime/Init.h"
#include "runtime/Interpreter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace nnc {
namespace {

// Gives the loss its own copy of an input used as the target (inserted right after it), so
// perturbing the input moves only the network's path to the prediction. Returns the names
// of the input and of its copy.
std::optional<std::pair<std::string, std::string>> detachTarget(Graph &g) {
  if (g.loss == kNoValue || g[g.loss].inputs.size() < 2) return std::nullopt;
  ValueId t = g[g.loss].inputs[1];
  if (g[t].op != OpKind::Input) return std::nullopt;
  Node copy = g[t];
  copy.name = g[t].name + ".target";
  auto shift = [&](ValueId &v) {
    if (v != kNoValue && v > t) ++v;
  };
  for (Node &n : g.nodes)
    for (ValueId &i : n.inputs) shift(i);
  for (ValueId &v : g.inputs) shift(v);
  for (ValueId &v : g.params) shift(v);
  for (ValueId &v : g.outputs) shift(v);
  shift(g.loss);
  g.nodes.insert(g.nodes.begin() + t + 1, std::move(copy));
  g.inputs.push_back(t + 1);
  g[g.loss].inputs[1] = t + 1;
  return std::make_pair(g[t].name, g[t + 1].name);
}

} // namespace

bool GradCheckReport::ok() const {
  return std::all_of(rows.begin(), rows.end(), [](const GradCheckRow &r) { return r.ok; });
}

std::string GradCheckReport::table() const {
  size_t w = 6;
  for (const GradCheckRow &r : rows) w = std::max(w, r.tensor.size());
  std::string s = fmt::format("{:<{}}  {:>7}  {:>7}  {:>11}  {:>13}  {:>13}  {}\n", "tensor", w,
                              "checked", "skipped", "max rel err", "analytic", "numeric", "status");
  for (const GradCheckRow &r : rows)
    s += fmt::format("{:<{}}  {:>7}  {:>7}  {:>11.3e}  {:>13.6e}  {:>13.6e}  {}\n", r.tensor, w,
                     r.checked, r.skipped, r.relError, r.analytic, r.numeric,
                     r.ok ? "ok" : (r.checked == 0 ? "FAIL (all on kinks)" : "FAIL"));
  return s;
}

Result<GradCheckReport> gradCheck(const Graph &model, const GradCheckOptions &opt) {
  if (opt.batch <= 0) return Error{"gradcheck: batch must be positive"};
  Graph g = model;
  auto target = detachTarget(g);
  PassContext ctx;
  ctx.inputGrads = true;
  if (Status s = runPasses(g, ctx, trainingPasses()); !s) return Error{s.error()};

  SplitMix64 rng(opt.seed ^ 0x6772616463686b00ULL);
  TensorMapD params;
  for (const auto &[name, t] : initialTensors(g, opt.seed)) {
    TensorD &d = params[name];
    d.shape = t.shape;
    d.data.assign(t.data.begin(), t.data.end());
    ValueId v = g.find(name);
    if (g[v].op == OpKind::Param && g[v].attrs.init == Init::Zeros)
      for (double &x : d.data) x = 0.2 * rng.uniformD() - 0.1;
  }
  TensorMapD inputs;
  for (ValueId x : g.inputs) {
    TensorD &d = inputs[g[x].name];
    d.shape = g[x].type.dims;
    if (g[x].type.batched) d.shape.insert(d.shape.begin(), opt.batch);
    d.data.resize(size_t(d.elements()));
    for (double &v : d.data) v = rng.uniformD();
  }
  if (target) inputs[target->second] = inputs[target->first];

  Interpreter interp(g);
  if (Status s = interp.setTensorsD(params); !s) return Error{s.error()};
  TensorMapD grads;
  Result<double> base = interp.gradientsD(inputs, opt.batch, grads);
  if (!base) return Error{base.error()};
  uint64_t sig0 = interp.kinkSignature();

  GradCheckReport report;
  for (const auto &[pid, gid] : g.grads) {
    const std::string &name = g[pid].name;
    const TensorD &analytic = grads[name];
    bool isParam = g[pid].op == OpKind::Param;
    TensorD &x = isParam ? params[name] : inputs[name];
    int64_t size = x.elements();

    std::vector<int64_t> coords;
    if (opt.maxCoords <= 0 || size <= opt.maxCoords) {
      for (int64_t i = 0; i < size; ++i) coords.push_back(i);
    } else {
      std::set<int64_t> pick;
      auto largest = std::max_element(analytic.data.begin(), analytic.data.end(),
                                      [](double a, double b) { return std::abs(a) < std::abs(b); });
      pick.insert(int64_t(largest - analytic.data.begin()));
      while (int64_t(pick.size()) < opt.maxCoords)
        pick.insert(int64_t(rng.next() % uint64_t(size)));
      coords.assign(pick.begin(), pick.end());
    }

    GradCheckRow row;
    row.tensor = name;
    double worstRatio = -1;
    auto loss = [&]() -> Result<double> {
      if (isParam) {
        if (Status s = interp.setTensorsD({{name, x}}); !s) return Error{s.error()};
      }
      return interp.evaluateD(inputs, opt.batch);
    };
    for (int64_t i : coords) {
      double saved = x.data[size_t(i)];
      x.data[size_t(i)] = saved + opt.eps;
      Result<double> fp = loss();
      uint64_t sigp = interp.kinkSignature();
      x.data[size_t(i)] = saved - opt.eps;
      Result<double> fm = loss();
      uint64_t sigm = interp.kinkSignature();
      x.data[size_t(i)] = saved;
      if (!fp) return Error{fp.error()};
      if (!fm) return Error{fm.error()};
      if (sigp != sig0 || sigm != sig0) {
        ++row.skipped;
        continue;
      }
      ++row.checked;
      double a = analytic.data[size_t(i)], n = (*fp - *fm) / (2 * opt.eps);
      double ratio = std::abs(a - n) / (opt.absTol + opt.relTol * std::abs(n));
      if (ratio > worstRatio) {
        worstRatio = ratio;
        row.worst = i;
        row.analytic = a;
        row.numeric = n;
        double scale = std::max(std::abs(a), std::abs(n));
        row.relError = scale > 0 ? std::abs(a - n) / scale : 0.0;
      }
    }
    if (isParam)
      if (Status s = interp.setTensorsD({{name, x}}); !s) return Error{s.error()};
    row.ok = row.checked > 0 && worstRatio <= 1.0;
    report.rows.push_back(std::move(row));
  }
  return report;
}

} // namespace nnc

// The profile of `nnc explore --profile`: the model's training graph compiled by the JIT
// backend, Keras-default initial weights, one warm-up training step and then a few timed ones
// on a batch of random inputs in [0, 1) (kernel times do not depend on the values), with the
// time and FLOPs of each kernel read from the backend's own counters (the numbers NNC_DEBUG=1
// prints) as the difference between after the warm-up and after the last step. Each kernel
// lists the layers of its members, so the page can link it to them.
#include "tools/nnc/Explore.h"

#include "passes/Pipeline.h"
#include "runtime/Init.h"
#include "runtime/JitBackend.h"

#include <chrono>
#include <set>
#include <thread>

namespace json = llvm::json;

namespace nnc::driver {

namespace {

/// Random inputs in [0, 1) for every input of `g`, `batch` examples each.
TensorMap randomInputs(const Graph &g, int64_t batch) {
  SplitMix64 rng(1);
  TensorMap inputs;
  for (ValueId v : g.inputs) {
    Tensor t;
    t.shape.push_back(batch);
    for (int64_t d : g[v].type.dims) t.shape.push_back(d);
    t.data.resize(size_t(t.elements()));
    for (float &x : t.data) x = rng.uniform();
    inputs[g[v].name] = std::move(t);
  }
  return inputs;
}

json::Array kernelRows(const JitBackend &jb, const std::vector<double> &seconds0,
                       const std::vector<double> &flops0, int steps) {
  json::Array rows;
  const Graph &g = jb.graph();
  for (size_t i = 0; i < jb.kernels().size(); ++i) {
    const KernelInfo &k = jb.kernels()[i];
    std::set<std::string> layers;
    for (ValueId m : jb.plan().kernels[i].members)
      layers.insert(g[m].layer.empty() ? g[m].name : g[m].layer);
    double secs = (jb.kernelSeconds()[i] - seconds0[i]) / steps;
    double flops = (jb.kernelFlops()[i] - flops0[i]) / steps;
    json::Array names;
    for (const std::string &l : layers) names.push_back(l);
    rows.push_back(json::Object{{"id", int64_t(k.id)},
                                {"name", k.name},
                                {"role", roleName(k.role)},
                                {"layers", std::move(names)},
                                {"seconds", secs},
                                {"flops", flops},
                                {"gflops", secs > 0 ? flops / secs * 1e-9 : 0.0}});
  }
  return rows;
}

} // namespace

Result<json::Object> exploreProfile(const std::string &file, const std::string &source, int steps) {
  DiagEngine diags(file, source);
  std::optional<Graph> g = compileSource(source, file, diags);
  if (!g) return Error{diags.render()};
  if (g->loss == kNoValue) return Error{"the model has no loss statement: nothing to train"};
  PassContext ctx;
  if (Status s = runPasses(*g, ctx, trainingPasses()); !s) return Error{s.error()};
  const int64_t batch = g->train.batch;
  TensorMap inputs = randomInputs(*g, batch);
  TensorMap weights = initialTensors(*g, 0);
  Result<std::unique_ptr<JitBackend>> jb = JitBackend::create(std::move(*g));
  if (!jb) return Error{jb.error()};
  if (Status s = (*jb)->setTensors(weights); !s) return Error{s.error()};
  if (Result<double> warm = (*jb)->trainStep(inputs, batch); !warm) return Error{warm.error()};
  std::vector<double> seconds0 = (*jb)->kernelSeconds(), flops0 = (*jb)->kernelFlops();
  auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s)
    if (Result<double> loss = (*jb)->trainStep(inputs, batch); !loss) return Error{loss.error()};
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return json::Object{{"batch", batch},
                      {"steps", int64_t(steps)},
                      {"threads", int64_t(std::thread::hardware_concurrency())},
                      {"optimizer", (*jb)->graph().train.optimizer},
                      {"stepSeconds", wall / steps},
                      {"stepFlops", (*jb)->stepFlops(batch)},
                      {"compileSeconds", (*jb)->compileSeconds()},
                      {"compileReport", (*jb)->timeReport()},
                      {"kernels", kernelRows(**jb, seconds0, flops0, steps)}};
}

} // namespace nnc::driver

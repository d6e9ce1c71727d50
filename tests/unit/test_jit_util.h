// Helpers for the JIT tests: compile a .nn source to a training graph, run it on the
// reference interpreter and on the JIT from the same initial tensors, and compare.
#pragma once

#include "passes/Pipeline.h"
#include "runtime/Init.h"
#include "runtime/Interpreter.h"
#include "runtime/JitBackend.h"

#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

namespace nnc {
Status decompose(Graph &g, PassContext &ctx);
Status autodiff(Graph &g, PassContext &ctx);
} // namespace nnc

namespace nnc::jittest {

/// Reads a file of the source tree.
inline std::string readSource(const std::string &rel) {
  std::ifstream in(std::string(NNC_SOURCE_DIR) + "/" + rel);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Compiles `src` and runs decompose (and autodiff when the model has a loss).
inline std::optional<Graph> trainingGraph(const std::string &src, std::string *error = nullptr) {
  DiagEngine diags("test.nn", src);
  std::optional<Graph> g = compileSource(src, "test.nn", diags);
  if (!g) {
    if (error) *error = diags.render();
    return std::nullopt;
  }
  PassContext ctx;
  Status s = decompose(*g, ctx);
  if (s && g->loss != kNoValue) s = autodiff(*g, ctx);
  if (!s) {
    if (error) *error = s.error();
    return std::nullopt;
  }
  return g;
}

/// Uniform [0, 1) inputs for every Input node of `g`, batch n.
inline TensorMap randomInputs(const Graph &g, int64_t n, uint64_t seed) {
  SplitMix64 rng(seed);
  TensorMap in;
  for (ValueId x : g.inputs) {
    Tensor &t = in[g[x].name];
    t.shape = g[x].type.dims;
    t.shape.insert(t.shape.begin(), n);
    t.data.resize(size_t(t.elements()));
    for (float &v : t.data) v = rng.uniform();
  }
  return in;
}

/// Within 1e-4, absolute or relative.
inline bool close(double a, double b) {
  double d = std::fabs(a - b);
  return d <= 1e-4 || d <= 1e-4 * std::fabs(b);
}

/// Counts elements of `got` that are not close to `want` (shapes must match); reports the first.
inline int64_t mismatches(const TensorMap &got, const TensorMap &want, std::string &first) {
  int64_t bad = 0;
  for (const auto &[name, w] : want) {
    auto it = got.find(name);
    if (it == got.end() || it->second.shape != w.shape) {
      if (first.empty()) first = name + ": missing or wrong shape";
      ++bad;
      continue;
    }
    for (size_t i = 0; i < w.data.size(); ++i)
      if (!close(it->second.data[i], w.data[i])) {
        if (first.empty())
          first = name + "[" + std::to_string(i) + "]: jit " + std::to_string(it->second.data[i]) +
                  " vs interp " + std::to_string(w.data[i]);
        ++bad;
      }
  }
  return bad;
}

/// Runs forward, gradients and one training step on the interpreter and the JIT and
/// requires agreement within 1e-4.
inline void compareWithInterpreter(const Graph &g, const JitOptions &opts, int64_t n,
                                   uint64_t seed) {
  Interpreter ref(g);
  Result<std::unique_ptr<JitBackend>> jit = JitBackend::create(g, opts);
  INFO((jit ? std::string() : jit.error()));
  REQUIRE(jit.ok());
  JitBackend &j = **jit;
  TensorMap init = initialTensors(g, seed);
  REQUIRE(ref.setTensors(init).ok());
  REQUIRE(j.setTensors(init).ok());
  TensorMap in = randomInputs(g, n, seed + 1);
  std::string first;
  INFO(j.fusionReport());

  TensorMap outRef, outJit;
  Result<double> l1 = ref.evaluate(in, n, &outRef);
  Result<double> l2 = j.evaluate(in, n, &outJit);
  REQUIRE(l1.ok());
  REQUIRE(l2.ok());
  CHECK(close(*l2, *l1));
  CHECK_MESSAGE(mismatches(outJit, outRef, first) == 0, "forward: " << first);
  if (g.grads.empty()) return;

  TensorMap gRef, gJit;
  REQUIRE(ref.gradients(in, n, gRef).ok());
  REQUIRE(j.gradients(in, n, gJit).ok());
  first.clear();
  CHECK_MESSAGE(mismatches(gJit, gRef, first) == 0, "gradients: " << first);

  Result<double> s1 = ref.trainStep(in, n), s2 = j.trainStep(in, n);
  REQUIRE(s1.ok());
  REQUIRE(s2.ok());
  CHECK(close(*s2, *s1));
  first.clear();
  CHECK_MESSAGE(mismatches(j.tensors(), ref.tensors(), first) == 0, "after one step: " << first);
}

} // namespace nnc::jittest

// Helpers shared by the autodiff/interpreter tests: compile a .nn source and run the checks.
#pragma once

#include "passes/Pipeline.h"
#include "runtime/GradCheck.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace nnc::adtest {

/// Compiles `src` through the analysis passes; fails the test with the diagnostics otherwise.
inline Graph compile(const std::string &src, const std::string &file = "test.nn") {
  DiagEngine diags(file, src);
  std::optional<Graph> g = compileSource(src, file, diags);
  INFO(diags.render());
  REQUIRE(g.has_value());
  return *g;
}

/// Reads a file of the source tree.
inline std::string readSource(const std::string &rel) {
  std::ifstream in(std::string(NNC_SOURCE_DIR) + "/" + rel);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Runs the training passes (decompose, autodiff) on a copy of `g`.
inline Graph training(Graph g, bool inputGrads = false) {
  PassContext ctx;
  ctx.inputGrads = inputGrads;
  Status s = runPasses(g, ctx, trainingPasses());
  INFO((s ? std::string() : s.error()));
  REQUIRE(s.ok());
  return g;
}

/// Gradient-checks `src` and requires every row to pass.
inline void expectGradCheck(const std::string &src, int64_t batch = 2, uint64_t seed = 1,
                            int64_t maxCoords = 0) {
  Graph g = compile(src);
  GradCheckOptions opt;
  opt.batch = batch;
  opt.seed = seed;
  opt.maxCoords = maxCoords;
  Result<GradCheckReport> r = gradCheck(g, opt);
  INFO((r ? r->table() : r.error()));
  REQUIRE(r.ok());
  CHECK(!r->rows.empty());
  CHECK(r->ok());
}

} // namespace nnc::adtest

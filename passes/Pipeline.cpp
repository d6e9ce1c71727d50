// The standard pipelines: source -> analysed model graph; the training and backend pass lists.
#include "passes/Pipeline.h"

#include "frontend/Parser.h"
#include "ir/Lower.h"
#include "ir/Verifier.h"

namespace nnc {

std::optional<Graph> compileSource(const std::string &source, const std::string &file,
                                   DiagEngine &diags) {
  Module m = parse(source, file, diags);
  if (diags.hasErrors()) return std::nullopt;
  std::optional<Graph> g = lowerModule(m, diags);
  if (!g) return std::nullopt;
  Status v = verify(*g);
  if (!v) {
    diags.error(SourceLoc{}, v.error());
    return std::nullopt;
  }
  PassContext ctx;
  ctx.diags = &diags;
  if (!runPasses(*g, ctx, analysisPasses())) return std::nullopt;
  return g;
}

const std::vector<std::string> &analysisPasses() {
  static const std::vector<std::string> names = {"infer-shapes", "count-params", "count-flops",
                                                 "activation-memory", "receptive-field"};
  return names;
}

const std::vector<std::string> &trainingPasses() {
  static const std::vector<std::string> names = {"decompose", "autodiff"};
  return names;
}

const std::vector<std::string> &backendPasses() {
  static const std::vector<std::string> names = {"fuse", "plan-memory"};
  return names;
}

} // namespace nnc

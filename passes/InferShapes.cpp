// infer-shapes: visits nodes in order and sets each value's type from its op's shape rule
// (ir/ShapeRules.cpp), so a graph edited by hand or by a pass is re-typed consistently.
// Every failing node is reported at its source location; the pass fails if any did.
#include "ir/ShapeRules.h"
#include "passes/Pass.h"

namespace nnc {

Status inferShapes(Graph &g, PassContext &ctx) {
  std::string first;
  for (Node &n : g.nodes) {
    TypeResult r = inferType(g, n);
    if (r.type) {
      n.type = *r.type;
      continue;
    }
    if (first.empty()) first = r.error;
    if (ctx.diags) {
      ctx.diags->error(n.loc, r.error).notes = r.notes;
    }
  }
  if (!first.empty()) return Error{"infer-shapes: " + first};
  return okStatus();
}

} // namespace nnc

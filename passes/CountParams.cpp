// count-params: a layer's parameter count is the element count of the trainable Param
// operands it consumes (kernel, bias), as Keras's count_params().
#include "passes/Pass.h"

namespace nnc {

Status countParams(Graph &g, PassContext &) {
  for (Node &n : g.nodes) {
    n.stats.params = 0;
    if (opClass(n.op) != OpClass::Forward) continue;
    for (ValueId v : n.inputs)
      if (g[v].op == OpKind::Param && g[v].trainable) n.stats.params += g[v].type.elements();
  }
  return okStatus();
}

} // namespace nnc

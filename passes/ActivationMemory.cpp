// activation-memory: bytes per example of every batched value (f32: 4 bytes per element).
// Parameters and other unbatched values hold no per-example memory.
#include "passes/Pass.h"

namespace nnc {

Status activationMemory(Graph &g, PassContext &) {
  for (Node &n : g.nodes) n.stats.activationBytes = n.type.batched ? n.type.elements() * 4 : 0;
  return okStatus();
}

} // namespace nnc

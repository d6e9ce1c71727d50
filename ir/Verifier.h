// The IR verifier: checks the invariants every pass may rely on and names each broken one
// with the value, its source location and both sides of a mismatch.
#pragma once

#include "ir/Graph.h"
#include "support/Result.h"

namespace nnc {

/// Checks structural invariants (operand order, arity, types of operands); errors name both sides.
Status verify(const Graph &g);

} // namespace nnc

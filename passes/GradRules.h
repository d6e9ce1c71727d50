// The gradient rules used by the autodiff pass: exactly one rule per differentiable op
// (forward ops and losses). A rule reads the forward node and its upstream gradient and
// emits gradient nodes for the operands that need one.
#pragma once

#include "ir/Graph.h"

#include <functional>
#include <string>
#include <vector>

namespace nnc {

/// What a gradient rule sees and how it emits nodes.
struct GradContext {
  Graph &g;
  ValueId self;             // the forward node being differentiated
  ValueId dy;               // upstream gradient of `self` (kNoValue for a loss)
  std::vector<bool> wanted; // wanted[i]: operand i needs a gradient
  /// Appends a Backward node computing (part of) the gradient of operand `operand`;
  /// sets its name, gradOf, location and type. Returns its id or an error.
  std::function<Result<ValueId>(size_t operand, OpKind op, std::vector<ValueId> inputs, Attrs a)>
      emit;
  /// Records `v` (an existing value) as the gradient contribution for operand `operand`.
  std::function<void(size_t operand, ValueId v)> give;
};

/// A gradient rule: emits the operand gradients of `c.self` through `c.emit` / `c.give`.
using GradRule = Status (*)(GradContext &c);

/// The rule for `op`, or nullptr when `op` has none (leaves, grad and update ops).
GradRule gradRule(OpKind op);
/// Number of rules registered for `op` (the table has exactly one per differentiable op).
int gradRuleCount(OpKind op);

} // namespace nnc
